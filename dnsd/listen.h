// Listening sockets for DNS (UDP + TCP on one port) and for HTTP, opened before any thread
// starts so that port 0 resolves to one OS-chosen port shared by UDP and TCP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gtm::dns {

struct Endpoint {
    std::string host;  // "127.0.0.1", "::1", "0.0.0.0", "::"
    uint16_t port = 0;
    bool v6 = false;
    std::string text() const;
};

// Parses "127.0.0.1:5300", "[::1]:5300", ":5300" (all IPv4 addresses). Throws
// std::invalid_argument with the reason.
Endpoint parse_endpoint(const std::string& text);

struct DnsListener {
    Endpoint endpoint;         // port resolved
    std::vector<int> udp_fds;  // one per worker, SO_REUSEPORT
    int tcp_fd = -1;           // listening
    bool wildcard = false;     // bound to 0.0.0.0 or ::, answers need IP_PKTINFO
};

// Opens `workers` UDP sockets and one TCP socket on the endpoint. Throws std::runtime_error
// naming the endpoint and the errno text.
DnsListener open_dns(const Endpoint& e, unsigned workers);

// A listening TCP socket; returns the fd and sets the resolved port.
int open_tcp_listener(Endpoint& e);

}  // namespace gtm::dns
