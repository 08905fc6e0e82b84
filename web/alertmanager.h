// Alertmanager's webhook payload (version 4) as a health input: decoding and its settings.
//
// Pure: POST /api/v1/alertmanager (api_alerts.cpp) decodes the body with it and hands the
// notices to the core, which owns the alerts (healthcheck/alerts.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "healthcheck/alerts.h"

namespace gtm::web {

// gtmd.yaml `alertmanager:`.
struct AlertmanagerSettings {
    std::string pool_label = "gtm_pool";      // an alert with it marks that pool's members
    std::string member_label = "gtm_member";  // ... that member (an address), in every pool
    // A firing alert that is never resolved stops counting at its endsAt (or, when
    // Alertmanager sends none, as for firing alerts, the time it was received) plus this: a dead
    // Alertmanager cannot hold a region out forever. Keep it above the route's repeat_interval.
    uint32_t grace_ms = 10 * 60 * 1000;
};

struct DecodedAlerts {
    std::vector<health::AlertNotice> notices;  // alerts that name a pool or a member
    size_t ignored = 0;                        // alerts without either label
};

// Decodes a webhook body. `now_unix_ms` and `now_mono_ms` are the same instant on both clocks:
// endsAt (wall clock) becomes an expiry on the monotonic clock. Throws store::DocumentError
// naming the path at fault ("alerts[2].status"); nothing is decoded then.
DecodedAlerts decode_alertmanager(const nlohmann::json& body, const AlertmanagerSettings& settings,
                                  int64_t now_unix_ms, int64_t now_mono_ms);

// RFC 3339 ("2026-12-01T10:00:00.123Z", "...+02:00") to unix milliseconds; nullopt when
// malformed. Alertmanager's "no time" (0001-01-01T00:00:00Z) is a valid, very old time.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace gtm::web
