// The store interface: where the desired state, API tokens (hashed), the audit log, health events
// and the last verdicts are kept. The control-plane core is its one writer of the state; the
// event writer appends events; the API reads audit, events and tokens.
//
// One implementation per backend: SqliteStore (sqlite_store.h, the embedded default). A second
// backend (etcd, cluster mode) is a new implementation of this interface and a config key. Every
// method is thread-safe and throws StoreError; nothing partial is ever written. The DNS path
// never touches a store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/model.h"

namespace gtm::store {

class StoreError : public std::runtime_error {
  public:
    // Conflict: the state changed since the revision the writer read (someone else wrote).
    enum class Kind { Busy, Full, ReadOnly, Corrupt, Constraint, Conflict, Other };
    StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

struct AuditEntry {
    int64_t id = 0;
    int64_t at_ms = 0;   // unix time
    std::string token;   // the token's name, never its secret
    std::string source;  // client address
    std::string action;  // "PUT /api/v1/pools/eu"
    std::string object;  // "pools/eu"
    std::string before;  // JSON, empty when none
    std::string after;   // JSON, empty when none
    std::string result;  // "ok" or the error
    int status = 0;      // HTTP status answered
};

// Something operators and webhooks are told about, in order: a verdict change (with its
// evidence in the fields below), or another `type` with its objects in `data` (JSON): tier
// (a balancer's serving tier changed), all_down (every tier down: enter/leave), isolation (the
// prober suspects its own network: enter/leave), admin (a member's admin state), config (a
// change of the desired state).
struct Event {
    int64_t id = 0;
    int64_t at_ms = 0;  // unix time
    std::string type = "verdict";
    std::string node;  // the node that saw it (cluster mode); empty on a lone node
    // type verdict:
    std::string monitor;
    std::string address;
    std::string pools;  // comma-separated
    std::string from;
    std::string to;
    std::string reason;
    std::string detail;
    int http_status = 0;
    uint32_t latency_ms = 0;
    // other types: a JSON object
    std::string data;
};
using HealthEvent = Event;

struct StoredVerdict {
    std::string monitor;
    std::string address;
    std::string verdict;
    int64_t changed_at_ms = 0;  // unix time
};

struct Token {
    std::string name;
    std::string role;  // viewer | operator | admin
    std::string hash;  // hex SHA-256 of the secret
    int64_t created_ms = 0;
};

struct Retention {
    uint32_t events_days = 30;
    uint32_t audit_days = 365;
};

// The desired state as stored, with its revision: a number that every saved change increases.
struct StoredState {
    DesiredState state;
    uint64_t revision = 0;  // 0: never saved
};

class Store {
  public:
    virtual ~Store() = default;

    // True once a desired state was ever saved (an empty state saved counts).
    virtual bool has_state() = 0;
    // The saved desired state, top-level lists in name order, and its revision. Not validated.
    virtual StoredState load_state() = 0;
    // The revision of the saved state, cheap to ask: a writer other than this object (another
    // process, another node) shows as a revision the caller did not write.
    virtual uint64_t revision() = 0;
    // Writes what differs between `before` and `after`, and `audit`, in one transaction, if the
    // stored revision is still `expected_revision` (else StoreError Conflict, nothing written).
    // Returns the new revision.
    virtual uint64_t save_state(const DesiredState& before, const DesiredState& after,
                                const AuditEntry& audit, uint64_t expected_revision) = 0;
    // Fairness between writers that share the store (cluster nodes): one that keeps losing the
    // compare-and-swap claims the next write. While it holds the turn, the others' saves fail as
    // a Conflict (they retry); the turn ends at end_write() (or with the node, if it dies). Best
    // effort: a claim that fails (another holds it) is not an error. One writer: nothing to do.
    virtual void claim_turn() {}
    virtual void end_write() noexcept {}
    // Called (from a thread of the store's) when the revision may have changed, so that a
    // follower need not wait for its next look. Stores without a push leave it unused.
    virtual void set_change_listener(std::function<void()> listener) { (void)listener; }

    virtual void append_audit(const AuditEntry& audit) = 0;
    virtual std::vector<AuditEntry> audit(int64_t after_id, size_t limit) = 0;

    // Events, and the verdicts that verdict events leave, in one transaction.
    virtual void append_events(const std::vector<HealthEvent>& events) = 0;
    virtual std::vector<HealthEvent> events(int64_t after_id, size_t limit) = 0;
    virtual std::vector<StoredVerdict> verdicts() = 0;

    virtual std::vector<Token> tokens() = 0;
    virtual std::optional<Token> token(const std::string& name) = 0;
    virtual void add_token(const Token& token, const AuditEntry& audit) = 0;
    virtual bool remove_token(const std::string& name, const AuditEntry& audit) = 0;

    // Small named values of gtmd's own (e.g. the digest of the document --apply last applied).
    virtual std::optional<std::string> setting(const std::string& key) = 0;
    virtual void set_setting(const std::string& key, const std::string& value) = 0;

    // Deletes events and audit entries older than the retention.
    virtual void prune(const Retention& r, int64_t now_ms) = 0;
    // "ok" or the first problem found.
    virtual std::string integrity_check() = 0;
};

}  // namespace gtm::store
