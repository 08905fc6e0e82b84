// The snapshot: the immutable, compiled table DNS workers answer from.
//
// Built by compile() on the control thread from a validated DesiredState and a VerdictTable;
// published through SnapshotHolder; read concurrently by every DNS worker without locks.
// Everything a query needs is prepared here: lower-case wire names in one hash table, RR bodies
// (type, class, TTL, rdlength, rdata) ready to copy, and each balancer's eligible members with
// their effective weights.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::dns {

struct Node;

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

// The computed answer of a balancer for one address family.
struct AnswerTable {
    std::vector<Candidate> candidates;  // weight > 0, in configuration order
    double total_weight = 0;
    uint32_t ttl_s = 0;
    uint32_t negative_ttl_cap_s = 0xffffffffu;  // SOA TTL cap when answering NODATA
    ServeMode mode = ServeMode::NoMembers;
    uint32_t serving_priority = 0;
};

struct Balancer {
    std::string name;
    uint32_t max_answers = 1;
    AnswerTable v4;
    AnswerTable v6;
    std::deque<std::string> strings;  // pool names and addresses the candidates point to
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
    const Balancer* balancer = nullptr;
    std::vector<RRset> rrsets;  // sorted by type

    const RRset* find(uint16_t type) const {
        for (const auto& r : rrsets) {
            if (r.type == type) return &r;
        }
        return nullptr;
    }
    bool is_cut() const { return cut == this; }
};

class Snapshot {
  public:
    // Finds a node by its lower-case wire name and that name's hash (name_hash()).
    const Node* find(const uint8_t* wire, size_t len, uint32_t hash) const noexcept;

    uint64_t generation() const { return generation_; }
    const std::deque<Zone>& zones() const { return zones_; }
    const std::deque<Balancer>& balancers() const { return balancers_; }
    size_t node_count() const { return nodes_.size(); }

  private:
    friend class Compiler;
    struct Slot {
        uint32_t hash;
        uint32_t index;  // into nodes_, +1; 0 is empty
    };
    std::deque<Zone> zones_;
    std::deque<Node> nodes_;
    std::deque<Balancer> balancers_;
    std::vector<Slot> table_;
    uint32_t mask_ = 0;
    uint64_t generation_ = 0;
};

// The hash of a lower-case wire name, computed label by label from the root so that a query
// gets the hash of every suffix in one pass. `labels` holds the offset of each label.
uint32_t suffix_hashes(const uint8_t* wire, const uint8_t* label_offsets, size_t label_count,
                       uint32_t* hashes_out) noexcept;
uint32_t name_hash(const uint8_t* wire, size_t len) noexcept;

struct CompileInput {
    const store::DesiredState* state = nullptr;
    const health::VerdictTable* verdicts = nullptr;
    int64_t now_ms = 0;           // the clock of MemberHealth::eligible_since_ms
    uint32_t default_serial = 0;  // SOA serial when the zone sets none
    uint64_t generation = 0;
};

// Compiles a validated state. Throws std::invalid_argument on what validate() cannot see.
std::shared_ptr<const Snapshot> compile(const CompileInput& in);

// Hands snapshots from the control thread to workers. Workers poll generation() (one atomic
// load per query) and call get() only when it moved.
class SnapshotHolder {
  public:
    void publish(std::shared_ptr<const Snapshot> s) {
        std::lock_guard lock(mu_);
        current_ = std::move(s);
        generation_.fetch_add(1, std::memory_order_release);
    }
    uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    std::shared_ptr<const Snapshot> get() const {
        std::lock_guard lock(mu_);
        return current_;
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<const Snapshot> current_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace gtm::dns
