// What the DNS workers count, per worker, in plain counters: the query path never touches a
// lock, a shared cache line or a metrics library. /metrics folds them at scrape time.
//
// Each WorkerStats has one writer (its worker thread) and is read by the scraping thread: the
// counters are relaxed atomics incremented by load + store (one writer: no read-modify-write
// needed; on x86 a plain add).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "dnsd/rrl.h"

namespace gtm::dns {

inline constexpr size_t kQtypeBuckets = 18;  // the common types and "other"
inline constexpr size_t kRcodeBuckets = 8;   // NOERROR..REFUSED, BADVERS, other
inline constexpr size_t kDropReasons = 2;    // short, qr_set
// Upper bounds of the answer-time histogram, in seconds: gtmd answers in microseconds; a slow
// answer (a starved worker) shows in the upper buckets.
inline constexpr std::array<double, 12> kAnswerBuckets = {
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1.0};

// Names of the buckets, in order: the label values of the exposition.
const char* qtype_label(size_t bucket);
const char* rcode_label(size_t bucket);
const char* drop_label(size_t reason);
size_t qtype_bucket(uint16_t qtype) noexcept;
size_t rcode_bucket(uint16_t rcode) noexcept;

enum class DropReason : uint8_t { Short, QrSet };

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct WorkerStats {
    std::atomic<uint64_t> queries[2][kQtypeBuckets][kRcodeBuckets] = {};
    std::atomic<uint64_t> truncated[2] = {};
    std::atomic<uint64_t> dropped[kDropReasons] = {};
    std::atomic<uint64_t> answer_buckets[2][kAnswerBuckets.size() + 1] = {};  // last: +Inf
    std::atomic<uint64_t> answer_count[2] = {};
    std::atomic<uint64_t> answer_ns[2] = {};                           // sum of answer times
    std::atomic<uint64_t> rrl_limited[kRrlClasses][kRrlActions] = {};  // UDP only

    void query(size_t transport, uint16_t qtype, uint16_t rcode, bool truncated_answer) noexcept {
        bump(queries[transport][qtype_bucket(qtype)][rcode_bucket(rcode)]);
        if (truncated_answer) {
            bump(truncated[transport]);
        }
    }
    void drop(DropReason r) noexcept { bump(dropped[static_cast<size_t>(r)]); }
    // An answer RRL held back: dropped, or sent truncated (slip).
    void limited(RrlClass c, RrlAction a) noexcept {
        bump(rrl_limited[static_cast<size_t>(c)][a == RrlAction::Slip ? 1 : 0]);
    }
    // `n` answers that took `ns` nanoseconds each (a UDP batch counts its time for each).
    void answered(size_t transport, uint64_t ns, uint64_t n) noexcept;
};

// Every worker's stats, registered as workers start. The workers keep pointers into it; it
// outlives them (owned by main).
class StatsRegistry {
  public:
    WorkerStats& add() {
        std::lock_guard lock(mu_);
        workers_.push_back(std::make_unique<WorkerStats>());
        return *workers_.back();
    }
    template <typename F>
    void each(F&& f) const {
        std::lock_guard lock(mu_);
        for (const auto& w : workers_) {
            f(*w);
        }
    }

  private:
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<WorkerStats>> workers_;
};

// DNS over TCP, counted on the TCP thread.
// SourceLimit: refused at accept, its address holds dns.tcp_max_connections_per_source already.
enum class TcpClose : uint8_t { Eof, Idle, Error, Evicted, Shutdown, ReadTimeout, SourceLimit };
inline constexpr size_t kTcpCloseReasons = 7;
const char* tcp_close_label(size_t reason);

struct TcpStats {
    std::atomic<uint64_t> open{0};
    std::atomic<uint64_t> closed[kTcpCloseReasons] = {};
    std::atomic<uint64_t> accept_errors{0};  // accept() failed (out of file descriptors, ...)
};

}  // namespace gtm::dns
