#include "healthcheck/curl_multi.h"

namespace gtm::health {

namespace asio = boost::asio;

CurlMulti::CurlMulti(asio::io_context& io, std::function<void(CURL*, CURLcode)> done)
    : io_(io), timer_(io), multi_(curl_multi_init()), done_(std::move(done)) {
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    // Every target's keep-alive connection stays in the cache: curl's default of 4 per transfer
    // in flight makes a probe evict another target's connection.
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(kShardSize + 16));
}

CurlMulti::~CurlMulti() {
    timer_.cancel();
    for (auto& [fd, s] : sockets_) {
        s->descriptor.release();
    }
    sockets_.clear();
    curl_multi_cleanup(multi_);
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
    auto& m = *static_cast<CurlMulti*>(self);
    if (what == CURL_POLL_REMOVE) {
        auto it = m.sockets_.find(fd);
        if (it != m.sockets_.end()) {
            it->second->descriptor.release();  // curl closes it, not asio
            m.sockets_.erase(it);
        }
        return 0;
    }
    auto& s = m.sockets_[fd];
    if (!s) {
        s = std::make_shared<Socket>(m.io_, fd);
    }
    s->want = what;
    m.arm(fd, s);
    return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self) {
    auto& m = *static_cast<CurlMulti*>(self);
    if (timeout_ms < 0) {
        m.timer_.cancel();
        return 0;
    }
    m.timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    m.timer_.async_wait([&m](const boost::system::error_code& ec) {
        if (!ec) {
            m.action(CURL_SOCKET_TIMEOUT, 0);
        }
    });
    return 0;
}

void CurlMulti::arm(curl_socket_t fd, const std::shared_ptr<Socket>& s) {
    if ((s->want & CURL_POLL_IN) != 0 && !s->reading) {
        s->reading = true;
        s->descriptor.async_wait(
            asio::posix::stream_descriptor::wait_read,
            [this, fd, w = std::weak_ptr(s)](const boost::system::error_code& ec) {
                on_ready(fd, w, ec, CURL_CSELECT_IN);
            });
    }
    if ((s->want & CURL_POLL_OUT) != 0 && !s->writing) {
        s->writing = true;
        s->descriptor.async_wait(
            asio::posix::stream_descriptor::wait_write,
            [this, fd, w = std::weak_ptr(s)](const boost::system::error_code& ec) {
                on_ready(fd, w, ec, CURL_CSELECT_OUT);
            });
    }
}

void CurlMulti::on_ready(curl_socket_t fd, const std::weak_ptr<Socket>& weak,
                         const boost::system::error_code& ec, int flag) {
    auto s = weak.lock();
    if (!s) {
        return;  // curl removed the socket meanwhile
    }
    (flag == CURL_CSELECT_IN ? s->reading : s->writing) = false;
    if (ec) {
        return;
    }
    action(fd, flag);
    auto it = sockets_.find(fd);
    if (it != sockets_.end() && it->second == s) {
        arm(fd, s);
    }
}

void CurlMulti::action(curl_socket_t fd, int flags) {
    int running = 0;
    curl_multi_socket_action(multi_, fd, flags, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        CURL* easy = m->easy_handle;
        const CURLcode rc = m->data.result;
        curl_multi_remove_handle(multi_, easy);
        done_(easy, rc);
    }
}

}  // namespace gtm::health
