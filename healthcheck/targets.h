// The set of probe targets a desired state asks for: one per (monitor, address), whatever the
// number of pools that hold the address under that monitor.
//
// Pure; used by the prober thread when a new state arrives.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/model.h"

namespace gtm::health {

struct TargetSpec {
    std::string key;  // target_key(monitor, address)
    store::Monitor monitor;
    std::string address;
    std::vector<std::string> pools;  // the pools that hold it, in state order
    std::vector<uint32_t> pool_ids;  // the same, numbered in state order
    // The member's labels in the first pool that holds it (promql templates).
    std::map<std::string, std::string> labels;
};

// Every target of `state` (members of pools that have a monitor), in key order.
std::vector<TargetSpec> targets_of(const store::DesiredState& state);

// True when two monitors probe the same way (a target whose monitor changed only its interval,
// rise, fall or hold-down keeps its connection and its history).
bool same_probe(const store::Monitor& a, const store::Monitor& b);

}  // namespace gtm::health
