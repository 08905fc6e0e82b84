// Cluster mode: the store interface and the cluster board on etcd (etcd_client.h), shared by
// every gtmd node of one cluster.
//
// Keys, under the configured prefix P:
//   P state              the desired state, one JSON document; its mod_revision is the state's
//                        revision (the ETag): a change is a txn compare-and-swap on it, with its
//                        audit entry
//   P tokens/<name>      API tokens (hashed)
//   P audit/<t>-<node>-<n>, P events/<t>-<node>-<n>   audit entries, health events; their id is
//                        the key's create_revision (ascending in commit order)
//   P verdicts/<node>/<target>   each node's last verdicts (restored at its start)
//   P settings/<node>/<key>      each node's own settings (e.g. the --apply digest)
//   P nodes/<node>               presence, on the node's lease
//   P votes/<target>/<node>      the node's vote about a target, on the node's lease
// (<target> hex-encoded: target keys hold a NUL.)
//
// Threads: a watch thread follows P (the state's revision, votes, nodes); a lease thread keeps
// the lease alive and writes this node's votes (the latest per target wins). Every Store method
// may be called from any thread; writes fail fast (hasleader) when etcd has no quorum.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/cluster.h"
#include "store/etcd_client.h"
#include "store/store.h"

namespace gtm::store {

struct EtcdStoreOptions {
    etcd::ClientOptions client;
    std::string prefix = "gtm/";
    std::string node;
    uint32_t lease_ttl_ms = 10000;
};

class EtcdStore final : public Store, public ClusterBoard {
  public:
    // Connects, grants this node's lease, reads the votes and nodes, and starts following the
    // prefix. Throws StoreError (Busy) when etcd cannot be reached.
    explicit EtcdStore(EtcdStoreOptions options);
    ~EtcdStore() override;
    EtcdStore(const EtcdStore&) = delete;
    EtcdStore& operator=(const EtcdStore&) = delete;

    // Store
    bool has_state() override;
    StoredState load_state() override;
    uint64_t revision() override;
    uint64_t save_state(const DesiredState& before, const DesiredState& after,
                        const AuditEntry& audit, uint64_t expected_revision) override;
    void claim_turn() override;
    void end_write() noexcept override;
    void set_change_listener(std::function<void()> listener) override;
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

    // ClusterBoard
    const std::string& node() const override { return options_.node; }
    void publish_vote(const std::string& target, const Vote& vote) override;
    void withdraw_vote(const std::string& target) override;
    void on_votes(VotesChanged callback) override;
    void on_link(std::function<void(bool)> callback) override;
    std::vector<std::string> live_nodes() const override;

    // Waits until the votes published so far are written (or `max_wait_ms`): a node's own
    // first round is then part of what every node decides.
    bool flush_votes(uint32_t max_wait_ms);

  private:
    std::string key(const std::string& rest) const { return options_.prefix + rest; }
    std::string setting_key(const std::string& k) const;
    std::string log_key(const char* kind);
    // The entries of the audit log or the events (`kind`) after `after_id`, oldest first.
    std::vector<etcd::KeyValue> log_after(const char* kind, int64_t after_id, size_t limit);
    void lease_loop();
    void grant_lease();
    void follow(const std::vector<etcd::Event>& events, int64_t revision);
    void resync(const etcd::Client::Range& all);
    void apply_kv(const std::string& k, const std::string* value,
                  std::set<std::string>& touched_targets);
    void notify_targets(const std::set<std::string>& targets);
    [[noreturn]] static void rethrow(const etcd::EtcdError& e, const std::string& what);

    EtcdStoreOptions options_;
    etcd::Client client_;
    std::unique_ptr<etcd::Watch> watch_;

    mutable std::mutex mu_;  // what the watch learnt, the callbacks, this node's votes to write
    std::condition_variable lease_cv_;
    int64_t state_revision_ = 0;                                // mod_revision of P state; 0: none
    std::map<std::string, std::map<std::string, Vote>> votes_;  // target -> node -> vote
    std::set<std::string> nodes_;
    VotesChanged on_votes_;
    std::function<void(bool)> on_link_;
    std::function<void()> on_change_;
    std::map<std::string, std::optional<Vote>> to_write_;  // target -> vote (nullopt: withdraw)
    std::map<std::string, Vote> mine_;                     // written, re-written on a new lease
    size_t writing_ = 0;                                   // votes being written now
    int64_t lease_ = 0;
    bool turn_ = false;  // this node holds P turn (claim_turn)
    bool stopping_ = false;
    std::atomic<uint64_t> seq_{0};
    std::thread lease_thread_;
};

}  // namespace gtm::store
