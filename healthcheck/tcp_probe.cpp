#include "healthcheck/tcp_probe.h"

#include "base/clock.h"

namespace gtm::health {

namespace asio = boost::asio;
using asio::ip::tcp;

struct TcpProbe::Attempt {
    explicit Attempt(asio::io_context& io) : socket(io), deadline(io) {}
    tcp::socket socket;
    asio::steady_timer deadline;
    bool timed_out = false;
    bool cancelled = false;
};

TcpProbe::TcpProbe(asio::io_context& io, const std::string& address, uint16_t port,
                   uint32_t timeout_ms, const std::string& source)
    : io_(io), timeout_ms_(timeout_ms) {
    const auto addr = asio::ip::make_address(address, address_error_);
    if (!address_error_) {
        endpoint_ = tcp::endpoint(addr, port);
    }
    if (!source.empty()) {
        boost::system::error_code ec;
        const auto s = asio::ip::make_address(source, ec);
        if (!ec) {
            source_ = s;
        }
    }
}

void TcpProbe::start(int64_t started_ms, std::function<void(ProbeResult)> done) {
    if (address_error_) {
        ProbeResult r;
        r.started_ms = started_ms;
        r.reason = Reason::Internal;
        r.detail = address_error_.message();
        asio::post(io_, [done = std::move(done), r] { done(r); });
        return;
    }
    auto a = std::make_shared<Attempt>(io_);
    attempt_ = a;
    if (source_) {
        // This node's vantage: the probe leaves from its source address.
        boost::system::error_code ec;
        a->socket.open(endpoint_.protocol(), ec);
        if (!ec) {
            a->socket.bind(tcp::endpoint(*source_, 0), ec);
        }
        if (ec) {
            ProbeResult r;
            r.started_ms = started_ms;
            r.reason = Reason::Internal;
            r.detail = "cannot bind the source address: " + ec.message();
            asio::post(io_, [done = std::move(done), r] { done(r); });
            return;
        }
    }
    a->deadline.expires_after(std::chrono::milliseconds(timeout_ms_));
    a->deadline.async_wait([a](const boost::system::error_code& e) {
        if (e) {
            return;
        }
        a->timed_out = true;
        boost::system::error_code ignored;
        a->socket.close(ignored);  // the connect handler sees operation_aborted
    });
    a->socket.async_connect(
        endpoint_, [a, started_ms, done = std::move(done)](const boost::system::error_code& e) {
            a->deadline.cancel();
            boost::system::error_code ignored;
            a->socket.close(ignored);
            if (a->cancelled) {
                return;
            }
            ProbeResult r;
            r.started_ms = started_ms;
            r.latency_ms = static_cast<uint32_t>(monotonic_ms() - started_ms);
            if (a->timed_out) {
                r.reason = Reason::ConnectTimeout;
                r.detail = "no answer to the connect within the timeout";
            } else if (e == asio::error::connection_refused) {
                r.reason = Reason::ConnectRefused;
                r.detail = e.message();
            } else if (e) {
                r.reason = Reason::ConnectError;
                r.detail = e.message();
            }
            done(std::move(r));
        });
}

void TcpProbe::cancel() {
    if (attempt_) {
        attempt_->cancelled = true;
        attempt_->deadline.cancel();
        boost::system::error_code ignored;
        attempt_->socket.close(ignored);
        attempt_.reset();
    }
}

}  // namespace gtm::health
