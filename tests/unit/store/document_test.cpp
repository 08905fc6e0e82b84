// The desired-state document: decoding, validation, and the error every mistake gets.
#include "store/document.h"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/encode.h"
#include "store/names.h"

using namespace gtm::store;

namespace {

const char* kBase = R"(zones:
  - name: GTM.Example.com.
    soa: {mname: ns1.gtm.example.com, rname: hostmaster.example.com}
    ns: [ns1.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
monitors:
  - {name: web, type: http, path: /health, interval: 1s, timeout: 500ms}
pools:
  - name: eu
    monitor: web
    members:
      - {address: 127.0.0.11, weight: 10}
balancers:
  - name: app.gtm.example.com
    pools: [{pool: eu}]
)";

// Parses `doc` and returns the error, failing the test if there is none.
DocumentError error_of(const std::string& doc) {
    try {
        parse_document(doc, "desired.yaml");
    } catch (const DocumentError& e) {
        return e;
    }
    FAIL("no error for:\n" << doc);
    return DocumentError("", "", "");
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    size_t at = s.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a valid document decodes with canonical names and defaults") {
    DesiredState s = parse_document(kBase, "desired.yaml");
    REQUIRE(s.zones.size() == 1);
    CHECK(s.zones[0].name == "gtm.example.com");
    CHECK(s.zones[0].soa.minimum_s == 30);
    CHECK(s.zones[0].parsed.size() == 1);
    CHECK(s.zones[0].parsed[0].owner == "ns1.gtm.example.com");
    CHECK(s.monitors[0].interval_ms == 1000);
    CHECK(s.monitors[0].timeout_ms == 500);
    CHECK(s.monitors[0].fall == 2);
    CHECK(s.monitors[0].rise == 3);
    CHECK(s.pools[0].members[0].weight == 10);
    CHECK(s.pools[0].members[0].admin == AdminState::Auto);
    CHECK(s.balancers[0].ttl_s == 30);
    CHECK(s.balancers[0].degraded_ttl_s == 5);
    CHECK(s.balancers[0].max_answers == 1);
    CHECK(s.balancers[0].when_all_down == WhenAllDown::FailOpen);
    CHECK(s.balancers[0].pools[0].priority == 1);
}

TEST_CASE("the demo document in configs/ is valid") {
    std::ifstream in(std::string(GTM_SOURCE_DIR) + "/configs/demo.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    DesiredState s = parse_document(ss.str(), "demo.yaml");
    CHECK(s.balancers.size() == 1);
    CHECK(s.pools.size() == 3);
}

TEST_CASE("the same document in JSON decodes to the same state") {
    const char* json = R"({"zones": [{"name": "gtm.example.com",
        "soa": {"mname": "ns1.gtm.example.com", "rname": "hostmaster.example.com"},
        "ns": ["ns1.gtm.example.com"], "records": ["ns1 3600 A 127.0.0.53"]}],
      "monitors": [{"name": "web", "type": "http", "path": "/health", "interval": "1s", "timeout": "500ms"}],
      "pools": [{"name": "eu", "monitor": "web", "members": [{"address": "127.0.0.11", "weight": 10}]}],
      "balancers": [{"name": "app.gtm.example.com", "pools": [{"pool": "eu"}]}]})";
    DesiredState s = parse_document(json, "desired.json");
    CHECK(s.zones[0].parsed.size() == 1);
    CHECK(s.pools[0].members[0].weight == 10);
    CHECK(s.monitors[0].timeout_ms == 500);
}

TEST_CASE("an error names the document, the path, the line and the reason") {
    DocumentError e = error_of(replace(kBase, "127.0.0.11", "127.1"));
    CHECK(e.document() == "desired.yaml");
    CHECK(e.path() == "pools[0].members[0].address");
    CHECK(e.line() == 13);
    CHECK(e.reason() == "'127.1' is not an IPv4 address in canonical dotted-quad form");
    CHECK(std::string(e.what()) ==
          "desired.yaml:13: pools[0].members[0].address: '127.1' is not an IPv4 address in "
          "canonical dotted-quad form");
}

TEST_CASE("non-canonical IPv4 forms are rejected") {
    for (const char* bad : {"0177.0.0.1", "127.000.0.1", "0x7f.0.0.1", "127.0.0", "127.0.0.1.",
                            "127.0.0.256", "' 127.0.0.1'", "2130706433", "localhost"}) {
        CAPTURE(bad);
        DocumentError e = error_of(replace(kBase, "127.0.0.11", bad));
        CHECK(e.path() == "pools[0].members[0].address");
    }
    CHECK(canonical_address("::FFFF:127.0.0.1", nullptr)->text == "::ffff:127.0.0.1");
    CHECK(canonical_address("2001:DB8:0:0::1", nullptr)->text == "2001:db8::1");
}

TEST_CASE("labels over 63 bytes and names over 255 bytes are rejected") {
    const std::string label64(64, 'a');
    DocumentError e = error_of(replace(kBase, "name: app.gtm", "name: " + label64 + ".gtm"));
    CHECK(e.path() == "balancers[0].name");
    CHECK(e.reason().find("over the limit of 63") != std::string::npos);
    std::string long_name;
    for (int i = 0; i < 5; ++i) {
        long_name += std::string(60, 'b') + ".";
    }
    e = error_of(replace(kBase, "name: app.gtm", "name: " + long_name + "gtm"));
    CHECK(e.reason().find("over the limit of 255") != std::string::npos);
    // A relative record owner or target that the zone's name makes too long (found by
    // fuzz_record: ldns appends the origin without checking).
    const std::string relative = std::string(60, 'c') + "." + std::string(60, 'c') + "." +
                                 std::string(60, 'c') + "." + std::string(60, 'c');
    e = error_of(
        replace(kBase, "\"ns1 3600 A 127.0.0.53\"", "\"" + relative + " 300 A 127.0.0.1\""));
    CHECK(e.reason().find("the owner name is 261 bytes in wire form, over the limit of 255") !=
          std::string::npos);
    e = error_of(replace(kBase, "\"ns1 3600 A 127.0.0.53\"", "\"x 300 CNAME " + relative + "\""));
    CHECK(e.reason().find("the target name is 261 bytes in wire form") != std::string::npos);
    CHECK(canonical_name(std::string(63, 'a') + ".test", nullptr).has_value());
    CHECK_FALSE(canonical_name("a..test", nullptr).has_value());
    CHECK_FALSE(canonical_name("a.*.test", nullptr).has_value());
    CHECK_FALSE(canonical_name("a b.test", nullptr).has_value());
}

TEST_CASE("unknown keys are rejected with the expected ones listed") {
    DocumentError e = error_of(replace(kBase, "weight: 10", "weight: 10, wieght: 3"));
    CHECK(e.path() == "pools[0].members[0].wieght");
    CHECK(e.reason() == "unknown key (expected one of: address, weight, admin, labels)");
    e = error_of(std::string(kBase) + "extras: 1\n");
    CHECK(e.path() == "extras");
}

TEST_CASE("weights must be integers from 0 to 255") {
    for (const char* bad : {"-1", "1.5", "\"10\"", ".nan", "2147483648", "null", "256", "true"}) {
        CAPTURE(bad);
        DocumentError e = error_of(replace(kBase, "weight: 10", std::string("weight: ") + bad));
        CHECK(e.path() == "pools[0].members[0].weight");
    }
    CHECK(
        parse_document(replace(kBase, "weight: 10", "weight: 0"), "d").pools[0].members[0].weight ==
        0);
    CHECK(parse_document(replace(kBase, "weight: 10", "weight: 255"), "d")
              .pools[0]
              .members[0]
              .weight == 255);
}

TEST_CASE("duplicate names, duplicate keys and duplicate members are rejected") {
    DocumentError e = error_of(replace(kBase, "  - name: app.gtm.example.com\n",
                                       "  - name: app.gtm.example.com\n    pools: [{pool: eu}]\n"
                                       "  - name: APP.gtm.example.com\n"));
    CHECK(e.path() == "balancers[1].name");
    CHECK(e.reason().find("duplicate name 'app.gtm.example.com'") != std::string::npos);
    e = error_of(replace(kBase, "weight: 10}", "weight: 10}\n      - {address: 127.0.0.11}"));
    CHECK(e.path() == "pools[0].members[1].address");
    e = error_of(replace(kBase, "monitor: web\n", "monitor: web\n    monitor: web\n"));
    CHECK(e.path() == "pools[0].monitor");
    CHECK(e.reason() == "duplicate key");
    e = error_of(R"({"zones": [], "zones": []})");
    CHECK(e.reason().find("duplicate key 'zones'") != std::string::npos);
}

TEST_CASE("a balancer outside every zone, or below a delegation, is rejected") {
    DocumentError e = error_of(replace(kBase, "name: app.gtm.example.com", "name: app.other.test"));
    CHECK(e.path() == "balancers[0].name");
    CHECK(e.reason() == "'app.other.test' is not inside any zone served here");
    e = error_of(replace(kBase, "- \"ns1 3600 A 127.0.0.53\"",
                         "- \"ns1 3600 A 127.0.0.53\"\n      - \"app 300 NS ns1\""));
    CHECK(e.path() == "balancers[0].name");
}

TEST_CASE("references must resolve") {
    CHECK(error_of(replace(kBase, "monitor: web", "monitor: nope")).path() == "pools[0].monitor");
    CHECK(error_of(replace(kBase, "{pool: eu}", "{pool: us}")).path() ==
          "balancers[0].pools[0].pool");
    CHECK(error_of(replace(kBase, "{pool: eu}", "{pool: eu}, {pool: eu}")).path() ==
          "balancers[0].pools[1].pool");
}

TEST_CASE("zone records are parsed with ldns and checked as DNS data") {
    auto with_record = [](const std::string& r) {
        return replace(kBase, "- \"ns1 3600 A 127.0.0.53\"",
                       "- \"ns1 3600 A 127.0.0.53\"\n      - " + r);
    };
    for (const char* ok :
         {"\"www 300 CNAME app\"", "\"@ 300 MX 10 mail\"", "\"t 300 TXT \\\"a b\\\"\"",
          "\"_s._tcp 300 SRV 1 2 3 app\"", "\"@ 300 CAA 0 issue \\\"ca.test\\\"\"",
          "\"ptr 300 PTR app\"", "\"v6 300 AAAA 2001:db8::1\"", "\"kid 300 NS ns.elsewhere.test.\"",
          "\"*.w 300 A 127.0.0.1\"", "\"x.example.net. 300 A 127.0.0.1\""}) {
        CAPTURE(ok);
        if (std::string(ok).find("example.net") != std::string::npos) {
            CHECK(error_of(with_record(ok)).reason().find("outside the zone") != std::string::npos);
        } else {
            CHECK_NOTHROW(parse_document(with_record(ok), "d"));
        }
    }
    struct Bad {
        const char* record;
        const char* reason;
    };
    for (const Bad& b : {Bad{"\"www 300 A 300.1.1.1\"", "cannot parse record"},
                         Bad{"\"@ 300 CNAME app\"", "CNAME cannot be at the zone apex"},
                         Bad{"\"ns1 300 CNAME app\"", "has a CNAME and other records"},
                         Bad{"\"@ 300 NS ns1\"", "the apex NS set is the zone's 'ns' key"},
                         Bad{"\"@ 300 SOA a b 1 2 3 4 5\"", "SOA is set by the zone's 'soa' key"},
                         Bad{"\"ns1 60 A 127.0.0.54\"", "differs from 3600"},
                         Bad{"\"ns1 3600 A 127.0.0.53\"", "duplicate record"},
                         Bad{"\"www 300 CH TXT x\"", "only class IN"},
                         Bad{"\" www 300 A 127.0.0.1\"", "must start with its owner"},
                         Bad{"\"*.w 300 NS ns1\"", "NS at a wildcard"}}) {
        CAPTURE(b.record);
        DocumentError e = error_of(with_record(b.record));
        CHECK(e.path() == "zones[0].records[1]");
        CHECK(e.reason().find(b.reason) != std::string::npos);
    }
    DocumentError occluded =
        error_of(with_record("\"kid 300 NS ns.kid\"\n      - \"www.kid 300 TXT x\""));
    CHECK(occluded.reason().find("below the delegation 'kid.gtm.example.com'") !=
          std::string::npos);
}

TEST_CASE("monitor fields are checked by type") {
    CHECK(error_of(replace(kBase, "type: http", "type: icmp")).path() == "monitors[0].type");
    CHECK(
        error_of(replace(kBase, "type: http, path: /health", "type: tcp, path: /health")).path() ==
        "monitors[0].port");
    CHECK(error_of(replace(kBase, "timeout: 500ms", "timeout: 2s")).reason() ==
          "must not be longer than the interval");
    CHECK(error_of(replace(kBase, "interval: 1s", "interval: 1 s")).path() ==
          "monitors[0].interval");
    CHECK(error_of(replace(kBase, "path: /health", "path: health")).path() == "monitors[0].path");
    CHECK(error_of(replace(kBase, "interval: 1s", "interval: 1s, tls_verify: false")).path() ==
          "monitors[0].tls_verify");
    DesiredState s = parse_document(
        replace(kBase, "type: http, path: /health",
                "type: https, path: /h, expect_status: [200, \"300-302\"], tls_verify: false, "
                "headers: {X-Probe: gtmd}, expect_body: ok, host: app.example.com"),
        "d");
    CHECK(s.monitors[0].port == 443);
    CHECK(s.monitors[0].expect_status.size() == 2);
    CHECK(s.monitors[0].expect_status[1].to == 302);
    CHECK_FALSE(s.monitors[0].tls_verify);
    CHECK(s.monitors[0].headers.at("X-Probe") == "gtmd");
    CHECK(error_of(replace(kBase, "path: /health", "path: /h, expect_status: [\"399-200\"]"))
              .path() == "monitors[0].expect_status[0]");
}

TEST_CASE("balancer options are checked") {
    CHECK(error_of(replace(kBase, "pools: [{pool: eu}]",
                           "when_all_down: fallback\n    pools: [{pool: eu}]"))
              .path() == "balancers[0].fallback");
    CHECK(error_of(replace(kBase, "pools: [{pool: eu}]",
                           "when_all_down: panic\n    pools: [{pool: eu}]"))
              .path() == "balancers[0].when_all_down");
    CHECK(error_of(replace(kBase, "pools: [{pool: eu}]", "max_answers: 0\n    pools: [{pool: eu}]"))
              .path() == "balancers[0].max_answers");
    CHECK(error_of(replace(kBase, "pools: [{pool: eu}]",
                           "fallback: [127.0.0.1]\n    pools: [{pool: eu}]"))
              .reason() == "is only used when when_all_down is fallback");
    CHECK(error_of(replace(kBase, "monitor: web\n", "monitor: web\n    min_healthy: 2\n")).path() ==
          "pools[0].min_healthy");
}

TEST_CASE("malformed YAML and JSON are reported with a position") {
    DocumentError e = error_of("zones: [\n  - name: a\n");
    CHECK(e.reason().find("malformed YAML") == 0);
    CHECK(e.line() > 0);
    e = error_of("{\"zones\": [}");
    CHECK(e.reason().find("malformed JSON") == 0);
    CHECK(parse_document("", "empty.yaml").zones.empty());
}

TEST_CASE("durations") {
    CHECK(parse_duration_ms("500ms") == 500);
    CHECK(parse_duration_ms("5s") == 5000);
    CHECK(parse_duration_ms("2m") == 120000);
    CHECK(parse_duration_ms("1h") == 3600000);
    CHECK(parse_duration_ms("7") == 7000);
    CHECK_FALSE(parse_duration_ms("5 s").has_value());
    CHECK_FALSE(parse_duration_ms("-1s").has_value());
    CHECK_FALSE(parse_duration_ms("s").has_value());
}

TEST_CASE("the reader and the decoder work on any YAML or JSON, as gtmd.yaml is read") {
    Origins origins;
    const nlohmann::json j =
        parse_text("limits:\n  sizes: [1, two]\n  base: &b 5\n  copy: *b\n", "f.yaml", origins);
    const Decoder d("f.yaml", origins);
    CHECK(d.line_of("limits.sizes[1]") == 2);
    CHECK(j["limits"]["copy"] == 5);  // aliases are expanded
    std::string what;
    try {
        d.integer(j["limits"]["sizes"][1], "limits.sizes[1]", 0, 9);
    } catch (const DocumentError& e) {
        what = e.what();
    }
    CHECK(what == "f.yaml:2: limits.sizes[1]: must be an integer between 0 and 9, got a string");
    try {
        d.duration_ms(j["limits"]["base"], "limits.base", 0, 1000);
    } catch (const DocumentError& e) {
        what = e.what();
    }
    CHECK(what == "f.yaml:3: limits.base: must be between 0s and 1s");
    try {
        d.object(j["limits"], "limits", {"sizes", "base"});
    } catch (const DocumentError& e) {
        what = e.what();
    }
    // yaml-cpp gives an alias the mark of its anchor: the line is where the value was written.
    CHECK(what == "f.yaml:3: limits.copy: unknown key (expected one of: sizes, base)");
    // JSON has no lines here; the rest of the line is the same.
    Origins none;
    const nlohmann::json k = parse_text(R"({"limits": {"base": "5 s"}})", "f.json", none);
    try {
        Decoder("f.json", none).duration_ms(k["limits"]["base"], "limits.base", 0, 1000);
    } catch (const DocumentError& e) {
        what = e.what();
    }
    CHECK(what == "f.json: limits.base: must be a duration like 500ms, 5s or 2m, got '5 s'");
    CHECK(parse_text("", "empty.yaml", none) == nlohmann::json::object());
}

TEST_CASE("several monitors per pool: monitors and combine, each mistake named by its path") {
    const std::string two =
        replace(replace(kBase, "monitors:\n", "monitors:\n  - {name: tcp, type: tcp, port: 80}\n"),
                "    monitor: web\n", "    monitors: [web, tcp]\n    combine: {quorum: 2}\n");
    DesiredState s = parse_document(two, "d");
    CHECK(s.pools[0].monitors == std::vector<std::string>{"web", "tcp"});
    CHECK(s.pools[0].combine == Combine{CombineMode::Quorum, 2});
    CHECK(parse_document(kBase, "d").pools[0].monitors == std::vector<std::string>{"web"});
    CHECK(parse_document(kBase, "d").pools[0].combine.mode == CombineMode::All);
    CHECK(parse_document(replace(two, "combine: {quorum: 2}", "combine: any"), "d")
              .pools[0]
              .combine.mode == CombineMode::Any);

    DocumentError e = error_of(replace(two, "combine: {quorum: 2}", "combine: {quorum: 3}"));
    CHECK(e.path() == "pools[0].combine.quorum");
    CHECK(e.reason() == "3 is more than the pool's 2 monitors");
    e = error_of(replace(two, "combine: {quorum: 2}", "combine: most"));
    CHECK(e.path() == "pools[0].combine");
    CHECK(e.reason() == "'most' is not one of: all, any, {quorum: N}");
    e = error_of(replace(two, "[web, tcp]", "[web, nope]"));
    CHECK(e.path() == "pools[0].monitors[1]");
    CHECK(e.reason() == "no monitor named 'nope'");
    e = error_of(replace(two, "[web, tcp]", "[web, web]"));
    CHECK(e.path() == "pools[0].monitors[1]");
    e = error_of(
        replace(two, "    monitors: [web, tcp]\n", "    monitors: [web, tcp]\n    monitor: web\n"));
    CHECK(e.path() == "pools[0].monitors");
    CHECK(e.reason() == "give monitor or monitors, not both");
}

TEST_CASE("promql monitors and member labels decode; each mistake is named by its path") {
    const std::string base =
        replace(replace(kBase, "monitors:\n",
                        "monitors:\n"
                        "  - name: errors\n"
                        "    type: promql\n"
                        "    url: http://127.0.0.1:9090\n"
                        "    query: 'sum by (gateway) (rate(x{m=\"{{monitor}}\"}[1m]))'\n"
                        "    match_label: gateway\n"
                        "    match_value: '{{cluster}}-{{address}}'\n"
                        "    fail_if: '>= 0.05'\n"
                        "    no_data: down\n"),
                "{address: 127.0.0.11, weight: 10}",
                "{address: 127.0.0.11, weight: 10, labels: {cluster: hz}}");
    DesiredState s = parse_document(base, "d");
    const Monitor& m = s.monitors[0];
    CHECK(m.type == MonitorType::Promql);
    CHECK(m.url == "http://127.0.0.1:9090");
    CHECK(m.match_label == "gateway");
    CHECK(m.match_value == "{{cluster}}-{{address}}");
    CHECK(m.fail_op == Comparison::Ge);
    CHECK(m.fail_threshold == doctest::Approx(0.05));
    CHECK(m.no_data == NoData::Down);
    CHECK(s.pools[0].members[0].labels.at("cluster") == "hz");
    // Exported and read back: the same state; the threshold as it was written.
    CHECK(state_from_json(to_json(s), "export") == s);
    CHECK(to_json(s)["monitors"][0]["fail_if"] == ">= 0.05");

    struct Bad {
        const char* from;
        const char* to;
        const char* path;
        const char* words;
    };
    for (const Bad& b : std::initializer_list<Bad>{
             {"url: http://127.0.0.1:9090", "url: ftp://x", "monitors[0].url", "base URL"},
             {"    url: http://127.0.0.1:9090\n", "", "monitors[0].url", "is required"},
             {"fail_if: '>= 0.05'", "fail_if: 'above 5%'", "monitors[0].fail_if", "comparison"},
             {"fail_if: '>= 0.05'", "fail_if: '> 0.05 or so'", "monitors[0].fail_if", "comparison"},
             {"no_data: down", "no_data: maybe", "monitors[0].no_data", "unknown, up, down"},
             {"match_label: gateway", "match_label: 'gate-way'", "monitors[0].match_label",
              "label name"},
             {"[1m]))'", "[1m])) / {{address}}'", "monitors[0].query", "once per interval"},
             {"match_value: '{{cluster}}-{{address}}'", "match_value: '{{cluster'",
              "monitors[0].match_value", "without"},
             {"type: promql\n", "type: promql\n    port: 80\n", "monitors[0].port",
              "does not apply"},
             {"labels: {cluster: hz}", "labels: {pool: hz}", "pools[0].members[0].labels.pool",
              "placeholder"},
             {"labels: {cluster: hz}", "labels: {'a-b': hz}", "pools[0].members[0].labels.a-b",
              "label name"},
         }) {
        CAPTURE(b.to);
        const DocumentError e = error_of(replace(base, b.from, b.to));
        CHECK(e.path() == b.path);
        CHECK(e.reason().find(b.words) != std::string::npos);
    }
    // promql keys on another type, http keys on promql.
    CHECK(error_of(replace(kBase, "path: /health", "path: /health, fail_if: '> 1'")).path() ==
          "monitors[0].fail_if");
    CHECK(error_of(replace(base, "no_data: down", "no_data: down\n    path: /x")).path() ==
          "monitors[0].path");
}

TEST_CASE("configs/traffic.yaml, the promql example, is valid") {
    std::ifstream in(std::string(GTM_SOURCE_DIR) + "/configs/traffic.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    DesiredState s = parse_document(ss.str(), "traffic.yaml");
    CHECK(s.monitors.size() == 3);
    CHECK(s.pools[1].combine == Combine{CombineMode::Quorum, 2});
}
