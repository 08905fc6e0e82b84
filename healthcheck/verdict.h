// The verdict channel: what the probe engine decided about each target, a target being what is
// probed — a (monitor, address) pair. The only header of healthcheck/ that dnsd/ and the
// control-plane core include (DESIGN.md: answer-picking and health-checking meet in one small
// table and never call each other).
//
// The prober's judge (judge.h) is the one owner of these decisions: it publishes a TargetState
// whenever one changes. The core keeps the latest of each in a TargetTable on the control
// thread, maps it to every pool that holds the address under that monitor, and compiles
// snapshots from it. DNS workers never see it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gtm::health {

enum class Verdict : uint8_t { Unknown, Up, Down };

inline const char* to_string(Verdict v) {
    switch (v) {
        case Verdict::Unknown:
            return "unknown";
        case Verdict::Up:
            return "up";
        case Verdict::Down:
            return "down";
    }
    return "?";
}

enum class Reason : uint8_t {
    Ok,
    ConnectRefused,  // RST to the SYN
    ConnectTimeout,  // no answer to the SYN within the timeout
    ConnectError,    // unreachable, no route, ...
    Timeout,         // connected, but the answer did not complete in time (hang, drip)
    Tls,             // handshake or certificate verification failed
    Status,          // HTTP status outside expect_status
    Body,            // expect_body not in the first 64 KiB
    Reset,           // connection reset or closed mid-exchange
    Protocol,        // not HTTP, malformed answer
    Internal,        // the prober could not run the probe
    Threshold,       // promql: the value meets fail_if
    NoData,          // promql: no series for the member (no_data: down)
    QueryError,      // promql: the query failed (counted per monitor; no verdict moves)
};
inline const char* to_string(Reason r) {
    switch (r) {
        case Reason::Ok:
            return "ok";
        case Reason::ConnectRefused:
            return "connect_refused";
        case Reason::ConnectTimeout:
            return "connect_timeout";
        case Reason::ConnectError:
            return "connect_error";
        case Reason::Timeout:
            return "timeout";
        case Reason::Tls:
            return "tls";
        case Reason::Status:
            return "status";
        case Reason::Body:
            return "body";
        case Reason::Reset:
            return "reset";
        case Reason::Protocol:
            return "protocol";
        case Reason::Internal:
            return "internal";
        case Reason::Threshold:
            return "threshold";
        case Reason::NoData:
            return "no_data";
        case Reason::QueryError:
            return "query_error";
    }
    return "?";
}

// One probe of one target.
struct ProbeResult {
    int64_t started_ms = 0;  // monotonic clock
    uint32_t latency_ms = 0;
    Reason reason = Reason::Ok;
    int http_status = 0;  // 0 when there was no HTTP answer
    std::string detail;   // the error text, for operators
    bool ok() const { return reason == Reason::Ok; }
};

// The published decision about one target. Everything that decides answers is here, decided
// before it is published (hysteresis, suspicion, hold-down, the isolation guard).
struct TargetState {
    Verdict verdict = Verdict::Unknown;  // unknown until the first result: served
    // Out of the answers although not down: a failed probe not confirmed by `fall` yet, or a
    // member back up that the hold-down still keeps out. Avoided while its tier has members
    // that are not suspect.
    bool suspect = false;
    // The isolation guard keeps this state although the probes disagree (our own network is
    // suspected).
    bool held = false;
    // When it last came back into the answers (monotonic clock): drives slow start. 0: long
    // ago, or never out.
    int64_t returned_ms = 0;
    ProbeResult evidence;  // the result behind the latest change

    // In the answers as far as health goes (admin state aside).
    bool present() const { return verdict != Verdict::Down && !suspect; }
    bool same_decision(const TargetState& o) const {
        return verdict == o.verdict && suspect == o.suspect && held == o.held &&
               returned_ms == o.returned_ms;
    }
};

// Where a new target starts. The core decides it (one owner); the prober takes it.
struct Seed {
    Verdict verdict = Verdict::Unknown;
    // true: the verdict stands only until the first probe result, which then decides as for a
    // target never probed (a verdict carried over from another monitor, or remembered from
    // before the target was last removed). false: restored at start; the hysteresis and the
    // isolation guard apply to it as to any verdict.
    bool provisional = true;
};

// monitor name + '\0' + address: how targets are keyed everywhere.
inline std::string target_key(std::string_view monitor, std::string_view address) {
    std::string k(monitor);
    k.push_back('\0');
    k.append(address);
    return k;
}

// One published decision about a target: what travels on the channel, prober -> core.
struct TargetUpdate {
    std::string key;  // target_key(monitor, address)
    std::string monitor;
    std::string address;
    std::vector<std::string> pools;   // the pools that hold it, for events and logs
    TargetState state;                // as published now
    Verdict from = Verdict::Unknown;  // the verdict published before
};

// The latest TargetState of every target, keyed by (monitor, address). A value; owned by the
// control thread.
class TargetTable {
  public:
    // Targets never decided are unknown, which is served.
    const TargetState& get(std::string_view monitor, std::string_view address) const {
        static const TargetState kUnknown;
        auto it = map_.find(target_key(monitor, address));
        return it == map_.end() ? kUnknown : it->second;
    }
    const TargetState* find(const std::string& key) const {
        auto it = map_.find(key);
        return it == map_.end() ? nullptr : &it->second;
    }
    void set(const std::string& key, TargetState s) { map_[key] = std::move(s); }
    void erase(const std::string& key) { map_.erase(key); }
    size_t size() const { return map_.size(); }
    const std::unordered_map<std::string, TargetState>& all() const { return map_; }

  private:
    std::unordered_map<std::string, TargetState> map_;
};

}  // namespace gtm::health
