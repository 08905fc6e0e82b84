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
#include <optional>

namespace gtm::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    Impl(asio::io_context& io, HttpConfig config, Handler handler)
        : io(io), acceptor(io), config(std::move(config)), handler(std::move(handler)) {}

    void accept();

    asio::io_context& io;
    tcp::acceptor acceptor;
    HttpConfig config;
    Handler handler;
    std::optional<ssl::context> tls;
    size_t connections = 0;
    bool stopped = false;
};

namespace {

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  public:
    Session(std::shared_ptr<HttpServer::Impl> server, Stream stream, std::string source)
        : server_(std::move(server)), stream_(std::move(stream)), source_(std::move(source)) {
        ++server_->connections;
    }
    ~Session() { --server_->connections; }

    void start() {
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            read_header();
        } else {
            beast::get_lowest_layer(stream_).expires_after(
                std::chrono::milliseconds(server_->config.read_timeout_ms));
            stream_.async_handshake(ssl::stream_base::server,
                                    [self = this->shared_from_this()](beast::error_code ec) {
                                        if (!ec) {
                                            self->read_header();
                                        }
                                    });
        }
    }

  private:
    void read_header() {
        parser_.emplace();
        parser_->body_limit(server_->config.body_limit);
        parser_->header_limit(16 * 1024);
        // The first request of a connection must come within the read timeout; later ones may
        // wait for the idle timeout.
        beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(
            first_ ? server_->config.read_timeout_ms : server_->config.idle_timeout_ms));
        first_ = false;
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
        if (ec) {
            if (ec == http::error::header_limit) {
                respond_error(431, "request header too large");
            }
            return;  // closed, timed out, or garbage: drop the connection
        }
        auto& req = parser_->get();
        const auto length = parser_->content_length();
        if (length && *length > server_->config.body_limit) {
            too_large();
            return;
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
        beast::get_lowest_layer(stream_).expires_after(
            std::chrono::milliseconds(server_->config.read_timeout_ms));
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, size_t) {
                             self->on_request(ec);
                         });
    }

    void on_request(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            too_large();  // a chunked body that grew over the limit
            return;
        }
        if (ec) {
            return;
        }
        auto req = parser_->release();
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        r.content_type = std::string(req[http::field::content_type]);
        r.authorization = std::string(req[http::field::authorization]);
        r.body = std::move(req.body());
        r.source = source_;
        Response out;
        try {
            out = server_->handler(r);
        } catch (const std::exception& e) {
            out.status = 500;
            out.body = std::string("{\"error\": \"internal error\"}\n");
            spdlog::error("http handler: {}", e.what());
        }
        keep_alive_ = req.keep_alive();
        write(out, req.version());
    }

    // 413, through the API so that the refusal is authenticated and audited like any other;
    // the connection is closed after it (the body was not read).
    void too_large() {
        const auto& req = parser_->get();
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        r.content_type = std::string(req[http::field::content_type]);
        r.authorization = std::string(req[http::field::authorization]);
        r.source = source_;
        r.body_too_large = true;
        Response out = server_->handler(r);
        if (out.status == 413) {
            out.body = "{\"error\": \"body over the limit of " +
                       std::to_string(server_->config.body_limit) + " bytes\"}\n";
        }
        keep_alive_ = false;
        lingering_ = true;
        write(out, req.version());
    }

    void respond_error(int status, const std::string& message) {
        Response out;
        out.status = status;
        out.body = "{\"error\": \"" + message + "\"}\n";
        keep_alive_ = false;
        write(out, 11);
    }

    void write(const Response& out, unsigned version) {
        auto res = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(out.status), version);
        res->set(http::field::server, "gtmd");
        res->set(http::field::content_type, out.content_type);
        res->set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : out.headers) {
            res->set(k, v);
        }
        res->body() = out.body;
        res->keep_alive(keep_alive_);
        res->prepare_payload();
        beast::get_lowest_layer(stream_).expires_after(
            std::chrono::milliseconds(server_->config.read_timeout_ms));
        http::async_write(stream_, *res,
                          [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                              if (ec) {
                                  return;
                              }
                              if (!self->keep_alive_) {
                                  self->close();
                                  return;
                              }
                              self->read_header();
                          });
    }

    void close() {
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (lingering_) {
            linger();
        }
    }

    // After refusing a body we did not read: half-closed, read and discard what the client is
    // still sending (for at most 5 s), so that it reads our answer instead of a reset.
    void linger() {
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
        beast::get_lowest_layer(stream_).async_read_some(
            asio::buffer(discard_),
            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                if (!ec) {
                    self->linger();
                }
            });
    }

    std::shared_ptr<HttpServer::Impl> server_;
    Stream stream_;
    std::string source_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool keep_alive_ = false;
    bool first_ = true;
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
            if (self->connections >= self->config.max_connections) {
                beast::error_code ignored;
                socket.close(ignored);  // over the limit: refused at once, nothing read
            } else {
                beast::error_code e;
                const auto remote = socket.remote_endpoint(e);
                const std::string source = e ? "unknown" : remote.address().to_string();
                if (self->tls) {
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
