// Reading YAML or JSON text into a JSON value, remembering where each value came from. The
// desired-state document (document.h) and gtmd's server settings (gtmd/server_config.h) are read
// here, so both get the same YAML rules and the same errors. yaml-cpp stays inside reader.cpp.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/errors.h"

namespace gtm::store {

// Where each value of a YAML document came from, by path ("pools[1].members[0].address"): its
// line, and for plain scalars read as numbers or booleans, the text as written (so that
// `address: 127.1` is reported as written). Empty for JSON, which has no lines here.
struct Origins {
    std::unordered_map<std::string, int> line;
    std::unordered_map<std::string, std::string> plain;
};

// "pools" + "name" -> "pools.name"; "" + "zones" -> "zones".
std::string child_path(const std::string& path, const std::string& key);
// "pools" + 1 -> "pools[1]".
std::string index_path(const std::string& path, size_t i);

// JSON text to a value, refusing duplicate keys (nlohmann alone keeps the last one silently).
// Throws DocumentError.
nlohmann::json parse_json(std::string_view text, const std::string& document);

// YAML text to a value, filling `origins`. Scalars follow the YAML 1.2 core schema (quoted
// scalars are strings); aliases are expanded by yaml-cpp; keys must be scalars and unique. An
// empty document is an empty mapping. Throws DocumentError with the line.
nlohmann::json parse_yaml(std::string_view text, const std::string& document, Origins& origins);

// JSON when the text starts with '{', YAML otherwise.
nlohmann::json parse_text(std::string_view text, const std::string& document, Origins& origins);

// The whole content of the file at `path`; a read failure is a DocumentError naming it.
std::string read_file(const std::string& path);

}  // namespace gtm::store
