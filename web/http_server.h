// The HTTP(S) server of the REST API and the web page, on Boost.Beast: keep-alive, timeouts, a
// body limit (413 before the body is read), 100-continue, optional TLS. It only moves bytes:
// every request goes to the handler, which is Api::handle.
//
// It stays reachable for everyone whatever one client does: a request's header must arrive
// within header_timeout_ms; each source address may hold max_connections_per_source
// connections and all together max_connections; a new connection over either limit closes the
// oldest idle one (of that source; globally, of the source holding the most) instead of being
// refused. Malformed requests get 400, HEAD is GET without the body.
//
// Runs on the thread that runs the io_context it is given (the web thread). Beast is confined
// to http_server.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "web/api.h"

namespace boost::asio {
class io_context;
}

namespace gtm::web {

struct HttpConfig {
    uint32_t body_limit = 1 << 20;  // bytes; larger bodies get 413
    // A request's header must arrive whole within this: from the connection's start (after the
    // TLS handshake, which has as long), or from the first byte of a later request.
    uint32_t header_timeout_ms = 5000;
    uint32_t read_timeout_ms = 10000;  // the body must arrive, and the answer go, within this
    uint32_t idle_timeout_ms = 60000;  // keep-alive connections idle longer are closed
    // Over a limit, the oldest idle connection (waiting for a request) makes room: of the same
    // source for the per-source limit; of the source holding the most for the global one. A
    // new connection is refused only when every connection is busy with a request.
    uint32_t max_connections = 256;
    uint32_t max_connections_per_source = 32;
    std::string tls_cert;  // PEM chain; with tls_key: HTTPS only
    std::string tls_key;
};

class HttpServer {
  public:
    using Handler = std::function<Response(const Request&)>;

    // Takes ownership of a listening socket. Throws std::runtime_error on a bad certificate.
    HttpServer(boost::asio::io_context& io, int listen_fd, bool v6, HttpConfig config,
               Handler handler);
    ~HttpServer();

    void start();
    void stop();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace gtm::web
