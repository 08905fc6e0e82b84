// Cluster mode: the decision every node serves about a target, from the live votes of every
// vantage (store/cluster.h). Pure: the same votes give the same decision on every node.
//
// A member is down when at least `quorum` of the live vantages that have a verdict about it see
// it down, and up again when fewer do; it is left out of the answers (suspect) when at least
// `quorum` of them leave it out of theirs (suspect or down). `quorum` 0 means a majority of those
// vantages. One node's broken path thus pulls nothing; a dead node's votes vanish with its lease,
// so the majority is counted over the vantages alive.
#pragma once

#include <cstdint>
#include <vector>

#include "healthcheck/verdict.h"
#include "store/cluster.h"

namespace gtm::core {

struct Tally {
    health::Verdict verdict = health::Verdict::Unknown;
    bool suspect = false;
    size_t voters = 0;             // live vantages with a verdict
    size_t needed = 0;             // the quorum among them
    size_t down = 0;               // of them, seeing it down
    size_t out = 0;                // of them, leaving it out (down or suspect)
    health::ProbeResult evidence;  // of a vantage on the winning side
};

Tally tally(const std::vector<store::Vote>& votes, uint32_t quorum);

// A vote from a node's own decision, and back.
store::Vote vote_of(const std::string& node, const health::TargetState& s, int64_t at_unix_ms);
health::Verdict verdict_of(const std::string& text);

}  // namespace gtm::core
