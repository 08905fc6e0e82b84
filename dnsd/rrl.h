// Response rate limiting (RRL) for answers over UDP, as in Knot DNS, NSD and BIND: a flood of
// queries with a forged source turns gtmd into a reflector; RRL caps the answers that one source
// prefix gets for one kind of answer, and lets every `slip`th limited answer through truncated
// (TC=1, no records) so that a real client behind that prefix retries over TCP, where a forged
// source cannot follow.
//
// One Rrl per UDP worker, owned by its thread: a fixed table of token buckets allocated when the
// worker starts; check() does not allocate, lock or touch another thread's memory. TCP answers are
// never limited (the handshake proves the source).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gtm::dns {

// A source prefix: the first `length` bits of `bytes` (4 bytes used for IPv4).
struct RrlPrefix {
    bool v6 = false;
    uint8_t bytes[16] = {};
    uint8_t length = 0;
    std::string text;  // as configured, for logs
};

// Parses "192.0.2.0/24", "2001:db8::/56" or a bare address (a /32 or /128). Returns an empty
// string on success, else why not (bits set beyond the prefix length are an error: the operator
// meant something else).
std::string parse_prefix(const std::string& text, RrlPrefix& out);

struct RrlConfig {
    bool enabled = false;
    uint32_t rate = 20;           // answers per second per (prefix, class, name); burst: 0.5 s
    uint32_t slip = 2;            // every Nth limited answer sent truncated; 0: drop them all
    uint32_t table_size = 65536;  // buckets per UDP worker, rounded up to a power of two
    uint8_t ipv4_prefix = 24;     // source addresses sharing a bucket
    uint8_t ipv6_prefix = 56;
    std::vector<RrlPrefix> exempt;  // never limited
};

// The kind of answer, as Knot and BIND tell them apart: a flood of one kind does not limit
// another. The name in the bucket's key is the question (answer, nodata), the zone (nxdomain: a
// random-subdomain flood shares one bucket), the delegation (referral), or none (error).
enum class RrlClass : uint8_t { Answer, NoData, NxDomain, Referral, Error };
inline constexpr size_t kRrlClasses = 5;
const char* rrl_class_label(size_t c);

enum class RrlAction : uint8_t { Pass, Drop, Slip };
inline constexpr size_t kRrlActions = 2;  // dropped, truncated (Pass is not counted)
const char* rrl_action_label(size_t a);

class Rrl {
  public:
    Rrl(const RrlConfig& config, uint64_t seed);

    // The clock, in milliseconds (any monotonic origin); read once per receive batch.
    void set_now(uint64_t now_ms) noexcept { now_ms_ = static_cast<uint32_t>(now_ms); }

    // Whether the answer of class `c` about `name_hash` (with `qtype`) to `from` may go out.
    RrlAction check(const sockaddr* from, RrlClass c, uint32_t name_hash, uint16_t qtype) noexcept;

    size_t buckets() const { return mask_ + 1; }
    // The buckets a table of `table_size` has: a power of two, at least 1024.
    static size_t buckets_for(uint32_t table_size);

  private:
    struct Bucket {
        uint64_t key = 0;      // 0: empty
        uint32_t tokens = 0;   // in thousandths of an answer
        uint32_t last_ms = 0;  // when tokens were last refilled
        uint32_t limited = 0;  // answers limited so far: every slip-th is truncated
    };

    bool exempt(const uint8_t* addr, bool v6) const noexcept;
    Bucket* take(uint64_t key, uint32_t burst) noexcept;

    const RrlConfig config_;
    uint64_t seed_;
    std::unique_ptr<Bucket[]> table_;
    size_t mask_ = 0;
    uint32_t now_ms_ = 0;
    uint32_t v4_mask_ = 0;
    uint64_t v6_mask_hi_ = 0;
    uint64_t v6_mask_lo_ = 0;
};

}  // namespace gtm::dns
