#include "web/http_server.h"

// clang-format off
#include <utility>  // Boost 1.74's asio needs it before itself (see dnsd/asio.h)
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
// clang-format on

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

namespace gtm::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

using Clock = std::chrono::steady_clock;

// What the server knows of each connection, to choose which one makes room for a new one.
// Owned by its Session; registered in the server while it lives. Web thread only.
struct Connection {
    virtual ~Connection() = default;
    // Closes the socket; the session ends when its pending operation returns.
    virtual void evict() = 0;

    std::string source;
    bool idle = true;  // waiting for a request, or reading its header: nothing to lose yet
    Clock::time_point idle_since = Clock::now();
    bool counted = true;  // in the counts below (an evicted one leaves them at once)
    std::list<Connection*>::iterator self;
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(asio::io_context& io, HttpConfig config, Handler handler)
        : io(io), acceptor(io), config(std::move(config)), handler(std::move(handler)) {}

    void accept();

    void add(Connection* c) {
        c->self = connections.insert(connections.end(), c);
        ++live;
        ++per_source[c->source];
    }
    void uncount(Connection* c) {
        if (!c->counted) {
            return;
        }
        c->counted = false;
        --live;
        auto it = per_source.find(c->source);
        if (--it->second == 0) {
            per_source.erase(it);
        }
    }
    void remove(Connection* c) {
        uncount(c);
        connections.erase(c->self);
    }
    // The oldest idle connection: of `source` when given, else of the source holding the most.
    Connection* victim(const std::string* source) {
        Connection* best = nullptr;
        size_t best_count = 0;
        for (Connection* c : connections) {
            if (!c->counted || !c->idle || (source != nullptr && c->source != *source)) {
                continue;
            }
            const size_t count = per_source[c->source];
            if (best == nullptr || count > best_count ||
                (count == best_count && c->idle_since < best->idle_since)) {
                best = c;
                best_count = count;
            }
        }
        return best;
    }
    // Room for one more connection from `source`: false when every candidate is busy.
    bool make_room(const std::string& source) {
        auto over = [&](Connection* c) {
            if (c == nullptr) {
                return false;
            }
            uncount(c);
            c->evict();
            ++evicted;
            return true;
        };
        auto it = per_source.find(source);
        if (it != per_source.end() && it->second >= config.max_connections_per_source &&
            !over(victim(&source))) {
            return false;
        }
        if (live >= config.max_connections && !over(victim(nullptr))) {
            return false;
        }
        return true;
    }

    asio::io_context& io;
    tcp::acceptor acceptor;
    HttpConfig config;
    Handler handler;
    std::optional<ssl::context> tls;
    std::list<Connection*> connections;
    std::unordered_map<std::string, size_t> per_source;
    size_t live = 0;
    uint64_t evicted = 0;
    bool stopped = false;
};

namespace {

// Errors of the HTTP parser that mean "not HTTP" (answered 400), as opposed to the peer going
// away or a timeout (nothing to answer).
bool malformed(const beast::error_code& ec) {
    return ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message &&
           ec != http::error::need_more && ec != http::error::need_buffer;
}

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>>, public Connection {
  public:
    Session(std::shared_ptr<HttpServer::Impl> server, Stream stream, std::string source)
        : server_(std::move(server)), stream_(std::move(stream)) {
        this->source = std::move(source);
        server_->add(this);
    }
    ~Session() override { server_->remove(this); }

    void start() {
        // The first request's header (and the TLS handshake before it) must come within the
        // header timeout of the connection's start.
        lowest().expires_after(std::chrono::milliseconds(server_->config.header_timeout_ms));
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            read_header(false);
        } else {
            stream_.async_handshake(ssl::stream_base::server,
                                    [self = this->shared_from_this()](beast::error_code ec) {
                                        if (!ec) {
                                            self->read_header(false);
                                        }
                                    });
        }
    }

    void evict() override {
        beast::error_code ignored;
        lowest().socket().close(ignored);
    }

  private:
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

    void set_idle() {
        idle = true;
        idle_since = Clock::now();
    }

    // Between requests: the idle timeout until the next one starts, then the header timeout.
    void wait_request() {
        set_idle();
        if (buffer_.size() > 0) {
            read_header(true);  // pipelined: it has started already
            return;
        }
        lowest().expires_after(std::chrono::milliseconds(server_->config.idle_timeout_ms));
        stream_.async_read_some(buffer_.prepare(4096),
                                [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                                    if (ec) {
                                        return;  // closed, idle too long, or evicted
                                    }
                                    self->buffer_.commit(n);
                                    self->read_header(true);
                                });
    }

    void read_header(bool restart_timer) {
        parser_.emplace();
        parser_->body_limit(server_->config.body_limit);
        parser_->header_limit(16 * 1024);
        if (restart_timer) {
            lowest().expires_after(std::chrono::milliseconds(server_->config.header_timeout_ms));
        }
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                    self->on_header(ec);
                                });
    }

    void on_header(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            too_large();  // Content-Length over the limit: refused from the header alone
            return;
        }
        if (ec == http::error::header_limit) {
            respond_error(431, "request header too large");
            return;
        }
        if (ec) {
            if (malformed(ec)) {
                respond_error(400, "malformed request: " + ec.message());
            }
            return;  // closed, timed out or evicted: nobody to answer
        }
        idle = false;
        auto& req = parser_->get();
        const auto length = parser_->content_length();
        if (length && *length > server_->config.body_limit) {
            too_large();
            return;
        }
        if ((length && *length > 0) || parser_->chunked()) {
            // Refused from its header (no valid token): answered now, the body never read.
            Request r = request(req);
            r.header_only = true;
            Response out = server_->handler(r);
            if (out.status != 100) {
                keep_alive_ = false;
                lingering_ = true;
                head_ = false;
                write(std::move(out), req.version());
                return;
            }
        }
        if (beast::iequals(req[http::field::expect], "100-continue")) {
            auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                           req.version());
            http::async_write(stream_, *cont,
                              [self = this->shared_from_this(), cont](beast::error_code e, size_t) {
                                  if (!e) {
                                      self->read_body();
                                  }
                              });
            return;
        }
        read_body();
    }

    void read_body() {
        lowest().expires_after(std::chrono::milliseconds(server_->config.read_timeout_ms));
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, size_t) {
                             self->on_request(ec);
                         });
    }

    // The request as the API sees it.
    Request request(const http::request<http::string_body>& req) const {
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        r.content_type = std::string(req[http::field::content_type]);
        r.authorization = std::string(req[http::field::authorization]);
        for (const auto& f : req) {
            if (f.name() == http::field::if_match) {
                r.if_match = r.if_match ? *r.if_match + ", " + std::string(f.value())
                                        : std::string(f.value());
            }
        }
        r.source = source;
        return r;
    }

    void on_request(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            too_large();  // a chunked body that grew over the limit
            return;
        }
        if (ec) {
            if (malformed(ec)) {
                respond_error(400, "malformed request: " + ec.message());
            }
            return;
        }
        auto req = parser_->release();
        Request r = request(req);
        r.body = std::move(req.body());
        Response out;
        try {
            out = server_->handler(r);
        } catch (const std::exception& e) {
            out.status = 500;
            out.body = std::string("{\"error\": \"internal error\"}\n");
            spdlog::error("http handler: {}", e.what());
        }
        keep_alive_ = req.keep_alive();
        head_ = req.method() == http::verb::head;
        write(std::move(out), req.version());
    }

    // 413, through the API so that the refusal is authenticated and audited like any other;
    // the connection is closed after it (the body was not read).
    void too_large() {
        idle = false;
        Request r = request(parser_->get());
        r.body_too_large = true;
        Response out = server_->handler(r);
        if (out.status == 413) {
            out.body = "{\"error\": \"body over the limit of " +
                       std::to_string(server_->config.body_limit) + " bytes\"}\n";
        }
        keep_alive_ = false;
        lingering_ = true;
        head_ = false;
        write(std::move(out), parser_->get().version());
    }

    // An answer before a request could be read whole; the connection is closed after it.
    void respond_error(int status, const std::string& message) {
        idle = false;
        Response out;
        out.status = status;
        out.body = "{\"error\": \"" + message + "\"}\n";
        keep_alive_ = false;
        lingering_ = true;
        head_ = false;
        write(std::move(out), 11);
    }

    void write(Response out, unsigned version) {
        auto res = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(out.status), version);
        res->set(http::field::server, "gtmd");
        res->set(http::field::content_type, out.content_type);
        res->set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : out.headers) {
            res->set(k, v);
        }
        res->keep_alive(keep_alive_);
        if (head_) {
            // HEAD: GET's headers, its Content-Length included, and no body (RFC 9110 9.3.2).
            res->content_length(out.body.size());
        } else {
            res->body() = std::move(out.body);
            res->prepare_payload();
        }
        lowest().expires_after(std::chrono::milliseconds(server_->config.read_timeout_ms));
        http::async_write(stream_, *res,
                          [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                              if (ec) {
                                  return;
                              }
                              if (!self->keep_alive_) {
                                  self->close();
                                  return;
                              }
                              self->wait_request();
                          });
    }

    void close() {
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (lingering_) {
            set_idle();  // answered: nothing to lose if it must make room
            linger();
        }
    }

    // After refusing a request we did not read whole: half-closed, read and discard what the
    // client is still sending (for at most 5 s), so that it reads our answer instead of a reset.
    void linger() {
        lowest().expires_after(std::chrono::seconds(5));
        lowest().async_read_some(asio::buffer(discard_),
                                 [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                     if (!ec) {
                                         self->linger();
                                     }
                                 });
    }

    std::shared_ptr<HttpServer::Impl> server_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool keep_alive_ = false;
    bool head_ = false;
    bool lingering_ = false;
    std::array<char, 16384> discard_{};
};

}  // namespace

void HttpServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->stopped) {
            return;
        }
        if (!ec) {
            beast::error_code e;
            const auto remote = socket.remote_endpoint(e);
            const std::string source = e ? "unknown" : remote.address().to_string();
            if (!self->make_room(source)) {
                beast::error_code ignored;
                socket.close(ignored);  // every connection busy with a request: refused
            } else if (self->tls) {
                std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
                    self,
                    beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)),
                                                         *self->tls),
                    source)
                    ->start();
            } else {
                std::make_shared<Session<beast::tcp_stream>>(
                    self, beast::tcp_stream(std::move(socket)), source)
                    ->start();
            }
        }
        self->accept();
    });
}

HttpServer::HttpServer(asio::io_context& io, int listen_fd, bool v6, HttpConfig config,
                       Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(handler))) {
    impl_->acceptor.assign(v6 ? tcp::v6() : tcp::v4(), listen_fd);
    if (!impl_->config.tls_cert.empty()) {
        impl_->tls.emplace(ssl::context::tls_server);
        impl_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                ssl::context::no_tlsv1_1);
        beast::error_code ec;
        impl_->tls->use_certificate_chain_file(impl_->config.tls_cert, ec);
        if (!ec) {
            impl_->tls->use_private_key_file(impl_->config.tls_key, ssl::context::pem, ec);
        }
        if (ec) {
            throw std::runtime_error("TLS certificate " + impl_->config.tls_cert + ": " +
                                     ec.message());
        }
    }
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() { impl_->accept(); }

void HttpServer::stop() {
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
}

}  // namespace gtm::web
