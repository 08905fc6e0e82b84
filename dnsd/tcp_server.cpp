#include "dnsd/tcp_server.h"

#include <list>
#include <map>
#include <vector>

#include "base/asio.h"
#include "dnsd/tcp_framing.h"
#include "dnsd/wire.h"

namespace gtm::dns {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMaxPendingOutput = 1 << 20;  // stop reading a client that does not read
// Out of file descriptors: accept again after this long (a closed connection frees one).
constexpr auto kAcceptRetry = std::chrono::milliseconds(20);

bool out_of_descriptors(const boost::system::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open ||
           ec == boost::system::errc::too_many_files_open_in_system ||
           ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}
}  // namespace

struct Connection;

struct TcpServer::Impl : std::enable_shared_from_this<TcpServer::Impl> {
    Impl(asio::io_context& io, const SnapshotHolder& holder, const ResponderConfig& rconfig,
         const TcpConfig& config, uint64_t seed, WorkerStats* stats, TcpStats* tcp_stats,
         uint32_t slot)
        : io(io),
          responder(holder, rconfig, seed),
          config(config),
          scratch(kMaxMessage),
          stats(stats),
          tcp_stats(tcp_stats) {
        responder.count_into(stats, slot);
    }

    void accept(tcp::acceptor& acceptor);
    void accepted(tcp::socket socket);
    void accept_failed(tcp::acceptor& acceptor, const boost::system::error_code& ec);
    void evict_if_full();
    void count_closed(TcpClose why) {
        if (tcp_stats != nullptr) {
            bump(tcp_stats->closed[static_cast<size_t>(why)]);
        }
    }

    asio::io_context& io;
    Responder responder;
    TcpConfig config;
    std::vector<uint8_t> scratch;  // one answer at a time: the server runs on one thread
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::list<std::shared_ptr<Connection>> idle_order;  // front: idle the longest
    std::map<asio::ip::address, uint32_t> per_source;   // open connections by client address
    std::vector<std::unique_ptr<asio::steady_timer>> retry_timers;  // one per acceptor
    bool out_of_fds = false;                                        // logged once per episode
    bool stopped = false;
    WorkerStats* stats;
    TcpStats* tcp_stats;
};

uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

struct Connection : std::enable_shared_from_this<Connection> {
    Connection(tcp::socket s, asio::ip::address from, TcpServer::Impl& server)
        : socket(std::move(s)),
          timer(server.io),
          server(server),
          source(std::move(from)),
          in(kInitialBuffer) {}

    void start() {
        touch();
        read();
    }

    // Marks activity: most recently used (eviction takes the least recently used).
    void used() { server.idle_order.splice(server.idle_order.end(), server.idle_order, position); }

    void arm(uint32_t ms, TcpClose why) {
        timer.expires_after(std::chrono::milliseconds(ms));  // cancels the wait armed before
        timer.async_wait([self = shared_from_this(), why](const boost::system::error_code& ec) {
            if (!ec) {
                self->close(why);
            }
        });
    }

    // Between messages: the idle timer restarts.
    void touch() {
        used();
        arm(server.config.idle_timeout_ms, TcpClose::Idle);
    }

    // After bytes arrived: a message begun must be whole within the read timeout, counted from
    // its first byte, whatever trickles in after it; between messages the idle timeout runs.
    void received(size_t answered) {
        if (answered > 0) {
            partial = false;
        }
        if (in_len == 0) {
            partial = false;
            touch();
        } else if (!partial) {
            partial = true;
            used();
            arm(std::min(server.config.read_timeout_ms, server.config.idle_timeout_ms),
                TcpClose::ReadTimeout);
        } else {
            used();
        }
    }

    void read() {
        if (closed || reading) {
            return;
        }
        if (pending.size() > kMaxPendingOutput) {
            return;  // resumed when the output drains
        }
        if (in.size() - in_len < 512) {
            in.resize(in.size() * 2);
        }
        reading = true;
        socket.async_read_some(
            asio::buffer(in.data() + in_len, in.size() - in_len),
            [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                self->reading = false;
                if (ec || self->closed) {
                    self->close(ec == asio::error::eof ? TcpClose::Eof : TcpClose::Error);
                    return;
                }
                self->in_len += n;
                self->received(self->process());
                self->flush();
                self->read();
            });
    }

    // Answers every complete message in the buffer, in order (RFC 7766 §6.2.1.1: pipelining).
    // Returns how many.
    size_t process() {
        const Framed f =
            split_messages(in.data(), in_len, [this](const uint8_t* message, size_t size) {
                const uint64_t started_ns = server.stats != nullptr ? now_ns() : 0;
                const size_t answer =
                    server.responder.answer(message, size, server.scratch.data(), Transport::Tcp);
                if (server.stats != nullptr && answer > 0) {
                    server.stats->answered(1, now_ns() - started_ns, 1);
                }
                if (answer > 0) {
                    pending.push_back(static_cast<uint8_t>(answer >> 8));
                    pending.push_back(static_cast<uint8_t>(answer));
                    pending.insert(pending.end(), server.scratch.begin(),
                                   server.scratch.begin() + static_cast<long>(answer));
                }
            });
        if (f.consumed > 0) {
            std::memmove(in.data(), in.data() + f.consumed, in_len - f.consumed);
            in_len -= f.consumed;
        }
        if (f.need > in.size()) {
            in.resize(f.need);
        }
        return f.messages;
    }

    void flush() {
        if (closed || writing || pending.empty()) {
            return;
        }
        writing = true;
        sending.swap(pending);
        pending.clear();
        asio::async_write(socket, asio::buffer(sending),
                          [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                              self->writing = false;
                              self->sending.clear();
                              if (ec) {
                                  self->close(TcpClose::Error);
                                  return;
                              }
                              if (self->partial) {
                                  self->used();  // the message begun keeps its deadline
                              } else {
                                  self->touch();
                              }
                              self->flush();
                              self->read();
                          });
    }

    void close(TcpClose why) {
        if (closed) {
            return;
        }
        closed = true;
        server.count_closed(why);
        if (server.tcp_stats != nullptr) {
            server.tcp_stats->open.store(server.idle_order.size() - 1, std::memory_order_relaxed);
        }
        if (auto it = server.per_source.find(source); it != server.per_source.end()) {
            if (--it->second == 0) {
                server.per_source.erase(it);
            }
        }
        timer.cancel();
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        server.idle_order.erase(position);
    }

    tcp::socket socket;
    asio::steady_timer timer;
    TcpServer::Impl& server;
    asio::ip::address source;
    std::list<std::shared_ptr<Connection>>::iterator position;
    std::vector<uint8_t> in;
    size_t in_len = 0;
    std::vector<uint8_t> pending;
    std::vector<uint8_t> sending;
    bool reading = false;
    bool writing = false;
    bool partial = false;  // a message begun is not complete yet: the read timeout runs
    bool closed = false;
};

void TcpServer::Impl::evict_if_full() {
    while (!idle_order.empty() && idle_order.size() >= config.max_connections) {
        idle_order.front()->close(TcpClose::Evicted);  // the longest idle makes room
    }
}

void TcpServer::Impl::accepted(tcp::socket socket) {
    boost::system::error_code ec;
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) {
        return;  // gone already; the socket closes here
    }
    asio::ip::address from = peer.address();
    if (from.is_v6() && from.to_v6().is_v4_mapped()) {
        from = from.to_v6().to_v4();
    }
    uint32_t& mine = per_source[from];
    if (config.max_per_source != 0 && mine >= config.max_per_source) {
        // One address does not take every slot; its own connections stay.
        count_closed(TcpClose::SourceLimit);
        socket.close(ec);
        return;
    }
    ++mine;
    evict_if_full();
    socket.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<Connection>(std::move(socket), std::move(from), *this);
    idle_order.push_back(c);
    c->position = std::prev(idle_order.end());
    if (tcp_stats != nullptr) {
        tcp_stats->open.store(idle_order.size(), std::memory_order_relaxed);
    }
    c->start();
}

// accept() failed. Out of file descriptors: the longest-idle connection makes room and the
// acceptor waits a moment (the pending connection stays in the backlog; accepting again at once
// would spin), logged once until an accept succeeds again.
void TcpServer::Impl::accept_failed(tcp::acceptor& acceptor, const boost::system::error_code& ec) {
    if (tcp_stats != nullptr) {
        bump(tcp_stats->accept_errors);
    }
    if (!out_of_descriptors(ec)) {
        accept(acceptor);  // the client went away before we took it (ECONNABORTED, ...)
        return;
    }
    if (!out_of_fds) {
        out_of_fds = true;
        if (config.log) {
            config.log("DNS TCP: out of file descriptors (" + ec.message() + ") with " +
                       std::to_string(idle_order.size()) +
                       " connections open: closing the longest-idle ones to make room; raise "
                       "ulimit -n or lower dns.tcp_max_connections");
        }
    }
    if (!idle_order.empty()) {
        idle_order.front()->close(TcpClose::Evicted);
    }
    size_t index = 0;
    while (index < acceptors.size() && acceptors[index].get() != &acceptor) {
        ++index;
    }
    asio::steady_timer& retry = *retry_timers[index];
    retry.expires_after(kAcceptRetry);
    retry.async_wait([self = shared_from_this(), &acceptor](const boost::system::error_code& e) {
        if (!e && !self->stopped) {
            self->accept(acceptor);
        }
    });
}

void TcpServer::Impl::accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([self = shared_from_this(), &acceptor](
                              const boost::system::error_code& ec, tcp::socket socket) {
        if (self->stopped) {
            return;
        }
        if (ec) {
            self->accept_failed(acceptor, ec);
            return;
        }
        if (self->out_of_fds) {
            self->out_of_fds = false;
            if (self->config.log) {
                self->config.log("DNS TCP: accepting connections again");
            }
        }
        self->accepted(std::move(socket));
        self->accept(acceptor);
    });
}

TcpServer::TcpServer(asio::io_context& io, const SnapshotHolder& holder,
                     const ResponderConfig& rconfig, const TcpConfig& config, uint64_t seed,
                     WorkerStats* stats, TcpStats* tcp_stats, uint32_t slot)
    : impl_(std::make_shared<Impl>(io, holder, rconfig, config, seed, stats, tcp_stats, slot)) {}

TcpServer::~TcpServer() { stop(); }

void TcpServer::listen(int fd, bool v6) {
    auto a = std::make_unique<tcp::acceptor>(impl_->io);
    a->assign(v6 ? tcp::v6() : tcp::v4(), fd);
    impl_->retry_timers.push_back(std::make_unique<asio::steady_timer>(impl_->io));
    impl_->acceptors.push_back(std::move(a));
    impl_->accept(*impl_->acceptors.back());
}

void TcpServer::stop() {
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    boost::system::error_code ignored;
    for (auto& a : impl_->acceptors) {
        a->close(ignored);
    }
    for (auto& t : impl_->retry_timers) {
        t->cancel();
    }
    while (!impl_->idle_order.empty()) {
        impl_->idle_order.front()->close(TcpClose::Shutdown);
    }
}

size_t TcpServer::connections() const { return impl_->idle_order.size(); }

}  // namespace gtm::dns
