// The query path: one query in, one answer out, from the current snapshot.
//
// One Responder per DNS worker (UDP threads, the TCP thread): it owns the worker's RNG and its
// cached snapshot pointer. answer() never throws, never allocates and never locks; it re-reads
// the shared snapshot only when the holder's generation counter moved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dnsd/rrl.h"
#include "dnsd/selection.h"
#include "dnsd/snapshot.h"
#include "dnsd/stats.h"

namespace gtm::dns {

struct ResponderConfig {
    uint16_t udp_max_size =
        1232;              // DNS Flag Day 2020: never more over UDP, whatever the client says
    std::string nsid;      // RFC 5001; empty: no NSID option in answers
    std::string version;   // CH TXT version.bind / version.server; empty: REFUSED
    std::string identity;  // CH TXT hostname.bind / id.server; empty: REFUSED
};

enum class Transport : uint8_t { Udp, Tcp };

// What happened to one query; the caller counts these.
struct Outcome {
    uint16_t rcode = 0;  // including the extended BADVERS (16)
    bool dropped = false;
    bool truncated = false;
    RrlAction rrl = RrlAction::Pass;  // what rate limiting did (UDP, when it is on)
};

class Responder {
  public:
    Responder(const SnapshotHolder& holder, const ResponderConfig& config, uint64_t seed);

    // Writes the answer to `query` into `out`, which holds at least kMaxMessage bytes. Returns
    // the answer's size; 0 means drop (under 12 bytes, or QR=1: RFC 8906 §3.1.1; or held back by
    // rate limiting). `from`: the client, for rate limiting (UDP only; null: not limited).
    size_t answer(const uint8_t* query, size_t len, uint8_t* out, Transport t,
                  Outcome* outcome = nullptr, const sockaddr* from = nullptr) noexcept;

    // The snapshot the last answer() used (tests, explain).
    const Snapshot* snapshot() const { return snap_.get(); }

    // Counts every query, drop and address handed out into `stats` and the balancers' slot
    // `slot` (metrics). Without it nothing is counted.
    void count_into(WorkerStats* stats, uint32_t slot) {
        stats_ = stats;
        slot_ = stats != nullptr ? slot : kNoSlot;
    }
    WorkerStats* stats() const { return stats_; }

    // Rate-limits the UDP answers with `rrl` (the worker's own table; null: off).
    void limit_with(Rrl* rrl) { rrl_ = rrl; }

    static constexpr uint32_t kNoSlot = 0xffffffffu;

  private:
    void refresh_if_stale() noexcept;

    const SnapshotHolder& holder_;
    const ResponderConfig& config_;
    std::shared_ptr<const Snapshot> snap_;
    uint64_t generation_ = ~0ull;
    Rng rng_;
    WorkerStats* stats_ = nullptr;
    uint32_t slot_ = kNoSlot;
    Rrl* rrl_ = nullptr;
};

}  // namespace gtm::dns
