#include "dnsd/stats.h"

namespace gtm::dns {

size_t qtype_bucket(uint16_t qtype) noexcept {
    switch (qtype) {
        case 1:
            return 0;
        case 28:
            return 1;
        case 255:
            return 2;
        case 5:
            return 3;
        case 15:
            return 4;
        case 2:
            return 5;
        case 12:
            return 6;
        case 6:
            return 7;
        case 33:
            return 8;
        case 16:
            return 9;
        case 257:
            return 10;
        case 43:
            return 11;
        case 48:
            return 12;
        case 65:
            return 13;
        case 64:
            return 14;
        case 252:
            return 15;
        case 251:
            return 16;
        default:
            return 17;
    }
}

const char* qtype_label(size_t bucket) {
    static const char* const kNames[kQtypeBuckets] = {
        "A",   "AAAA", "ANY", "CNAME",  "MX",    "NS",   "PTR",  "SOA",  "SRV",
        "TXT", "CAA",  "DS",  "DNSKEY", "HTTPS", "SVCB", "AXFR", "IXFR", "other"};
    return bucket < kQtypeBuckets ? kNames[bucket] : "other";
}

size_t rcode_bucket(uint16_t rcode) noexcept {
    if (rcode <= 5) {
        return rcode;  // NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED
    }
    return rcode == 16 ? 6 : 7;  // BADVERS, other
}

const char* rcode_label(size_t bucket) {
    static const char* const kNames[kRcodeBuckets] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                      "NOTIMP",  "REFUSED", "BADVERS",  "other"};
    return bucket < kRcodeBuckets ? kNames[bucket] : "other";
}

const char* drop_label(size_t reason) {
    static const char* const kNames[kDropReasons] = {"short", "qr_set"};
    return reason < kDropReasons ? kNames[reason] : "other";
}

const char* tcp_close_label(size_t reason) {
    static const char* const kNames[kTcpCloseReasons] = {
        "eof", "idle", "error", "evicted", "shutdown", "read_timeout", "source_limit"};
    return reason < kTcpCloseReasons ? kNames[reason] : "other";
}

void WorkerStats::answered(size_t transport, uint64_t ns, uint64_t n) noexcept {
    const double seconds = static_cast<double>(ns) * 1e-9;
    size_t b = 0;
    while (b < kAnswerBuckets.size() && seconds > kAnswerBuckets[b]) {
        ++b;
    }
    bump(answer_buckets[transport][b], n);
    bump(answer_count[transport], n);
    bump(answer_ns[transport], ns * n);
}

}  // namespace gtm::dns
