#include "healthcheck/combine.h"

#include <algorithm>

namespace gtm::health {

Combined combine(const std::vector<const TargetState*>& states, const store::Combine& rule) {
    Combined out;
    const size_t n = states.size();
    if (n == 0) {
        return out;  // no monitor: unknown, served
    }
    size_t need = n;
    if (rule.mode == store::CombineMode::Any) {
        need = 1;
    } else if (rule.mode == store::CombineMode::Quorum) {
        need = std::clamp<size_t>(rule.quorum, 1, n);
    }
    size_t not_down = 0;
    size_t up = 0;
    size_t present = 0;
    int first_down = -1;
    int first_out = -1;
    int first_in = -1;
    for (size_t i = 0; i < n; ++i) {
        const TargetState& s = *states[i];
        const int idx = static_cast<int>(i);
        if (s.verdict == Verdict::Down) {
            if (first_down < 0) {
                first_down = idx;
            }
        } else {
            ++not_down;
        }
        up += s.verdict == Verdict::Up ? 1 : 0;
        if (s.present()) {
            ++present;
            if (first_in < 0) {
                first_in = idx;
            }
        } else if (first_out < 0) {
            first_out = idx;
        }
        out.state.held |= s.held;
        out.state.returned_ms = std::max(out.state.returned_ms, s.returned_ms);
    }
    if (not_down < need) {
        out.state.verdict = Verdict::Down;
        out.decided_by = first_down;
    } else {
        out.state.verdict = up >= need ? Verdict::Up : Verdict::Unknown;
        if (present < need) {
            out.state.suspect = true;
            out.decided_by = first_out;
        } else if (rule.mode != store::CombineMode::All) {
            out.decided_by = first_in;
        }
    }
    out.state.evidence = states[out.decided_by >= 0 ? out.decided_by : 0]->evidence;
    return out;
}

}  // namespace gtm::health
