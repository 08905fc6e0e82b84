// Cluster mode: what the nodes of one cluster share besides the desired state — each node's
// vote about each probe target, on that node's lease, and who is alive. Implemented by the etcd
// store (etcd_store.h); the control-plane core (core/quorum.h) turns the live votes into the
// decisions every node serves alike.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gtm::store {

// One node's judgement of one target (a (monitor, address) pair, by health::target_key), as its
// own judge decided it: hysteresis and suspicion are per node, before voting.
struct Vote {
    std::string node;
    std::string verdict = "unknown";  // unknown | up | down
    bool suspect = false;             // out of its answers without being down
    int64_t at_unix_ms = 0;           // when this node decided it
    // The evidence: this vantage's last result.
    std::string reason;
    std::string detail;
    int http_status = 0;
    uint32_t latency_ms = 0;

    bool operator==(const Vote&) const = default;
};

class ClusterBoard {
  public:
    virtual ~ClusterBoard() = default;

    virtual const std::string& node() const = 0;

    // This node's vote about `target`, replacing its previous one; kept on this node's lease, so
    // that it vanishes one lease TTL after the node dies. Returns at once (written in the
    // background, the latest vote per target winning).
    virtual void publish_vote(const std::string& target, const Vote& vote) = 0;
    // This node no longer probes `target`.
    virtual void withdraw_vote(const std::string& target) = 0;

    // Called from the board's thread whenever the votes about a target change, with the votes of
    // every live node about it (empty: nobody votes any more); after a reconnect, for every
    // target known. Set before the board starts.
    using VotesChanged = std::function<void(const std::string& target, std::vector<Vote> votes)>;
    virtual void on_votes(VotesChanged callback) = 0;
    // Called when the board loses (false) or regains (true) its working link to the others.
    virtual void on_link(std::function<void(bool)> callback) = 0;

    // The nodes alive now (their leases are), this one included.
    virtual std::vector<std::string> live_nodes() const = 0;
};

}  // namespace gtm::store
