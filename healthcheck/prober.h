// The probe engine: checks every (monitor, address) target on its own thread, turns results
// into verdicts (hysteresis, hold-down, the isolation guard) and reports verdict changes.
//
// Owns one thread running an asio io_context: HTTP(S) probes on the libcurl multi interface
// driven by asio socket readiness, TCP probes as asio connects. Nothing here blocks: a slow or
// hanging target costs one timeout, never a thread. Other threads talk to it through
// configure(), status() and the listener it calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "healthcheck/health_state.h"
#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::health {

struct VerdictChange {
    std::string monitor;
    std::string address;
    std::vector<std::string> pools;  // the members (pool, address) this verdict is for
    Verdict from = Verdict::Unknown;
    Verdict to = Verdict::Unknown;
    ProbeResult evidence;  // the result that decided it
    int64_t at_ms = 0;
};

struct SuspectChange {
    std::string address;
    std::vector<std::string> pools;
    bool suspect = false;
};

struct TargetStatus {
    std::string monitor;
    std::string address;
    std::vector<std::string> pools;
    Verdict verdict = Verdict::Unknown;  // as published (the isolation guard may hold it)
    Verdict raw = Verdict::Unknown;      // as the hysteresis alone says
    int64_t last_change_ms = 0;
    std::deque<ProbeResult> recent;  // oldest first, at most kRecentResults
};

struct ProberOptions {
    uint32_t isolation_hold_ms = 60000;
    // Called on the prober thread with every batch of published verdict changes.
    std::function<void(std::vector<VerdictChange>)> on_change;
    // Called on the prober thread when the isolation guard engages (true) or lets go (false).
    std::function<void(bool)> on_isolation;
    // Called on the prober thread when targets become suspect (a failed probe the next ones
    // have not confirmed yet) or stop being so. Not a verdict: no event, no log.
    std::function<void(std::vector<SuspectChange>)> on_suspect;
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
    // target that stays keeps its verdict and history. Thread-safe; takes effect on the prober
    // thread.
    void configure(const store::DesiredState& state);

    // Verdicts saved before a restart: targets created by later configure() calls start from
    // them instead of unknown, so a restart does not flap. Call before configure().
    struct Restored {
        std::string monitor;
        std::string address;
        Verdict verdict;
    };
    void restore(std::vector<Restored> verdicts);

    // Blocks until every target has a first result, or `max_wait_ms`. Returns true when all did.
    bool wait_first_round(uint32_t max_wait_ms);

    // A copy of every target's state, taken on the prober thread; nullopt when the prober did
    // not answer within 5 s (overloaded).
    std::optional<std::vector<TargetStatus>> status();
    bool isolated() const { return isolated_.load(); }

    // Probes started since start(); for the benchmark and metrics.
    uint64_t probes_started() const { return probes_started_.load(); }

    struct Engine;

  private:
    std::unique_ptr<Engine> engine_;
    std::atomic<bool> isolated_{false};
    std::atomic<uint64_t> probes_started_{0};
};

}  // namespace gtm::health
