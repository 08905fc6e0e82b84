#include "healthcheck/targets.h"

#include <map>

#include "healthcheck/verdict.h"

namespace gtm::health {

std::vector<TargetSpec> targets_of(const store::DesiredState& state) {
    std::map<std::string, const store::Monitor*> monitors;
    for (const auto& m : state.monitors) {
        monitors[m.name] = &m;
    }
    std::map<std::string, TargetSpec> by_key;
    uint32_t pool_id = 0;
    for (const auto& p : state.pools) {
        // Every monitor of the pool probes every member: one target per (monitor, address).
        for (const auto& name : p.monitors) {
            auto mon = monitors.find(name);
            if (mon == monitors.end()) {
                continue;  // validate() rejects an unknown monitor
            }
            for (const auto& member : p.members) {
                std::string key = target_key(name, member.address);
                TargetSpec& t = by_key[key];
                if (t.key.empty()) {
                    t.key = std::move(key);
                    t.monitor = *mon->second;
                    t.address = member.address;
                    t.labels = member.labels;
                }
                t.pools.push_back(p.name);
                t.pool_ids.push_back(pool_id);
            }
        }
        ++pool_id;
    }
    std::vector<TargetSpec> out;
    out.reserve(by_key.size());
    for (auto& [key, t] : by_key) {
        out.push_back(std::move(t));
    }
    return out;
}

bool same_probe(const store::Monitor& a, const store::Monitor& b) {
    return a.type == b.type && a.port == b.port && a.path == b.path && a.host == b.host &&
           a.method == b.method && a.headers == b.headers && a.tls_verify == b.tls_verify &&
           a.ca_file == b.ca_file && a.timeout_ms == b.timeout_ms &&
           a.expect_status == b.expect_status && a.expect_body == b.expect_body && a.url == b.url &&
           a.query == b.query && a.match_label == b.match_label && a.match_value == b.match_value &&
           a.fail_op == b.fail_op && a.fail_threshold == b.fail_threshold && a.no_data == b.no_data;
}

}  // namespace gtm::health
