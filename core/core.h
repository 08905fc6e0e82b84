// The control-plane core: the one path every change takes, and the verdict channel.
//
// A change (REST API, --apply, SIGHUP, gtmctl through the API) is an edit of the current desired
// state: validated whole, diffed, compiled into a snapshot, saved with its audit entry in one
// store transaction, then published, before change() returns (read your writes). The compile
// comes before the save: a state that cannot be served is never stored, and a save that fails
// publishes nothing. Changes are serialized; each runs on its caller's thread.
//
// The verdict channel: the prober's decisions, keyed by (monitor, address), arrive through
// on_decisions() and are applied on the core's control thread, which recompiles what they touch,
// records verdict changes as events, and ticks slow start. A watcher thread follows the store:
// a revision written by someone else is loaded and served.
//
// Threads: change(), current(), explain() from any thread; the control thread applies decisions;
// the store is used by the caller of change() and by the watcher, never by the control thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/controller.h"
#include "dnsd/snapshot.h"
#include "healthcheck/verdict.h"
#include "store/cluster.h"
#include "store/model.h"
#include "store/store.h"
#include "store/validate.h"

namespace gtm::core {

// Who changes what, for the audit log.
struct Actor {
    std::string token;     // the token's name, or what applied a file ("--apply desired.yaml")
    std::string source;    // client address, or "local"
    std::string action;    // "PUT /api/v1/pools/eu"
    std::string object;    // "pools/eu"
    std::string document;  // names the input in errors: "request body", a file path
    int status = 200;      // the status the API answers with when the change succeeds
};

// A change refused for a reason of the core's own (DocumentError and StoreError aside).
class ChangeError : public std::runtime_error {
  public:
    enum class Kind {
        Stale,        // If-Match names another revision
        Unavailable,  // shutting down
        Unservable,   // the state cannot be compiled
        Empty,        // a document that would delete every zone, without `prune`
    };
    ChangeError(Kind kind, const std::string& what, uint64_t revision = 0)
        : std::runtime_error(what), kind_(kind), revision_(revision) {}
    Kind kind() const { return kind_; }
    uint64_t revision() const { return revision_; }  // the current one, for Stale

  private:
    Kind kind_;
    uint64_t revision_;
};

struct ChangeResult {
    nlohmann::json changes;  // core::diff() of the change
    // What the change does to the answers: every balancer family whose answer set or mode
    // changes, before and after, with a warning when it leaves the balancer with no healthy
    // member (see effects()).
    nlohmann::json effects;
    nlohmann::json result;  // what the edit returned
    // What validate() accepted but an operator probably did not mean (store/README.md lists
    // them): stored and served as written; show them with the result.
    std::vector<store::Warning> warnings;
    uint64_t revision = 0;  // of the state now served (unchanged by a dry run)
    bool dry_run = false;
};

// The desired state being served, with its revision (the ETag of /config).
struct Current {
    store::DesiredState state;
    uint64_t revision = 0;
};

// A balancer's answer for one family and why: read from the snapshot being served (the selection
// code wrote it with the answer table) and the verdict channel's evidence.
struct Explanation {
    std::shared_ptr<const dns::Snapshot> snapshot;  // keeps balancer and table alive
    const dns::Balancer* balancer = nullptr;
    const dns::AnswerTable* table = nullptr;
    store::Balancer config;
    // Each monitor's decision about each member, by (pool, address), in the pool's order; the
    // selection code's MemberDecision says which one decided.
    struct MonitorDecision {
        std::string monitor;
        health::TargetState state;
        std::vector<store::Vote> vantages;  // cluster mode: every vantage's vote behind it
    };
    std::map<std::pair<std::string, std::string>, std::vector<MonitorDecision>> decisions;
    std::map<std::string, store::Combine> combine_of_pool;
};

// A member as the verdict channel and the desired state see it now (for metrics and the page).
struct MemberView {
    std::string pool;
    std::string address;
    // Each monitor of the pool with its decision about the member (empty: not probed).
    std::vector<std::pair<std::string, health::TargetState>> monitors;
    store::AdminState admin = store::AdminState::Auto;
    health::TargetState state;  // the monitors combined (healthcheck/combine.h)
    std::string alert;          // the firing alert that marks it failing; empty: none
};

// What the core counted, for /metrics.
struct CoreStats {
    // Verdict changes by (pool, member) since start: flapping shows here.
    std::map<std::pair<std::string, std::string>, uint64_t> verdict_changes;
    int64_t last_change_unix_ms = 0;  // when the served desired state last changed
    uint64_t generation = 0;
    bool cluster = false;   // votes decide
    bool link_up = true;    // cluster mode: the watch on the shared store is connected
    bool fallback = false;  // cluster mode, link lost for long: judging alone
    std::string node;       // cluster mode: this node's name
    std::vector<std::string> live_nodes;  // cluster mode: the nodes whose lease is alive
};

struct CoreOptions {
    // Hands the state to the prober with seeds for the targets new to it (Prober::configure).
    std::function<void(const store::DesiredState&, std::unordered_map<std::string, health::Seed>)>
        configure_prober;
    // Records health events (the event writer).
    std::function<void(std::vector<store::HealthEvent>)> record_events;
    uint32_t watch_interval_ms = 1000;  // how often the store's revision is checked
    uint32_t worker_slots = 0;          // DNS workers that count answers per member (metrics)
    // Test hook (GTMD_TEST_FAIL_COMPILE): compiling a state with a balancer of this name fails.
    std::string fail_compile_of;
    // Cluster mode: the nodes' votes (null: one node, its own decisions are served). The
    // decision served is the quorum of the live vantages' votes (core/quorum.h); with the board's
    // link down for `fallback_after_ms`, the node serves its own decisions until it is back.
    store::ClusterBoard* board = nullptr;
    uint32_t quorum = 0;  // 0: a majority of the vantages with a verdict
    uint32_t fallback_after_ms = 30000;
};

class Core {
  public:
    Core(store::Store& store, dns::SnapshotHolder& holder, CoreOptions options);
    ~Core();
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    // Loads the stored state and the last verdicts, compiles and publishes them, configures the
    // prober. Call once, before start(). Throws DocumentError (a stored state that no longer
    // validates) or StoreError.
    void load(int64_t now_ms);
    // Starts the control and watcher threads.
    void start();
    // Stops them after the work queued; later changes get ChangeError Unavailable.
    void stop();

    // An edit of the current state; returns what it wants in the result. It may throw (e.g. the
    // API's 404 and 409): nothing is applied then.
    using Edit = std::function<nlohmann::json(store::DesiredState&)>;
    // The one path of every change. `if_match`: the revision the caller read (stale: ChangeError
    // Stale). Throws DocumentError (invalid), StoreError, ChangeError; applies nothing then.
    ChangeResult change(const Actor& who, const Edit& edit, bool dry_run = false,
                        std::optional<uint64_t> if_match = std::nullopt);
    struct ApplyOptions {
        bool dry_run = false;
        std::optional<uint64_t> if_match;
        // A document without any zone may replace a state that has zones (deletes everything).
        bool prune = false;
        // The document as read: a member it lists without "admin" keeps its current admin state
        // (admin states are the operators' runtime state, not configuration). Null: the
        // document's admin states are taken as they are.
        const nlohmann::json* source = nullptr;
    };
    // Replaces the whole state with a document (PUT /config, --apply, SIGHUP): change() with an
    // edit that replaces everything but the admin states the document leaves unsaid. An empty
    // document (no zone) replacing zones is ChangeError Empty unless `prune`.
    ChangeResult apply(store::DesiredState document, const Actor& who, const ApplyOptions& options);

    // The verdict channel: decisions from the prober, from its thread.
    void on_decisions(std::vector<health::TargetUpdate> updates);
    // Returns once the decisions handed to on_decisions() before the call are applied (or after
    // `max_wait_ms`).
    void sync(uint32_t max_wait_ms);
    // The isolation guard engaged (true) or let go: an event.
    void on_isolation(bool isolated);
    // Alertmanager's word (POST /api/v1/alertmanager): applied and served before it returns
    // (read your writes); each alert that starts or stops marking members is an event.
    std::vector<health::AlertEvent> on_alerts(const std::vector<health::AlertNotice>& notices);
    // The alerts firing now, and the members each marks failing ("pool/address").
    std::vector<std::pair<health::ActiveAlert, std::vector<std::string>>> alerts() const;
    // Cluster mode: waits until every decision of this node is among the votes it follows.
    bool wait_votes_settled(uint32_t max_wait_ms);
    // Every live vantage's vote about a target (cluster mode; empty otherwise).
    std::vector<store::Vote> votes_of(const std::string& target) const;

    std::shared_ptr<const Current> current() const;
    // nullopt: `name` is not a balancer.
    std::optional<Explanation> explain(const std::string& name, bool v6) const;
    uint64_t generation() const;
    store::Store& store() { return store_; }
    // Every member of every pool with its decision; the snapshot being served.
    std::vector<MemberView> members() const;
    std::shared_ptr<const dns::Snapshot> snapshot() const;
    CoreStats stats() const;

  private:
    // `base`: the state to edit (the store's, read after a lost race); null: the one served.
    ChangeResult change_once(const Actor& who, const Edit& edit, bool dry_run,
                             std::optional<uint64_t> if_match,
                             std::shared_ptr<const Current> base = nullptr);
    // Loads, validates, compiles and serves the stored state (written by someone else).
    void reload_from_store();
    static void check_stored(store::DesiredState& state);
    void apply_decisions(const std::vector<health::TargetUpdate>& updates);
    // Cluster mode, on the control thread under ctl_mu_: the decision the votes make.
    void serve_votes(const std::string& target, int64_t now_ms, std::vector<Decision>& out);
    void link_changed(bool up);
    void withdraw_removed(const std::set<std::string>& before);
    // After every publication, under ctl_mu_: tier and all-down changes become events.
    void note_modes();
    // Alert changes as events, with the members each one covers (under ctl_mu_).
    void note_alerts(const std::vector<health::AlertEvent>& changes);
    store::Event event(const char* type, nlohmann::json data) const;
    void record(std::vector<store::Event> events);
    void tick();
    void watch();
    void set_current(store::DesiredState state, uint64_t revision);
    void configure_prober(const Controller::Prepared& p);

    store::Store& store_;
    dns::SnapshotHolder& holder_;
    CoreOptions options_;

    mutable std::mutex ctl_mu_;  // guards controller_
    Controller controller_;
    std::mutex change_mu_;  // one change at a time
    mutable std::mutex current_mu_;
    std::shared_ptr<const Current> current_;
    mutable std::mutex stats_mu_;
    CoreStats stats_;

    // Cluster mode, guarded by ctl_mu_: this node's own decisions, the votes of every vantage,
    // the link's state.
    std::map<std::string, health::TargetState> local_;
    std::map<std::string, std::vector<store::Vote>> votes_;
    int64_t link_down_since_ms_ = 0;  // 0: up
    bool fallback_ = false;
    // Each balancer family's mode and serving tier as last published (guarded by ctl_mu_).
    std::map<std::pair<std::string, bool>, std::pair<dns::ServeMode, uint32_t>> modes_;
    bool modes_known_ = false;
    std::atomic<bool> stopping_{false};

    struct Loop;  // the control thread's io_context and timers (asio stays in core.cpp)
    std::unique_ptr<Loop> loop_;
    struct Alive {  // the store's callbacks reach the core through this while it runs
        explicit Alive(Core* c) : core(c) {}
        std::mutex mu;
        Core* core;
    };
    std::shared_ptr<Alive> alive_;
    std::thread control_;
    std::thread watcher_;
    std::mutex watch_mu_;
    std::condition_variable watch_cv_;
    bool change_hint_ = false;  // the store says its revision may have moved
};

}  // namespace gtm::core
