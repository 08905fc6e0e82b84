#include "healthcheck/isolation.h"

namespace gtm::health {

void IsolationGuard::configure(std::vector<std::vector<uint32_t>> pools_of_target,
                               uint32_t window_ms, uint32_t hold_ms) {
    pools_of_ = std::move(pools_of_target);
    window_ms_ = window_ms;
    hold_ms_ = hold_ms;
    clear_wave();
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
    std::vector<uint32_t> raw;
    for (uint32_t id : raw_down_) {
        if (map(id) >= 0) {
            raw.push_back(static_cast<uint32_t>(map(id)));
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
    clear_wave();
    raw_down_.clear();
    for (uint32_t id : raw) {
        set_raw(id, true);
    }
    for (const Down& d : downs) {
        push_down(d.at_ms, d.id, d.from);
    }
    held_ = std::move(held);
}

void IsolationGuard::count(uint32_t id, int delta) {
    counted_ = delta > 0 ? counted_ + 1 : counted_ - 1;
    for (uint32_t pool : pools_of_[id]) {
        if (delta > 0) {
            ++pool_refs_[pool];
        } else if (auto it = pool_refs_.find(pool); it != pool_refs_.end() && --it->second == 0) {
            pool_refs_.erase(it);
        }
    }
}

void IsolationGuard::set_raw(uint32_t id, bool down) {
    const bool was = raw_down_.count(id) != 0;
    if (was == down) {
        return;
    }
    if (down) {
        raw_down_.insert(id);
    } else {
        raw_down_.erase(id);
    }
    if (in_window_.count(id) != 0) {
        count(id, down ? +1 : -1);
    }
}

void IsolationGuard::push_down(int64_t at_ms, uint32_t id, Verdict from) {
    recent_downs_.push_back({at_ms, id, from});
    if (in_window_[id]++ == 0 && raw_down_.count(id) != 0) {
        count(id, +1);
    }
}

void IsolationGuard::pop_down() {
    const uint32_t id = recent_downs_.front().id;
    recent_downs_.pop_front();
    auto it = in_window_.find(id);
    if (it != in_window_.end() && --it->second == 0) {
        in_window_.erase(it);
        if (raw_down_.count(id) != 0) {
            count(id, -1);
        }
    }
}

void IsolationGuard::clear_wave() {
    recent_downs_.clear();
    in_window_.clear();
    pool_refs_.clear();
    counted_ = 0;
}

bool IsolationGuard::triggered(int64_t now_ms) {
    while (!recent_downs_.empty() && now_ms - recent_downs_.front().at_ms > window_ms_) {
        pop_down();
    }
    return counted_ * 2 > pools_of_.size() && pool_refs_.size() >= 2;
}

GuardOutput IsolationGuard::on_result(uint32_t id, bool ok, Verdict from, Verdict to,
                                      int64_t now_ms) {
    GuardOutput out;
    if (id >= pools_of_.size()) {
        return out;
    }
    set_raw(id, to == Verdict::Down);

    auto held = held_.find(id);
    if (held != held_.end()) {
        if (ok) {
            // It passes again: the mass failure was (at least partly) ours. Isolation ends; this
            // target keeps the verdict that was published all along.
            if (isolated_) {
                isolated_ = false;
                out.left = true;
                clear_wave();  // the wave is judged; what fails from now on is new
            }
            out.reset_raw.emplace_back(id, held->second);
            if (held->second != Verdict::Down) {
                set_raw(id, false);
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
    push_down(now_ms, id, from);
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
    clear_wave();
    for (const auto& [id, verdict] : held_) {
        if (raw_down_.count(id) != 0) {
            out.publish.emplace_back(id, Verdict::Down);
        }
    }
    held_.clear();
    return out;
}

}  // namespace gtm::health
