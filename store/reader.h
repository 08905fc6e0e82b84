// Reading YAML or JSON text into a JSON value, remembering where each value came from. The
// desired-state document (document.h) and gtmd's server settings (gtmd/server_config.h) are read
// here, so both get the same YAML rules and the same errors. yaml-cpp stays inside reader.cpp.
#pragma once

#include <cstddef>
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

// What the reader accepts, for files, REST bodies and gtmctl alike (all read here). Checked while
// the text is read, before anything is built or expanded: a 400-byte YAML alias bomb is refused
// at its first alias that goes over the budget, not after expanding it.
//
// A document larger than this is refused unread (the REST API's own body limit is at most this).
inline constexpr size_t kMaxDocumentBytes = size_t{64} << 20;
// Nesting of mappings and lists (a real document needs 5; aliases count as expanded).
inline constexpr size_t kMaxDepth = 32;
// Values (scalars, mappings, lists) and scalar bytes a document may hold once its YAML aliases
// are expanded: a fixed allowance plus the size of the text. Without aliases a document always
// fits (it cannot hold more values or bytes than it has characters); aliases may expand it up to
// this, no further.
inline constexpr size_t kMinNodeBudget = 10000;
inline constexpr size_t kMinByteBudget = size_t{64} << 10;
size_t node_budget(size_t text_bytes);
size_t byte_budget(size_t text_bytes);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing over U+10FFFF).
bool valid_utf8(std::string_view s);

// "pools" + "name" -> "pools.name"; "" + "zones" -> "zones".
std::string child_path(const std::string& path, const std::string& key);
// "pools" + 1 -> "pools[1]".
std::string index_path(const std::string& path, size_t i);

// JSON text to a value, refusing duplicate keys (nlohmann alone keeps the last one silently) and
// documents over the limits above. Throws DocumentError.
nlohmann::json parse_json(std::string_view text, const std::string& document);

// YAML text to a value, filling `origins`. Scalars follow the YAML 1.2 core schema (quoted
// scalars are strings); aliases are expanded here, within the budget above (an alias inside the
// node it names is refused); keys must be scalars and unique; scalars must be UTF-8; one document
// only. An empty document is an empty mapping. Throws DocumentError with the line.
nlohmann::json parse_yaml(std::string_view text, const std::string& document, Origins& origins);

// JSON when the text starts with '{', YAML otherwise.
nlohmann::json parse_text(std::string_view text, const std::string& document, Origins& origins);

// The whole content of the file at `path`; a read failure is a DocumentError naming it.
std::string read_file(const std::string& path);

}  // namespace gtm::store
