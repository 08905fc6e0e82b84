#include "healthcheck/schedule.h"

#include <algorithm>
#include <climits>

namespace gtm::health {

int64_t next_probe_ms(int64_t started_ms, int64_t finished_ms, uint32_t interval_ms,
                      bool fast_recheck, double unit) {
    if (fast_recheck) {
        const int64_t recheck = std::min<int64_t>(kFastRecheckMs, interval_ms);
        // +0-10%: targets that failed together (a timeout wave) do not retry in lockstep.
        return std::max(finished_ms,
                        started_ms + recheck + static_cast<int64_t>(unit * 0.1 * recheck));
    }
    const double jitter = (unit - 0.5) * 0.1 * interval_ms;  // +-5%
    return std::max(finished_ms, started_ms + interval_ms + static_cast<int64_t>(jitter));
}

void Schedule::reset(size_t count) {
    at_.assign(count, -1);
    queue_ = {};
}

void Schedule::plan(uint32_t id, int64_t at_ms) {
    at_[id] = at_ms;
    queue_.push({at_ms, id});
}

void Schedule::first(uint32_t id, int64_t now_ms, uint32_t interval_ms, size_t population) {
    const size_t spread_ms = std::min<size_t>(
        interval_ms / 2, std::max<size_t>(200, population * 1000 / kFirstRoundRate));
    plan(id, now_ms + static_cast<int64_t>(unit() * static_cast<double>(spread_ms)));
}

void Schedule::keep(uint32_t id, int64_t at_ms) { plan(id, at_ms); }

void Schedule::done(uint32_t id, bool first_result, int64_t started_ms, int64_t now_ms,
                    uint32_t interval_ms, bool fast_recheck) {
    const double u = unit();
    if (first_result && !fast_recheck) {
        plan(id, std::max(now_ms, started_ms + static_cast<int64_t>(interval_ms * (0.5 + u))));
        return;
    }
    plan(id, next_probe_ms(started_ms, now_ms, interval_ms, fast_recheck, u));
}

void Schedule::pull(uint32_t id, int64_t now_ms) {
    if (id < at_.size() && at_[id] > now_ms) {
        plan(id, now_ms);
    }
}

std::vector<uint32_t> Schedule::due(int64_t now_ms) {
    std::vector<uint32_t> out;
    while (!queue_.empty() && queue_.top().at_ms <= now_ms) {
        const Due d = queue_.top();
        queue_.pop();
        if (d.id < at_.size() && at_[d.id] == d.at_ms) {
            at_[d.id] = -1;
            out.push_back(d.id);
        }
    }
    return out;
}

int64_t Schedule::next_due_ms() {
    while (!queue_.empty() &&
           (queue_.top().id >= at_.size() || at_[queue_.top().id] != queue_.top().at_ms)) {
        queue_.pop();  // stale
    }
    return queue_.empty() ? INT64_MAX : queue_.top().at_ms;
}

}  // namespace gtm::health
