// The table of firing alerts: stepped notice by notice on a fake clock.
#include "healthcheck/alerts.h"

#include <doctest/doctest.h>

using namespace gtm::health;

namespace {

AlertNotice notice(const std::string& fp, const std::string& pool, const std::string& member,
                   bool firing, int64_t expires_ms, const std::string& name = "A") {
    return AlertNotice{fp, name, pool, member, firing, expires_ms};
}

}  // namespace

TEST_CASE("a firing alert marks its pool or member until resolved; repeats only move the expiry") {
    AlertTable t;
    auto e =
        t.apply({notice("1", "east", "", true, 100), notice("2", "", "127.0.0.9", true, 100)}, 0);
    REQUIRE(e.size() == 2);
    CHECK(e[0].change == AlertChange::Firing);
    CHECK(t.firing("east", "127.0.0.1") != nullptr);
    CHECK(t.firing("west", "127.0.0.1") == nullptr);
    CHECK(t.firing("west", "127.0.0.9")->fingerprint == "2");          // a member alert: every pool
    CHECK(t.apply({notice("1", "east", "", true, 500)}, 50).empty());  // re-sent: no event
    CHECK(t.expire(200).size() == 1);                                  // "2" expired at 100
    CHECK(t.firing("east", "127.0.0.1") != nullptr);                   // "1" now lasts to 500
    e = t.apply({notice("1", "east", "", false, 0)}, 300);
    REQUIRE(e.size() == 1);
    CHECK(e[0].change == AlertChange::Resolved);
    CHECK(t.empty());
    CHECK(t.apply({notice("7", "east", "", false, 0)}, 300).empty());  // unknown: nothing
}

TEST_CASE("pool and member together mark only that member of that pool; names order the choice") {
    AlertTable t;
    t.apply({notice("1", "east", "127.0.0.1", true, 100, "Zeta"),
             notice("2", "east", "", true, 100, "Alpha")},
            0);
    CHECK(t.firing("east", "127.0.0.1")->name == "Alpha");
    CHECK(t.firing("east", "127.0.0.2")->name == "Alpha");
    t.apply({notice("2", "east", "", false, 0)}, 1);
    CHECK(t.firing("east", "127.0.0.1")->name == "Zeta");
    CHECK(t.firing("east", "127.0.0.2") == nullptr);
    CHECK(t.firing("west", "127.0.0.1") == nullptr);
}

TEST_CASE("a notice that has expired already is not applied and clears the alert it names") {
    AlertTable t;
    CHECK(t.apply({notice("1", "east", "", true, 10)}, 10).empty());
    CHECK(t.empty());
    t.apply({notice("1", "east", "", true, 20)}, 10);
    auto e = t.apply({notice("1", "east", "", true, 15)}, 16);
    REQUIRE(e.size() == 1);
    CHECK(e[0].change == AlertChange::Expired);
}
