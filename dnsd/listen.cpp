#include "dnsd/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace gtm::dns {

namespace {

constexpr int kTcpBacklog = 1024;
constexpr int kUdpBufferBytes = 4 << 20;  // absorbs bursts while a worker is busy

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (e.v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(e.port);
        inet_pton(AF_INET6, e.host.c_str(), &a->sin6_addr);
        return sizeof(sockaddr_in6);
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(e.port);
    inet_pton(AF_INET, e.host.c_str(), &a->sin_addr);
    return sizeof(sockaddr_in);
}

[[noreturn]] void fail(const std::string& what, const Endpoint& e) {
    throw std::runtime_error(what + " " + e.text() + ": " + std::strerror(errno));
}

int bound_socket(int type, const Endpoint& e, bool reuseport) {
    Fd s{::socket(e.v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) {
        fail("cannot create a socket for", e);
    }
    int one = 1;
    setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        fail("cannot set SO_REUSEPORT on", e);
    }
    if (e.v6) {
        setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    sockaddr_storage ss;
    socklen_t sl = to_sockaddr(e, ss);
    if (::bind(s.fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
        fail("cannot bind", e);
    }
    return s.release();
}

uint16_t bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    if (ss.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

std::string Endpoint::text() const {
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Endpoint parse_endpoint(const std::string& text) {
    Endpoint e;
    std::string port;
    if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw std::invalid_argument("'" + text + "' is not [IPv6]:port");
        }
        e.host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        e.v6 = true;
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string::npos) {
            throw std::invalid_argument("'" + text + "' has no :port");
        }
        e.host = colon == 0 ? "0.0.0.0" : text.substr(0, colon);
        port = text.substr(colon + 1);
        if (e.host.find(':') != std::string::npos) {
            throw std::invalid_argument("'" + text + "': write IPv6 addresses as [addr]:port");
        }
    }
    unsigned char buf[16];
    if (inet_pton(e.v6 ? AF_INET6 : AF_INET, e.host.c_str(), buf) != 1) {
        throw std::invalid_argument("'" + e.host + "' is not an IP address");
    }
    unsigned value = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value > 65535) {
        throw std::invalid_argument("'" + port + "' is not a port number");
    }
    e.port = static_cast<uint16_t>(value);
    return e;
}

DnsListener open_dns(const Endpoint& requested, unsigned workers) {
    // With port 0 the OS picks the UDP port; TCP must get the same one, which another program
    // may hold: try a few times.
    for (int attempt = 0;; ++attempt) {
        DnsListener l;
        l.endpoint = requested;
        l.wildcard = requested.host == "0.0.0.0" || requested.host == "::";
        Fd first{bound_socket(SOCK_DGRAM, l.endpoint, true)};
        l.endpoint.port = bound_port(first.fd);
        int tcp = -1;
        try {
            tcp = bound_socket(SOCK_STREAM, l.endpoint, false);
        } catch (const std::runtime_error&) {
            if (requested.port == 0 && errno == EADDRINUSE && attempt < 20) {
                continue;
            }
            throw;
        }
        Fd tcp_fd{tcp};
        if (::listen(tcp_fd.fd, kTcpBacklog) != 0) {
            fail("cannot listen on", l.endpoint);
        }
        l.udp_fds.push_back(first.release());
        for (unsigned i = 1; i < workers; ++i) {
            l.udp_fds.push_back(bound_socket(SOCK_DGRAM, l.endpoint, true));
        }
        int one = 1;
        for (int fd : l.udp_fds) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kUdpBufferBytes, sizeof kUdpBufferBytes);
            if (l.wildcard) {
                if (l.endpoint.v6) {
                    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
                } else {
                    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
                }
            }
        }
        l.tcp_fd = tcp_fd.release();
        return l;
    }
}

int open_tcp_listener(Endpoint& e) {
    Fd s{bound_socket(SOCK_STREAM, e, false)};
    if (::listen(s.fd, kTcpBacklog) != 0) {
        fail("cannot listen on", e);
    }
    e.port = bound_port(s.fd);
    return s.release();
}

}  // namespace gtm::dns
