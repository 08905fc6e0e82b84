// DNS over TCP (RFC 7766) on Boost.Asio: pipelined queries, an idle timeout, a read timeout for
// a message begun (one byte every few seconds does not hold a connection), a per-source cap, and
// a connection limit that evicts the longest-idle connection instead of refusing a new client.
// Out of file descriptors, it evicts the longest-idle connection and retries, logging once.
//
// Runs on the thread that runs the io_context it is given; owns its own Responder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dnsd/responder.h"

namespace boost::asio {
class io_context;
}

namespace gtm::dns {

struct TcpConfig {
    uint32_t idle_timeout_ms = 10000;  // no query for this long: closed
    uint32_t read_timeout_ms = 2000;   // a message begun must be complete within this
    uint32_t max_connections = 1024;   // beyond it, the longest-idle connection is closed
    uint32_t max_per_source = 64;      // connections from one address; more are refused; 0: no cap
    // Told once when accept() runs out of file descriptors and once when it recovers
    // (gtmd logs it); may be empty.
    std::function<void(const std::string&)> log;
};

class TcpServer {
  public:
    // `stats`/`tcp_stats`: where it counts (metrics; null: nothing); `slot`: the balancers'
    // answer-count slot of its responder.
    TcpServer(boost::asio::io_context& io, const SnapshotHolder& holder,
              const ResponderConfig& rconfig, const TcpConfig& config, uint64_t seed,
              WorkerStats* stats = nullptr, TcpStats* tcp_stats = nullptr, uint32_t slot = 0);
    ~TcpServer();

    // Accepts on an already listening socket (listen.h); takes ownership of the fd.
    void listen(int fd, bool v6);
    // Stops accepting and closes every connection.
    void stop();

    size_t connections() const;

    struct Impl;  // opaque; public so that connections in tcp_server.cpp can name it

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace gtm::dns
