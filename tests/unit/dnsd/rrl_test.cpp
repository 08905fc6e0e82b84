// Response rate limiting: the buckets stepped on an injected clock, and the responder's use of
// them (what is limited, what a slipped answer looks like, what is never limited).
#include "dnsd/rrl.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "tests/unit/dns_test_util.h"

using namespace gtm;
using namespace gtm::test;
using dns::Rrl;
using dns::RrlAction;
using dns::RrlClass;
using dns::RrlConfig;
using dns::Transport;

namespace {

sockaddr_storage v4(const char* text) {
    sockaddr_storage s{};
    auto* a = reinterpret_cast<sockaddr_in*>(&s);
    a->sin_family = AF_INET;
    a->sin_port = htons(5353);
    REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
    return s;
}

sockaddr_storage v6(const char* text) {
    sockaddr_storage s{};
    auto* a = reinterpret_cast<sockaddr_in6*>(&s);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(5353);
    REQUIRE(inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
    return s;
}

const sockaddr* sa(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

struct Tally {
    int pass = 0, drop = 0, slip = 0;
};

Tally run(Rrl& rrl, const sockaddr_storage& from, int n, RrlClass c = RrlClass::Answer,
          uint32_t name = 7, uint16_t qtype = 1) {
    Tally t;
    for (int i = 0; i < n; ++i) {
        switch (rrl.check(sa(from), c, name, qtype)) {
            case RrlAction::Pass:
                ++t.pass;
                break;
            case RrlAction::Drop:
                ++t.drop;
                break;
            case RrlAction::Slip:
                ++t.slip;
                break;
        }
    }
    return t;
}

RrlConfig config(uint32_t rate, uint32_t slip) {
    RrlConfig c;
    c.enabled = true;
    c.rate = rate;
    c.slip = slip;
    return c;
}

const char* kZone = R"(
zones:
  - name: example.test
    soa: {mname: ns1.example.test, rname: hostmaster.example.test, minimum: 60}
    ns: [ns1.example.test]
    records:
      - "ns1 3600 A 127.0.0.53"
      - "txt 300 TXT \"hello\""
      - "*.wild 300 A 127.0.0.99"
      - "sub 300 NS ns.sub"
      - "ns.sub 300 A 127.0.0.70"
pools:
  - name: p1
    members: [{address: 127.0.0.11}]
balancers:
  - name: app.example.test
    pools: [{pool: p1}]
)";

}  // namespace

TEST_CASE(
    "a flood from one source gets rate answers per second; every slip-th limited is truncated") {
    Rrl rrl(config(10, 2), 1);
    rrl.set_now(5000);
    Tally t = run(rrl, v4("192.0.2.1"), 100);
    CHECK(t.pass == 5);  // half a second's worth to start with
    CHECK(t.slip == 47);
    CHECK(t.drop == 48);
    // A steady flood, 20 queries every 10 ms for a second: rate answers.
    int passed = 0;
    for (uint64_t ms = 5010; ms <= 6000; ms += 10) {
        rrl.set_now(ms);
        passed += run(rrl, v4("192.0.2.1"), 20).pass;
    }
    CHECK(passed == 10);
    rrl.set_now(6300);  // 300 ms: 3 answers saved up
    CHECK(run(rrl, v4("192.0.2.1"), 100).pass == 3);
    rrl.set_now(60000);  // a long pause saves up half a second's worth, no more
    CHECK(run(rrl, v4("192.0.2.1"), 100).pass == 5);
}

TEST_CASE("slip 0 drops every limited answer, slip 1 truncates every one") {
    Rrl drop_all(config(10, 0), 1);
    Tally t = run(drop_all, v4("192.0.2.1"), 50);
    CHECK(t.pass == 5);
    CHECK(t.drop == 45);
    CHECK(t.slip == 0);
    Rrl slip_all(config(10, 1), 1);
    t = run(slip_all, v4("192.0.2.1"), 50);
    CHECK(t.pass == 5);
    CHECK(t.slip == 45);
    CHECK(t.drop == 0);
}

TEST_CASE("sources in one /24 or /56 share a bucket; other prefixes, classes and names do not") {
    Rrl rrl(config(20, 2), 1);
    CHECK(run(rrl, v4("192.0.2.1"), 6).pass == 6);
    CHECK(run(rrl, v4("192.0.2.200"), 10).pass == 4);  // the same /24: what is left
    CHECK(run(rrl, v4("192.0.3.1"), 10).pass == 10);   // the next /24
    CHECK(run(rrl, v4("192.0.2.1"), 10, RrlClass::NxDomain).pass == 10);
    CHECK(run(rrl, v4("192.0.2.1"), 10, RrlClass::Answer, 8).pass == 10);      // another name
    CHECK(run(rrl, v4("192.0.2.1"), 10, RrlClass::Answer, 7, 28).pass == 10);  // AAAA
    // Errors are keyed by the prefix alone: another name shares the bucket.
    CHECK(run(rrl, v4("192.0.2.1"), 6, RrlClass::Error, 0).pass == 6);
    CHECK(run(rrl, v4("192.0.2.1"), 10, RrlClass::Error, 0).pass == 4);

    CHECK(run(rrl, v6("2001:db8:0:1200::1"), 6).pass == 6);
    CHECK(run(rrl, v6("2001:db8:0:12ff:ffff::2"), 10).pass == 4);  // the same /56
    CHECK(run(rrl, v6("2001:db8:0:1300::1"), 10).pass == 10);      // the next /56
}

TEST_CASE("configured prefix lengths decide which sources share a bucket") {
    RrlConfig c = config(20, 2);
    c.ipv4_prefix = 32;
    c.ipv6_prefix = 64;
    Rrl rrl(c, 1);
    CHECK(run(rrl, v4("192.0.2.1"), 10).pass == 10);
    CHECK(run(rrl, v4("192.0.2.2"), 10).pass == 10);
    CHECK(run(rrl, v6("2001:db8::1"), 10).pass == 10);
    CHECK(run(rrl, v6("2001:db8::2"), 10).pass == 0);
    CHECK(run(rrl, v6("2001:db8:0:1::1"), 10).pass == 10);
}

TEST_CASE("exempt prefixes are never limited") {
    RrlConfig c = config(4, 2);
    for (const char* text : {"198.51.100.0/24", "2001:db8:aa::/48", "192.0.2.7"}) {
        dns::RrlPrefix p;
        REQUIRE(dns::parse_prefix(text, p).empty());
        c.exempt.push_back(p);
    }
    Rrl rrl(c, 1);
    CHECK(run(rrl, v4("198.51.100.9"), 1000).pass == 1000);
    CHECK(run(rrl, v4("192.0.2.7"), 1000).pass == 1000);
    CHECK(run(rrl, v6("2001:db8:aa:ff::1"), 1000).pass == 1000);
    CHECK(run(rrl, v4("192.0.2.8"), 1000).pass == 2);  // the /32 is exempt, not its /24
    CHECK(run(rrl, v6("2001:db8:ab::1"), 1000).pass == 2);
}

TEST_CASE("a table full of other sources stays its size and still limits a flood") {
    RrlConfig c = config(20, 2);
    c.table_size = 1000;  // rounded up to 1024
    Rrl rrl(c, 1);
    CHECK(rrl.buckets() == 1024);
    rrl.set_now(1000);
    CHECK(run(rrl, v4("192.0.2.1"), 100).pass == 10);
    char text[32];
    for (int i = 0; i < 20000; ++i) {
        std::snprintf(text, sizeof text, "10.%d.%d.1", i / 256, i % 256);
        run(rrl, v4(text), 1);
    }
    CHECK(rrl.buckets() == 1024);
    // The flooding source was pushed out by quieter keys, or not: either way it is limited
    // again within one second's worth.
    CHECK(run(rrl, v4("192.0.2.1"), 100).pass <= 10);
}

TEST_CASE("prefixes parse with their length, and what is wrong with them is said") {
    dns::RrlPrefix p;
    CHECK(dns::parse_prefix("192.0.2.0/24", p).empty());
    CHECK((!p.v6 && p.length == 24));
    CHECK(dns::parse_prefix("2001:db8::/56", p).empty());
    CHECK((p.v6 && p.length == 56));
    CHECK(dns::parse_prefix("::1", p).empty());
    CHECK(p.length == 128);
    CHECK(dns::parse_prefix("0.0.0.0/0", p).empty());
    CHECK(dns::parse_prefix("192.0.2.1/24", p) == "'192.0.2.1/24' has address bits set beyond /24");
    CHECK(dns::parse_prefix("192.0.2.0/33", p) == "'/33' is not a prefix length from 0 to 32");
    CHECK(dns::parse_prefix("192.0.2.0/", p) == "'/' is not a prefix length from 0 to 32");
    CHECK(dns::parse_prefix("192.0.2.0/x", p) == "'/x' is not a prefix length from 0 to 32");
    CHECK(dns::parse_prefix("example.com", p) == "'example.com' is not an IPv4 or IPv6 address");
    CHECK(dns::parse_prefix("", p) == "'' is not an IPv4 or IPv6 address");
}

TEST_CASE("a limited UDP answer is dropped or slipped: TC=1, question and OPT, no records") {
    TestServer s(kZone);
    dns::WorkerStats stats;
    s.responder().count_into(&stats, dns::Responder::kNoSlot);
    Rrl rrl(config(6, 2), 1);
    rrl.set_now(1000);
    s.responder().limit_with(&rrl);
    const auto from = v4("192.0.2.1");
    QueryOptions o;
    o.edns = true;
    const Bytes q = make_query("app.example.test", dns::kTypeA, o);
    int full = 0, dropped = 0, slipped = 0;
    for (int i = 0; i < 20; ++i) {
        dns::Outcome oc;
        const Bytes a = s.ask_from(q, sa(from), &oc);
        if (a.empty()) {
            CHECK(oc.rrl == RrlAction::Drop);
            ++dropped;
            continue;
        }
        Pkt p = parse(a);
        if (ldns_pkt_tc(p.get())) {
            CHECK(oc.rrl == RrlAction::Slip);
            CHECK(ldns_pkt_qdcount(p.get()) == 1);
            CHECK(ldns_pkt_ancount(p.get()) == 0);
            CHECK(ldns_pkt_nscount(p.get()) == 0);
            CHECK(ldns_pkt_edns(p.get()));  // the OPT is kept
            CHECK(a.size() == q.size());    // never larger than the query
            ++slipped;
        } else {
            CHECK(ldns_pkt_ancount(p.get()) == 1);
            ++full;
        }
    }
    CHECK(full == 3);
    CHECK(slipped == 8);
    CHECK(dropped == 9);
    const auto answer = static_cast<size_t>(RrlClass::Answer);
    CHECK(stats.rrl_limited[answer][0].load() == 9);
    CHECK(stats.rrl_limited[answer][1].load() == 8);
    // Every query is still counted as one.
    uint64_t queries = 0;
    for (auto& by_rcode : stats.queries[0]) {
        for (auto& c : by_rcode) {
            queries += c.load();
        }
    }
    CHECK(queries == 20);

    // TCP is never limited, nor is a query without a known client.
    for (int i = 0; i < 20; ++i) {
        CHECK(parse(s.ask(q, Transport::Tcp)).get() != nullptr);
        CHECK(ldns_pkt_ancount(parse(s.ask(q, Transport::Tcp)).get()) == 1);
        CHECK(ldns_pkt_ancount(parse(s.ask(q, Transport::Udp)).get()) == 1);
    }
}

TEST_CASE("random names under a zone share its NXDOMAIN bucket; a wildcard shares one bucket") {
    TestServer s(kZone);
    Rrl rrl(config(10, 0), 1);
    s.responder().limit_with(&rrl);
    const auto from = v4("192.0.2.1");
    auto answered = [&](const std::string& name, uint16_t type = dns::kTypeA) {
        return !s.ask_from(make_query(name, type), sa(from)).empty();
    };
    int nx = 0;
    for (int i = 0; i < 50; ++i) {
        nx += answered("r" + std::to_string(i) + ".example.test") ? 1 : 0;
    }
    CHECK(nx == 5);
    int wild = 0;
    for (int i = 0; i < 50; ++i) {
        wild += answered("r" + std::to_string(i) + ".wild.example.test") ? 1 : 0;
    }
    CHECK(wild == 5);
    int referrals = 0;
    for (int i = 0; i < 50; ++i) {
        referrals += answered("r" + std::to_string(i) + ".sub.example.test") ? 1 : 0;
    }
    CHECK(referrals == 5);
    // Answers about other names, and NODATA, have buckets of their own.
    CHECK(answered("app.example.test"));
    CHECK(answered("txt.example.test", dns::kTypeTxt));
    CHECK(answered("txt.example.test", dns::kTypeA));  // NODATA
    // Errors (REFUSED outside the zones) share one bucket per prefix, whatever the name.
    int refused = 0;
    for (int i = 0; i < 50; ++i) {
        refused += answered("x" + std::to_string(i) + ".other.test") ? 1 : 0;
    }
    CHECK(refused == 5);
}
