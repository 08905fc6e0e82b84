// Zone data checked as a zone checker would (named-checkzone, kzonecheck): what cannot be served
// as it is written is refused with its record's path; what an operator may mean is kept with a
// warning. Served as written means: the rdata ldns stores is the record the text says.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "store/document.h"
#include "store/encode.h"
#include "store/records.h"

using namespace gtm::store;

namespace {

// A zone with a name server that has an address; `records` are appended as YAML list items.
std::string zone_doc(const std::string& records, const std::string& extra = "") {
    return "zones:\n"
           "  - name: z.test\n"
           "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
           "    ns: [ns1.z.test]\n"
           "    records:\n"
           "      - \"ns1 3600 A 127.0.0.53\"\n" +
           records + extra;
}

std::string item(const std::string& record) { return "      - '" + record + "'\n"; }

DocumentError error_of(const std::string& doc) {
    try {
        parse_document(doc, "z.yaml");
    } catch (const DocumentError& e) {
        return e;
    }
    FAIL("no error for:\n" << doc.substr(0, 600));
    return DocumentError("", "", "");
}

// The error for one more record (zones[0].records[1]).
DocumentError record_error(const std::string& record) {
    DocumentError e = error_of(zone_doc(item(record)));
    CHECK(e.path() == "zones[0].records[1]");
    return e;
}

bool has(const DocumentError& e, const std::string& text) {
    return e.reason().find(text) != std::string::npos;
}

std::vector<Warning> warnings_of(const std::string& doc) {
    return decode_document(doc, "z.yaml").warnings;
}

}  // namespace

TEST_CASE("a TTL over 2^31-1 is refused as written, not wrapped") {
    CHECK(has(record_error("a 4294967297 A 127.0.0.1"), "TTL 4294967297 is over 2147483647"));
    CHECK(has(record_error("a 99999999999 A 127.0.0.1"), "TTL 99999999999 is over"));
    CHECK(has(record_error("a 2147483648 A 127.0.0.1"), "RFC 2181 §8"));
    CHECK(has(record_error("a 9999999w A 127.0.0.1"), "is over 2147483647"));
    DesiredState s = parse_document(
        zone_doc(item("a 2147483647 A 127.0.0.1") + item("b 1h30m IN A 127.0.0.1")), "z.yaml");
    CHECK(s.zones[0].parsed[1].ttl_s == 2147483647u);
    CHECK(s.zones[0].parsed[2].ttl_s == 5400u);
}

TEST_CASE("numbers in rdata must fit their field, as written") {
    CHECK(has(record_error("@ 300 MX 70000 mail"), "'70000' (field 1) is out of range"));
    CHECK(has(record_error("@ 300 MX -1 mail"), "must be from 0 to 65535"));
    CHECK(has(record_error("_s._tcp 300 SRV 1 2 70000 ns1"), "'70000' (field 3)"));
    CHECK(has(record_error("@ 300 CAA 300 issue \"ca.test\""), "must be from 0 to 255"));
    CHECK(has(record_error("a 300 SSHFP 1 256 00"), "'256' (field 2)"));
    CHECK(has(record_error("a 300 TLSA 300 1 1 00"), "'300' (field 1)"));
    CHECK_NOTHROW(parse_document(
        zone_doc(item("@ 300 MX 65535 ns1") + item("_s._tcp 300 SRV 0 0 65535 ns1")), "z.yaml"));
}

TEST_CASE("a TXT record with 300 character-strings is served with all 300") {
    std::string txt = "t 300 TXT";
    for (int i = 0; i < 300; ++i) {
        txt += " \"s" + std::to_string(i) + "\"";
    }
    DesiredState s = parse_document(zone_doc(item(txt)), "z.yaml");
    const auto& rdata = s.zones[0].parsed[1].rdata;
    size_t strings = 0;
    for (size_t at = 0; at < rdata.size(); at += 1 + rdata[at]) {
        ++strings;
    }
    CHECK(strings == 300);
    // A character-string over 255 bytes cannot be written at all.
    CHECK(has(record_error("t 300 TXT \"" + std::string(256, 'x') + "\""), "cannot parse record"));
}

TEST_CASE("a NUL in a record is refused; \\000 inside a character-string is kept") {
    // A raw NUL once ended the record for ldns: "abc" was served, "def" dropped.
    DocumentError e = error_of(zone_doc("      - \"t 300 TXT abc\\0def\"\n"));
    CHECK(e.path() == "zones[0].records[1]");
    CHECK(has(e, "NUL"));
    e = error_of(zone_doc("      - \"t 300 TXT \\\"abc\\ndef\\\"\"\n"));
    CHECK(has(e, "control character 10"));
    DesiredState s = parse_document(zone_doc(item("t 300 TXT \"abc\\000def\"")), "z.yaml");
    const auto& rdata = s.zones[0].parsed[1].rdata;
    CHECK(std::string(rdata.begin(), rdata.end()) == std::string("\x07"
                                                                 "abc\0def",
                                                                 8));
}

TEST_CASE("record types gtmd cannot serve correctly are refused with the reason") {
    CHECK(has(record_error("a 300 KEY 256 3 8 AwEAAQ=="), "RFC 2535"));
    CHECK(has(record_error("@ 300 CDS 1 8 2 00"), "only used in signed zones"));
    CHECK(has(record_error("@ 300 CDNSKEY 256 3 8 AwEAAQ=="), "only used in signed zones"));
    CHECK(has(record_error("a 300 SIG A 8 2 300 20300101000000 20200101000000 1 z.test. AwEAAQ=="),
              "RFC 2535"));
    CHECK(has(record_error("a 300 DNSKEY 256 3 8 AwEAAQ=="), "gtmd does not sign zones"));
    CHECK(has(record_error("a 300 MD ns1"), "obsolete"));
    CHECK(has(record_error("a 300 TYPE0 \\# 0"), "reserved"));
    CHECK(has(record_error("a 300 TYPE65535 \\# 0"), "reserved"));
    CHECK(has(record_error("a 300 TYPE200 \\# 0"), "meta type"));
    CHECK(has(record_error("a 300 DLV 1 8 2 00"), "RFC 8749"));
    // Reserved, and ldns leaks what it parsed on the way to refusing it (fuzz_record found it).
    CHECK(has(record_error("a 300 CERT 0 0 0 AwEAAQ=="), "CERT type 0 is reserved"));
    CHECK(has(record_error("a 300 cert 65536 0 0 AwEAAQ=="), "CERT type 0 is reserved"));
    CHECK(has(record_error("\" CERT\t 0  (0l"), "CERT type 0 is reserved"));  // the fuzzer's
    CHECK_NOTHROW(parse_document(zone_doc(item("a 300 CERT PKIX 1 8 AwEAAQ==")), "z.yaml"));
    // Unknown types in the RFC 3597 form are opaque bytes: served as written.
    CHECK_NOTHROW(parse_document(zone_doc(item("a 300 TYPE65280 \\# 2 abcd")), "z.yaml"));
}

TEST_CASE("data occluded by a delegation is refused; glue is not") {
    const std::string kid = item("kid 300 NS ns.kid") + item("ns.kid 300 A 127.0.0.60");
    CHECK_NOTHROW(parse_document(zone_doc(kid), "z.yaml"));
    // An NS set below another delegation.
    DocumentError e = error_of(zone_doc(kid + item("deep.kid 300 NS ns.kid")));
    CHECK(e.path() == "zones[0].records[3]");
    CHECK(has(e, "below the delegation 'kid.z.test'"));
    CHECK(has(e, "occluded"));
    // An address below the cut that no NS names is not glue.
    e = error_of(zone_doc(kid + item("www.kid 300 A 127.0.0.61")));
    CHECK(e.path() == "zones[0].records[3]");
    CHECK(has(e, "not glue"));
    // Anything else at or below the cut.
    e = error_of(zone_doc(kid + item("kid 300 TXT x")));
    CHECK(has(e, "only NS, DS and glue A/AAAA"));
    e = error_of(zone_doc(kid + item("*.kid 300 A 127.0.0.62")));
    CHECK(has(e, "not glue"));
    // Sibling glue: an address below one cut named by another delegation.
    CHECK_NOTHROW(parse_document(zone_doc(kid + item("pal 300 NS ns.kid")), "z.yaml"));
}

TEST_CASE("a DS only at a delegation") {
    const std::string kid = item("kid 300 NS ns.kid") + item("ns.kid 300 A 127.0.0.60");
    CHECK_NOTHROW(
        parse_document(zone_doc(kid + item("kid 300 DS 12345 8 2 0123456789ABCDEF")), "z.yaml"));
    DocumentError e = error_of(zone_doc(kid + item("www 300 DS 12345 8 2 0123456789ABCDEF")));
    CHECK(e.path() == "zones[0].records[3]");
    CHECK(has(e, "belongs at a delegation"));
    e = error_of(zone_doc(item("@ 300 DS 12345 8 2 0123456789ABCDEF")));
    CHECK(has(e, "belongs in its parent zone"));
}

TEST_CASE("CNAME loops are refused, through wildcards and across the zones served here") {
    DocumentError e = error_of(zone_doc(item("a 300 CNAME b") + item("b 300 CNAME a")));
    CHECK(has(e, "CNAME loop: a.z.test → b.z.test → a.z.test"));
    CHECK(e.path() == "zones[0].records[2]");
    CHECK(has(error_of(zone_doc(item("self 300 CNAME self"))), "CNAME loop"));
    // x.w does not exist: the wildcard answers it with the same CNAME.
    CHECK(has(error_of(zone_doc(item("*.w 300 CNAME x.w"))), "CNAME loop"));
    const std::string two_zones = zone_doc(item("a 300 CNAME a.y.test."),
                                           "  - name: y.test\n"
                                           "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
                                           "    ns: [ns1.z.test]\n"
                                           "    records: ['a 300 CNAME a.z.test.']\n");
    CHECK(has(error_of(two_zones), "CNAME loop"));
    // Chains that end are fine: at data, at a missing name, out of the zones, at a balancer.
    CHECK_NOTHROW(parse_document(
        zone_doc(item("a 300 CNAME b") + item("b 300 CNAME ns1") + item("c 300 CNAME nowhere") +
                 item("d 300 CNAME www.elsewhere.test.") + item("*.w 300 CNAME ns1")),
        "z.yaml"));
}

TEST_CASE("a CNAME beside other data, twice at a name, or at the apex is refused") {
    CHECK(has(error_of(zone_doc(item("ns1 300 CNAME a"))), "has a CNAME and other records"));
    CHECK(has(error_of(zone_doc(item("a 300 CNAME b") + item("a 300 CNAME c"))), "only one CNAME"));
    CHECK(has(error_of(zone_doc(item("@ 300 CNAME b"))), "zone apex"));
}

TEST_CASE("in-zone name servers need addresses: glue below a cut, records above it") {
    // Below its own delegation, without glue: the child could never be reached through it.
    DocumentError e = error_of(zone_doc(item("kid 300 NS ns.kid")));
    CHECK(e.path() == "zones[0].records[1]");
    CHECK(has(e, "has no glue A/AAAA record"));
    // In the zone's own data, without an address.
    e = error_of(zone_doc(item("kid 300 NS host")));
    CHECK(has(e, "no A/AAAA record"));
    // A CNAME is no host (RFC 2181 §10.3).
    e = error_of(zone_doc(item("kid 300 NS alias") + item("alias 300 CNAME ns1")));
    CHECK(has(e, "RFC 2181 §10.3"));
    // Out of every zone here: nothing to check, resolvers look it up elsewhere.
    CHECK(warnings_of(zone_doc(item("kid 300 NS ns.elsewhere.test."))).empty());
    // A balancer is an address.
    CHECK_NOTHROW(parse_document(zone_doc(item("kid 300 NS lb"),
                                          "pools: [{name: p, members: [{address: 127.0.0.1}]}]\n"
                                          "balancers: [{name: lb.z.test, pools: [{pool: p}]}]\n"),
                                 "z.yaml"));
}

TEST_CASE("an apex name server without an address, or in another zone without one, warns") {
    const std::string doc =
        "zones:\n"
        "  - name: z.test\n"
        "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
        "    ns: [ns1.z.test, ns1.y.test]\n"
        "  - name: y.test\n"
        "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
        "    ns: [ns1.elsewhere.test]\n";
    const std::vector<Warning> w = warnings_of(doc);
    REQUIRE(w.size() == 2);
    CHECK(w[0].path == "zones[0].ns[0]");
    CHECK(w[0].line == 4);
    CHECK(w[0].message.find("'ns1.z.test' is inside the zone but has no A/AAAA record") !=
          std::string::npos);
    CHECK(w[1].path == "zones[0].ns[1]");
    CHECK(w[1].message.find("in the zone 'y.test', which has no A/AAAA record") !=
          std::string::npos);
    CHECK(to_string(w[0], "z.yaml").find("z.yaml:4: zones[0].ns[0]: warning: ") == 0);
}

TEST_CASE("MX and SRV targets: never a CNAME, and a warning when they have no address") {
    CHECK(has(error_of(zone_doc(item("@ 300 MX 10 mail") + item("mail 300 CNAME ns1"))),
              "is a CNAME"));
    CHECK(has(error_of(zone_doc(item("_s._tcp 300 SRV 1 1 80 www") + item("www 300 CNAME ns1"))),
              "is a CNAME"));
    const std::vector<Warning> w = warnings_of(zone_doc(item("@ 300 MX 10 mail")));
    REQUIRE(w.size() == 1);
    CHECK(w[0].path == "zones[0].records[1]");
    CHECK(w[0].message == "the MX target 'mail.z.test' has no A/AAAA record here");
    // The null MX (RFC 7505) and a target out of the zones are fine.
    CHECK(warnings_of(zone_doc(item("@ 300 MX 0 .") + item("x 300 MX 1 mx.elsewhere.test.")))
              .empty());
}

TEST_CASE("an RRset too large for any DNS message is refused") {
    std::string records;
    for (int i = 0; i < 4100; ++i) {
        records +=
            item("big 300 A 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    }
    DocumentError e = error_of(zone_doc(records));
    CHECK(has(e, "the A RRset of 'big.z.test' (4100 records) needs"));
    CHECK(has(e, "over the 65535 bytes of the largest DNS message"));
    CHECK(e.path() == "zones[0].records[4094]");  // the record that does not fit
}

TEST_CASE("40,000 records at one name are validated in linear time") {
    std::string records;
    records.reserve(40000 * 40);
    for (int i = 0; i < 40000; ++i) {
        records += item("big 300 A 10." + std::to_string(i / 65536) + "." +
                        std::to_string(i / 256 % 256) + "." + std::to_string(i % 256));
    }
    const std::string doc = zone_doc(records);
    const auto t0 = std::chrono::steady_clock::now();
    DocumentError e = error_of(doc);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    CHECK(has(e, "(40000 records)"));  // every record was read before the verdict
    // Once 10 s (a quadratic duplicate scan); now about 0.1 s for the checks, plus the YAML.
    CHECK(ms < 3000);
}

TEST_CASE("what is stored reads back the same: export, then apply, gives the same state") {
    const std::string doc = zone_doc(
        item("t 300 TXT \"abc\\000def\" \"x y\"") + item("@ 300 MX 10 ns1") +
            item("kid 300 NS ns.kid") + item("ns.kid 300 A 127.0.0.60") +
            item("kid 300 DS 12345 8 2 0123456789ABCDEF") + item("_s._tcp 300 SRV 0 0 80 ns1") +
            item("a 1h CNAME ns1"),
        "pools: [{name: p, members: [{address: 127.0.0.1}, {address: '::1'}]}]\n"
        "balancers: [{name: lb.z.test, when_all_down: fallback, fallback: [127.0.0.2, 'fd00::2'],\n"
        "             pools: [{pool: p}]}]\n");
    const DesiredState first = parse_document(doc, "z.yaml");
    const DesiredState again = state_from_json(to_json(first), "export");
    CHECK(again == first);
    const DesiredState from_yaml = parse_document(to_yaml(to_json(first)), "export.yaml");
    CHECK(from_yaml == first);
}
