// The desired state back into the document shape (export, REST responses, the store's rows).
// Every field is written, defaults included, so that export -> apply gives the same state.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "store/cluster.h"
#include "store/model.h"
#include "store/store.h"

namespace gtm::store {

nlohmann::json to_json(const Zone& z);
nlohmann::json to_json(const Monitor& m);
nlohmann::json to_json(const Member& m);
nlohmann::json to_json(const Pool& p);
// A pool's own fields, without its members (the store keeps members in rows of their own).
nlohmann::json pool_fields_to_json(const Pool& p);
nlohmann::json to_json(const Balancer& b);
nlohmann::json to_json(const DesiredState& s);

// An event as the API lists it and webhooks send it: id, at_ms, type, node (cluster mode), then
// its own fields (a verdict's monitor, address, pools, from, to, reason, detail, http_status,
// latency_ms; another type's data).
nlohmann::json to_json(const Event& e);
// A vantage's vote, as explain, /health and the cluster store show it.
nlohmann::json to_json(const Vote& v);
std::optional<Vote> vote_from_json(const nlohmann::json& j);

// The same document as YAML (block style; keys sorted, as nlohmann::json keeps them).
std::string to_yaml(const nlohmann::json& document);

std::string format_duration(uint64_t ms);

}  // namespace gtm::store
