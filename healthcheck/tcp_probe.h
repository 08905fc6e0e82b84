// A tcp monitor's probe: an asio connect bounded by the timeout; the connect is the check.
//
// Used on the prober thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/asio.h"
#include "healthcheck/verdict.h"

namespace gtm::health {

class TcpProbe {
  public:
    TcpProbe(boost::asio::io_context& io, const std::string& address, uint16_t port,
             uint32_t timeout_ms, const std::string& source = "");

    // Connects; calls `done` with the result on the io_context's thread, unless cancel() came
    // first.
    void start(int64_t started_ms, std::function<void(ProbeResult)> done);
    void cancel();

  private:
    struct Attempt;
    boost::asio::io_context& io_;
    boost::system::error_code address_error_;
    boost::asio::ip::tcp::endpoint endpoint_;
    std::optional<boost::asio::ip::address> source_;
    uint32_t timeout_ms_;
    std::shared_ptr<Attempt> attempt_;
};

}  // namespace gtm::health
