// UDP workers: one thread per socket, each with its own SO_REUSEPORT socket, its own Responder,
// and recvmmsg/sendmmsg batches so that a busy worker makes two system calls per batch. With
// response rate limiting on, each worker has its own table of buckets (rrl.h).
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "dnsd/responder.h"

namespace gtm::dns {

class UdpWorkers {
  public:
    // `stats`: where each worker counts (metrics); null counts nothing. Worker i counts answers
    // per member into the balancers' slot i.
    // `rrl`: response rate limiting (off unless `rrl.enabled`).
    UdpWorkers(const SnapshotHolder& holder, const ResponderConfig& config,
               StatsRegistry* stats = nullptr, const RrlConfig& rrl = RrlConfig{});
    ~UdpWorkers();

    // Starts one thread for `fd`. `pktinfo`: the socket is bound to a wildcard address and
    // answers must leave from the address the query came to.
    void start(int fd, bool pktinfo, uint64_t seed);
    // Asks every worker to stop and joins them; they notice within the receive timeout.
    void stop();

  private:
    void run(int fd, bool pktinfo, uint64_t seed, WorkerStats* stats, uint32_t slot);

    const SnapshotHolder& holder_;
    const ResponderConfig& config_;
    StatsRegistry* stats_;
    const RrlConfig rrl_;
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
    std::vector<int> fds_;
};

}  // namespace gtm::dns
