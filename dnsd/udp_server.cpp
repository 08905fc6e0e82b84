#include "dnsd/udp_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dnsd/wire.h"

namespace gtm::dns {

namespace {

constexpr unsigned kBatch = 32;
constexpr size_t kQueryBuffer = 4096;   // larger queries are truncated, answered FORMERR
constexpr size_t kAnswerBuffer = 4096;  // >= ResponderConfig::udp_max_size (capped at 4096)
constexpr size_t kControl = CMSG_SPACE(sizeof(in6_pktinfo));

// Per-worker buffers, allocated once; the loop below does not allocate.
struct Batch {
    uint8_t in[kBatch][kQueryBuffer];
    uint8_t out[kBatch][kAnswerBuffer];
    sockaddr_storage from[kBatch];
    alignas(cmsghdr) uint8_t control_in[kBatch][kControl];
    alignas(cmsghdr) uint8_t control_out[kBatch][kControl];
    iovec iov_in[kBatch];
    iovec iov_out[kBatch];
    mmsghdr msgs_in[kBatch];
    mmsghdr msgs_out[kBatch];
};

// Copies the destination address of the query into the source of the answer (IP_PKTINFO).
size_t reply_control(const msghdr& in, uint8_t* out) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&in), c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            in_pktinfo reply{};
            reply.ipi_spec_dst = info.ipi_addr;
            auto* o = reinterpret_cast<cmsghdr*>(out);
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof reply);
            std::memcpy(CMSG_DATA(o), &reply, sizeof reply);
            return CMSG_SPACE(sizeof reply);
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            auto* o = reinterpret_cast<cmsghdr*>(out);
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof info);
            std::memcpy(CMSG_DATA(o), &info, sizeof info);
            return CMSG_SPACE(sizeof info);
        }
    }
    return 0;
}

uint64_t now_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

// Rate limiting needs milliseconds: the coarse clock (vDSO, no system call) is enough.
uint64_t coarse_now_ms() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000u + static_cast<uint64_t>(t.tv_nsec) / 1000000u;
}

}  // namespace

UdpWorkers::UdpWorkers(const SnapshotHolder& holder, const ResponderConfig& config,
                       StatsRegistry* stats, const RrlConfig& rrl)
    : holder_(holder), config_(config), stats_(stats), rrl_(rrl) {}

UdpWorkers::~UdpWorkers() { stop(); }

void UdpWorkers::start(int fd, bool pktinfo, uint64_t seed) {
    // The receive timeout is how a blocked worker notices stop().
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fds_.push_back(fd);
    WorkerStats* stats = stats_ != nullptr ? &stats_->add() : nullptr;
    const auto slot = static_cast<uint32_t>(threads_.size());
    threads_.emplace_back(
        [this, fd, pktinfo, seed, stats, slot] { run(fd, pktinfo, seed, stats, slot); });
}

void UdpWorkers::stop() {
    stop_.store(true);
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
    for (int fd : fds_) {
        ::close(fd);
    }
    fds_.clear();
}

void UdpWorkers::run(int fd, bool pktinfo, uint64_t seed, WorkerStats* stats, uint32_t slot) {
    Responder responder(holder_, config_, seed);
    responder.count_into(stats, slot);
    std::unique_ptr<Rrl> rrl;
    if (rrl_.enabled) {
        rrl = std::make_unique<Rrl>(rrl_, seed ^ 0x9e3779b97f4a7c15ull);  // the table, once
        responder.limit_with(rrl.get());
    }
    auto batch = std::make_unique<Batch>();
    Batch& b = *batch;
    // Every slot is set up once; after a batch only the slots it used are reset (the kernel
    // wrote their name and control lengths), so a single query costs one slot's worth of work.
    auto reset = [&](unsigned i) {
        b.iov_in[i] = {b.in[i], kQueryBuffer};
        msghdr& h = b.msgs_in[i].msg_hdr;
        h.msg_namelen = sizeof(sockaddr_storage);
        if (pktinfo) {
            h.msg_controllen = kControl;
        }
    };
    for (unsigned i = 0; i < kBatch; ++i) {
        msghdr& h = b.msgs_in[i].msg_hdr;
        h = msghdr{};
        h.msg_name = &b.from[i];
        h.msg_iov = &b.iov_in[i];
        h.msg_iovlen = 1;
        if (pktinfo) {
            h.msg_control = b.control_in[i];
        }
        reset(i);
    }
    while (!stop_.load(std::memory_order_relaxed)) {
        const int n = recvmmsg(fd, b.msgs_in, kBatch, MSG_WAITFORONE, nullptr);
        if (n <= 0) {
            continue;  // timeout (checks stop_), EINTR
        }
        // The batch's answer time, from its arrival in user space to its last sendmmsg: two
        // clock reads per batch, not per query.
        const uint64_t started_ns = stats != nullptr ? now_ns() : 0;
        if (rrl) {
            rrl->set_now(coarse_now_ms());
        }

        unsigned out = 0;
        for (int i = 0; i < n; ++i) {
            const msghdr& in = b.msgs_in[i].msg_hdr;
            const size_t size =
                responder.answer(b.in[i], b.msgs_in[i].msg_len, b.out[out], Transport::Udp, nullptr,
                                 reinterpret_cast<const sockaddr*>(&b.from[i]));
            if (size == 0) {
                continue;
            }
            b.iov_out[out] = {b.out[out], size};
            msghdr& h = b.msgs_out[out].msg_hdr;
            h = msghdr{};
            h.msg_name = const_cast<void*>(in.msg_name);
            h.msg_namelen = in.msg_namelen;
            h.msg_iov = &b.iov_out[out];
            h.msg_iovlen = 1;
            if (pktinfo) {
                const size_t c = reply_control(in, b.control_out[out]);
                if (c > 0) {
                    h.msg_control = b.control_out[out];
                    h.msg_controllen = c;
                }
            }
            ++out;
        }
        for (unsigned sent = 0; sent < out;) {
            const int r = sendmmsg(fd, b.msgs_out + sent, out - sent, 0);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                ++sent;  // skip the answer the kernel refused (unreachable client, ...)
                continue;
            }
            sent += static_cast<unsigned>(r);
        }
        if (stats != nullptr && out > 0) {
            stats->answered(0, now_ns() - started_ns, out);
        }
        for (int i = 0; i < n; ++i) {
            reset(static_cast<unsigned>(i));  // the kernel changed their lengths
        }
    }
}

}  // namespace gtm::dns
