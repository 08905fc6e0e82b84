#include "healthcheck/health_state.h"

#include <algorithm>

namespace gtm::health {

bool TargetHealth::record(const ProbeResult& r, const Hysteresis& h, int64_t now_ms) {
    recent_.push_back(r);
    if (recent_.size() > kRecentResults) {
        recent_.pop_front();
    }
    if (r.ok()) {
        ++ok_;
        fail_ = 0;
    } else {
        ++fail_;
        ok_ = 0;
    }
    Verdict next = verdict_;
    switch (verdict_) {
        case Verdict::Unknown:
            next = r.ok() ? Verdict::Up : Verdict::Down;
            break;
        case Verdict::Up:
            if (fail_ >= h.fall) {
                next = Verdict::Down;
            }
            break;
        case Verdict::Down:
            // The hold-down applies to a target that was up: one that failed its very first
            // probe has not flapped yet.
            if (ok_ >= h.rise &&
                (!was_up_ || now_ms - last_change_ms_ >= static_cast<int64_t>(h.hold_down_ms))) {
                next = Verdict::Up;
            }
            break;
    }
    if (next == verdict_) {
        return false;
    }
    was_up_ = verdict_ == Verdict::Up;
    verdict_ = next;
    last_change_ms_ = now_ms;
    return true;
}

void TargetHealth::force(Verdict v, int64_t now_ms) {
    if (v != verdict_) {
        last_change_ms_ = now_ms;
        was_up_ = false;
    }
    verdict_ = v;
    ok_ = 0;
    fail_ = 0;
}

}  // namespace gtm::health
