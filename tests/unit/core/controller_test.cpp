// The controller: decisions keyed by (monitor, address) reach every pool that holds the target,
// including pools created, renamed or re-pointed later; only touched balancers are recompiled;
// slow start ticks; states are compiled before they are committed.
#include "core/controller.h"

#include <doctest/doctest.h>

#include <set>

#include "store/document.h"

using namespace gtm;
using health::Verdict;

namespace {

const char* kDoc = R"(
zones:
  - name: c.test
    soa: {mname: ns.c.test, rname: h.c.test}
    ns: [ns.c.test]
monitors:
  - {name: web, type: http}
  - {name: other, type: tcp, port: 443}
pools:
  - name: east
    monitor: web
    slow_start: 10s
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}]
  - name: west
    monitor: web
    members: [{address: 127.0.0.3}]
balancers:
  - {name: a.c.test, pools: [{pool: east}]}
  - {name: b.c.test, when_all_down: fail_closed, pools: [{pool: west}]}
  - {name: both.c.test, pools: [{pool: east}, {pool: west}]}
)";

double weight_of(const dns::Balancer& b, const char* address) {
    for (const auto& c : b.v4.candidates) {
        if (std::string(c.address) == address) {
            return c.weight / b.v4.total_weight;
        }
    }
    return 0;
}

std::set<std::string> answers(const dns::SnapshotHolder& h, const std::string& balancer) {
    std::set<std::string> out;
    for (const auto& b : h.get()->balancers()) {
        if (b->name == balancer) {
            for (const auto& c : b->v4.candidates) {
                out.insert(c.address);
            }
        }
    }
    return out;
}

core::Decision decision(const char* monitor, const char* address, Verdict v,
                        int64_t returned_ms = 0) {
    health::TargetState s;
    s.verdict = v;
    s.returned_ms = returned_ms;
    return {health::target_key(monitor, address), s};
}

void set_state(core::Controller& c, const std::string& doc, int64_t now) {
    c.commit(c.prepare(store::parse_document(doc, "d"), now), now);
}

std::string replaced(std::string doc, const std::string& from, const std::string& to) {
    doc.replace(doc.find(from), from.size(), to);
    return doc;
}

}  // namespace

TEST_CASE("a decision recompiles only the balancers whose pools hold the target") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    auto before = holder.get();
    CHECK(c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1000) == 2);
    auto after = holder.get();
    CHECK(after->generation() > before->generation());
    CHECK(after->balancers()[0] != before->balancers()[0]);  // a: east
    CHECK(after->balancers()[1] == before->balancers()[1]);  // b: west only, shared
    CHECK(after->balancers()[2] != before->balancers()[2]);  // both
    CHECK(after->balancers()[0]->v4.candidates.size() == 1);
    CHECK(c.apply({decision("web", "127.0.0.9", Verdict::Down)}, 1000) == 0);
}

TEST_CASE("a member in a new pool takes the current decision of its (monitor, address) at once") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1000);
    // Issue 8's reproduction: a new pool with the same monitor and the dead member, behind a new
    // balancer. It must never answer the dead address.
    std::string doc = replaced(
        kDoc, "balancers:\n",
        "  - {name: p2, monitor: web, members: [{address: 127.0.0.1}]}\n"
        "balancers:\n  - {name: b2.c.test, when_all_down: fail_closed, pools: [{pool: p2}]}\n");
    auto p = c.prepare(store::parse_document(doc, "d"), 2000);
    CHECK(p.seeds.empty());  // the prober has this target already: nothing new to seed
    c.commit(std::move(p), 2000);
    CHECK(answers(holder, "b2.c.test").empty());
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.2"});
}

TEST_CASE("a renamed pool and a member moved between pools keep the target's decision") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1000);
    std::string renamed = kDoc;
    for (size_t at = renamed.find("east"); at != std::string::npos;
         at = renamed.find("east", at + 4)) {
        renamed.replace(at, 4, "ost_");
    }
    set_state(c, renamed, 2000);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.2"});
    // 127.0.0.1 moves from east to west.
    std::string moved = replaced(kDoc, "members: [{address: 127.0.0.1}, {address: 127.0.0.2}]",
                                 "members: [{address: 127.0.0.2}]");
    moved = replaced(moved, "members: [{address: 127.0.0.3}]",
                     "members: [{address: 127.0.0.3}, {address: 127.0.0.1}]");
    set_state(c, moved, 3000);
    CHECK(answers(holder, "b.c.test") == std::set<std::string>{"127.0.0.3"});
}

TEST_CASE(
    "a pool re-pointed to another monitor starts from the address's decision, provisionally") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    c.apply({decision("web", "127.0.0.3", Verdict::Down)}, 1000);
    std::string swapped = replaced(kDoc, "    monitor: web\n    members: [{address: 127.0.0.3}]",
                                   "    monitor: other\n    members: [{address: 127.0.0.3}]");
    auto p = c.prepare(store::parse_document(swapped, "d"), 2000);
    REQUIRE(p.seeds.count(health::target_key("other", "127.0.0.3")) == 1);
    const health::Seed seed = p.seeds.at(health::target_key("other", "127.0.0.3"));
    CHECK(seed.verdict == Verdict::Down);
    CHECK(seed.provisional);  // the first probe of the new monitor decides
    c.commit(std::move(p), 2000);
    CHECK(answers(holder, "b.c.test").empty());
    CHECK(c.targets().get("other", "127.0.0.3").verdict == Verdict::Down);
}

TEST_CASE("restored verdicts seed the first state for good; removed targets are remembered") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    c.restore({decision("web", "127.0.0.2", Verdict::Down)});
    auto p = c.prepare(store::parse_document(kDoc, "d"), 0);
    REQUIRE(p.seeds.count(health::target_key("web", "127.0.0.2")) == 1);
    CHECK_FALSE(p.seeds.at(health::target_key("web", "127.0.0.2")).provisional);
    c.commit(std::move(p), 0);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.1"});
    // Removed, then added back: the remembered decision seeds it, until its first probe.
    set_state(c, replaced(kDoc, ", {address: 127.0.0.2}", ""), 1000);
    auto back = c.prepare(store::parse_document(kDoc, "d"), 2000);
    REQUIRE(back.seeds.count(health::target_key("web", "127.0.0.2")) == 1);
    CHECK(back.seeds.at(health::target_key("web", "127.0.0.2")).provisional);
    c.commit(std::move(back), 2000);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.1"});
}

TEST_CASE("a state that cannot be compiled is refused by prepare and changes nothing") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    const auto generation = c.generation();
    store::DesiredState bad = store::parse_document(kDoc, "d");
    bad.balancers[0].name = "outside.example";  // validate() would refuse it; compile throws
    CHECK_THROWS(c.prepare(bad, 1000));
    CHECK(c.generation() == generation);
    CHECK(holder.get()->generation() == generation);
}

TEST_CASE("decisions that arrive between prepare and commit are served by the commit") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    auto p = c.prepare(store::parse_document(kDoc, "d"), 1000);
    c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1500);  // while the store writes
    c.commit(std::move(p), 2000);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.2"});
}

TEST_CASE("a member back in the answers ramps through slow start, recompiled by the tick") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1000);
    c.apply({decision("web", "127.0.0.1", Verdict::Up, 2000)}, 2000);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.1 / 1.1));
    CHECK(c.tick(7000) == 2);  // halfway: 0.55
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.55 / 1.55));
    CHECK(c.tick(12000) == 2);  // the ramp is over: full weight, and no more ticks
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.5));
    CHECK(c.tick(13000) == 0);
}

TEST_CASE("an undrained member ramps through slow start") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    const std::string drained =
        replaced(kDoc, "{address: 127.0.0.1}", "{address: 127.0.0.1, admin: drain}");
    set_state(c, drained, 0);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.2"});
    set_state(c, kDoc, 1000);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.1 / 1.1));
    CHECK(c.tick(6000) == 2);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.55 / 1.55));
    // A change of something else meanwhile keeps the ramp going.
    set_state(c, replaced(kDoc, "{address: 127.0.0.3}", "{address: 127.0.0.3, weight: 50}"), 6000);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.55 / 1.55));
}

TEST_CASE("a pool whose monitor is removed has no verdicts any more: its members are served") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    c.apply({decision("web", "127.0.0.1", Verdict::Down)}, 1000);
    set_state(c, replaced(kDoc, "    monitor: web\n    slow_start", "    slow_start"), 2000);
    CHECK(holder.get()->balancer(0)->v4.candidates.size() == 2);
}

TEST_CASE("a suspect member is left out of the answers; its decision clears it") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    core::Decision d = decision("web", "127.0.0.1", Verdict::Up);
    d.state.suspect = true;
    CHECK(c.apply({d}, 1000) == 2);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.2"});
    c.apply({decision("web", "127.0.0.1", Verdict::Up)}, 2000);
    CHECK(answers(holder, "a.c.test") == std::set<std::string>{"127.0.0.1", "127.0.0.2"});
}

TEST_CASE("alerts recompile the balancers of the pools they mark; expiry and new states follow") {
    dns::SnapshotHolder holder;
    core::Controller c(holder);
    set_state(c, kDoc, 0);
    const auto before = holder.get();
    // A member alert reaches every pool holding the address; a pool alert only its pool.
    auto events = c.apply_alerts({{"f1", "Errors", "", "127.0.0.3", true, 5000}}, 1000);
    REQUIRE(events.size() == 1);
    CHECK(events[0].change == health::AlertChange::Firing);
    const auto after = holder.get();
    CHECK(after->balancers()[0] == before->balancers()[0]);  // a: east, untouched
    CHECK(after->balancers()[1] != before->balancers()[1]);  // b: west
    CHECK(answers(holder, "b.c.test").empty());              // fail_closed: nothing left
    CHECK(answers(holder, "both.c.test") == std::set<std::string>{"127.0.0.1", "127.0.0.2"});
    // Re-sent: nothing changes, nothing is recompiled.
    CHECK(c.apply_alerts({{"f1", "Errors", "", "127.0.0.3", true, 9000}}, 2000).empty());
    CHECK(holder.get()->generation() == after->generation());
    // A new state while the alert fires: a new pool holding the address is marked at once.
    set_state(c,
              replaced(kDoc, "balancers:\n",
                       "  - {name: p2, monitor: web, members: [{address: 127.0.0.3}, "
                       "{address: 127.0.0.4}]}\nbalancers:\n  - {name: c2.c.test, "
                       "max_answers: 4, pools: [{pool: p2}]}\n"),
              3000);
    CHECK(answers(holder, "c2.c.test") == std::set<std::string>{"127.0.0.4"});
    // Its expiry (9000) passes: the tick clears it and recompiles.
    std::vector<health::AlertEvent> expired;
    c.tick(8999, &expired);
    CHECK(expired.empty());
    c.tick(9000, &expired);
    REQUIRE(expired.size() == 1);
    CHECK(expired[0].change == health::AlertChange::Expired);
    CHECK(answers(holder, "b.c.test") == std::set<std::string>{"127.0.0.3"});
    CHECK(answers(holder, "c2.c.test") == std::set<std::string>{"127.0.0.3", "127.0.0.4"});
    CHECK(c.alerts().empty());
}
