// promql monitors: templates, Prometheus's answers, results per member. Pure, no sockets.
#include "healthcheck/promql.h"

#include <doctest/doctest.h>

using namespace gtm::health;
using gtm::store::Comparison;
using gtm::store::Monitor;
using gtm::store::MonitorType;
using gtm::store::NoData;

namespace {

Monitor promql(Comparison op, double threshold, NoData no_data = NoData::Unknown) {
    Monitor m;
    m.name = "errors";
    m.type = MonitorType::Promql;
    m.url = "http://127.0.0.1:9090/";
    m.query = "ratio{monitor=\"{{monitor}}\"} > 0";
    m.match_label = "gateway";
    m.fail_op = op;
    m.fail_threshold = threshold;
    m.no_data = no_data;
    return m;
}

const char* kAnswer = R"({"status":"success","data":{"resultType":"vector","result":[
  {"metric":{"gateway":"127.0.0.11"},"value":[1796000000.1,"0.3"]},
  {"metric":{"gateway":"127.0.0.21"},"value":[1796000000.1,"0"]},
  {"metric":{"gateway":"127.0.0.31"},"value":[1796000000.1,"NaN"]},
  {"metric":{"other":"x"},"value":[1796000000.1,"9"]}]}})";

}  // namespace

TEST_CASE("templates expand address, pool, monitor and member labels") {
    const std::map<std::string, std::string> labels = {{"cluster", "cn-hangzhou"}};
    CHECK(expand_template("{{address}}/{{pool}}/{{monitor}}/{{cluster}}", "127.0.0.11", "hz",
                          "errors", labels) == "127.0.0.11/hz/errors/cn-hangzhou");
    std::string missing;
    CHECK_FALSE(expand_template("{{region}}", "a", "p", "m", labels, &missing).has_value());
    CHECK(missing == "region");
    CHECK(expand_template("no placeholder", "a", "p", "m", {}) == "no placeholder");
}

TEST_CASE("one query URL per monitor, {{monitor}} expanded and encoded") {
    const Monitor m = promql(Comparison::Gt, 0.05);
    CHECK(promql_query_url(m) ==
          "http://127.0.0.1:9090/api/v1/query?query=ratio%7Bmonitor%3D%22errors%22%7D%20%3E%200");
}

TEST_CASE("Prometheus's vector answer becomes a value per match_label") {
    const QueryOutcome o = parse_query_response(kAnswer, 200, "gateway");
    REQUIRE(o.ok);
    CHECK(o.values.size() == 3);
    CHECK(o.values.at("127.0.0.11") == doctest::Approx(0.3));
}

TEST_CASE("errors, non-JSON and non-vector answers are query errors, never member failures") {
    CHECK_FALSE(parse_query_response("<html>bad gateway</html>", 502, "gateway").ok);
    const QueryOutcome e = parse_query_response(
        R"({"status":"error","errorType":"bad_data","error":"parse error at char 4"})", 400,
        "gateway");
    CHECK_FALSE(e.ok);
    CHECK(e.error == "HTTP 400: bad_data: parse error at char 4");
    CHECK_FALSE(parse_query_response(
                    R"({"status":"success","data":{"resultType":"scalar","result":[1,"2"]}})", 200,
                    "gateway")
                    .ok);
}

TEST_CASE("threshold, pass and no data, as fail_if and no_data say") {
    const QueryOutcome o = parse_query_response(kAnswer, 200, "gateway");
    const Monitor m = promql(Comparison::Gt, 0.05);
    auto r = promql_result(m, "127.0.0.11", o);
    REQUIRE(r);
    CHECK(r->reason == Reason::Threshold);
    CHECK(r->detail == "0.3 > 0.05");
    r = promql_result(m, "127.0.0.21", o);
    REQUIRE(r);
    CHECK(r->ok());
    // NaN (0/0, no traffic) is no data: no result under no_data: unknown, as no_data says else.
    CHECK_FALSE(promql_result(m, "127.0.0.31", o).has_value());
    r = promql_result(promql(Comparison::Gt, 0.05, NoData::Down), "127.0.0.31", o);
    REQUIRE(r);
    CHECK(r->reason == Reason::NoData);
    CHECK(r->detail == "NaN for gateway=\"127.0.0.31\" (0/0: no traffic)");
    r = promql_result(promql(Comparison::Gt, 0.05, NoData::Up), "127.0.0.31", o);
    REQUIRE(r);
    CHECK(r->ok());
    CHECK_FALSE(promql_result(m, "127.0.0.99", o).has_value());  // no_data: unknown
    r = promql_result(promql(Comparison::Gt, 0.05, NoData::Down), "127.0.0.99", o);
    REQUIRE(r);
    CHECK(r->reason == Reason::NoData);
    r = promql_result(promql(Comparison::Gt, 0.05, NoData::Up), "127.0.0.99", o);
    REQUIRE(r);
    CHECK(r->ok());
    CHECK(promql_result(promql(Comparison::Lt, 1, NoData::Up), "127.0.0.21", o)->reason ==
          Reason::Threshold);
    CHECK(fails(Comparison::Ge, 0.3, 0.3));
    CHECK_FALSE(fails(Comparison::Ne, 0.3, 0.3));
    CHECK(fails(Comparison::Le, 1, 0.5));
    CHECK(fails(Comparison::Eq, 0, 0));
}
