// The snapshot: the immutable, compiled table DNS workers answer from.
//
// Built by compile() on the control thread from a validated DesiredState and the verdict
// channel's TargetTable; published through SnapshotHolder; read concurrently by every DNS worker
// without locks. Everything a query needs is prepared here: lower-case wire names in one hash
// table, RR bodies (type, class, TTL, rdlength, rdata) ready to copy, and each balancer's eligible
// members with their effective weights.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "healthcheck/alerts.h"
#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::dns {

struct Node;
struct CompileInput;

// One RRset, owner not included: the writer puts a compression pointer in front of each body.
struct RRset {
    uint16_t type = 0;
    uint16_t count = 0;
    std::vector<uint8_t> bodies;  // `count` concatenated [type class ttl rdlength rdata]
    // In-zone nodes whose A/AAAA belong in the additional section (NS, MX, SRV targets).
    std::vector<const Node*> additional;
};

// One A or AAAA answer record without its owner: [type class ttl rdlength address].
struct Candidate {
    uint8_t body[10 + 16];
    uint8_t size;  // 14 or 26
    double weight;
    const char* pool;  // for explanations; points into the owning Balancer
    const char* address;
};

// Why a family's answer is what it is; the explain API and metrics read it.
enum class ServeMode : uint8_t {
    Normal,      // the first tier serves
    Degraded,    // a later tier serves
    FailOpen,    // every tier down: the first tier's members regardless of health
    Fallback,    // every tier down: the static fallback addresses
    FailClosed,  // every tier down: NODATA
    NoMembers,   // no member of this family at all: NODATA
};
const char* to_string(ServeMode m);

// Why a member is, or is not, in a family's answers. Written by the selection code together
// with the answer table, so that explain, metrics and the page show what is served.
enum class MemberStatus : uint8_t {
    Serving,         // in the answer table
    Avoided,         // suspect, while its tier has members above suspicion
    Backup,          // weight 0, while members with a weight are eligible
    PoolWeightZero,  // its pool has weight 0, while pools with a weight are up
    PoolDown,        // eligible, but its pool is below min_healthy
    TierIdle,        // eligible, but an earlier tier serves
    AdminDrain,      // admin drain: no new answers
    AdminDown,       // admin down: never served
    VerdictDown,     // its probes say down
    AlertDown,       // an alert from Alertmanager marks it failing
};
const char* to_string(MemberStatus s);

struct MemberDecision {
    const char* pool;     // points into the owning Balancer's strings
    const char* address;  // idem
    uint32_t priority;
    store::AdminState admin;
    health::Verdict verdict;
    bool suspect;
    bool held;          // the isolation guard keeps its verdict
    bool eligible;      // counts for min_healthy
    uint32_t weight;    // as configured
    double slow_start;  // factor applied to the weight, 0.1 to 1
    double share;       // of this family's answers; 0 when not served
    MemberStatus status;
    const char* alert;  // the firing alert that marks it failing (its alertname); null: none
    // The monitor whose verdict decided (health::Combined::decided_by); null: every monitor
    // agrees (combine all, member in), or no monitor.
    const char* decided_by;
};

struct PoolDecision {
    const char* pool;
    uint32_t priority;
    uint32_t weight;
    uint32_t min_healthy;
    uint32_t members;   // of this family
    uint32_t eligible;  // of them
    bool up;
    double share;  // of this family's answers
};

// The computed answer of a balancer for one address family.
struct AnswerTable {
    std::vector<Candidate> candidates;  // weight > 0, in configuration order
    double total_weight = 0;
    uint32_t ttl_s = 0;
    uint32_t negative_ttl_cap_s = 0xffffffffu;  // SOA TTL cap when answering NODATA
    ServeMode mode = ServeMode::NoMembers;
    uint32_t serving_priority = 0;
    // The explanation: every pool and member of the balancer that has members of this family,
    // in configuration order. Never read on the query path.
    std::vector<PoolDecision> pools;
    std::vector<MemberDecision> members;
};

struct Balancer {
    std::string name;
    uint32_t max_answers = 1;
    AnswerTable v4;
    AnswerTable v6;
    std::deque<std::string> strings;  // pool names and addresses the candidates point to

    // Addresses handed out, per worker slot and candidate (v4's, then v6's): each slot is
    // written by one DNS worker's query path, all are read at scrape time. Sized when compiled;
    // no slots when metrics are off.
    std::unique_ptr<std::atomic<uint64_t>[]> answered;
    uint32_t slots = 0;
    size_t stride = 0;  // counters per slot, padded to a cache line

    void count(uint32_t slot, bool v6, const uint16_t* picks, size_t n) const noexcept {
        if (slot >= slots) {
            return;
        }
        std::atomic<uint64_t>* base =
            answered.get() + slot * stride + (v6 ? v4.candidates.size() : 0);
        for (size_t i = 0; i < n; ++i) {
            std::atomic<uint64_t>& c = base[picks[i]];
            c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
    }
    // Every slot's count of one candidate.
    uint64_t answered_total(bool v6, size_t candidate) const {
        uint64_t sum = 0;
        const size_t at = (v6 ? v4.candidates.size() : 0) + candidate;
        for (uint32_t s = 0; s < slots; ++s) {
            sum += answered[s * stride + at].load(std::memory_order_relaxed);
        }
        return sum;
    }
};

struct Zone {
    std::string name;       // canonical text
    uint16_t wire_len = 0;  // of the apex name
    const Node* apex = nullptr;
    std::vector<uint8_t> soa_answer;    // SOA body with the SOA TTL
    std::vector<uint8_t> soa_negative;  // SOA body with min(SOA TTL, minimum): RFC 2308 §5
    uint32_t negative_ttl_s = 0;
};

struct Node {
    std::string wire;  // lower-case, uncompressed
    uint32_t hash = 0;
    const Zone* zone = nullptr;
    const Node* cut = nullptr;       // delegation at or above this node (below the apex)
    const Node* wildcard = nullptr;  // the node "*.<this name>", if any
    int32_t balancer = -1;           // index into Snapshot::balancer(); -1: none
    std::vector<RRset> rrsets;       // sorted by type

    const RRset* find(uint16_t type) const {
        for (const auto& r : rrsets) {
            if (r.type == type) {
                return &r;
            }
        }
        return nullptr;
    }
    bool is_cut() const { return cut == this; }
};

// Zones and names: rebuilt only when the desired state changes.
struct NameTable {
    struct Slot {
        uint32_t hash;
        uint32_t index;  // into nodes, +1; 0 is empty
    };
    std::deque<Zone> zones;
    std::deque<Node> nodes;
    std::vector<Slot> table;
    uint32_t mask = 0;
};

// One published state. A verdict change makes a new Snapshot that shares the NameTable and
// every Balancer it does not touch.
class Snapshot {
  public:
    // Finds a node by its lower-case wire name and that name's hash (name_hash()).
    const Node* find(const uint8_t* wire, size_t len, uint32_t hash) const noexcept;

    const Balancer* balancer(int32_t index) const noexcept { return balancers_[index].get(); }
    const std::vector<std::shared_ptr<const Balancer>>& balancers() const { return balancers_; }
    uint64_t generation() const { return generation_; }
    const std::deque<Zone>& zones() const { return names_->zones; }
    size_t node_count() const { return names_->nodes.size(); }

  private:
    friend class Compiler;
    friend std::shared_ptr<const Snapshot> recompile_balancers(const Snapshot&, const CompileInput&,
                                                               const std::vector<size_t>&);
    std::shared_ptr<const NameTable> names_;
    std::vector<std::shared_ptr<const Balancer>>
        balancers_;  // in the order of the state's balancers
    uint64_t generation_ = 0;
};

// The hash of a lower-case wire name, computed label by label from the root so that a query
// gets the hash of every suffix in one pass. `labels` holds the offset of each label.
uint32_t suffix_hashes(const uint8_t* wire, const uint8_t* label_offsets, size_t label_count,
                       uint32_t* hashes_out) noexcept;
uint32_t name_hash(const uint8_t* wire, size_t len) noexcept;

// When an admin state let a member back into the answers (drain or down -> auto or up), by
// (pool, address), on the monotonic clock: slow start ramps it like a member coming back up.
using AdminReturns = std::map<std::pair<std::string, std::string>, int64_t>;

struct CompileInput {
    const store::DesiredState* state = nullptr;
    const health::TargetTable* targets = nullptr;  // decisions by (monitor, address)
    const AdminReturns* admin_returns = nullptr;   // may be null
    const health::AlertTable* alerts = nullptr;    // firing alerts; may be null
    int64_t now_ms = 0;           // the clock of TargetState::returned_ms (monotonic)
    uint32_t default_serial = 0;  // SOA serial when the zone sets none
    uint64_t generation = 0;
    uint32_t worker_slots = 0;  // DNS workers counting answers per member; 0: none (metrics off)
};

// Compiles a validated state. Throws std::invalid_argument on what validate() cannot see.
std::shared_ptr<const Snapshot> compile(const CompileInput& in);

// A copy of `prev` with the balancers at `which` (indices into in.state->balancers, which must
// be the state `prev` was compiled from) computed again, e.g. after verdicts changed.
std::shared_ptr<const Snapshot> recompile_balancers(const Snapshot& prev, const CompileInput& in,
                                                    const std::vector<size_t>& which);

// Hands snapshots from the control thread to workers. Workers poll generation() (one atomic
// load per query) and call get() only when it moved.
class SnapshotHolder {
  public:
    void publish(std::shared_ptr<const Snapshot> s) {
        std::lock_guard lock(mu_);
        if (current_ && s) {
            // Balancers the new snapshot no longer holds keep their answer counts for the next
            // scrape (see take_retired()).
            std::set<const Balancer*> kept;
            for (const auto& b : s->balancers()) {
                kept.insert(b.get());
            }
            for (const auto& b : current_->balancers()) {
                if (b->slots > 0 && kept.count(b.get()) == 0) {
                    retired_.push_back(b);
                }
            }
        }
        current_ = std::move(s);
        generation_.fetch_add(1, std::memory_order_release);
    }
    // The balancers replaced since the last call, with their answer counts (workers may still
    // count into them until they move to the new snapshot).
    std::vector<std::shared_ptr<const Balancer>> take_retired() {
        std::lock_guard lock(mu_);
        return std::exchange(retired_, {});
    }
    uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    std::shared_ptr<const Snapshot> get() const {
        std::lock_guard lock(mu_);
        return current_;
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<const Snapshot> current_;
    std::vector<std::shared_ptr<const Balancer>> retired_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace gtm::dns
