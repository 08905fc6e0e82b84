// The desired-state document (DESIGN.md "Interfaces"): YAML or JSON text to a validated
// DesiredState. The REST API decodes its bodies with the same functions. The text is read by
// reader.h (parse_json is part of this API) and decoded with decoder.h (so is parse_duration_ms).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "store/decoder.h"
#include "store/errors.h"
#include "store/model.h"
#include "store/reader.h"
#include "store/validate.h"

namespace gtm::store {

// Decodes and validates a document. `document` names it in errors (a file path, "request
// body"). JSON when the text starts with '{', YAML otherwise. Throws DocumentError naming the
// path and the reason, and the line for YAML. Within the reader's limits (reader.h). Warnings are
// dropped: decode_document() keeps them.
DesiredState parse_document(std::string_view text, const std::string& document);

// Reads `path` and parses it; a read failure is a DocumentError too.
DesiredState load_document(const std::string& path);

// A document with the JSON it was decoded from: what it says and what it leaves unsaid (a
// member without "admin" keeps its current admin state when applied; see core/).
struct Document {
    DesiredState state;
    nlohmann::json source;
    std::vector<Warning> warnings;  // validate()'s, with their lines for YAML
};
Document read_document(const std::string& path);
// The same from text: parse_document() with what it leaves out.
Document decode_document(std::string_view text, const std::string& document);

// The same decoding for one resource, as REST bodies carry them. `path` prefixes the paths in
// errors ("" for a body that is the resource itself). Not validated against the rest of the
// state: put it into a DesiredState and call validate().
Zone zone_from_json(const nlohmann::json& j, const std::string& document,
                    const std::string& path = "");
Monitor monitor_from_json(const nlohmann::json& j, const std::string& document,
                          const std::string& path = "");
Pool pool_from_json(const nlohmann::json& j, const std::string& document,
                    const std::string& path = "");
Member member_from_json(const nlohmann::json& j, const std::string& document,
                        const std::string& path = "");
Balancer balancer_from_json(const nlohmann::json& j, const std::string& document,
                            const std::string& path = "");
// A whole document already parsed as JSON: decoded and validated (warnings dropped: the core
// validates again and returns them with the change).
DesiredState state_from_json(const nlohmann::json& root, const std::string& document);

}  // namespace gtm::store
