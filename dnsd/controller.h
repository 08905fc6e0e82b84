// The control side of the DNS path: owns the desired state and the verdict table, compiles
// snapshots and publishes them. A verdict change recompiles only the balancers whose pools it
// touches; members in slow start are recompiled every second until they reach full weight.
//
// Runs on the control thread (the main io_context); DNS workers only read what it publishes.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dnsd/snapshot.h"
#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::dns {

struct MemberVerdict {
    std::string pool;
    std::string address;
    health::Verdict verdict = health::Verdict::Unknown;
};

struct MemberSuspicion {
    std::string pool;
    std::string address;
    bool suspect = false;
};

class Controller {
  public:
    explicit Controller(SnapshotHolder& holder) : holder_(holder) {}

    // Replaces the desired state (already validated) and publishes a full compile. Verdicts of
    // members that stay are kept.
    void set_state(store::DesiredState state, int64_t now_ms);

    // Applies verdicts; recompiles and publishes the balancers they touch. Returns how many
    // balancers were recompiled.
    size_t apply_verdicts(const std::vector<MemberVerdict>& changes, int64_t now_ms);

    // Marks members suspect or not (see health::MemberHealth::suspect); recompiles what it
    // touches. Returns how many balancers were recompiled.
    size_t apply_suspects(const std::vector<MemberSuspicion>& changes, int64_t now_ms);

    // Recompiles balancers with members in slow start. Call it every second.
    size_t tick(int64_t now_ms);

    const store::DesiredState& state() const { return state_; }
    const health::VerdictTable& verdicts() const { return verdicts_; }
    uint64_t generation() const { return generation_; }

  private:
    // Adds the balancers that use `pool` to `touched`.
    void touch(const std::string& pool, std::set<size_t>& touched) const;
    // Recompiles and publishes the touched balancers; returns how many.
    size_t publish_touched(const std::set<size_t>& touched, int64_t now_ms);
    CompileInput input(int64_t now_ms);

    SnapshotHolder& holder_;
    store::DesiredState state_;
    health::VerdictTable verdicts_;
    std::shared_ptr<const Snapshot> current_;
    std::map<std::string, std::vector<size_t>> balancers_of_pool_;
    std::map<std::string, uint32_t> slow_start_of_pool_;
    // Members ramping up: (pool, address) -> when the ramp ends.
    std::map<std::pair<std::string, std::string>, int64_t> ramping_;
    uint64_t generation_ = 0;
    uint32_t serial_ = 0;
};

}  // namespace gtm::dns
