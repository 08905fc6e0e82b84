// Alertmanager's webhook payload (version 4) decoded into alert notices: pure, no sockets.
#include "web/alertmanager.h"

#include <doctest/doctest.h>

#include "store/errors.h"

using gtm::web::AlertmanagerSettings;
using gtm::web::decode_alertmanager;
using gtm::web::parse_rfc3339_ms;
using nlohmann::json;

namespace {

constexpr int64_t kUnix = 1796000000000;  // 2026-12-01T...Z
constexpr int64_t kMono = 5000;

json body(json alerts) {
    return {{"version", "4"}, {"status", "firing"}, {"receiver", "gtmd"}, {"alerts", alerts}};
}

std::string error_path(const json& b) {
    try {
        decode_alertmanager(b, AlertmanagerSettings{}, kUnix, kMono);
    } catch (const gtm::store::DocumentError& e) {
        return e.path() + ": " + e.reason();
    }
    FAIL("no error for " << b.dump());
    return "";
}

}  // namespace

TEST_CASE("RFC 3339 times with fractions and offsets; Alertmanager's zero time is year 1") {
    CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_rfc3339_ms("1970-01-01T00:00:01.5Z") == 1500);
    CHECK(parse_rfc3339_ms("2026-12-01T10:00:00.123456789Z") == 1796119200123);
    CHECK(parse_rfc3339_ms("2026-12-01T12:00:00+02:00") == 1796119200000);
    CHECK(*parse_rfc3339_ms("0001-01-01T00:00:00Z") < 0);
    for (const char* bad :
         {"", "tomorrow", "2026-12-01", "2026-12-01T10:00:00", "2026-13-01T10:00:00Z",
          "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00Zjunk"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_rfc3339_ms(bad).has_value());
    }
}

TEST_CASE("firing and resolved alerts naming a pool or a member become notices") {
    const json b = body({
        {{"status", "firing"},
         {"labels", {{"alertname", "Errors"}, {"gtm_pool", "Hangzhou"}}},
         {"endsAt", "0001-01-01T00:00:00Z"},
         {"fingerprint", "abc"}},
        {{"status", "resolved"},
         {"labels", {{"alertname", "Slow"}, {"gtm_member", "127.0.0.11"}}},
         {"endsAt", "2026-12-01T10:00:00Z"}},
        {{"status", "firing"}, {"labels", {{"alertname", "Other"}, {"severity", "info"}}}},
    });
    AlertmanagerSettings s;
    s.grace_ms = 60000;
    const auto d = decode_alertmanager(b, s, kUnix, kMono);
    REQUIRE(d.notices.size() == 2);
    CHECK(d.ignored == 1);
    CHECK(d.notices[0].name == "Errors");
    CHECK(d.notices[0].pool == "hangzhou");  // canonical, as pool names are stored
    CHECK(d.notices[0].member.empty());
    CHECK(d.notices[0].fingerprint == "abc");
    CHECK(d.notices[0].firing);
    CHECK(d.notices[0].expires_ms == kMono + 60000);  // no endsAt: receipt + grace
    CHECK_FALSE(d.notices[1].firing);
    CHECK(d.notices[1].member == "127.0.0.11");
    CHECK(d.notices[1].fingerprint.size() == 16);  // from the label set
}

TEST_CASE("an explicit endsAt moves the expiry; the label names are configurable") {
    AlertmanagerSettings s;
    s.pool_label = "region";
    s.grace_ms = 1000;
    const json b = body({{{"status", "firing"},
                          {"labels", {{"alertname", "E"}, {"region", "eu"}, {"gtm_pool", "x"}}},
                          {"endsAt", "1970-01-01T00:00:10Z"}}});
    const auto d = decode_alertmanager(b, s, 4000, kMono);
    REQUIRE(d.notices.size() == 1);
    CHECK(d.notices[0].pool == "eu");
    CHECK(d.notices[0].expires_ms == kMono + 6000 + 1000);
}

TEST_CASE("bodies Alertmanager would not send name the path at fault") {
    CHECK(error_path(json::array()).rfind(": must be Alertmanager's webhook payload", 0) == 0);
    CHECK(error_path({{"alerts", json::array()}}) == "version: is required");
    CHECK(error_path({{"version", "3"}, {"alerts", json::array()}}).rfind("version: '3'", 0) == 0);
    CHECK(error_path({{"version", "4"}}) == "alerts: is required");
    CHECK(error_path({{"version", "4"}, {"alerts", 1}}) == "alerts: must be a list");
    CHECK(error_path(body({1})) == "alerts[0]: must be an object");
    CHECK(error_path(body({{{"labels", {{"alertname", "A"}}}}})) ==
          "alerts[0].status: is required");
    CHECK(error_path(body({{{"status", "pending"}, {"labels", {{"alertname", "A"}}}}})) ==
          "alerts[0].status: 'pending' is not one of: firing, resolved");
    CHECK(error_path(body({{{"status", "firing"}}})) == "alerts[0].labels: is required");
    CHECK(error_path(body({{{"status", "firing"}, {"labels", {{"gtm_pool", "p"}}}}})) ==
          "alerts[0].labels.alertname: is required");
    CHECK(error_path(body({{{"status", "firing"}, {"labels", {{"alertname", "A"}, {"x", 1}}}}})) ==
          "alerts[0].labels.x: must be a string");
    CHECK(error_path(body({{{"status", "firing"},
                            {"labels", {{"alertname", "A"}, {"gtm_member", "gw-1"}}}}}))
              .rfind("alerts[0].labels.gtm_member: ", 0) == 0);
    CHECK(error_path(body({{{"status", "firing"},
                            {"labels", {{"alertname", "A"}, {"gtm_pool", "p"}}},
                            {"endsAt", "soon"}}})) ==
          "alerts[0].endsAt: 'soon' is not an RFC 3339 time");
    CHECK(error_path(body({{{"status", "firing"},
                            {"labels", {{"alertname", "A"}, {"gtm_pool", "p"}}},
                            {"fingerprint", ""}}})) ==
          "alerts[0].fingerprint: must be a non-empty string");
}
