// The judge: turns probe results into the decisions the answers and the events use, and rules
// on every piece of bad news before it is published.
//
// Per target it runs the hysteresis (rise/fall, hold-down: TargetHealth), raises suspicion at
// the first failed probe of a member in the answers, and damps returns: a member that left the
// answers comes back only after `rise` passes and no sooner than `hold_down` after it left, so
// its presence changes at most twice per hold-down whatever the pattern of failures.
//
// Bad news (a member leaving the answers, or going down) is held back until the isolation guard
// has ruled on it — the prober distrusts itself before it distrusts the world:
//   - it is published once enough other members passed a probe started after it (so that no
//     mass failure of more than half of them can be under way), or one window after it when
//     nothing triggered; the judge asks for canary probes of other members at once so that a
//     lone failure is ruled on within milliseconds;
//   - when more than half of the members that were up, across at least two pools, fail within
//     one window, the guard engages: the members of the wave keep their published state (held),
//     and so do those failing after them. It lets go when a held member passes a probe again
//     (isolation ends; those still failing keep their published state, and only a failure of a
//     probe started after that is news about them) or after `isolation_hold` (the failure is
//     real: every held member still failing is published as it is).
//
// Pure: no sockets, no clock of its own (every call takes `now_ms`), randomness from a seed.
// Owned by the prober thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "healthcheck/health_state.h"
#include "healthcheck/verdict.h"

namespace gtm::health {

// How one target is judged.
struct JudgeTarget {
    std::vector<uint32_t> pools;  // ids of the pools that hold it (for "across two pools")
    Hysteresis hysteresis;
    uint32_t interval_ms = 5000;
    uint32_t timeout_ms = 2000;
};

struct JudgeOutput {
    std::vector<uint32_t> changed;   // targets whose published state changed
    std::vector<uint32_t> canaries;  // targets to probe now (others' bad news waits on them)
    bool entered = false;            // the isolation guard engaged
    bool left = false;               // ... and let go
};

class Judge {
  public:
    explicit Judge(uint64_t seed = 1) : rng_(seed) {}

    // A new set of targets. `old_to_new[old id]` is the new id of a target that stays (or -1): it
    // keeps its history, its published state and its part in a wave or an isolation. A new
    // target starts from `seeds[id]` when given, else unknown.
    void configure(std::vector<JudgeTarget> targets, const std::vector<int64_t>& old_to_new,
                   const std::vector<std::optional<Seed>>& seeds, uint32_t isolation_hold_ms,
                   int64_t now_ms);

    // One probe result of target `id` (its started_ms on the same clock as now_ms).
    JudgeOutput on_result(uint32_t id, const ProbeResult& r, int64_t now_ms);

    // Releases bad news whose window passed, ends an isolation that lasted isolation_hold. Call
    // it periodically (every second is enough).
    JudgeOutput tick(int64_t now_ms);

    const TargetState& published(uint32_t id) const { return states_[id].pub; }
    const TargetHealth& health(uint32_t id) const { return states_[id].health; }
    // A failure waits for its confirmation: probe again soon (fast recheck).
    bool confirming(uint32_t id) const { return states_[id].health.confirming_failure(); }
    bool pending(uint32_t id) const { return states_[id].pending; }
    size_t size() const { return states_.size(); }

    bool isolated() const { return isolated_; }
    int64_t isolated_since_ms() const { return isolated_since_ms_; }
    size_t held() const;
    uint32_t window_ms() const { return window_ms_; }

  private:
    struct State {
        JudgeTarget cfg;
        TargetHealth health;
        TargetState pub;  // as published
        bool has_result = false;
        bool provisional = false;  // a provisional seed: its first result decides
        bool failing = false;      // its last result failed
        int64_t failing_since_ms = 0;
        bool in_wave = false;     // counted in the current wave (see wave_)
        TargetState before_wave;  // what was published when its failure began
        int64_t left_ms = 0;      // when it last left the answers after being up; 0: never
        bool pending = false;     // bad news waiting for the guard
        int64_t pending_since_ms = 0;
        std::vector<uint32_t> passers;  // others that passed a probe started since then
        // Held through an isolation that a pass ended then: its failed probes started before
        // are ignored (0: none).
        int64_t fresh_after_ms = 0;
    };

    // In the base a wave is measured against: published up, or up when its failure (part of
    // the wave) began — a member of the wave published down meanwhile still counts.
    static bool counted(const State& s) { return s.pub.verdict == Verdict::Up || s.in_wave; }
    TargetState wanted(const State& s, int64_t now_ms) const;
    static bool bad_news(const TargetState& from, const TargetState& to);
    void decide(uint32_t id, int64_t now_ms, JudgeOutput& out);
    void publish(uint32_t id, TargetState next, int64_t now_ms, JudgeOutput& out);
    void count_up(uint32_t id, bool up);
    void gate(uint32_t id, int64_t now_ms, JudgeOutput& out);
    size_t passes_needed() const;
    bool guard_can_trigger() const;
    void count_pass(uint32_t id, int64_t started_ms, int64_t now_ms, JudgeOutput& out);
    void release(uint32_t id, int64_t now_ms, JudgeOutput& out);
    void pick_canaries(uint32_t id, JudgeOutput& out);

    // The wave: members that were up and started failing within the window, counted
    // incrementally (a wave of D failures costs O(D)).
    void wave_add(uint32_t id, int64_t now_ms);
    void wave_remove(uint32_t id);
    void wave_expire(int64_t now_ms);
    void wave_clear();
    bool wave_triggered(int64_t now_ms);
    void engage(int64_t now_ms, JudgeOutput& out);
    void disengage(bool hold_expired, int64_t now_ms, JudgeOutput& out);

    std::vector<State> states_;
    uint32_t window_ms_ = 10000;
    uint32_t hold_ms_ = 60000;
    size_t up_count_ = 0;  // targets counted() : the base a wave is measured against
    std::unordered_map<uint32_t, uint32_t> up_pools_;  // pool -> counted targets in it
    std::deque<std::pair<int64_t, uint32_t>> wave_;    // (failing since, id), oldest first
    size_t wave_count_ = 0;
    std::unordered_map<uint32_t, uint32_t> wave_pools_;  // pool -> counted members in it
    std::vector<uint32_t> pending_;                      // ids with pending bad news
    bool isolated_ = false;
    int64_t isolated_since_ms_ = 0;
    std::mt19937_64 rng_;
};

// Canary probes asked per piece of bad news, at most; also the most passes ever needed.
inline constexpr size_t kMaxPassesNeeded = 16;

}  // namespace gtm::health
