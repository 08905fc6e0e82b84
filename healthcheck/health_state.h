// What one probe target concluded over time: rise/fall hysteresis, the hold-down that stops a
// flapping target from bouncing back, the recent results, and when to probe next.
//
// Pure: no sockets, no clock of its own (every call takes `now_ms`), so tests step it result by
// result. Owned by the prober thread.
#pragma once

#include <cstdint>
#include <deque>

#include "healthcheck/verdict.h"

namespace gtm::health {

struct Hysteresis {
    uint32_t rise = 3;
    uint32_t fall = 2;
    uint32_t hold_down_ms = 60000;  // a target that went down stays down at least this long
};

inline constexpr size_t kRecentResults = 20;

class TargetHealth {
  public:
    // Records one result. Returns true when the verdict changed. A target never probed takes
    // the verdict of its first result; after that, `fall` consecutive failures take it down and
    // `rise` consecutive successes bring it up, but not before `hold_down_ms` after it went
    // down from up: a flapping target changes verdict at most twice per hold-down period.
    bool record(const ProbeResult& r, const Hysteresis& h, int64_t now_ms);

    // Sets the verdict from outside the hysteresis: a verdict restored or carried over when the
    // target is created, the isolation guard's decisions. Counters restart from the new verdict,
    // and no hold-down applies to it.
    void force(Verdict v, int64_t now_ms);

    Verdict verdict() const { return verdict_; }
    int64_t last_change_ms() const { return last_change_ms_; }
    uint32_t consecutive_ok() const { return ok_; }
    uint32_t consecutive_fail() const { return fail_; }
    const std::deque<ProbeResult>& recent() const { return recent_; }
    const ProbeResult* last() const { return recent_.empty() ? nullptr : &recent_.back(); }

    // A failure not yet confirmed by `fall`: the next probe is a fast recheck.
    bool confirming_failure() const { return verdict_ != Verdict::Down && fail_ > 0; }

  private:
    Verdict verdict_ = Verdict::Unknown;
    uint32_t ok_ = 0;
    uint32_t fail_ = 0;
    int64_t last_change_ms_ = 0;
    bool was_up_ = false;  // the verdict before the last change was Up
    std::deque<ProbeResult> recent_;
};

}  // namespace gtm::health
