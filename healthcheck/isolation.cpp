#include "healthcheck/isolation.h"

namespace gtm::health {

void IsolationGuard::configure(std::vector<std::vector<uint32_t>> pools_of_target,
                               uint32_t window_ms, uint32_t hold_ms) {
    pools_of_ = std::move(pools_of_target);
    window_ms_ = window_ms;
    hold_ms_ = hold_ms;
    recent_downs_.clear();
    raw_down_.clear();
    held_.clear();
    isolated_ = false;
}

void IsolationGuard::reconfigure(std::vector<std::vector<uint32_t>> pools_of_target,
                                 uint32_t window_ms, uint32_t hold_ms,
                                 const std::vector<int64_t>& old_to_new) {
    auto map = [&](uint32_t id) -> int64_t { return id < old_to_new.size() ? old_to_new[id] : -1; };
    std::deque<Down> downs;
    for (const Down& d : recent_downs_) {
        if (map(d.id) >= 0) {
            downs.push_back({d.at_ms, static_cast<uint32_t>(map(d.id)), d.from});
        }
    }
    std::set<uint32_t> raw;
    for (uint32_t id : raw_down_) {
        if (map(id) >= 0) {
            raw.insert(static_cast<uint32_t>(map(id)));
        }
    }
    std::map<uint32_t, Verdict> held;
    for (const auto& [id, v] : held_) {
        if (map(id) >= 0) {
            held.emplace(static_cast<uint32_t>(map(id)), v);
        }
    }
    pools_of_ = std::move(pools_of_target);
    window_ms_ = window_ms;
    hold_ms_ = hold_ms;
    recent_downs_ = std::move(downs);
    raw_down_ = std::move(raw);
    held_ = std::move(held);
}

bool IsolationGuard::triggered(int64_t now_ms) {
    while (!recent_downs_.empty() && now_ms - recent_downs_.front().at_ms > window_ms_) {
        recent_downs_.pop_front();
    }
    std::set<uint32_t> targets;
    std::set<uint32_t> pools;
    for (const Down& d : recent_downs_) {
        if (raw_down_.count(d.id) == 0) {
            continue;
        }
        targets.insert(d.id);
        pools.insert(pools_of_[d.id].begin(), pools_of_[d.id].end());
    }
    return targets.size() * 2 > pools_of_.size() && pools.size() >= 2;
}

GuardOutput IsolationGuard::on_result(uint32_t id, bool ok, Verdict from, Verdict to,
                                      int64_t now_ms) {
    GuardOutput out;
    if (id >= pools_of_.size()) {
        return out;
    }
    if (to == Verdict::Down) {
        raw_down_.insert(id);
    } else {
        raw_down_.erase(id);
    }

    auto held = held_.find(id);
    if (held != held_.end()) {
        if (ok) {
            // It passes again: the mass failure was (at least partly) ours. Isolation ends; this
            // target keeps the verdict that was published all along.
            if (isolated_) {
                isolated_ = false;
                out.left = true;
                recent_downs_.clear();  // the wave is judged; what fails from now on is new
            }
            out.reset_raw.emplace_back(id, held->second);
            if (held->second != Verdict::Down) {
                raw_down_.erase(id);
            }
            held_.erase(held);
        } else if (!isolated_) {
            // Released after the isolation ended, and still failing: it really is down.
            out.publish.emplace_back(id, to);
            held_.erase(held);
        }
        return out;
    }
    if (from == to) {
        return out;
    }
    if (to != Verdict::Down || from == Verdict::Unknown) {
        // A first verdict is news about the member, not about our network: published as it is.
        out.publish.emplace_back(id, to);
        return out;
    }
    recent_downs_.push_back({now_ms, id, from});
    if (isolated_) {
        held_.emplace(id, from);
        return out;
    }
    if (triggered(now_ms)) {
        isolated_ = true;
        since_ms_ = now_ms;
        out.entered = true;
        // Keep the verdicts from before the wave: those of the wave already published as down
        // are put back.
        for (const Down& d : recent_downs_) {
            if (raw_down_.count(d.id) == 0 || held_.count(d.id) != 0) {
                continue;
            }
            held_.emplace(d.id, d.from);
            if (d.id != id) {
                out.publish.emplace_back(d.id, d.from);
            }
        }
        return out;
    }
    out.publish.emplace_back(id, to);
    return out;
}

GuardOutput IsolationGuard::tick(int64_t now_ms) {
    GuardOutput out;
    if (!isolated_ || now_ms - since_ms_ < hold_ms_) {
        return out;
    }
    // The condition outlasted the hold: the failure is real.
    isolated_ = false;
    out.left = true;
    recent_downs_.clear();
    for (const auto& [id, verdict] : held_) {
        if (raw_down_.count(id) != 0) {
            out.publish.emplace_back(id, Verdict::Down);
        }
    }
    held_.clear();
    return out;
}

}  // namespace gtm::health
