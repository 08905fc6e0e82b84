// POST /api/v1/alertmanager: Alertmanager's webhook (payload version 4) as a health input;
// GET: the alerts firing now and the members they mark failing.
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "store/errors.h"
#include "web/alertmanager.h"
#include "web/api_call.h"

namespace gtm::web {

using nlohmann::json;

namespace {

json alert_json(const health::ActiveAlert& a, const std::vector<std::string>& members,
                int64_t now_mono_ms) {
    json j = {{"alertname", a.name},
              {"fingerprint", a.fingerprint},
              {"reason", "alert: " + a.name},
              {"expires_in_ms", std::max<int64_t>(0, a.expires_ms - now_mono_ms)},
              {"members", members}};
    if (!a.pool.empty()) {
        j["pool"] = a.pool;
    }
    if (!a.member.empty()) {
        j["member"] = a.member;
    }
    return j;
}

}  // namespace

Response alertmanager_resource(Api::Call& c) {
    if (c.req.method == "GET") {
        json list = json::array();
        const int64_t now = monotonic_ms();
        for (const auto& [a, members] : c.core().alerts()) {
            list.push_back(alert_json(a, members, now));
        }
        return json_response(200, {{"alerts", list}});
    }
    const json body = c.body();
    DecodedAlerts decoded;
    try {
        decoded = decode_alertmanager(body, c.deps.alertmanager, unix_ms(), monotonic_ms());
    } catch (const store::DocumentError& e) {
        // A body Alertmanager would not send: refused whole, nothing applied.
        throw ApiError{400, e.reason(), e.path()};
    }
    const auto changes = c.core().on_alerts(decoded.notices);
    size_t firing = 0;
    for (const auto& n : decoded.notices) {
        firing += n.firing ? 1 : 0;
    }
    json changed = json::array();
    for (const auto& ch : changes) {
        changed.push_back({{"alertname", ch.alert.name},
                           {"fingerprint", ch.alert.fingerprint},
                           {"state", health::to_string(ch.change)}});
    }
    const int64_t now = monotonic_ms();
    json active = json::array();
    for (const auto& [a, members] : c.core().alerts()) {
        active.push_back(alert_json(a, members, now));
    }
    const json result = {{"firing", firing},
                         {"resolved", decoded.notices.size() - firing},
                         {"ignored", decoded.ignored},
                         {"changes", changed},
                         {"alerts", active}};
    // Audited like every accepted write: who said what about which members.
    store::AuditEntry a;
    a.at_ms = unix_ms();
    a.token = c.who.name;
    a.source = c.req.source;
    a.action = "POST " + c.path;
    a.object = "alertmanager";
    a.result = json({{"firing", firing},
                     {"resolved", decoded.notices.size() - firing},
                     {"ignored", decoded.ignored},
                     {"changes", changed}})
                   .dump();
    a.status = 200;
    try {
        c.core().store().append_audit(a);
    } catch (const std::exception& e) {
        // The alert is served already; its trace stays in the log.
        spdlog::warn("alertmanager notification from {} not audited: {}", c.req.source, e.what());
    }
    return json_response(200, result);
}

}  // namespace gtm::web
