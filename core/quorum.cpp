#include "core/quorum.h"

#include <algorithm>

namespace gtm::core {

health::Verdict verdict_of(const std::string& text) {
    return text == "up"     ? health::Verdict::Up
           : text == "down" ? health::Verdict::Down
                            : health::Verdict::Unknown;
}

namespace {

health::Reason reason_of(const std::string& text) {
    for (int r = 0; r <= static_cast<int>(health::Reason::Internal); ++r) {
        if (text == health::to_string(static_cast<health::Reason>(r))) {
            return static_cast<health::Reason>(r);
        }
    }
    return health::Reason::Ok;
}

health::ProbeResult evidence_of(const store::Vote& v) {
    health::ProbeResult r;
    r.reason = reason_of(v.reason);
    r.detail = v.detail.empty() ? "" : v.node + ": " + v.detail;
    r.http_status = v.http_status;
    r.latency_ms = v.latency_ms;
    return r;
}

}  // namespace

Tally tally(const std::vector<store::Vote>& votes, uint32_t quorum) {
    Tally t;
    const store::Vote* down_example = nullptr;
    const store::Vote* up_example = nullptr;
    for (const auto& v : votes) {
        const health::Verdict verdict = verdict_of(v.verdict);
        if (verdict == health::Verdict::Unknown) {
            continue;  // not probed by that vantage yet: it has no say
        }
        ++t.voters;
        if (verdict == health::Verdict::Down) {
            ++t.down;
            ++t.out;
            down_example = down_example != nullptr ? down_example : &v;
        } else {
            t.out += v.suspect ? 1 : 0;
            if (v.suspect && down_example == nullptr) {
                down_example = &v;
            }
            up_example = up_example != nullptr ? up_example : &v;
        }
    }
    if (t.voters == 0) {
        return t;  // unknown: served, as a target never probed
    }
    t.needed = quorum == 0 ? t.voters / 2 + 1 : std::min<size_t>(quorum, t.voters);
    if (t.down >= t.needed) {
        t.verdict = health::Verdict::Down;
    } else {
        t.verdict = health::Verdict::Up;
        t.suspect = t.out >= t.needed;
    }
    const store::Vote* example =
        (t.verdict == health::Verdict::Down || t.suspect) ? down_example : up_example;
    if (example != nullptr) {
        t.evidence = evidence_of(*example);
    }
    return t;
}

store::Vote vote_of(const std::string& node, const health::TargetState& s, int64_t at_unix_ms) {
    store::Vote v;
    v.node = node;
    v.verdict = health::to_string(s.verdict);
    v.suspect = s.suspect;
    v.at_unix_ms = at_unix_ms;
    v.reason = health::to_string(s.evidence.reason);
    v.detail = s.evidence.detail;
    v.http_status = s.evidence.http_status;
    v.latency_ms = s.evidence.latency_ms;
    return v;
}

}  // namespace gtm::core
