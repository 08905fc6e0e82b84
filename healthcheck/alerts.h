// Alertmanager as a health input (issue 15): alerts that name a pool and/or a member mark those
// members failing while they fire.
//
// The core owns the table (core/controller.h: one AlertTable beside the TargetTable, on the
// control thread, under the core's lock); the snapshot compiler reads it through CompileInput,
// and selection (dnsd/selection.cpp) is the one place that turns a firing alert into "not
// eligible". The REST API (POST /api/v1/alertmanager) decodes Alertmanager's webhook payload
// into AlertNotices and hands them to the core. Not stored: each node keeps the alerts posted to
// it (healthcheck/README.md, "Alertmanager").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gtm::health {

// One alert of a notification, decoded.
struct AlertNotice {
    std::string fingerprint;  // Alertmanager's identity of the alert (its label set)
    std::string name;         // labels.alertname
    std::string pool;         // the pool label's value; empty: every pool holding `member`
    std::string member;       // the member label's value (canonical address); empty: all of `pool`
    bool firing = true;       // false: resolved
    int64_t expires_ms = 0;   // monotonic clock: endsAt (or receipt) + grace
};

struct ActiveAlert {
    std::string fingerprint;
    std::string name;
    std::string pool;
    std::string member;
    int64_t expires_ms = 0;
    bool matches(std::string_view pool_name, std::string_view address) const {
        return (pool.empty() || pool == pool_name) && (member.empty() || member == address);
    }
};

enum class AlertChange : uint8_t { Firing, Resolved, Expired };
const char* to_string(AlertChange c);

struct AlertEvent {
    AlertChange change;
    ActiveAlert alert;
};

// The alerts firing now, by fingerprint. A value; the control thread's.
class AlertTable {
  public:
    // Applies a notification. A firing alert already known only moves its expiry (no event); a
    // resolved one that is known is removed; one unknown is ignored. Notices that expire at or
    // before `now_ms` count as resolved.
    std::vector<AlertEvent> apply(const std::vector<AlertNotice>& notices, int64_t now_ms);
    // Removes the alerts whose expiry has passed.
    std::vector<AlertEvent> expire(int64_t now_ms);
    // The alert that marks `address` of `pool` failing (the first by name, then fingerprint);
    // nullptr when none does.
    const ActiveAlert* firing(std::string_view pool, std::string_view address) const;
    const std::map<std::string, ActiveAlert>& all() const { return alerts_; }
    bool empty() const { return alerts_.empty(); }

  private:
    std::map<std::string, ActiveAlert> alerts_;  // by fingerprint
};

}  // namespace gtm::health
