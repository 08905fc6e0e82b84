#include "dnsd/tcp_server.h"

#include <list>
#include <vector>

#include "base/asio.h"
#include "dnsd/wire.h"

namespace gtm::dns {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMaxPendingOutput = 1 << 20;  // stop reading a client that does not read
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
    void evict_if_full();

    asio::io_context& io;
    Responder responder;
    TcpConfig config;
    std::vector<uint8_t> scratch;  // one answer at a time: the server runs on one thread
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::list<std::shared_ptr<Connection>> idle_order;  // front: idle the longest
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
    Connection(tcp::socket s, TcpServer::Impl& server)
        : socket(std::move(s)), timer(server.io), server(server), in(kInitialBuffer) {}

    void start() {
        touch();
        read();
    }

    // Marks activity: most recently used, idle timer re-armed.
    void touch() {
        server.idle_order.splice(server.idle_order.end(), server.idle_order, position);
        timer.expires_after(std::chrono::milliseconds(server.config.idle_timeout_ms));
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) {
                self->close(TcpClose::Idle);
            }
        });
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
                self->touch();
                self->process();
                self->flush();
                self->read();
            });
    }

    // Answers every complete message in the buffer, in order (RFC 7766 §6.2.1.1: pipelining).
    void process() {
        size_t pos = 0;
        while (in_len - pos >= 2) {
            const size_t size = rd16(in.data() + pos);
            if (in_len - pos < 2 + size) {
                if (2 + size > in.size()) {
                    in.resize(2 + size);
                }
                break;
            }
            const uint64_t started_ns = server.stats != nullptr ? now_ns() : 0;
            const size_t answer = server.responder.answer(in.data() + pos + 2, size,
                                                          server.scratch.data(), Transport::Tcp);
            if (server.stats != nullptr && answer > 0) {
                server.stats->answered(1, now_ns() - started_ns, 1);
            }
            if (answer > 0) {
                pending.push_back(static_cast<uint8_t>(answer >> 8));
                pending.push_back(static_cast<uint8_t>(answer));
                pending.insert(pending.end(), server.scratch.begin(),
                               server.scratch.begin() + static_cast<long>(answer));
            }
            pos += 2 + size;
        }
        if (pos > 0) {
            std::memmove(in.data(), in.data() + pos, in_len - pos);
            in_len -= pos;
        }
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
                              self->touch();
                              self->flush();
                              self->read();
                          });
    }

    void close(TcpClose why) {
        if (closed) {
            return;
        }
        closed = true;
        if (server.tcp_stats != nullptr) {
            bump(server.tcp_stats->closed[static_cast<size_t>(why)]);
            server.tcp_stats->open.store(server.idle_order.size() - 1, std::memory_order_relaxed);
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
    std::list<std::shared_ptr<Connection>>::iterator position;
    std::vector<uint8_t> in;
    size_t in_len = 0;
    std::vector<uint8_t> pending;
    std::vector<uint8_t> sending;
    bool reading = false;
    bool writing = false;
    bool closed = false;
};

void TcpServer::Impl::evict_if_full() {
    while (!idle_order.empty() && idle_order.size() >= config.max_connections) {
        idle_order.front()->close(TcpClose::Evicted);  // the longest idle makes room
    }
}

void TcpServer::Impl::accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([self = shared_from_this(), &acceptor](
                              const boost::system::error_code& ec, tcp::socket socket) {
        if (self->stopped) {
            return;
        }
        if (!ec) {
            self->evict_if_full();
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            auto c = std::make_shared<Connection>(std::move(socket), *self);
            self->idle_order.push_back(c);
            c->position = std::prev(self->idle_order.end());
            if (self->tcp_stats != nullptr) {
                self->tcp_stats->open.store(self->idle_order.size(), std::memory_order_relaxed);
            }
            c->start();
        }
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
    impl_->accept(*a);
    impl_->acceptors.push_back(std::move(a));
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
    while (!impl_->idle_order.empty()) {
        impl_->idle_order.front()->close(TcpClose::Shutdown);
    }
}

size_t TcpServer::connections() const { return impl_->idle_order.size(); }

}  // namespace gtm::dns
