// Turns the desired state and the verdict channel into published snapshots.
//
// Owns the TargetTable (the latest decision about every (monitor, address) target), the admin
// returns that drive slow start after an undrain, and the snapshot it last published. A state
// is compiled before it is committed (prepare), so that a state that cannot be compiled is never
// saved; a decision recompiles only the balancers whose pools hold that target; members ramping
// through slow start are recompiled every second until they reach full weight.
//
// Used on the control thread only; DNS workers read what it publishes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnsd/snapshot.h"
#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::core {

// One decision of the verdict channel.
struct Decision {
    std::string key;  // health::target_key(monitor, address)
    health::TargetState state;
};

class Controller {
  public:
    // `worker_slots`: DNS workers that count answers per member into each balancer (0: none).
    explicit Controller(dns::SnapshotHolder& holder, uint32_t worker_slots = 0)
        : holder_(holder), worker_slots_(worker_slots) {}

    // A state compiled and ready to publish.
    struct Prepared {
        store::DesiredState state;
        std::shared_ptr<const dns::Snapshot> snapshot;
        dns::AdminReturns admin_returns;
        std::unordered_map<std::string, health::Seed> seeds;  // for targets new to the prober
        std::vector<Decision> seeded;                         // the same, for the table
        uint64_t decisions_seen = 0;                          // apply() calls before the compile
    };

    // Compiles `next` against the current decisions. Targets that `next` probes and the current
    // state does not start from a seed: the last decision remembered for that (monitor,
    // address), else the decision about the same address under another monitor (a pool's
    // monitor swapped: down wins), else unknown; a seed stands until the first probe result.
    // Restored verdicts (restore()) seed the first state for good, not provisionally. Throws
    // what compile() throws; nothing changes then.
    Prepared prepare(store::DesiredState next, int64_t now_ms) const;

    // Publishes a prepared state; recomputes its balancers first when decisions arrived since
    // it was prepared (which cannot fail: the state compiled).
    void commit(Prepared p, int64_t now_ms);

    // The verdicts saved before a restart: they seed the first prepared state.
    void restore(const std::vector<Decision>& restored);

    // Applies decisions; recompiles and publishes the balancers they touch. Returns how many
    // balancers were recompiled.
    size_t apply(const std::vector<Decision>& decisions, int64_t now_ms);

    // Recompiles balancers with members in slow start, and those of alerts that expired. Call
    // it every second; returns the alerts that expired.
    size_t tick(int64_t now_ms, std::vector<health::AlertEvent>* expired = nullptr);

    // Alertmanager's word (healthcheck/alerts.h): applies a notification, recompiles and
    // publishes the balancers whose members it marks or clears. Returns what changed.
    std::vector<health::AlertEvent> apply_alerts(const std::vector<health::AlertNotice>& notices,
                                                 int64_t now_ms);
    const health::AlertTable& alerts() const { return alerts_; }

    const store::DesiredState& state() const { return state_; }
    const std::set<std::string>& live_targets() const { return live_; }
    const health::TargetTable& targets() const { return targets_; }
    std::shared_ptr<const dns::Snapshot> snapshot() const { return current_; }
    uint64_t generation() const { return generation_; }

  private:
    dns::CompileInput input(const store::DesiredState& state, const health::TargetTable& targets,
                            const dns::AdminReturns& admin, int64_t now_ms,
                            uint64_t generation) const;
    void touch_target(const std::string& key, std::set<size_t>& touched) const;
    void touch_pool(const std::string& pool, std::set<size_t>& touched) const;
    void touch_alert(const health::ActiveAlert& a, std::set<size_t>& touched) const;
    size_t publish_touched(const std::set<size_t>& touched, int64_t now_ms);
    void ramp(const std::string& key, int64_t returned_ms);

    dns::SnapshotHolder& holder_;
    uint32_t worker_slots_;
    store::DesiredState state_;
    health::TargetTable targets_;     // every target seen in this process, live or remembered
    health::AlertTable alerts_;       // firing alerts from Alertmanager
    std::set<std::string> live_;      // the targets of state_
    std::set<std::string> restored_;  // keys of targets_ restored from the store, not yet live
    dns::AdminReturns admin_returns_;
    std::shared_ptr<const dns::Snapshot> current_;
    std::map<std::string, std::vector<size_t>> balancers_of_pool_;
    std::map<std::string, std::vector<std::string>> pools_of_target_;  // key -> pools
    std::map<std::string, uint32_t> slow_start_of_pool_;
    std::map<std::string, int64_t> ramping_pools_;  // pool -> when its last ramp ends
    uint64_t generation_ = 0;
    uint32_t serial_ = 0;
    uint64_t decisions_applied_ = 0;
};

}  // namespace gtm::core
