// The sqlite store: the desired state, API tokens (hashed), the audit log, health events and the
// last verdicts, in data_dir/gtmd.db.
//
// WAL mode, synchronous=FULL (a change is on disk before the API answers), foreign keys, a busy
// timeout, integrity_check at open, schema versions by PRAGMA user_version with forward
// migrations. A Store is one connection: use one per thread. The DNS path never touches it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/model.h"

struct sqlite3;

namespace gtm::store {

class StoreError : public std::runtime_error {
  public:
    enum class Kind { Busy, Full, ReadOnly, Corrupt, Constraint, Other };
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

struct HealthEvent {
    int64_t id = 0;
    int64_t at_ms = 0;  // unix time
    std::string monitor;
    std::string address;
    std::string pools;  // comma-separated
    std::string from;
    std::string to;
    std::string reason;
    std::string detail;
    int http_status = 0;
    uint32_t latency_ms = 0;
};

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

class Store {
  public:
    // Opens or creates the database and migrates it to the current schema. Throws StoreError.
    explicit Store(const std::string& path, uint32_t busy_timeout_ms = 5000);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    static constexpr int kSchemaVersion = 1;

    // True once a desired state was ever saved (an empty state saved counts).
    bool has_state();
    // The saved desired state, top-level lists in name order. Not validated.
    DesiredState load_state();
    // Writes what differs between `before` and `after`, and `audit`, in one transaction.
    void save_state(const DesiredState& before, const DesiredState& after, const AuditEntry& audit);

    void append_audit(const AuditEntry& audit);
    std::vector<AuditEntry> audit(int64_t after_id, size_t limit);

    // Events and the verdict they leave, in one transaction.
    void append_events(const std::vector<HealthEvent>& events);
    std::vector<HealthEvent> events(int64_t after_id, size_t limit);
    std::vector<StoredVerdict> verdicts();

    std::vector<Token> tokens();
    std::optional<Token> token(const std::string& name);
    void add_token(const Token& token, const AuditEntry& audit);
    bool remove_token(const std::string& name, const AuditEntry& audit);

    // Deletes events and audit entries older than the retention.
    void prune(const Retention& r, int64_t now_ms);
    // PRAGMA integrity_check: "ok" or the first problem.
    std::string integrity_check();

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace gtm::store
