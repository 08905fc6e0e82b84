// What a change does to the desired state, resource by resource: the dry-run answer, the API's
// reply and the audit's before/after. Objects are compared as values; only those that differ are
// turned into JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "dnsd/snapshot.h"
#include "store/model.h"

namespace gtm::core {

// [{"kind": "pools", "name": "eu", "op": "add|change|remove", "before": ..., "after": ...}]. A
// pool's change lists only the members added, removed or changed, and counts the others in
// `members_unchanged` (a drain in a pool of 1,000 members is one member, not two copies).
nlohmann::json diff(const store::DesiredState& before, const store::DesiredState& after);

// What going from snapshot `before` to `after` does to the answers: for every balancer (by
// name) and family whose mode or answer set differs, {"balancer", "type", "before": {"mode",
// "serving_priority", "answers": [{"pool", "address", "share"}]}, "after": {...}, "healthy":
// members served after, "warning": text when the balancer is left with no healthy member}.
nlohmann::json effects(const dns::Snapshot* before, const dns::Snapshot& after);

// Admin states are runtime state (drains), not configuration: every member that `source` (the
// document as read, before canonicalization: its pools and members in the order `next` was
// decoded in) lists without "admin" keeps the admin state it has in `current`. Returns those
// members whose admin state was thereby kept different from the default, as (pool, address).
std::vector<std::pair<std::string, std::string>> keep_admin_states(
    store::DesiredState& next, const store::DesiredState& current, const nlohmann::json& source);
// The same for one pool, `source` being the pool as read.
std::vector<std::pair<std::string, std::string>> keep_admin_states(store::Pool& next,
                                                                   const store::Pool* current,
                                                                   const nlohmann::json& source);

// Sorts the top-level lists by name: the order the store returns them in, so that the state in
// memory and the state after a restart compare equal.
void canonicalize(store::DesiredState& s);

}  // namespace gtm::core
