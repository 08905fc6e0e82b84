// The isolation guard: the prober distrusts itself before it distrusts the world.
//
// When more than half of all monitored targets, across at least two pools, go down within one
// window (about one probe interval), the likelier story is that the prober lost its own network.
// The guard then keeps the last published verdicts of those targets (and of any that follow),
// and reports that gtmd is isolated. It lets go when
//   - some held target passes a probe again: isolation ends; each held target keeps its old
//     verdict if its next result passes, and goes down if it fails;
//   - or the condition has lasted `hold_ms`: the mass failure is real, every held target goes
//     down.
//
// Pure: the caller feeds probe results and raw verdict changes (from TargetHealth) with the time.
// Owned by the prober thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "healthcheck/verdict.h"

namespace gtm::health {

struct GuardOutput {
    std::vector<std::pair<uint32_t, Verdict>> publish;    // verdicts to publish, by target id
    std::vector<std::pair<uint32_t, Verdict>> reset_raw;  // hysteresis to set back (released)
    bool entered = false;                                 // isolation just began
    bool left = false;                                    // isolation just ended
};

class IsolationGuard {
  public:
    // `pools_of_target[id]`: the pools a target serves; `window_ms`: what "at once" means.
    void configure(std::vector<std::vector<uint32_t>> pools_of_target, uint32_t window_ms,
                   uint32_t hold_ms);

    // A new set of targets after a configuration change. `old_to_new[old id]` is the new id of
    // a target that stays (or -1): its history, and an isolation in progress, carry over.
    void reconfigure(std::vector<std::vector<uint32_t>> pools_of_target, uint32_t window_ms,
                     uint32_t hold_ms, const std::vector<int64_t>& old_to_new);

    // One probe result of target `id`, after its hysteresis turned raw verdict `from` into `to`
    // (equal when nothing changed).
    GuardOutput on_result(uint32_t id, bool ok, Verdict from, Verdict to, int64_t now_ms);

    // Ends an isolation that lasted `hold_ms`. Call it periodically.
    GuardOutput tick(int64_t now_ms);

    bool isolated() const { return isolated_; }
    int64_t isolated_since_ms() const { return since_ms_; }
    size_t held() const { return held_.size(); }

  private:
    bool triggered(int64_t now_ms);
    // The wave bookkeeping, kept incrementally so that a wave of D downs costs O(D), not
    // O(D^2): which targets are in the window and raw-down, and how many pools they span.
    void set_raw(uint32_t id, bool down);
    void push_down(int64_t at_ms, uint32_t id, Verdict from);
    void pop_down();
    void clear_wave();
    void count(uint32_t id, int delta);

    struct Down {
        int64_t at_ms;
        uint32_t id;
        Verdict from;
    };
    std::vector<std::vector<uint32_t>> pools_of_;
    uint32_t window_ms_ = 10000;
    uint32_t hold_ms_ = 60000;
    std::deque<Down> recent_downs_;
    std::unordered_set<uint32_t> raw_down_;
    std::unordered_map<uint32_t, uint32_t> in_window_;  // target -> entries in recent_downs_
    std::unordered_map<uint32_t, uint32_t> pool_refs_;  // pool -> counted targets in it
    size_t counted_ = 0;                                // targets in the window and raw-down
    std::map<uint32_t, Verdict> held_;  // target -> the verdict still published for it
    bool isolated_ = false;
    int64_t since_ms_ = 0;
};

}  // namespace gtm::health
