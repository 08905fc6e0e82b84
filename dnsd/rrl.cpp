#include "dnsd/rrl.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace gtm::dns {

namespace {

constexpr size_t kProbes = 4;      // buckets tried from the hashed slot
constexpr uint32_t kMilli = 1000;  // tokens are counted in thousandths of an answer

// A 64-bit mixer (splitmix64's finalizer): the key's bits reach every bit of the index.
inline uint64_t mix(uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

void make_mask(uint8_t* mask, size_t bytes, unsigned bits) {
    for (size_t i = 0; i < bytes; ++i) {
        const unsigned b = bits > 8 * i ? std::min(8u, bits - 8 * static_cast<unsigned>(i)) : 0;
        mask[i] = static_cast<uint8_t>(b == 0 ? 0 : 0xFF << (8 - b));
    }
}

// Whether the first `bits` bits of a and b are equal.
bool same_prefix(const uint8_t* a, const uint8_t* b, unsigned bits) noexcept {
    const unsigned whole = bits / 8;
    if (std::memcmp(a, b, whole) != 0) {
        return false;
    }
    const unsigned rest = bits % 8;
    if (rest == 0) {
        return true;
    }
    const auto m = static_cast<uint8_t>(0xFF << (8 - rest));
    return (a[whole] & m) == (b[whole] & m);
}

}  // namespace

const char* rrl_class_label(size_t c) {
    static const char* const kNames[kRrlClasses] = {"answer", "nodata", "nxdomain", "referral",
                                                    "error"};
    return c < kRrlClasses ? kNames[c] : "other";
}

const char* rrl_action_label(size_t a) {
    static const char* const kNames[kRrlActions] = {"dropped", "truncated"};
    return a < kRrlActions ? kNames[a] : "other";
}

std::string parse_prefix(const std::string& text, RrlPrefix& out) {
    out = RrlPrefix{};
    out.text = text;
    const size_t slash = text.find('/');
    const std::string addr = text.substr(0, slash);
    if (inet_pton(AF_INET, addr.c_str(), out.bytes) == 1) {
        out.v6 = false;
    } else if (inet_pton(AF_INET6, addr.c_str(), out.bytes) == 1) {
        out.v6 = true;
    } else {
        return "'" + addr + "' is not an IPv4 or IPv6 address";
    }
    const unsigned max = out.v6 ? 128 : 32;
    unsigned length = max;
    if (slash != std::string::npos) {
        const std::string len = text.substr(slash + 1);
        if (len.empty() || len.size() > 3 ||
            !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoul(len) > max) {
            return "'/" + len + "' is not a prefix length from 0 to " + std::to_string(max);
        }
        length = static_cast<unsigned>(std::stoul(len));
    }
    uint8_t mask[16];
    make_mask(mask, 16, length);
    for (size_t i = 0; i < (out.v6 ? 16u : 4u); ++i) {
        if ((out.bytes[i] & ~mask[i]) != 0) {
            return "'" + text + "' has address bits set beyond /" + std::to_string(length);
        }
    }
    out.length = static_cast<uint8_t>(length);
    return "";
}

size_t Rrl::buckets_for(uint32_t table_size) {
    size_t n = 1024;
    while (n < table_size) {
        n <<= 1;
    }
    return n;
}

Rrl::Rrl(const RrlConfig& config, uint64_t seed) : config_(config), seed_(seed) {
    const size_t n = buckets_for(config.table_size);
    table_ = std::make_unique<Bucket[]>(n);
    mask_ = n - 1;
    // The masks in the byte order the addresses are loaded in (memcpy of network bytes).
    uint8_t m[16];
    make_mask(m, 4, config.ipv4_prefix);
    std::memcpy(&v4_mask_, m, 4);
    make_mask(m, 16, config.ipv6_prefix);
    std::memcpy(&v6_mask_hi_, m, 8);
    std::memcpy(&v6_mask_lo_, m + 8, 8);
}

namespace {

// The client's address bytes and family; an IPv4-mapped IPv6 address is its IPv4 address (a
// dual-stack socket would otherwise put every IPv4 client in one /56).
const uint8_t* client_address(const sockaddr* from, bool& v6) noexcept {
    if (from->sa_family == AF_INET6) {
        const uint8_t* a = reinterpret_cast<const sockaddr_in6*>(from)->sin6_addr.s6_addr;
        static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        v6 = std::memcmp(a, kMapped, 12) != 0;
        return v6 ? a : a + 12;
    }
    v6 = false;
    return reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(from)->sin_addr);
}

}  // namespace

// The key's bucket among kProbes slots from its own; else the one refilled the longest ago is
// taken over (a flood of many keys only pushes out keys that went quiet first), full.
Rrl::Bucket* Rrl::take(uint64_t key, uint32_t burst) noexcept {
    Bucket* oldest = nullptr;
    for (size_t i = 0; i < kProbes; ++i) {
        Bucket& s = table_[(key + i) & mask_];
        if (s.key == key) {
            return &s;
        }
        // The first empty slot, else the one refilled the longest ago.
        if (oldest == nullptr ||
            (oldest->key != 0 && (s.key == 0 || now_ms_ - s.last_ms > now_ms_ - oldest->last_ms))) {
            oldest = &s;
        }
    }
    *oldest = Bucket{key, burst, now_ms_, 0};
    return oldest;
}

bool Rrl::exempt(const uint8_t* addr, bool v6) const noexcept {
    for (const RrlPrefix& p : config_.exempt) {
        if (p.v6 == v6 && same_prefix(addr, p.bytes, p.length)) {
            return true;
        }
    }
    return false;
}

RrlAction Rrl::check(const sockaddr* from, RrlClass c, uint32_t name_hash,
                     uint16_t qtype) noexcept {
    bool v6 = false;
    const uint8_t* addr = client_address(from, v6);
    if (!config_.exempt.empty() && exempt(addr, v6)) {
        return RrlAction::Pass;
    }
    // The key: the source prefix, the class, the name, and the type for positive answers.
    uint64_t hi = 0;
    uint64_t lo = 0;
    if (v6) {
        std::memcpy(&hi, addr, 8);
        std::memcpy(&lo, addr + 8, 8);
        hi &= v6_mask_hi_;
        lo &= v6_mask_lo_;
    } else {
        uint32_t v4 = 0;
        std::memcpy(&v4, addr, 4);
        hi = v4 & v4_mask_;
    }
    const bool typed = c == RrlClass::Answer || c == RrlClass::NoData;
    const uint64_t what = (static_cast<uint64_t>(v6) << 56) |  // families never share a key
                          (static_cast<uint64_t>(c) << 48) |
                          (static_cast<uint64_t>(typed ? qtype : 0) << 32) | name_hash;
    // Keyed by the seed: which keys share a slot cannot be known from outside.
    const uint64_t key =
        mix(mix(seed_ ^ hi) ^ lo ^ (what * 0x9e3779b97f4a7c15ull)) | 1;  // never 0 (empty)

    // A bucket holds half a second's worth: no window of one second passes more than 1.5 x rate.
    const uint32_t burst = std::max(kMilli, config_.rate * (kMilli / 2));
    Bucket* b = &table_[key & mask_];  // most often the key's own slot
    if (b->key != key) {
        b = take(key, burst);
    }
    // Refill: `rate` answers per second, at most half a second's worth saved up.
    const uint64_t elapsed_ms = now_ms_ - b->last_ms;
    if (elapsed_ms > 0) {
        b->tokens =
            static_cast<uint32_t>(std::min<uint64_t>(burst, b->tokens + elapsed_ms * config_.rate));
        b->last_ms = now_ms_;
    }
    if (b->tokens >= kMilli) {
        b->tokens -= kMilli;
        return RrlAction::Pass;
    }
    ++b->limited;
    if (config_.slip != 0 && b->limited % config_.slip == 0) {
        return RrlAction::Slip;
    }
    return RrlAction::Drop;
}

}  // namespace gtm::dns
