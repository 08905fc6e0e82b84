// The controller: verdicts recompile only the balancers they touch; slow start ticks.
#include "dnsd/controller.h"

#include <doctest/doctest.h>

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
  - {name: b.c.test, pools: [{pool: west}]}
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

}  // namespace

TEST_CASE("a verdict change recompiles only the balancers using that pool") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    auto before = holder.get();
    CHECK(c.apply_verdicts({{"east", "127.0.0.1", Verdict::Down}}, 1000) == 2);
    auto after = holder.get();
    CHECK(after->generation() > before->generation());
    CHECK(after->balancers()[0] != before->balancers()[0]);  // a: east
    CHECK(after->balancers()[1] == before->balancers()[1]);  // b: west only, shared
    CHECK(after->balancers()[2] != before->balancers()[2]);  // both
    CHECK(after->balancers()[0]->v4.candidates.size() == 1);
    CHECK(c.apply_verdicts({{"nowhere", "127.0.0.9", Verdict::Down}}, 1000) == 0);
}

TEST_CASE("a member back from down ramps through slow start, recompiled by the tick") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Down}}, 1000);
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Up}}, 2000);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.1 / 1.1));
    CHECK(c.tick(7000) == 2);  // halfway: 0.55
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.55 / 1.55));
    CHECK(c.tick(12000) == 2);  // the ramp is over: full weight, and no more ticks
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.5));
    CHECK(c.tick(13000) == 0);
}

TEST_CASE("unknown to up is not a return: no slow start") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Up}}, 2000);
    CHECK(weight_of(*holder.get()->balancer(0), "127.0.0.1") == doctest::Approx(0.5));
    CHECK(c.tick(3000) == 0);
}

TEST_CASE("a new desired state keeps the verdicts of members that stay") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Down}, {"west", "127.0.0.3", Verdict::Down}},
                     1000);
    std::string doc = kDoc;
    doc.replace(doc.find("{address: 127.0.0.3}"), 20, "{address: 127.0.0.4}");
    c.set_state(store::parse_document(doc, "d"), 2000);
    CHECK(c.verdicts().get("east", "127.0.0.1").verdict == Verdict::Down);
    CHECK(c.verdicts().get("west", "127.0.0.3").verdict == Verdict::Unknown);
    CHECK(c.verdicts().size() == 1);
    CHECK(holder.get()->balancer(0)->v4.candidates.size() == 1);
}

TEST_CASE("a pool whose monitor is removed has no verdicts any more: its members are served") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Down}}, 1000);
    std::string doc = kDoc;
    doc.replace(doc.find("    monitor: web\n    slow_start"), 17, "");
    c.set_state(store::parse_document(doc, "d"), 2000);
    CHECK(c.verdicts().get("east", "127.0.0.1").verdict == Verdict::Unknown);
    CHECK(holder.get()->balancer(0)->v4.candidates.size() == 2);
}

TEST_CASE("suspicion recompiles the member's balancers; a verdict clears it") {
    dns::SnapshotHolder holder;
    dns::Controller c(holder);
    c.set_state(store::parse_document(kDoc, "d"), 0);
    CHECK(c.apply_suspects({{"east", "127.0.0.1", true}}, 1000) == 2);
    CHECK(holder.get()->balancer(0)->v4.candidates.size() == 1);
    CHECK(c.apply_suspects({{"east", "127.0.0.1", true}}, 1100) == 0);  // no change
    c.apply_verdicts({{"east", "127.0.0.1", Verdict::Down}}, 2000);
    CHECK_FALSE(c.verdicts().get("east", "127.0.0.1").suspect);
}
