// The isolation guard, stepped result by result.
#include "healthcheck/isolation.h"

#include <doctest/doctest.h>

using namespace gtm::health;

namespace {

// Six targets: 0,1 in pool 0; 2,3 in pool 1; 4,5 in pool 2.
IsolationGuard six_targets(uint32_t hold_ms = 60000) {
    IsolationGuard g;
    g.configure({{0}, {0}, {1}, {1}, {2}, {2}}, 10000, hold_ms);
    return g;
}

bool has(const std::vector<std::pair<uint32_t, Verdict>>& list, uint32_t id, Verdict v) {
    for (const auto& [i, x] : list) {
        if (i == id && x == v) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("a failure of half the targets or fewer is published as it comes") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u}) {
        GuardOutput o = g.on_result(id, false, Verdict::Up, Verdict::Down, 1000 + id);
        CHECK(has(o.publish, id, Verdict::Down));
        CHECK_FALSE(o.entered);
    }
    CHECK_FALSE(g.isolated());
}

TEST_CASE("more than half across two pools at once: last verdicts kept, even those already out") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u}) {
        g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
    }
    GuardOutput o = g.on_result(3, false, Verdict::Up, Verdict::Down, 2000);
    CHECK(o.entered);
    CHECK(g.isolated());
    CHECK(o.publish.size() == 3);  // 0, 1, 2 put back up; 3 never published down
    CHECK(has(o.publish, 0, Verdict::Up));
    CHECK(has(o.publish, 2, Verdict::Up));
    CHECK(g.held() == 4);
    // More failures while isolated are held too.
    GuardOutput more = g.on_result(4, false, Verdict::Up, Verdict::Down, 3000);
    CHECK(more.publish.empty());
    CHECK(g.held() == 5);
}

TEST_CASE("failures spread wider than the window do not trigger the guard") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        GuardOutput o = g.on_result(id, false, Verdict::Up, Verdict::Down, id * 20000);
        CHECK(has(o.publish, id, Verdict::Down));
    }
    CHECK_FALSE(g.isolated());
}

TEST_CASE("a mass failure inside one pool is believed") {
    IsolationGuard g;
    g.configure({{0}, {0}, {0}, {1}}, 10000, 60000);
    for (uint32_t id : {0u, 1u, 2u}) {
        GuardOutput o = g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
        CHECK(has(o.publish, id, Verdict::Down));
    }
    CHECK_FALSE(g.isolated());
}

TEST_CASE("when some pass again, isolation ends and only those still failing go down") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
    }
    REQUIRE(g.isolated());
    GuardOutput pass = g.on_result(0, true, Verdict::Down, Verdict::Down, 5000);
    CHECK(pass.left);
    CHECK_FALSE(g.isolated());
    CHECK(has(pass.reset_raw, 0, Verdict::Up));
    CHECK(pass.publish.empty());
    GuardOutput still = g.on_result(1, false, Verdict::Down, Verdict::Down, 5500);
    CHECK(has(still.publish, 1, Verdict::Down));
    GuardOutput back = g.on_result(2, true, Verdict::Down, Verdict::Down, 5600);
    CHECK(has(back.reset_raw, 2, Verdict::Up));
    CHECK(back.publish.empty());
    CHECK(g.held() == 1);  // 3 waits for its next result
}

TEST_CASE("a condition that outlasts isolation_hold is accepted") {
    IsolationGuard g = six_targets(60000);
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
    }
    CHECK(g.tick(30000).publish.empty());
    CHECK(g.isolated());
    GuardOutput o = g.tick(61000);
    CHECK(o.left);
    CHECK(o.publish.size() == 4);
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        CHECK(has(o.publish, id, Verdict::Down));
    }
    CHECK_FALSE(g.isolated());
}

TEST_CASE("first verdicts are news about the members, published even when many are down") {
    IsolationGuard g = six_targets();
    for (uint32_t id = 0; id < 6; ++id) {
        GuardOutput o = g.on_result(id, false, Verdict::Unknown, Verdict::Down, 100);
        CHECK(has(o.publish, id, Verdict::Down));
    }
    CHECK_FALSE(g.isolated());
    // Members restored as up from the store do count: a restart without network is held.
    IsolationGuard r = six_targets();
    for (uint32_t id = 0; id < 4; ++id) {
        r.on_result(id, false, Verdict::Up, Verdict::Down, 100);
    }
    CHECK(r.isolated());
}

TEST_CASE("after a release the same wave does not engage the guard again") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
    }
    REQUIRE(g.isolated());
    g.on_result(0, true, Verdict::Down, Verdict::Down, 2000);
    REQUIRE_FALSE(g.isolated());
    // Target 4 of the same failure confirms down right after the release.
    GuardOutput o = g.on_result(4, false, Verdict::Up, Verdict::Down, 2010);
    CHECK_FALSE(o.entered);
    CHECK(has(o.publish, 4, Verdict::Down));
}

TEST_CASE("a configuration change during isolation keeps it, with targets renumbered") {
    IsolationGuard g = six_targets();
    for (uint32_t id : {0u, 1u, 2u, 3u}) {
        g.on_result(id, false, Verdict::Up, Verdict::Down, 1000);
    }
    REQUIRE(g.isolated());
    // Target 5 is removed; the others move down by one... in reverse order, to make it hard.
    const std::vector<int64_t> old_to_new = {4, 3, 2, 1, 0, -1};
    g.reconfigure({{2}, {1}, {1}, {0}, {0}}, 10000, 60000, old_to_new);
    CHECK(g.isolated());
    CHECK(g.held() == 4);
    // Old target 3 (now 1) passes: isolation ends and it keeps its verdict.
    GuardOutput o = g.on_result(1, true, Verdict::Down, Verdict::Down, 5000);
    CHECK(o.left);
    CHECK(has(o.reset_raw, 1, Verdict::Up));
    // Old target 0 (now 4) still fails: it goes down.
    GuardOutput d = g.on_result(4, false, Verdict::Down, Verdict::Down, 5100);
    CHECK(has(d.publish, 4, Verdict::Down));
}
