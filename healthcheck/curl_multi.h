// libcurl's multi interface driven by asio socket readiness: curl owns the sockets (wrapped in
// stream_descriptors that are released, never closed, by asio) and its timer is an asio timer.
//
// One CurlMulti holds at most kShardSize targets: libcurl 7.88 walks its whole connection cache
// on every curl_multi_remove_handle once a transfer has left a connection in it
// (close_connect_only), which is quadratic with one cache for 10,000 kept-alive connections; per
// shard it is bounded by the shard. Runs on the thread of its io_context.
#pragma once

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <unordered_map>

#include "base/asio.h"

namespace gtm::health {

inline constexpr size_t kShardSize = 256;  // targets per multi handle

class CurlMulti {
  public:
    // `done(easy, result)` is called for every finished transfer, after it left the multi handle.
    CurlMulti(boost::asio::io_context& io, std::function<void(CURL*, CURLcode)> done);
    ~CurlMulti();
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    bool add(CURL* easy) { return curl_multi_add_handle(multi_, easy) == CURLM_OK; }
    void remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }
    void stop() { timer_.cancel(); }

  private:
    struct Socket {
        Socket(boost::asio::io_context& io, curl_socket_t fd) : descriptor(io, fd) {}
        boost::asio::posix::stream_descriptor descriptor;
        int want = 0;
        bool reading = false;
        bool writing = false;
    };

    static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*);
    static int on_timer(CURLM*, long timeout_ms, void* self);
    void arm(curl_socket_t fd, const std::shared_ptr<Socket>& s);
    void on_ready(curl_socket_t fd, const std::weak_ptr<Socket>& weak,
                  const boost::system::error_code& ec, int flag);
    void action(curl_socket_t fd, int flags);

    boost::asio::io_context& io_;
    boost::asio::steady_timer timer_;
    CURLM* multi_;
    std::function<void(CURL*, CURLcode)> done_;
    std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
};

}  // namespace gtm::health
