// When each target is probed next: the first round spread over a short time, later probes one
// interval apart with jitter, fast rechecks of failures being confirmed, canaries pulled forward.
//
// Pure: every call takes the time (`now_ms`), randomness comes from a seed; tests step it with a
// fake clock. Owned by the prober thread.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <vector>

namespace gtm::health {

inline constexpr uint32_t kFastRecheckMs = 1000;
inline constexpr size_t kFirstRoundRate = 20000;  // first probes started per second, at most

// When to start the next probe of a target whose last probe started at `started_ms` and ended
// at `finished_ms`. Regular probes follow the interval with +-5% jitter (`unit` uniform in
// [0, 1)), which keeps a population of targets spread evenly over the interval; a failure still
// to be confirmed is rechecked every second (or every interval, if shorter).
int64_t next_probe_ms(int64_t started_ms, int64_t finished_ms, uint32_t interval_ms,
                      bool fast_recheck, double unit);

class Schedule {
  public:
    explicit Schedule(uint64_t seed = 1) : rng_(seed) {}

    // Forgets every target; `count` targets follow, with ids 0..count-1.
    void reset(size_t count);

    // A target without a result yet: due at once, spread so that at most kFirstRoundRate of
    // `population` new targets start per second (and at least over 200 ms, at most over half the
    // interval): 10,000 members launched in one instant would queue behind each other and time
    // out together.
    void first(uint32_t id, int64_t now_ms, uint32_t interval_ms, size_t population);

    // A target that keeps its place: due at `at_ms` (its previous plan).
    void keep(uint32_t id, int64_t at_ms);

    // A probe of `id` that started at `started_ms` ended now. Its first result puts it at a
    // uniformly random point of the interval (from the second probe on, targets spread evenly);
    // later ones follow next_probe_ms().
    void done(uint32_t id, bool first_result, int64_t started_ms, int64_t now_ms,
              uint32_t interval_ms, bool fast_recheck);

    // Probe `id` now (a canary); its regular plan continues from this probe.
    void pull(uint32_t id, int64_t now_ms);

    // Ids due at `now_ms`, earliest first; each is removed from the plan until done() or pull().
    std::vector<uint32_t> due(int64_t now_ms);

    // When the earliest target is due; INT64_MAX when none.
    int64_t next_due_ms();

    int64_t planned_ms(uint32_t id) const { return id < at_.size() ? at_[id] : -1; }

  private:
    void plan(uint32_t id, int64_t at_ms);
    double unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

    struct Due {
        int64_t at_ms;
        uint32_t id;
        bool operator>(const Due& o) const { return at_ms > o.at_ms; }
    };
    std::vector<int64_t> at_;  // per id: when due; -1 while not planned (in flight)
    std::priority_queue<Due, std::vector<Due>, std::greater<>> queue_;  // may hold stale entries
    std::mt19937_64 rng_;
};

}  // namespace gtm::health
