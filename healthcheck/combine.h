// Several monitors per pool (issue 15): the one rule that combines a member's monitors into the
// health its pool serves it by. Pure; called by selection (dnsd/selection.cpp) when it computes
// the answers and their explanation, and by the core for the members' view (metrics) — never
// written a second time.
#pragma once

#include <vector>

#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::health {

struct Combined {
    TargetState state;
    // The monitor (index into the pool's monitors) whose state decided: the first one down when
    // the combination is down; the first one out of the answers when it is suspect; when it is
    // in, the first one passing for `any` and `quorum`, and -1 for `all` (every monitor agrees).
    int decided_by = -1;
};

// `need` of the monitors must not be down for the member not to be down (all: every one; any:
// one; quorum N: N, at most the number of monitors); it is up when `need` of them are up, else
// unknown (served until they decide). It is suspect (out of the answers, still counted for
// min_healthy) when fewer than `need` are in the answers. Held when any is held; its return is
// the latest of theirs (slow start); its evidence is the deciding monitor's. One monitor gives
// its own state unchanged.
Combined combine(const std::vector<const TargetState*>& states, const store::Combine& rule);

}  // namespace gtm::health
