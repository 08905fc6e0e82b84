// The quorum of vantages: the same live votes give every node the same decision.
#include "core/quorum.h"

#include <doctest/doctest.h>

using namespace gtm;
using health::Verdict;

namespace {

store::Vote vote(const char* node, const char* verdict, bool suspect = false) {
    store::Vote v;
    v.node = node;
    v.verdict = verdict;
    v.suspect = suspect;
    v.reason = std::string(verdict) == "down" ? "timeout" : "ok";
    return v;
}

}  // namespace

TEST_CASE("one broken path among three vantages pulls nothing; two do") {
    CHECK(core::tally({vote("a", "down"), vote("b", "up"), vote("c", "up")}, 0).verdict ==
          Verdict::Up);
    const core::Tally two = core::tally({vote("a", "down"), vote("b", "down"), vote("c", "up")}, 0);
    CHECK(two.verdict == Verdict::Down);
    CHECK(two.needed == 2);
    CHECK(two.evidence.reason == health::Reason::Timeout);
}

TEST_CASE("the majority counts the vantages alive with a verdict") {
    // c's vote vanished with its lease: one of two is not a majority, two of two is.
    CHECK(core::tally({vote("a", "down"), vote("b", "up")}, 0).verdict == Verdict::Up);
    CHECK(core::tally({vote("a", "down"), vote("b", "down")}, 0).verdict == Verdict::Down);
    // A vantage that has not probed it yet has no say.
    CHECK(core::tally({vote("a", "down"), vote("b", "unknown")}, 0).verdict == Verdict::Down);
    // Nobody has a verdict: unknown, served.
    CHECK(core::tally({}, 0).verdict == Verdict::Unknown);
}

TEST_CASE("a fixed quorum is capped by the vantages alive") {
    CHECK(core::tally({vote("a", "down"), vote("b", "up"), vote("c", "up")}, 1).verdict ==
          Verdict::Down);
    CHECK(core::tally({vote("a", "down")}, 3).verdict == Verdict::Down);  // 1 alive: 1 needed
}

TEST_CASE("suspicion needs the quorum too; it never outvotes down") {
    const core::Tally one =
        core::tally({vote("a", "up", true), vote("b", "up"), vote("c", "up")}, 0);
    CHECK(one.verdict == Verdict::Up);
    CHECK_FALSE(one.suspect);
    const core::Tally mixed =
        core::tally({vote("a", "up", true), vote("b", "down"), vote("c", "up")}, 0);
    CHECK(mixed.verdict == Verdict::Up);
    CHECK(mixed.suspect);  // two of three leave it out of their answers
}

TEST_CASE("a node's own decision round-trips as its vote") {
    health::TargetState s;
    s.verdict = Verdict::Down;
    s.evidence.reason = health::Reason::ConnectRefused;
    s.evidence.detail = "refused";
    const store::Vote v = core::vote_of("ns1", s, 42);
    CHECK(v.verdict == "down");
    CHECK(v.reason == "connect_refused");
    CHECK(core::verdict_of(v.verdict) == Verdict::Down);
}
