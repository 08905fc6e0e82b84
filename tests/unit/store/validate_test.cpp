// Whole-state validation beyond zone data: addresses no client could use, balancers that can
// never answer for a family, and the warnings validate() returns for what an operator may mean.
#include "store/validate.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "store/document.h"
#include "store/names.h"

using namespace gtm::store;

namespace {

std::string doc_with(const std::string& members, const std::string& balancer_extra = "") {
    return "zones:\n"
           "  - name: z.test\n"
           "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
           "    ns: [ns1.z.test]\n"
           "    records: ['ns1 3600 A 127.0.0.53']\n"
           "pools:\n"
           "  - name: p\n"
           "    members: " +
           members +
           "\n"
           "balancers:\n"
           "  - name: lb.z.test\n" +
           balancer_extra + "    pools: [{pool: p}]\n";
}

DocumentError error_of(const std::string& doc) {
    try {
        parse_document(doc, "v.yaml");
    } catch (const DocumentError& e) {
        return e;
    }
    FAIL("no error for:\n" << doc);
    return DocumentError("", "", "");
}

std::vector<Warning> warnings_of(const std::string& doc) {
    return decode_document(doc, "v.yaml").warnings;
}

}  // namespace

TEST_CASE("member addresses no client could use are refused") {
    for (const char* bad :
         {"0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
          "::", "ff02::1", "ff0e::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fe80::1"}) {
        CAPTURE(bad);
        DocumentError e = error_of(doc_with(std::string("[{address: '") + bad + "'}]"));
        CHECK(e.path() == "pools[0].members[0].address");
        CHECK(e.line() == 8);
        CHECK(e.reason().find("cannot be an answer") != std::string::npos);
    }
    // Loopback stays: the tests and the demo use it. So do ordinary addresses.
    for (const char* ok : {"127.0.0.1", "127.255.255.254", "::1", "10.0.0.1", "100.64.0.1",
                           "2a00:1450::1", "fd00::1", "64:ff9b::a00:1"}) {
        CAPTURE(ok);
        CHECK(unusable_address(ok).empty());
    }
}

TEST_CASE("fallback addresses are checked like members") {
    DocumentError e = error_of(doc_with("[{address: 127.0.0.1}]",
                                        "    when_all_down: fallback\n"
                                        "    fallback: [127.0.0.2, 255.255.255.255]\n"));
    CHECK(e.path() == "balancers[0].fallback[1]");
    CHECK(e.reason().find("broadcast") != std::string::npos);
}

TEST_CASE("documentation, link-local IPv4 and IPv4-compatible addresses warn") {
    const std::vector<Warning> w =
        warnings_of(doc_with("[{address: 192.0.2.10}, {address: 169.254.1.1}, "
                             "{address: '2001:db8::10'}, {address: '::2'}]"));
    REQUIRE(w.size() == 4);
    CHECK(w[0].path == "pools[0].members[0].address");
    CHECK(w[0].message == "'192.0.2.10' is a documentation address (RFC 5737)");
    CHECK(w[0].line == 8);
    CHECK(w[1].message.find("link-local") != std::string::npos);
    CHECK(w[2].message == "'2001:db8::10' is a documentation address (RFC 3849)");
    CHECK(w[3].message.find("IPv4-compatible") != std::string::npos);
}

TEST_CASE("a balancer with only IPv6 members warns that A queries get no address") {
    const std::vector<Warning> w = warnings_of(doc_with("[{address: '::1'}]"));
    REQUIRE(w.size() == 1);
    CHECK(w[0].path == "balancers[0]");
    CHECK(w[0].message == "'lb.z.test' has no IPv4 member: A queries get no address (NODATA)");
    CHECK(w[0].line == 10);
    // Only IPv4 is the common case: no warning.
    CHECK(warnings_of(doc_with("[{address: 127.0.0.1}]")).empty());
}

TEST_CASE("a fallback address of a family without members is never served: refused") {
    DocumentError e = error_of(doc_with("[{address: 127.0.0.1}]",
                                        "    when_all_down: fallback\n"
                                        "    fallback: [127.0.0.2, 'fd00::2']\n"));
    CHECK(e.path() == "balancers[0].fallback[1]");
    CHECK(e.reason() ==
          "'fd00::2' is never served: the balancer has no IPv6 member, and a fallback answers only "
          "for its own family");
}

TEST_CASE("a family whose members have no fallback warns when when_all_down is fallback") {
    const std::vector<Warning> w = warnings_of(doc_with("[{address: 127.0.0.1}, {address: '::1'}]",
                                                        "    when_all_down: fallback\n"
                                                        "    fallback: [127.0.0.2]\n"));
    REQUIRE(w.size() == 1);
    CHECK(w[0].path == "balancers[0].fallback");
    CHECK(w[0].message ==
          "no IPv6 fallback address: AAAA queries get no address when every tier is down");
}

TEST_CASE("validate() returns warnings and still throws on errors") {
    DesiredState s = parse_document(doc_with("[{address: '::1'}]"), "v.yaml");
    std::vector<Warning> w = validate(s, "state");
    REQUIRE(w.size() == 1);
    CHECK(w[0].line == 0);  // no document lines here
    CHECK(to_string(w[0], "state") ==
          "state: balancers[0]: warning: 'lb.z.test' has no IPv4 member: A queries get no address "
          "(NODATA)");
    s.pools[0].members[0].address = "ff02::1";
    CHECK_THROWS_AS(validate(s, "state"), DocumentError);
}

TEST_CASE("a 10,000-member state validates in linear time") {
    std::string doc =
        "zones:\n"
        "  - name: z.test\n"
        "    soa: {mname: ns1.z.test, rname: h.z.test}\n"
        "    ns: [ns1.z.test]\n"
        "    records: ['ns1 3600 A 127.0.0.53']\n"
        "monitors: [{name: web, type: http}]\n"
        "pools:\n";
    std::string balancers = "balancers:\n";
    for (int p = 0; p < 100; ++p) {
        doc += "  - name: p" + std::to_string(p) + "\n    monitor: web\n    members:\n";
        for (int m = 0; m < 100; ++m) {
            doc += "      - {address: 127." + std::to_string(p / 250 + 1) + "." +
                   std::to_string(p % 250) + "." + std::to_string(m + 1) + "}\n";
        }
        balancers += "  - {name: p" + std::to_string(p) + ".z.test, pools: [{pool: p" +
                     std::to_string(p) + "}]}\n";
    }
    const Document d = decode_document(doc + balancers, "big.yaml");
    CHECK(d.state.pools.size() == 100);
    CHECK(d.warnings.empty());
    DesiredState s = d.state;
    const auto t0 = std::chrono::steady_clock::now();
    validate(s, "state");
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    CHECK(ms < 1000);
}
