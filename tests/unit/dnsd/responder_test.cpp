// The query path, packet in and packet out, with ldns reading the answers.
#include <algorithm>

#include "store/records.h"
#include "tests/unit/dns_test_util.h"

using namespace gtm;
using namespace gtm::test;
using dns::Transport;

namespace {

const char* kZone = R"(
zones:
  - name: example.test
    soa: {mname: ns1.example.test, rname: hostmaster.example.test, minimum: 60, ttl: 3600}
    ns: [ns1.example.test, ns2.example.test]
    records:
      - "ns1 3600 A 127.0.0.53"
      - "ns2 3600 AAAA ::53"
      - "www 300 CNAME app"
      - "chain1 300 CNAME chain2"
      - "chain2 300 CNAME www"
      - "dangling 300 CNAME nowhere"
      - "outside 300 CNAME www.other.test."
      - "@ 300 MX 10 mail"
      - "mail 300 A 127.0.0.25"
      - "txt 300 TXT \"hello\""
      - "a.b.deep 300 A 127.0.0.77"
      - "*.wild 300 A 127.0.0.99"
      - "*.wild 300 TXT \"wild\""
      - "exists.wild 300 TXT \"real\""
      - "sub 300 NS ns.sub"
      - "sub 300 DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
      - "ns.sub 300 A 127.0.0.70"
pools:
  - name: p1
    members: [{address: 127.0.0.11}]
balancers:
  - name: app.example.test
    ttl: 20
    pools: [{pool: p1}]
)";

std::string big_txt_zone(int records) {
    std::string doc = R"(
zones:
  - name: big.test
    soa: {mname: ns.big.test, rname: h.big.test}
    ns: [ns.big.test]
    records:
)";
    for (int i = 0; i < records; ++i) {
        doc += "      - \"many 300 TXT \\\"" + std::to_string(1000 + i) + std::string(56, 'x') +
               "\\\"\"\n";
    }
    return doc;
}

}  // namespace

TEST_CASE("an authoritative answer has AA, echoes ID, question and RD, and copies prepared bytes") {
    TestServer s(kZone);
    QueryOptions o;
    o.rd = true;
    o.id = 0xbeef;
    Bytes a = s.ask(make_query("app.example.test", dns::kTypeA, o));
    Pkt p = parse(a);
    CHECK(ldns_pkt_id(p.get()) == 0xbeef);
    CHECK(ldns_pkt_qr(p.get()));
    CHECK(ldns_pkt_aa(p.get()));
    CHECK(ldns_pkt_rd(p.get()));
    CHECK_FALSE(ldns_pkt_ra(p.get()));
    CHECK(section(ldns_pkt_answer(p.get())) ==
          std::vector<std::string>{"app.example.test.\t20\tIN\tA\t127.0.0.11"});
    // The answer's owner is a pointer to the question: 12 + name + 4, then c0 0c.
    CHECK(a[12 + 18 + 4] == 0xC0);
    CHECK(a[12 + 18 + 5] == 0x0C);
}

TEST_CASE("NXDOMAIN carries the SOA in authority with the RFC 2308 negative TTL") {
    TestServer s(kZone);
    Bytes a = s.ask(make_query("nope.example.test", dns::kTypeA));
    Pkt p = parse(a);
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NXDOMAIN);
    CHECK(ldns_pkt_aa(p.get()));
    auto auth = section(ldns_pkt_authority(p.get()));
    REQUIRE(auth.size() == 1);
    CHECK(auth[0] ==
          "example.test.\t60\tIN\tSOA\tns1.example.test. hostmaster.example.test. 2026112201 "
          "3600 600 604800 60");
}

TEST_CASE("NODATA is NOERROR with an empty answer and the SOA in authority") {
    TestServer s(kZone);
    for (auto [name, type] : {std::pair{"txt.example.test", dns::kTypeA},
                              std::pair{"deep.example.test", dns::kTypeA},  // empty non-terminal
                              std::pair{"app.example.test", uint16_t{16}}}) {
        CAPTURE(name);
        Pkt p = parse(s.ask(make_query(name, type)));
        CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
        CHECK(ldns_pkt_ancount(p.get()) == 0);
        CHECK(ldns_pkt_nscount(p.get()) == 1);
        CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p.get()), 0)) ==
              LDNS_RR_TYPE_SOA);
    }
}

TEST_CASE("a name below a delegation gets a referral with glue and without AA") {
    TestServer s(kZone);
    for (const char* name : {"sub.example.test", "x.y.sub.example.test", "ns.sub.example.test"}) {
        CAPTURE(name);
        Pkt p = parse(s.ask(make_query(name, dns::kTypeA)));
        CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
        CHECK_FALSE(ldns_pkt_aa(p.get()));
        CHECK(ldns_pkt_ancount(p.get()) == 0);
        CHECK(section(ldns_pkt_authority(p.get())) ==
              std::vector<std::string>{"sub.example.test.\t300\tIN\tNS\tns.sub.example.test."});
        CHECK(section(ldns_pkt_additional(p.get())) ==
              std::vector<std::string>{"ns.sub.example.test.\t300\tIN\tA\t127.0.0.70"});
    }
}

TEST_CASE("DS at a delegation is answered by the parent side, authoritatively") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("sub.example.test", dns::kTypeDs)));
    CHECK(ldns_pkt_aa(p.get()));
    CHECK(ldns_pkt_ancount(p.get()) == 1);
}

TEST_CASE("a CNAME is followed inside the zone, through chains and into balancers") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("chain1.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_aa(p.get()));
    CHECK(section(ldns_pkt_answer(p.get())) ==
          std::vector<std::string>{"chain1.example.test.\t300\tIN\tCNAME\tchain2.example.test.",
                                   "chain2.example.test.\t300\tIN\tCNAME\twww.example.test.",
                                   "www.example.test.\t300\tIN\tCNAME\tapp.example.test.",
                                   "app.example.test.\t20\tIN\tA\t127.0.0.11"});
}

TEST_CASE("a CNAME to a missing name in the zone answers NXDOMAIN with the CNAME (RFC 6604)") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("dangling.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NXDOMAIN);
    CHECK(ldns_pkt_ancount(p.get()) == 1);
    CHECK(ldns_pkt_nscount(p.get()) == 1);
}

TEST_CASE("a CNAME out of the zone and a CNAME loop stop without following") {
    // validate() refuses a loop; a state stored before it did may still hold one.
    store::DesiredState state = store::parse_document(kZone, "test.yaml");
    for (const char* r : {"loop1 300 CNAME loop2", "loop2 300 CNAME loop1"}) {
        state.zones[0].parsed.push_back(store::parse_record(r, "example.test", 3600));
    }
    TestServer s(std::move(state));
    Pkt out = parse(s.ask(make_query("outside.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_get_rcode(out.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(out.get()) == 1);
    Pkt loop = parse(s.ask(make_query("loop1.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_ancount(loop.get()) == 8);
    CHECK(ldns_pkt_get_rcode(loop.get()) == LDNS_RCODE_NOERROR);
}

TEST_CASE("a CNAME query returns the CNAME itself") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("www.example.test", dns::kTypeCname)));
    CHECK(section(ldns_pkt_answer(p.get())) ==
          std::vector<std::string>{"www.example.test.\t300\tIN\tCNAME\tapp.example.test."});
}

TEST_CASE("wildcards synthesize with the query name and do not cover existing names") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("anything.wild.example.test", dns::kTypeA)));
    CHECK(section(ldns_pkt_answer(p.get())) ==
          std::vector<std::string>{"anything.wild.example.test.\t300\tIN\tA\t127.0.0.99"});
    Pkt deeper = parse(s.ask(make_query("a.b.wild.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_ancount(deeper.get()) == 1);
    Pkt exists = parse(s.ask(make_query("exists.wild.example.test", dns::kTypeA)));
    CHECK(ldns_pkt_get_rcode(exists.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(exists.get()) == 0);  // RFC 4592 §2.2.1: the name exists: NODATA
    Pkt nodata = parse(s.ask(make_query("x.wild.example.test", dns::kTypeMx)));
    CHECK(ldns_pkt_ancount(nodata.get()) == 0);
    CHECK(ldns_pkt_nscount(nodata.get()) == 1);
}

TEST_CASE("NS at the apex comes with glue in additional; MX targets too") {
    TestServer s(kZone);
    Pkt p = parse(s.ask(make_query("example.test", dns::kTypeNs)));
    CHECK(ldns_pkt_ancount(p.get()) == 2);
    auto add = section(ldns_pkt_additional(p.get()));
    CHECK(add == std::vector<std::string>{"ns1.example.test.\t3600\tIN\tA\t127.0.0.53",
                                          "ns2.example.test.\t3600\tIN\tAAAA\t::53"});
    Pkt mx = parse(s.ask(make_query("example.test", dns::kTypeMx)));
    CHECK(section(ldns_pkt_additional(mx.get())) ==
          std::vector<std::string>{"mail.example.test.\t300\tIN\tA\t127.0.0.25"});
}

TEST_CASE("names outside every zone are REFUSED without AA, question echoed") {
    TestServer s(kZone);
    Bytes q = make_query("www.other.test", dns::kTypeA);
    Bytes a = s.ask(q);
    CHECK(rcode(a) == dns::kRcodeRefused);
    CHECK_FALSE(flag_aa(a));
    CHECK(count(a, 0) == 1);
    CHECK(std::equal(q.begin() + 12, q.end(), a.begin() + 12));
}

TEST_CASE("zone transfers are refused") {
    TestServer s(kZone);
    CHECK(rcode(s.ask(make_query("example.test", dns::kTypeAxfr), Transport::Tcp)) ==
          dns::kRcodeRefused);
    CHECK(rcode(s.ask(make_query("example.test", dns::kTypeIxfr))) == dns::kRcodeRefused);
}

TEST_CASE("ANY is answered with one RRset (RFC 8482)") {
    TestServer s(kZone);
    Pkt apex = parse(s.ask(make_query("example.test", dns::kTypeAny)));
    CHECK(ldns_pkt_ancount(apex.get()) == 2);  // the NS RRset only
    Pkt bal = parse(s.ask(make_query("app.example.test", dns::kTypeAny)));
    CHECK(section(ldns_pkt_answer(bal.get())) ==
          std::vector<std::string>{"app.example.test.\t20\tIN\tA\t127.0.0.11"});
}

TEST_CASE("the question's letter case is echoed byte for byte") {
    TestServer s(kZone);
    Bytes q = make_query("ApP.ExAmPlE.TeSt", dns::kTypeA);
    Bytes a = s.ask(q);
    CHECK(rcode(a) == 0);
    CHECK(count(a, 1) == 1);
    CHECK(std::equal(q.begin() + 12, q.end(), a.begin() + 12));
}

TEST_CASE("EDNS: OPT answered with 1232, DO echoed, unknown options and flags not echoed") {
    TestServer s(kZone);
    QueryOptions o;
    o.edns = true;
    o.udp_size = 4096;
    o.dnssec_ok = true;
    Bytes q = make_query("app.example.test", dns::kTypeA, o);
    // An unknown option (65001, 3 bytes) and an unknown flag bit (0x4000).
    q[q.size() - 4] |= 0x40;
    q[q.size() - 1] = 7;
    q.insert(q.end(), {0xfd, 0xe9, 0x00, 0x03, 1, 2, 3});
    Pkt p = parse(s.ask(q));
    CHECK(ldns_pkt_edns(p.get()));
    CHECK(ldns_pkt_edns_udp_size(p.get()) == 1232);
    CHECK(ldns_pkt_edns_do(p.get()));
    CHECK(ldns_pkt_edns_z(p.get()) == 0x8000);  // only DO
    CHECK(ldns_pkt_edns_data(p.get()) == nullptr);
}

TEST_CASE("NSID is sent only when configured and asked for") {
    TestServer s(kZone);
    QueryOptions o;
    o.edns = true;
    o.nsid = true;
    Bytes plain = s.ask(make_query("app.example.test", dns::kTypeA, o));
    CHECK(plain.size() == 12 + 22 + 16 + 11);
    s.config.nsid = "gtmd-test";
    Bytes with = s.ask(make_query("app.example.test", dns::kTypeA, o));
    CHECK(with.size() == 12 + 22 + 16 + 11 + 4 + 9);
    CHECK(std::string(with.end() - 9, with.end()) == "gtmd-test");
    o.nsid = false;
    CHECK(s.ask(make_query("app.example.test", dns::kTypeA, o)).size() == 12 + 22 + 16 + 11);
}

TEST_CASE("EDNS version 1 gets BADVERS with an OPT of version 0") {
    TestServer s(kZone);
    QueryOptions o;
    o.edns = true;
    Bytes q = make_query("app.example.test", dns::kTypeA, o);
    q[q.size() - 5] = 1;  // the version byte of the OPT TTL
    dns::Outcome oc;
    Bytes a = s.ask(q, Transport::Udp, &oc);
    CHECK(oc.rcode == dns::kRcodeBadVers);
    Pkt p = parse(a);
    CHECK(ldns_pkt_edns(p.get()));
    CHECK(ldns_pkt_edns_version(p.get()) == 0);
    CHECK(ldns_pkt_edns_extended_rcode(p.get()) == 1);
    CHECK(rcode(a) == 0);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
}

TEST_CASE("CH version.bind and hostname.bind are REFUSED unless configured") {
    TestServer s(kZone);
    QueryOptions ch;
    ch.klass = dns::kClassCh;
    CHECK(rcode(s.ask(make_query("version.bind", dns::kTypeTxt, ch))) == dns::kRcodeRefused);
    CHECK(rcode(s.ask(make_query("hostname.bind", dns::kTypeTxt, ch))) == dns::kRcodeRefused);
    s.config.version = "gtmd 0.1";
    s.config.identity = "ns1";
    Pkt v = parse(s.ask(make_query("VERSION.bind", dns::kTypeTxt, ch)));
    CHECK(section(ldns_pkt_answer(v.get())) ==
          std::vector<std::string>{"VERSION.bind.\t0\tCH\tTXT\t\"gtmd 0.1\""});
    Pkt id = parse(s.ask(make_query("id.server", dns::kTypeTxt, ch)));
    CHECK(ldns_pkt_ancount(id.get()) == 1);
    CHECK(rcode(s.ask(make_query("other.bind", dns::kTypeTxt, ch))) == dns::kRcodeRefused);
}

TEST_CASE("other classes are REFUSED") {
    TestServer s(kZone);
    QueryOptions o;
    o.klass = 4;  // HS
    CHECK(rcode(s.ask(make_query("app.example.test", dns::kTypeA, o))) == dns::kRcodeRefused);
}

TEST_CASE("a UDP answer larger than 512 bytes without EDNS is truncated with TC and no records") {
    TestServer s(big_txt_zone(10));  // ~10 x 72 bytes: between 512 and 1232
    Bytes plain = s.ask(make_query("many.big.test", dns::kTypeTxt));
    CHECK(flag_tc(plain));
    CHECK(count(plain, 1) == 0);
    CHECK(plain.size() <= 512);
    QueryOptions o;
    o.edns = true;
    o.udp_size = 1232;
    Bytes edns = s.ask(make_query("many.big.test", dns::kTypeTxt, o));
    CHECK_FALSE(flag_tc(edns));
    CHECK(count(edns, 1) == 10);
    CHECK(edns.size() <= 1232);
}

TEST_CASE("UDP answers never exceed min(client buffer, 1232); TCP carries the whole answer") {
    TestServer s(big_txt_zone(40));  // ~2,900 bytes
    QueryOptions o;
    o.edns = true;
    for (uint16_t size :
         {uint16_t{0}, uint16_t{600}, uint16_t{1232}, uint16_t{4096}, uint16_t{65535}}) {
        CAPTURE(size);
        o.udp_size = size;
        Bytes a = s.ask(make_query("many.big.test", dns::kTypeTxt, o));
        CHECK(flag_tc(a));
        CHECK(a.size() <= std::max<size_t>(512, std::min<size_t>(size, 1232)));
        CHECK(count(a, 1) == 0);
        CHECK(count(a, 3) == 1);  // the OPT survives truncation
    }
    Bytes tcp = s.ask(make_query("many.big.test", dns::kTypeTxt, o), Transport::Tcp);
    CHECK_FALSE(flag_tc(tcp));
    CHECK(count(tcp, 1) == 40);
    CHECK(tcp.size() > 1232);
}

// ---- malformed input: RFC 8906 reading, FORMERR whenever a header can be built ----

TEST_CASE("packets under 12 bytes and responses (QR=1) are dropped") {
    TestServer s(kZone);
    dns::Outcome oc;
    CHECK(s.ask({}, Transport::Udp, &oc).empty());
    CHECK(oc.dropped);
    CHECK(s.ask(Bytes(11, 0)).empty());
    Bytes q = make_query("app.example.test", dns::kTypeA);
    q[2] |= 0x80;
    CHECK(s.ask(q).empty());
}

TEST_CASE("QDCOUNT other than 1 is FORMERR without a question") {
    TestServer s(kZone);
    Bytes q = make_query("app.example.test", dns::kTypeA);
    Bytes zero = q;
    zero[5] = 0;
    zero.resize(12);
    Bytes a = s.ask(zero);
    CHECK(rcode(a) == dns::kRcodeFormErr);
    CHECK(count(a, 0) == 0);
    CHECK(a.size() == 12);
    Bytes two = q;
    two[5] = 2;
    two.insert(two.end(), q.begin() + 12, q.end());
    a = s.ask(two);
    CHECK(rcode(a) == dns::kRcodeFormErr);
    CHECK(count(a, 0) == 0);
}

TEST_CASE("truncated questions, pointers in the question and bad labels are FORMERR") {
    TestServer s(kZone);
    Bytes q = make_query("app.example.test", dns::kTypeA);
    for (size_t cut : {size_t{13}, size_t{20}, q.size() - 4, q.size() - 1}) {
        CAPTURE(cut);
        Bytes t(q.begin(), q.begin() + static_cast<long>(cut));
        Bytes a = s.ask(t);
        CHECK(rcode(a) == dns::kRcodeFormErr);
        CHECK(a[0] == 0x12);
        CHECK(a[1] == 0x34);
    }
    Bytes self_loop = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
    CHECK(rcode(s.ask(self_loop)) == dns::kRcodeFormErr);
    Bytes ext_label = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1};
    CHECK(rcode(s.ask(ext_label)) == dns::kRcodeFormErr);
    Bytes long_name = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 5; ++i) {  // 5 x 64 = 320 bytes > 255
        long_name.push_back(63);
        long_name.insert(long_name.end(), 63, 'a');
    }
    long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
    CHECK(rcode(s.ask(long_name)) == dns::kRcodeFormErr);
}

TEST_CASE("a compression loop in an additional record is FORMERR") {
    TestServer s(kZone);
    Bytes q = make_query("app.example.test", dns::kTypeA);
    q[11] = 1;
    const size_t at = q.size();
    q.push_back(0xC0 | static_cast<uint8_t>(at >> 8));  // a pointer to itself
    q.push_back(static_cast<uint8_t>(at));
    q.insert(q.end(), {0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1});
    CHECK(rcode(s.ask(q)) == dns::kRcodeFormErr);
    // Two pointers pointing at each other.
    Bytes r = make_query("app.example.test", dns::kTypeA);
    r[11] = 1;
    const size_t b = r.size();
    r.insert(r.end(), {1, 'x', static_cast<uint8_t>(0xC0 | (b >> 8)), static_cast<uint8_t>(b)});
    r.insert(r.end(), {0, 1, 0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(rcode(s.ask(r)) == dns::kRcodeFormErr);
    // A pointer past the end.
    Bytes f = make_query("app.example.test", dns::kTypeA);
    f[11] = 1;
    f.insert(f.end(), {0xC0, 0xFF, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(rcode(s.ask(f)) == dns::kRcodeFormErr);
}

TEST_CASE(
    "two OPT records, an OPT overrun, OPT outside additional and trailing garbage are FORMERR") {
    TestServer s(kZone);
    QueryOptions o;
    o.edns = true;
    Bytes q = make_query("app.example.test", dns::kTypeA, o);
    const Bytes opt(q.end() - 11, q.end());

    Bytes two = q;
    two[11] = 2;
    two.insert(two.end(), opt.begin(), opt.end());
    Bytes a = s.ask(two);
    CHECK(rcode(a) == dns::kRcodeFormErr);
    CHECK(count(a, 3) == 0);  // no OPT in a FORMERR about the OPT

    Bytes overrun = q;
    overrun[overrun.size() - 1] = 8;  // rdlength 8, one option claiming 10 bytes
    overrun.insert(overrun.end(), {0, 10, 0, 10, 1, 2, 3, 4});
    CHECK(rcode(s.ask(overrun)) == dns::kRcodeFormErr);

    Bytes short_rdata = q;
    short_rdata[short_rdata.size() - 1] = 4;  // rdlength past the end of the packet
    CHECK(rcode(s.ask(short_rdata)) == dns::kRcodeFormErr);

    Bytes in_answer = q;
    in_answer[7] = 1;
    in_answer[11] = 0;
    CHECK(rcode(s.ask(in_answer)) == dns::kRcodeFormErr);

    Bytes trailing = make_query("app.example.test", dns::kTypeA);
    trailing.push_back(0);
    a = s.ask(trailing);
    CHECK(rcode(a) == dns::kRcodeFormErr);
    CHECK(count(a, 0) == 1);

    Bytes opt_name = q;  // OPT owned by a name other than the root
    opt_name[opt_name.size() - 11] = 1;
    opt_name.insert(opt_name.end() - 10, {'x', 0});
    CHECK(rcode(s.ask(opt_name)) == dns::kRcodeFormErr);
}

TEST_CASE("opcodes other than QUERY are NOTIMP, every flag cleared but QR") {
    TestServer s(kZone);
    for (uint8_t opcode : {1, 2, 4, 5, 6, 15}) {
        CAPTURE(opcode);
        Bytes q = make_query("app.example.test", dns::kTypeA);
        q[2] = static_cast<uint8_t>(0x80 | opcode << 3 | 0x07);  // QR, AA, TC, RD: every flag
        q[3] = 0xF0;                                             // RA, Z, AD, CD
        q[2] &= 0x7F;                                            // a query (QR=1 is dropped)
        Bytes a = s.ask(q);
        CHECK(rcode(a) == dns::kRcodeNotImp);
        CHECK(((a[2] >> 3) & 0xF) == opcode);
        CHECK((a[2] & 0x87) == 0x80);  // QR, and not AA, TC, RD
        CHECK((a[3] & 0xF0) == 0);     // not RA, Z, AD, CD
        CHECK(count(a, 0) == 1);
    }
}

TEST_CASE("qtype OPT in the question is FORMERR") {
    TestServer s(kZone);
    CHECK(rcode(s.ask(make_query("app.example.test", dns::kTypeOpt))) == dns::kRcodeFormErr);
}

TEST_CASE("a new snapshot is picked up by the generation counter") {
    TestServer s(kZone);
    CHECK(rcode(s.ask(make_query("app.example.test", dns::kTypeA))) == 0);
    s.verdicts().set("p1", "127.0.0.11", {health::Verdict::Down});
    s.recompile(1000000);
    // fail_open: still answered, now with the degraded TTL.
    Pkt p = parse(s.ask(make_query("app.example.test", dns::kTypeA)));
    CHECK(section(ldns_pkt_answer(p.get())) ==
          std::vector<std::string>{"app.example.test.\t5\tIN\tA\t127.0.0.11"});
}
