// Choosing the answer for a balancer: compiled tables and seeded draws, no sockets.
#include "dnsd/selection.h"

#include <cmath>
#include <map>
#include <set>

#include "tests/unit/dns_test_util.h"

using namespace gtm;
using namespace gtm::test;
using health::Verdict;

namespace {

const char* kZone = R"(
zones:
  - name: lb.test
    soa: {mname: ns.lb.test, rname: h.lb.test, minimum: 300}
    ns: [ns.lb.test]
)";

struct Compiled {
    store::DesiredState state;
    store::DesiredState probed;
    TestVerdicts verdicts;
    std::shared_ptr<const dns::Snapshot> snap;

    explicit Compiled(const std::string& rest, TestVerdicts v = {}, int64_t now = 1000000)
        : state(store::parse_document(std::string(kZone) + rest, "test.yaml")),
          verdicts(std::move(v)) {
        dns::CompileInput in = verdicts.input(state, probed, now);
        in.generation = 1;
        snap = dns::compile(in);
    }
    const dns::Balancer& balancer() const { return *snap->balancers().front(); }
};

// Draws `n` single answers and counts them by address.
std::map<std::string, int> shares(const dns::AnswerTable& t, int n, uint64_t seed = 7) {
    dns::Rng rng(seed);
    std::map<std::string, int> count;
    uint16_t pick[dns::kMaxAnswers];
    for (int i = 0; i < n; ++i) {
        REQUIRE(dns::draw(t, 1, rng, pick) == 1);
        ++count[t.candidates[pick[0]].address];
    }
    return count;
}

// Within five standard deviations of the binomial expectation: a wrong weight by a few percent
// fails, a right one passes for any seed with overwhelming probability.
void check_share(int observed, int n, double p) {
    const double mean = n * p;
    const double sd = std::sqrt(n * p * (1 - p));
    CAPTURE(observed);
    CAPTURE(mean);
    CHECK(std::abs(observed - mean) <= 5 * sd + 1);
}

std::set<std::string> addresses(const dns::AnswerTable& t) {
    std::set<std::string> out;
    for (const auto& c : t.candidates) {
        out.insert(c.address);
    }
    return out;
}

const char* kTwoRegions = R"(
pools:
  - name: hangzhou
    members: [{address: 127.0.0.11, weight: 100}, {address: 127.0.0.12, weight: 100}]
  - name: frankfurt
    members: [{address: 127.0.0.21}]
  - name: singapore
    members: [{address: 127.0.0.31}]
balancers:
  - name: app.lb.test
    ttl: 30
    degraded_ttl: 5
    pools:
      - {pool: hangzhou, priority: 1, weight: 70}
      - {pool: frankfurt, priority: 1, weight: 30}
      - {pool: singapore, priority: 2}
)";

}  // namespace

TEST_CASE("over 100,000 draws the shares follow pool weights, then member weights") {
    Compiled c(kTwoRegions);
    const auto& t = c.balancer().v4;
    CHECK(t.mode == dns::ServeMode::Normal);
    CHECK(t.ttl_s == 30);
    auto n = shares(t, 100000);
    check_share(n["127.0.0.11"], 100000, 0.35);
    check_share(n["127.0.0.12"], 100000, 0.35);
    check_share(n["127.0.0.21"], 100000, 0.30);
    CHECK(n.count("127.0.0.31") == 0);
}

TEST_CASE("member weights 1, 2, 3, 4 give shares of 10, 20, 30 and 40 percent") {
    Compiled c(R"(
pools:
  - name: p
    members:
      - {address: 127.0.1.1, weight: 1}
      - {address: 127.0.1.2, weight: 2}
      - {address: 127.0.1.3, weight: 3}
      - {address: 127.0.1.4, weight: 4}
balancers:
  - {name: app.lb.test, pools: [{pool: p}]}
)");
    auto n = shares(c.balancer().v4, 100000, 99);
    check_share(n["127.0.1.1"], 100000, 0.1);
    check_share(n["127.0.1.2"], 100000, 0.2);
    check_share(n["127.0.1.3"], 100000, 0.3);
    check_share(n["127.0.1.4"], 100000, 0.4);
}

TEST_CASE("weight 0 is never returned while a non-zero member is eligible") {
    const char* doc = R"(
pools:
  - name: a
    members: [{address: 127.0.0.1, weight: 0}, {address: 127.0.0.2, weight: 10}]
  - name: b
    members: [{address: 127.0.0.3, weight: 0}]
balancers:
  - name: app.lb.test
    pools: [{pool: a, weight: 50}, {pool: b, weight: 50}]
)";
    Compiled all_up(doc);
    auto n = shares(all_up.balancer().v4, 20000);
    CHECK(n.size() == 1);
    CHECK(n["127.0.0.2"] == 20000);

    TestVerdicts v;
    v.set("a", "127.0.0.2", {Verdict::Down, 0});
    Compiled backup(doc, v);
    CHECK(addresses(backup.balancer().v4) == std::set<std::string>{"127.0.0.1", "127.0.0.3"});
    auto m = shares(backup.balancer().v4, 20000);
    check_share(m["127.0.0.1"], 20000, 0.5);
}

TEST_CASE("admin states: drain and down are never served, up is served while its probes fail") {
    const char* doc = R"(
pools:
  - name: p
    members:
      - {address: 127.0.0.1, admin: auto}
      - {address: 127.0.0.2, admin: up}
      - {address: 127.0.0.3, admin: drain}
      - {address: 127.0.0.4, admin: down}
balancers:
  - {name: app.lb.test, pools: [{pool: p}]}
)";
    Compiled unknown(doc);
    CHECK(addresses(unknown.balancer().v4) == std::set<std::string>{"127.0.0.1", "127.0.0.2"});
    TestVerdicts v;
    for (const char* a : {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
        v.set("p", a, {Verdict::Down, 0});
    }
    Compiled failing(doc, v);
    CHECK(addresses(failing.balancer().v4) == std::set<std::string>{"127.0.0.2"});
    CHECK(failing.balancer().v4.mode == dns::ServeMode::Normal);
}

TEST_CASE("min_healthy takes a pool out while too few members are eligible; the next tier serves") {
    const char* doc = R"(
pools:
  - name: primary
    min_healthy: 2
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}, {address: 127.0.0.3}]
  - name: backup
    members: [{address: 127.0.0.9}]
balancers:
  - name: app.lb.test
    ttl: 60
    degraded_ttl: 7
    pools: [{pool: primary, priority: 1}, {pool: backup, priority: 2}]
)";
    TestVerdicts one_down;
    one_down.set("primary", "127.0.0.1", {Verdict::Down, 0});
    Compiled still_up(doc, one_down);
    CHECK(addresses(still_up.balancer().v4) == std::set<std::string>{"127.0.0.2", "127.0.0.3"});
    CHECK(still_up.balancer().v4.ttl_s == 60);

    TestVerdicts two_down = one_down;
    two_down.set("primary", "127.0.0.2", {Verdict::Down, 0});
    Compiled failed_over(doc, two_down);
    CHECK(addresses(failed_over.balancer().v4) == std::set<std::string>{"127.0.0.9"});
    CHECK(failed_over.balancer().v4.mode == dns::ServeMode::Degraded);
    CHECK(failed_over.balancer().v4.ttl_s == 7);
    CHECK(failed_over.balancer().v4.serving_priority == 2);
}

namespace {
std::string all_down_doc(const char* when, const char* extra = "") {
    return std::string(R"(
pools:
  - name: p1
    members: [{address: 127.0.0.1}, {address: 127.0.0.2, admin: drain}, {address: "::1"}]
  - name: p2
    members: [{address: 127.0.0.9}]
balancers:
  - name: app.lb.test
    ttl: 30
    degraded_ttl: 4
    when_all_down: )") +
           when + "\n" + extra + R"(
    pools: [{pool: p1, priority: 1}, {pool: p2, priority: 2}]
)";
}
TestVerdicts everything_down() {
    TestVerdicts v;
    v.set("p1", "127.0.0.1", {Verdict::Down, 0});
    v.set("p1", "127.0.0.2", {Verdict::Down, 0});
    v.set("p1", "::1", {Verdict::Down, 0});
    v.set("p2", "127.0.0.9", {Verdict::Down, 0});
    return v;
}
}  // namespace

TEST_CASE("when_all_down fail_open answers the first tier's members with the degraded TTL") {
    Compiled c(all_down_doc("fail_open"), everything_down());
    const auto& t = c.balancer().v4;
    CHECK(t.mode == dns::ServeMode::FailOpen);
    CHECK(addresses(t) == std::set<std::string>{"127.0.0.1"});  // drain stays out
    CHECK(t.ttl_s == 4);
    CHECK(c.balancer().v6.mode == dns::ServeMode::FailOpen);
    CHECK(addresses(c.balancer().v6) == std::set<std::string>{"::1"});
}

TEST_CASE("when_all_down fail_closed answers NODATA whose SOA TTL is capped at degraded_ttl") {
    TestServer s(std::string(kZone) + all_down_doc("fail_closed"), everything_down());
    Pkt p = parse(s.ask(make_query("app.lb.test", dns::kTypeA)));
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    REQUIRE(ldns_pkt_nscount(p.get()) == 1);
    CHECK(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p.get()), 0)) == 4);
}

TEST_CASE("when_all_down fallback answers the static addresses of the query's family") {
    Compiled c(all_down_doc("fallback", "    fallback: [127.0.0.200, \"::200\"]"),
               everything_down());
    CHECK(c.balancer().v4.mode == dns::ServeMode::Fallback);
    CHECK(addresses(c.balancer().v4) == std::set<std::string>{"127.0.0.200"});
    CHECK(addresses(c.balancer().v6) == std::set<std::string>{"::200"});
    CHECK(c.balancer().v4.ttl_s == 4);
}

TEST_CASE("max_answers draws distinct members, weighted, without replacement") {
    Compiled c(R"(
pools:
  - name: p
    members:
      - {address: 127.0.1.1, weight: 1}
      - {address: 127.0.1.2, weight: 2}
      - {address: 127.0.1.3, weight: 3}
      - {address: 127.0.1.4, weight: 4}
balancers:
  - {name: app.lb.test, max_answers: 3, pools: [{pool: p}]}
)");
    const auto& b = c.balancer();
    dns::Rng rng(3);
    uint16_t pick[dns::kMaxAnswers];
    std::map<std::string, int> first;
    std::map<std::string, int> anywhere;
    for (int i = 0; i < 50000; ++i) {
        REQUIRE(dns::draw(b.v4, b.max_answers, rng, pick) == 3);
        std::set<uint16_t> distinct(pick, pick + 3);
        REQUIRE(distinct.size() == 3);
        ++first[b.v4.candidates[pick[0]].address];
        for (int k = 0; k < 3; ++k) {
            ++anywhere[b.v4.candidates[pick[k]].address];
        }
    }
    check_share(first["127.0.1.1"], 50000, 0.1);
    check_share(first["127.0.1.4"], 50000, 0.4);
    // The lightest member is the one most often left out.
    CHECK(anywhere["127.0.1.1"] < anywhere["127.0.1.2"]);
    CHECK(anywhere["127.0.1.2"] < anywhere["127.0.1.3"]);
}

TEST_CASE("slow start ramps a returning member from a tenth of its weight to full") {
    const char* doc = R"(
pools:
  - name: p
    slow_start: 60s
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}]
balancers:
  - {name: app.lb.test, pools: [{pool: p}]}
)";
    const int64_t now = 10'000'000;
    auto weight_of = [&](int64_t since) {
        TestVerdicts v;
        v.set("p", "127.0.0.2", {Verdict::Up, since});
        Compiled c(doc, v, now);
        for (const auto& cand : c.balancer().v4.candidates) {
            if (std::string(cand.address) == "127.0.0.2") {
                return cand.weight / c.balancer().v4.total_weight;
            }
        }
        return -1.0;
    };
    CHECK(weight_of(now) == doctest::Approx(0.1 / 1.1));
    CHECK(weight_of(now - 30000) == doctest::Approx(0.55 / 1.55));
    CHECK(weight_of(now - 60000) == doctest::Approx(0.5));
    CHECK(weight_of(0) == doctest::Approx(0.5));
}

TEST_CASE("addresses are answered by family; an IPv4-only balancer has no AAAA members") {
    Compiled c(kTwoRegions);
    CHECK(c.balancer().v6.mode == dns::ServeMode::NoMembers);
    CHECK(c.balancer().v6.candidates.empty());
    Compiled mixed(R"(
pools:
  - name: p
    members: [{address: 127.0.0.1}, {address: "2001:db8::1"}]
balancers:
  - {name: app.lb.test, pools: [{pool: p}]}
)");
    CHECK(addresses(mixed.balancer().v4) == std::set<std::string>{"127.0.0.1"});
    CHECK(addresses(mixed.balancer().v6) == std::set<std::string>{"2001:db8::1"});
    CHECK(mixed.balancer().v6.candidates[0].size == 26);
}

TEST_CASE("a tier without members of the asked family does not count as the first tier") {
    Compiled c(R"(
pools:
  - name: v6only
    members: [{address: "::1"}]
  - name: v4
    members: [{address: 127.0.0.1}]
balancers:
  - name: app.lb.test
    pools: [{pool: v6only, priority: 1}, {pool: v4, priority: 2}]
)");
    CHECK(c.balancer().v4.mode == dns::ServeMode::Normal);
    CHECK(c.balancer().v4.ttl_s == 30);
}

TEST_CASE("a returning region of one member ramps its pool's share, not only its member's") {
    const char* doc = R"(
pools:
  - name: r1
    members: [{address: 127.0.0.1}]
  - name: r2
    slow_start: 60s
    members: [{address: 127.0.0.2}]
balancers:
  - {name: app.lb.test, pools: [{pool: r1, weight: 50}, {pool: r2, weight: 50}]}
)";
    const int64_t now = 10'000'000;
    auto share_of_r2 = [&](int64_t since) {
        TestVerdicts v;
        v.set("r2", "127.0.0.2", {Verdict::Up, since});
        Compiled c(doc, v, now);
        for (const auto& cand : c.balancer().v4.candidates) {
            if (std::string(cand.address) == "127.0.0.2") {
                return cand.weight / c.balancer().v4.total_weight;
            }
        }
        return -1.0;
    };
    CHECK(share_of_r2(now) == doctest::Approx(0.1 / 1.1));
    CHECK(share_of_r2(now - 30000) == doctest::Approx(0.55 / 1.55));
    CHECK(share_of_r2(now - 60000) == doctest::Approx(0.5));
}

TEST_CASE("suspect members are avoided while the tier has others, and served when it has not") {
    const char* doc = R"(
pools:
  - name: a
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}]
  - name: b
    members: [{address: 127.0.0.3, admin: up}]
balancers:
  - {name: app.lb.test, pools: [{pool: a}, {pool: b}]}
)";
    TestVerdicts one;
    one.set("a", "127.0.0.1", {Verdict::Up, 0, true});
    Compiled c1(doc, one);
    CHECK(addresses(c1.balancer().v4) == std::set<std::string>{"127.0.0.2", "127.0.0.3"});
    CHECK(c1.balancer().v4.mode == dns::ServeMode::Normal);

    TestVerdicts all;
    all.set("a", "127.0.0.1", {Verdict::Up, 0, true});
    all.set("a", "127.0.0.2", {Verdict::Up, 0, true});
    all.set("b", "127.0.0.3", {Verdict::Up, 0, true});  // admin up: never avoided
    Compiled c2(doc, all);
    CHECK(addresses(c2.balancer().v4) == std::set<std::string>{"127.0.0.3"});

    const char* single = R"(
pools:
  - name: a
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}]
balancers:
  - {name: app.lb.test, pools: [{pool: a}]}
)";
    TestVerdicts both;
    both.set("a", "127.0.0.1", {Verdict::Up, 0, true});
    both.set("a", "127.0.0.2", {Verdict::Up, 0, true});
    Compiled c3(single, both);
    CHECK(addresses(c3.balancer().v4) == std::set<std::string>{"127.0.0.1", "127.0.0.2"});
}

TEST_CASE("a firing alert takes its members out like a down verdict; admin up still serves") {
    const store::DesiredState state = store::parse_document(std::string(kZone) + R"(
pools:
  - name: p
    members: [{address: 127.0.0.1}, {address: 127.0.0.2, admin: up}, {address: 127.0.0.3}]
  - name: q
    members: [{address: 127.0.0.1}, {address: 127.0.0.4}]
balancers:
  - {name: app.lb.test, max_answers: 16, pools: [{pool: p}, {pool: q}]}
)",
                                                            "test.yaml");
    health::TargetTable none;
    health::AlertTable alerts;
    alerts.apply(
        {{"f1", "Errors", "p", "127.0.0.3", true, 100}, {"f2", "Slow", "", "127.0.0.1", true, 100}},
        0);
    dns::CompileInput in;
    in.state = &state;
    in.targets = &none;
    in.alerts = &alerts;
    in.generation = 1;
    const auto snap = dns::compile(in);
    const dns::AnswerTable& t = snap->balancers().front()->v4;
    // 127.0.0.1 is out in both pools (a member alert), .3 only in p; .2 is admin up.
    CHECK(addresses(t) == std::set<std::string>{"127.0.0.2", "127.0.0.4"});
    for (const auto& m : t.members) {
        CAPTURE(m.address);
        CAPTURE(m.pool);
        const std::string a = m.address;
        if (a == "127.0.0.1") {
            CHECK(m.status == dns::MemberStatus::AlertDown);
            CHECK(std::string(m.alert) == "Slow");
            CHECK_FALSE(m.eligible);
        } else if (a == "127.0.0.3") {
            CHECK(std::string(m.alert) == "Errors");
            CHECK(m.status == dns::MemberStatus::AlertDown);
        } else if (a == "127.0.0.2") {
            CHECK(m.alert == nullptr);
            CHECK(m.status == dns::MemberStatus::Serving);
        }
    }
}

TEST_CASE("several monitors: the pool's combination decides, and its decision names the monitor") {
    const store::DesiredState state = store::parse_document(std::string(kZone) + R"(
monitors:
  - {name: web, type: http}
  - {name: errors, type: tcp, port: 9}
pools:
  - {name: all, monitors: [web, errors], members: [{address: 127.0.0.1}]}
  - {name: any, monitors: [web, errors], combine: any, members: [{address: 127.0.0.2}]}
balancers:
  - {name: app.lb.test, max_answers: 16, pools: [{pool: all}, {pool: any}]}
)",
                                                            "test.yaml");
    health::TargetTable table;
    health::TargetState up;
    up.verdict = Verdict::Up;
    health::TargetState down;
    down.verdict = Verdict::Down;
    for (const char* a : {"127.0.0.1", "127.0.0.2"}) {
        table.set(health::target_key("web", a), up);
        table.set(health::target_key("errors", a), down);
    }
    dns::CompileInput in;
    in.state = &state;
    in.targets = &table;
    in.generation = 1;
    const auto snap = dns::compile(in);
    const dns::AnswerTable& t = snap->balancers().front()->v4;
    CHECK(addresses(t) == std::set<std::string>{"127.0.0.2"});
    for (const auto& m : t.members) {
        CAPTURE(m.address);
        REQUIRE(m.decided_by != nullptr);
        if (std::string(m.address) == "127.0.0.1") {
            CHECK(m.status == dns::MemberStatus::VerdictDown);
            CHECK(std::string(m.decided_by) == "errors");  // all: the one down decided
        } else {
            CHECK(m.status == dns::MemberStatus::Serving);
            CHECK(std::string(m.decided_by) == "web");  // any: the one up decided
        }
    }
}
