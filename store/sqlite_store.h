// The embedded default store: sqlite in data_dir/gtmd.db.
//
// WAL mode, synchronous=FULL (a change is on disk before the API answers), foreign keys, a busy
// timeout, integrity_check at open, schema versions by PRAGMA user_version with forward
// migrations. One connection, used under a mutex: every thread may call it.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

namespace gtm::store {

class SqliteStore final : public Store {
  public:
    // Opens or creates the database and migrates it to the current schema. Throws StoreError.
    explicit SqliteStore(const std::string& path, uint32_t busy_timeout_ms = 5000);
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    static constexpr int kSchemaVersion = 4;

    bool has_state() override;
    StoredState load_state() override;
    uint64_t revision() override;
    uint64_t save_state(const DesiredState& before, const DesiredState& after,
                        const AuditEntry& audit, uint64_t expected_revision) override;
    void append_audit(const AuditEntry& audit) override;
    std::vector<AuditEntry> audit(int64_t after_id, size_t limit) override;
    void append_events(const std::vector<HealthEvent>& events) override;
    std::vector<HealthEvent> events(int64_t after_id, size_t limit) override;
    std::vector<StoredVerdict> verdicts() override;
    std::vector<Token> tokens() override;
    std::optional<Token> token(const std::string& name) override;
    void add_token(const Token& token, const AuditEntry& audit) override;
    bool remove_token(const std::string& name, const AuditEntry& audit) override;
    std::optional<std::string> setting(const std::string& key) override;
    void set_setting(const std::string& key, const std::string& value) override;
    void prune(const Retention& r, int64_t now_ms) override;
    std::string integrity_check() override;

    struct Impl;

  private:
    std::string integrity_check_locked();
    uint64_t revision_locked();

    std::mutex mu_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gtm::store
