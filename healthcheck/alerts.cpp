#include "healthcheck/alerts.h"

namespace gtm::health {

const char* to_string(AlertChange c) {
    switch (c) {
        case AlertChange::Firing:
            return "firing";
        case AlertChange::Resolved:
            return "resolved";
        case AlertChange::Expired:
            return "expired";
    }
    return "?";
}

std::vector<AlertEvent> AlertTable::apply(const std::vector<AlertNotice>& notices, int64_t now_ms) {
    std::vector<AlertEvent> out;
    for (const auto& n : notices) {
        auto it = alerts_.find(n.fingerprint);
        if (!n.firing || n.expires_ms <= now_ms) {
            if (it != alerts_.end()) {
                out.push_back({n.firing ? AlertChange::Expired : AlertChange::Resolved,
                               std::move(it->second)});
                alerts_.erase(it);
            }
            continue;
        }
        if (it != alerts_.end()) {
            // Re-sent (repeat_interval) or its labels' targets restated: the newest word wins.
            it->second.expires_ms = n.expires_ms;
            it->second.name = n.name;
            if (it->second.pool != n.pool || it->second.member != n.member) {
                it->second.pool = n.pool;
                it->second.member = n.member;
                out.push_back({AlertChange::Firing, it->second});
            }
            continue;
        }
        ActiveAlert a{n.fingerprint, n.name, n.pool, n.member, n.expires_ms};
        out.push_back({AlertChange::Firing, a});
        alerts_.emplace(n.fingerprint, std::move(a));
    }
    return out;
}

std::vector<AlertEvent> AlertTable::expire(int64_t now_ms) {
    std::vector<AlertEvent> out;
    for (auto it = alerts_.begin(); it != alerts_.end();) {
        if (it->second.expires_ms <= now_ms) {
            out.push_back({AlertChange::Expired, std::move(it->second)});
            it = alerts_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

const ActiveAlert* AlertTable::firing(std::string_view pool, std::string_view address) const {
    const ActiveAlert* best = nullptr;
    for (const auto& [fp, a] : alerts_) {
        if (a.matches(pool, address) && (best == nullptr || a.name < best->name)) {
            best = &a;
        }
    }
    return best;
}

}  // namespace gtm::health
