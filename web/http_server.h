// The HTTP(S) server of the REST API and the web page, on Boost.Beast: keep-alive, read
// timeouts, a body limit (413 before the body is read), 100-continue, optional TLS. It only
// moves bytes: every request goes to the handler, which is Api::handle.
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
    uint32_t body_limit = 1 << 20;     // bytes; larger bodies get 413
    uint32_t read_timeout_ms = 10000;  // a request must arrive whole within this
    uint32_t idle_timeout_ms = 60000;  // keep-alive connections idle longer are closed
    uint32_t max_connections = 256;    // beyond it, new connections are closed at once
    std::string tls_cert;              // PEM chain; with tls_key: HTTPS only
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
