// The probe engine: checks every (monitor, address) target on its own thread and publishes the
// judge's decisions about them (verdict, suspicion, evidence) on the verdict channel.
//
// Owns one thread running an asio io_context: HTTP(S) probes on the libcurl multi interface
// driven by asio socket readiness (curl_multi.h, http_probe.h), TCP probes as asio connects
// (tcp_probe.h), the schedule (schedule.h) and the judge (judge.h). Nothing here blocks: a slow or
// hanging target costs one timeout, never a thread. Other threads talk to it through
// configure() and status(); decisions leave it through the on_update callback.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::health {

struct TargetStatus {
    std::string monitor;
    std::string address;
    std::vector<std::string> pools;
    TargetState state;               // as published (the guard may hold it)
    Verdict raw = Verdict::Unknown;  // as the hysteresis alone says
    bool pending = false;            // bad news waiting for the isolation guard
    int64_t last_change_ms = 0;      // of the raw verdict, monotonic
    std::deque<ProbeResult> recent;  // oldest first, at most kRecentResults
};

// What the prober counted since it started, for /metrics.
inline constexpr size_t kReasons = 14;  // Reason::Ok .. Reason::QueryError
inline constexpr std::array<double, 12> kProbeBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,  0.5,   1.0,  2.5,   5.0,  10.0};
struct MonitorProbeStats {
    std::array<uint64_t, kReasons> results{};                  // by Reason
    std::array<uint64_t, kProbeBuckets.size() + 1> buckets{};  // by duration; last: +Inf
    uint64_t count = 0;
    double sum_s = 0;
};
// A promql monitor's queries (one per interval for all its members).
struct PromqlStats {
    uint64_t queries = 0;
    uint64_t errors = 0;  // failed queries: no verdict moved
    int64_t last_success_unix_ms =
        0;  // before the first answer: when the first failed query started
};
struct ProbeStats {
    std::map<std::string, MonitorProbeStats> monitors;  // monitors seen since start
    std::map<std::string, PromqlStats> promql;          // promql monitors seen since start
    int64_t last_probe_unix_ms = 0;                     // 0: none yet
    size_t targets = 0;
    size_t in_flight = 0;        // probes started and not yet finished
    size_t waiting = 0;          // due probes waiting for a slot under max_in_flight
    uint64_t deferred = 0;       // probes that had to wait for a slot, since start
    uint32_t max_in_flight = 0;  // the limit in force
};

inline constexpr uint32_t kDefaultMaxProbesInFlight = 4096;

struct ProberOptions {
    uint32_t isolation_hold_ms = 60000;
    // The source address of probes (this node's vantage), per family; empty: the kernel's choice.
    std::string source_v4;
    std::string source_v6;
    // Called on the prober thread with every batch of published decisions.
    std::function<void(std::vector<TargetUpdate>)> on_update;
    // Called on the prober thread when the isolation guard engages (true) or lets go (false).
    std::function<void(bool)> on_isolation;
    uint64_t seed = 0;  // 0: from std::random_device
    // Probes (http and tcp; a socket each) in flight at once, at most. A due probe over the
    // limit waits, first come first served, for one to finish: it starts late, never fails for
    // it, and is counted (ProbeStats::deferred). promql queries (one per monitor) do not count.
    uint32_t max_in_flight = kDefaultMaxProbesInFlight;
};

class Prober {
  public:
    explicit Prober(ProberOptions options);
    ~Prober();
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    // Starts the thread. Call configure() first so that the first round starts at once.
    void start();
    void stop();

    // Replaces the targets with those of `state` (members of pools that have a monitor). A
    // target that stays keeps its decisions and history. A target created now starts from its
    // seed in `seeds` (by target_key; a verdict restored or carried over, decided by the core),
    // else unknown. Thread-safe; takes effect on the prober thread.
    void configure(const store::DesiredState& state,
                   std::unordered_map<std::string, Seed> seeds = {});

    // Blocks until every target has a first result, or `max_wait_ms`. Returns true when all did.
    bool wait_first_round(uint32_t max_wait_ms);

    // A copy of every target's state, taken on the prober thread; nullopt when the prober did
    // not answer within 5 s (overloaded).
    std::optional<std::vector<TargetStatus>> status();
    bool isolated() const { return isolated_.load(); }

    // Probes started since start(); for the benchmark and metrics.
    uint64_t probes_started() const { return probes_started_.load(); }
    ProbeStats probe_stats() const;

    struct Engine;

  private:
    std::unique_ptr<Engine> engine_;
    std::atomic<bool> isolated_{false};
    std::atomic<uint64_t> probes_started_{0};
};

}  // namespace gtm::health
