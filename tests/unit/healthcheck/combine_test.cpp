// Several monitors per pool: the combination rule, state by state.
#include "healthcheck/combine.h"

#include <doctest/doctest.h>

using namespace gtm::health;
using gtm::store::Combine;
using gtm::store::CombineMode;

namespace {

TargetState st(Verdict v, bool suspect = false, int64_t returned_ms = 0) {
    TargetState s;
    s.verdict = v;
    s.suspect = suspect;
    s.returned_ms = returned_ms;
    s.evidence.detail = to_string(v);
    return s;
}

Combined run(std::vector<TargetState> states, Combine rule) {
    std::vector<const TargetState*> ptrs;
    for (const auto& s : states) {
        ptrs.push_back(&s);
    }
    Combined c = combine(ptrs, rule);
    return c;
}

const Combine kAll{CombineMode::All, 0};
const Combine kAny{CombineMode::Any, 0};
Combine quorum(uint32_t n) { return {CombineMode::Quorum, n}; }

}  // namespace

TEST_CASE("one monitor gives its own state; none gives unknown") {
    for (const Combine& rule : {kAll, kAny, quorum(1)}) {
        for (const TargetState& s :
             {st(Verdict::Up), st(Verdict::Down), st(Verdict::Unknown), st(Verdict::Up, true)}) {
            const Combined c = run({s}, rule);
            CHECK(c.state.same_decision(s));
            CHECK(c.state.evidence.detail == s.evidence.detail);
        }
    }
    CHECK(run({}, kAll).state.verdict == Verdict::Unknown);
    CHECK(run({}, kAll).decided_by == -1);
}

TEST_CASE("all: down when any monitor is down, and that monitor decided") {
    Combined c = run({st(Verdict::Up), st(Verdict::Down), st(Verdict::Down)}, kAll);
    CHECK(c.state.verdict == Verdict::Down);
    CHECK(c.decided_by == 1);
    CHECK(c.state.evidence.detail == "down");
    c = run({st(Verdict::Up), st(Verdict::Up)}, kAll);
    CHECK(c.state.verdict == Verdict::Up);
    CHECK(c.decided_by == -1);  // every monitor agrees
    c = run({st(Verdict::Up), st(Verdict::Unknown)}, kAll);
    CHECK(c.state.verdict == Verdict::Unknown);  // served until the new monitor decides
    CHECK(c.state.present());
    c = run({st(Verdict::Up), st(Verdict::Up, true)}, kAll);
    CHECK(c.state.verdict == Verdict::Up);
    CHECK(c.state.suspect);  // one monitor's failed probe takes it out at once
    CHECK(c.decided_by == 1);
}

TEST_CASE("any: up while one monitor is up; down only when every monitor is") {
    Combined c = run({st(Verdict::Down), st(Verdict::Up)}, kAny);
    CHECK(c.state.verdict == Verdict::Up);
    CHECK_FALSE(c.state.suspect);
    CHECK(c.decided_by == 1);
    c = run({st(Verdict::Down), st(Verdict::Down)}, kAny);
    CHECK(c.state.verdict == Verdict::Down);
    CHECK(c.decided_by == 0);
    c = run({st(Verdict::Down), st(Verdict::Up, true)}, kAny);
    CHECK(c.state.suspect);
    CHECK(c.decided_by == 0);
}

TEST_CASE("quorum N: N monitors must pass; more than the monitors counts as all") {
    const std::vector<TargetState> two_of_three = {st(Verdict::Up), st(Verdict::Down),
                                                   st(Verdict::Up)};
    CHECK(run(two_of_three, quorum(2)).state.verdict == Verdict::Up);
    CHECK(run(two_of_three, quorum(2)).decided_by == 0);
    CHECK(run(two_of_three, quorum(3)).state.verdict == Verdict::Down);
    CHECK(run(two_of_three, quorum(3)).decided_by == 1);
    CHECK(run({st(Verdict::Down), st(Verdict::Down), st(Verdict::Up)}, quorum(2)).state.verdict ==
          Verdict::Down);
    CHECK(
        run({st(Verdict::Up), st(Verdict::Unknown), st(Verdict::Down)}, quorum(2)).state.verdict ==
        Verdict::Unknown);
}

TEST_CASE("slow start follows the latest return; held when any is held") {
    TargetState held = st(Verdict::Up, false, 500);
    held.held = true;
    const Combined c = run({st(Verdict::Up, false, 900), held}, kAll);
    CHECK(c.state.returned_ms == 900);
    CHECK(c.state.held);
}
