#include "healthcheck/health_state.h"

#include <algorithm>

namespace gtm::health {

const char* to_string(Reason r) {
    switch (r) {
        case Reason::Ok:
            return "ok";
        case Reason::ConnectRefused:
            return "connect_refused";
        case Reason::ConnectTimeout:
            return "connect_timeout";
        case Reason::ConnectError:
            return "connect_error";
        case Reason::Timeout:
            return "timeout";
        case Reason::Tls:
            return "tls";
        case Reason::Status:
            return "status";
        case Reason::Body:
            return "body";
        case Reason::Reset:
            return "reset";
        case Reason::Protocol:
            return "protocol";
        case Reason::Internal:
            return "internal";
    }
    return "?";
}

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
        was_up_ = verdict_ == Verdict::Up;
    }
    verdict_ = v;
    ok_ = 0;
    fail_ = 0;
}

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

}  // namespace gtm::health
