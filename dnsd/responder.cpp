#include "dnsd/responder.h"

#include <cstring>

#include "dnsd/wire.h"

namespace gtm::dns {

namespace {

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagCd = 0x0010;
constexpr uint32_t kEdnsDo = 0x8000;
constexpr size_t kOptFixed = 11;  // root name, type, class, TTL, rdlength
constexpr int kMaxChain = 8;      // CNAMEs followed inside a zone
constexpr int kMaxPointers = 64;  // compression pointers followed in one name

inline uint8_t lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c | 0x20) : c;
}

// A name in lower case with its label offsets and the hash of every suffix.
struct Name {
    uint8_t wire[256];
    uint8_t offsets[kMaxLabels];
    uint32_t hashes[kMaxLabels + 1];
    size_t len = 0;
    size_t labels = 0;

    void finish() noexcept { suffix_hashes(wire, offsets, labels, hashes); }
};

// Reads an uncompressed name at msg[pos] into `n` (lower case). Returns the offset after it, or 0
// when it is truncated, too long, or uses a pointer (never legitimate in a question).
size_t read_plain_name(const uint8_t* msg, size_t len, size_t pos, Name& n) noexcept {
    n.len = 0;
    n.labels = 0;
    for (;;) {
        if (pos >= len) {
            return 0;
        }
        const uint8_t l = msg[pos];
        if (l == 0) {
            n.wire[n.len++] = 0;
            n.finish();
            return pos + 1;
        }
        if (l > 63) {
            return 0;  // a pointer or an extended label type (RFC 6891 §5)
        }
        if (n.len + l + 2 > 255 || pos + 1 + l > len) {
            return 0;
        }
        n.offsets[n.labels++] = static_cast<uint8_t>(n.len);
        n.wire[n.len++] = l;
        for (size_t i = 0; i < l; ++i) {
            n.wire[n.len++] = lower(msg[pos + 1 + i]);
        }
        pos += 1 + l;
    }
}

// Checks the possibly compressed name at msg[pos]: every pointer inside the message, at most
// kMaxPointers of them (a loop never ends otherwise), at most 255 bytes once expanded. Returns
// the offset after the name as it sits at `pos`, or 0.
size_t skip_name(const uint8_t* msg, size_t len, size_t pos) noexcept {
    size_t end = 0;
    size_t expanded = 0;
    int pointers = 0;
    for (;;) {
        if (pos >= len) {
            return 0;
        }
        const uint8_t l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++pointers > kMaxPointers) {
                return 0;
            }
            if (end == 0) {
                end = pos + 2;
            }
            const size_t target = static_cast<size_t>(l & 0x3F) << 8 | msg[pos + 1];
            if (target >= len) {
                return 0;
            }
            pos = target;
            continue;
        }
        if (l > 63) {
            return 0;
        }
        expanded += static_cast<size_t>(l) + 1;
        if (expanded > 255) {
            return 0;
        }
        if (l == 0) {
            return end != 0 ? end : pos + 1;
        }
        pos += 1 + l;
    }
}

struct Query {
    Name qname;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    size_t question_end = 0;  // 0: no question to echo
    bool edns = false;
    uint16_t udp_size = 0;
    uint8_t edns_version = 0;
    bool dnssec_ok = false;
    bool nsid = false;
};

enum class Parse { Ok, Drop, FormErr, NotImp, BadVers };

// Reads the question at msg[12]: an uncompressed name, QTYPE and QCLASS. Returns the offset
// after it, or 0 when it is truncated or malformed.
size_t read_question(const uint8_t* msg, size_t len, Query& q) noexcept {
    const size_t pos = read_plain_name(msg, len, kHeaderSize, q.qname);
    if (pos == 0 || pos + 4 > len) {
        return 0;
    }
    q.qtype = rd16(msg + pos);
    q.qclass = rd16(msg + pos + 2);
    q.question_end = pos + 4;
    return q.question_end;
}

// Reads the OPT record whose owner is at msg[name_at] and whose fixed part (type, class, TTL,
// rdlength) is at msg[fixed_at], its rdata known to fit. RFC 6891 §6.1.1: one OPT, in the
// additional section, owned by the root; every option must fit the rdata. Returns false if not.
bool read_opt(const uint8_t* msg, size_t name_at, size_t fixed_at, bool in_additional,
              Query& q) noexcept {
    if (!in_additional || q.edns || msg[name_at] != 0) {
        return false;
    }
    const uint32_t ttl = rd32(msg + fixed_at + 4);
    q.edns = true;
    q.udp_size = rd16(msg + fixed_at + 2);
    q.edns_version = static_cast<uint8_t>(ttl >> 16);
    q.dnssec_ok = (ttl & kEdnsDo) != 0;
    const size_t rdata = fixed_at + 10;
    const size_t end = rdata + rd16(msg + fixed_at + 8);
    for (size_t o = rdata; o < end;) {
        if (o + 4 > end) {
            return false;
        }
        const uint16_t code = rd16(msg + o);
        const uint16_t olen = rd16(msg + o + 2);
        if (o + 4 + olen > end) {
            return false;
        }
        if (code == kEdnsOptionNsid) {
            q.nsid = true;
        }
        o += 4 + olen;
    }
    return true;
}

// Checks the `an + ns + ar` records from msg[pos] and reads the OPT among them. Returns the
// offset after the last record, or 0 when a name, a record or the OPT is malformed.
size_t read_records(const uint8_t* msg, size_t len, size_t pos, size_t an, size_t ns, size_t ar,
                    Query& q) noexcept {
    for (size_t i = 0; i < an + ns + ar; ++i) {
        const size_t name_at = pos;
        pos = skip_name(msg, len, pos);
        if (pos == 0 || pos + 10 > len) {
            return 0;
        }
        const uint16_t type = rd16(msg + pos);
        const uint16_t rdlen = rd16(msg + pos + 8);
        if (pos + 10 + rdlen > len) {
            return 0;
        }
        if (type == kTypeOpt && !read_opt(msg, name_at, pos, i >= an + ns, q)) {
            return 0;
        }
        pos += 10 + rdlen;
    }
    return pos;
}

// Parses a query: the header, the question and every record after it. Packets under 12 bytes
// and responses are dropped (RFC 8906 §3.1.1); what does not parse is FORMERR (NOTIMP for
// other opcodes).
Parse parse(const uint8_t* msg, size_t len, Query& q) noexcept {
    if (len < kHeaderSize) {
        return Parse::Drop;
    }
    const uint16_t flags = rd16(msg + 2);
    if ((flags & kFlagQr) != 0) {
        return Parse::Drop;
    }
    const bool query_opcode = ((flags >> 11) & 0xF) == 0;
    if (rd16(msg + 4) != 1) {
        return query_opcode ? Parse::FormErr : Parse::NotImp;
    }
    const size_t pos = read_question(msg, len, q);
    if (pos == 0) {
        return query_opcode ? Parse::FormErr : Parse::NotImp;
    }
    if (!query_opcode) {
        return Parse::NotImp;
    }
    if (read_records(msg, len, pos, rd16(msg + 6), rd16(msg + 8), rd16(msg + 10), q) != len) {
        return Parse::FormErr;  // a bad record, or trailing garbage
    }
    if (q.edns && q.edns_version > 0) {
        return Parse::BadVers;
    }
    return Parse::Ok;
}

// Writes the answer sections into a fixed buffer, watching the size limit.
class Writer {
  public:
    Writer(uint8_t* out, size_t start, size_t limit) : out_(out), pos_(start), limit_(limit) {}

    size_t pos() const { return pos_; }

    // One RR whose owner is a compression pointer to `owner` and whose body is prepared.
    bool rr(uint16_t owner, const uint8_t* body, size_t size) noexcept {
        if (pos_ + 2 + size > limit_) {
            return false;
        }
        wr16(out_ + pos_, static_cast<uint16_t>(0xC000 | owner));
        std::memcpy(out_ + pos_ + 2, body, size);
        pos_ += 2 + size;
        return true;
    }

    // One RR with its owner written in full (additional records about other names).
    bool rr_named(const std::string& wire, const uint8_t* body, size_t size) noexcept {
        if (pos_ + wire.size() + size > limit_) {
            return false;
        }
        std::memcpy(out_ + pos_, wire.data(), wire.size());
        std::memcpy(out_ + pos_ + wire.size(), body, size);
        pos_ += wire.size() + size;
        return true;
    }

    // All RRs of `set` under one owner pointer; counts them in `count`.
    bool rrset(uint16_t owner, const RRset& set, uint16_t& count) noexcept {
        const uint8_t* b = set.bodies.data();
        for (uint16_t i = 0; i < set.count; ++i) {
            const size_t size = 10 + rd16(b + 8);
            if (!rr(owner, b, size)) {
                return false;
            }
            b += size;
            ++count;
        }
        return true;
    }

    bool rrset_named(const std::string& wire, const RRset& set, uint16_t& count) noexcept {
        const uint8_t* b = set.bodies.data();
        for (uint16_t i = 0; i < set.count; ++i) {
            const size_t size = 10 + rd16(b + 8);
            if (!rr_named(wire, b, size)) {
                return false;
            }
            b += size;
            ++count;
        }
        return true;
    }

    // Lowers the TTL of the RR that ends at the current position, if it is above `cap`.
    void cap_last_ttl(size_t body_size, uint32_t cap) noexcept {
        uint8_t* ttl = out_ + pos_ - body_size + 4;
        if (rd32(ttl) > cap) {
            wr32(ttl, cap);
        }
    }

    uint8_t* at(size_t offset) { return out_ + offset; }

  private:
    uint8_t* out_;
    size_t pos_;
    size_t limit_;
};

// Where the current owner name sits in the message, uncompressed: the question (offset 12) or
// the rdata of the last CNAME written. Suffixes of it are reachable by pointer.
struct Current {
    uint16_t offset;
    uint16_t len;
    uint16_t suffix(size_t suffix_len) const {
        return static_cast<uint16_t>(offset + len - suffix_len);
    }
};

struct Found {
    const Node* node = nullptr;  // the closest encloser, null outside every zone
    bool exact = false;
};

Found find(const Snapshot& s, const Name& n) noexcept {
    for (size_t k = 0; k <= n.labels; ++k) {
        const size_t off = k < n.labels ? n.offsets[k] : n.len - 1;
        const Node* node = s.find(n.wire + off, n.len - off, n.hashes[k]);
        if (node != nullptr) {
            return {node, k == 0};
        }
    }
    return {};
}

bool ch_name_is(const Name& n, const char* wire, size_t size) {
    return n.len == size && std::memcmp(n.wire, wire, size) == 0;
}

}  // namespace

Responder::Responder(const SnapshotHolder& holder, const ResponderConfig& config, uint64_t seed)
    : holder_(holder), config_(config), rng_(seed) {}

void Responder::refresh_if_stale() noexcept {
    const uint64_t g = holder_.generation();
    if (g != generation_) {
        snap_ = holder_.get();  // rare: a new snapshot was published
        generation_ = g;
    }
}

size_t Responder::answer(const uint8_t* msg, size_t len, uint8_t* out, Transport transport,
                         Outcome* outcome) noexcept {
    Outcome local;
    Outcome& oc = outcome != nullptr ? *outcome : local;
    oc = Outcome{};
    refresh_if_stale();

    Query q;
    const Parse parsed = parse(msg, len, q);
    if (parsed == Parse::Drop) {
        oc.dropped = true;
        return 0;
    }
    const uint16_t qflags = rd16(msg + 2);
    uint16_t flags = static_cast<uint16_t>(kFlagQr | (qflags & (0x7800 | kFlagRd | kFlagCd)));
    uint16_t rcode = kRcodeNoError;
    uint16_t an = 0;
    uint16_t ns = 0;
    uint16_t ar = 0;

    // The header and the question as received: ID, and the question's letter case (0x20).
    std::memcpy(out, msg, 2);
    size_t question_end = kHeaderSize;
    if (q.question_end != 0) {
        std::memcpy(out + kHeaderSize, msg + kHeaderSize, q.question_end - kHeaderSize);
        question_end = q.question_end;
    }
    const bool edns = parsed != Parse::FormErr && q.edns;
    size_t limit = kMaxMessage;
    if (transport == Transport::Udp) {
        limit = edns ? std::max<size_t>(kMaxUdpNoEdns,
                                        std::min<size_t>(q.udp_size, config_.udp_max_size))
                     : kMaxUdpNoEdns;
    }
    const bool send_nsid = edns && q.nsid && !config_.nsid.empty();
    const size_t opt_size = edns ? kOptFixed + (send_nsid ? 4 + config_.nsid.size() : 0) : 0;
    Writer w(out, question_end, limit - opt_size);

    auto finish = [&]() -> size_t {
        size_t pos = w.pos();
        if (edns) {
            uint8_t* o = out + pos;
            o[0] = 0;
            wr16(o + 1, kTypeOpt);
            wr16(o + 3, config_.udp_max_size);
            const uint32_t ttl =
                static_cast<uint32_t>(rcode >> 4) << 24 | (q.dnssec_ok ? kEdnsDo : 0);
            wr32(o + 5, ttl);
            wr16(o + 9, static_cast<uint16_t>(opt_size - kOptFixed));
            if (send_nsid) {
                wr16(o + 11, kEdnsOptionNsid);
                wr16(o + 13, static_cast<uint16_t>(config_.nsid.size()));
                std::memcpy(o + 15, config_.nsid.data(), config_.nsid.size());
            }
            pos += opt_size;
            ++ar;
        }
        wr16(out + 2, static_cast<uint16_t>(flags | (rcode & 0xF)));
        wr16(out + 4, q.question_end != 0 ? 1 : 0);
        wr16(out + 6, an);
        wr16(out + 8, ns);
        wr16(out + 10, ar);
        oc.rcode = rcode;
        oc.truncated = (flags & kFlagTc) != 0;
        return pos;
    };
    auto truncate = [&]() -> size_t {
        w = Writer(out, question_end, limit - opt_size);
        an = ns = ar = 0;
        flags |= kFlagTc;
        return finish();
    };

    switch (parsed) {
        case Parse::FormErr:
            // RFC 8906: answer whenever a header can be built; echo the question only when it
            // parsed as one.
            if (q.question_end == 0 || rd16(msg + 4) != 1) {
                q.question_end = 0;
                question_end = kHeaderSize;
                w = Writer(out, kHeaderSize, limit);
            }
            rcode = kRcodeFormErr;
            return finish();
        case Parse::NotImp:
            if (q.question_end == 0) {
                w = Writer(out, kHeaderSize, limit - opt_size);
            }
            rcode = kRcodeNotImp;
            return finish();
        case Parse::BadVers:
            rcode = kRcodeBadVers;  // RFC 6891 §6.1.3, answered with OPT version 0
            return finish();
        default:
            break;
    }

    if (q.qclass == kClassCh) {
        const std::string* text = nullptr;
        if (ch_name_is(q.qname, "\7version\4bind", 14) ||
            ch_name_is(q.qname, "\7version\6server", 16)) {
            text = &config_.version;
        } else if (ch_name_is(q.qname, "\10hostname\4bind", 15) ||
                   ch_name_is(q.qname, "\2id\6server", 11)) {
            text = &config_.identity;
        }
        if (text == nullptr || text->empty()) {
            rcode = kRcodeRefused;
            return finish();
        }
        flags |= kFlagAa;
        if (q.qtype == kTypeTxt || q.qtype == kTypeAny) {
            uint8_t body[10 + 256];
            const size_t tlen = std::min<size_t>(text->size(), 255);
            wr16(body, kTypeTxt);
            wr16(body + 2, kClassCh);
            wr32(body + 4, 0);
            wr16(body + 8, static_cast<uint16_t>(tlen + 1));
            body[10] = static_cast<uint8_t>(tlen);
            std::memcpy(body + 11, text->data(), tlen);
            if (!w.rr(kHeaderSize, body, 11 + tlen)) {
                return truncate();
            }
            ++an;
        }
        return finish();
    }
    if (q.qclass != kClassIn) {
        rcode = kRcodeRefused;
        return finish();
    }
    if (q.qtype == kTypeOpt) {
        rcode = kRcodeFormErr;
        return finish();
    }
    if (q.qtype == kTypeAxfr || q.qtype == kTypeIxfr || snap_ == nullptr) {
        rcode = kRcodeRefused;  // zone transfers are not offered
        return finish();
    }

    Found found = find(*snap_, q.qname);
    if (found.node == nullptr) {
        rcode = kRcodeRefused;  // not authoritative: AA=0, question echoed
        return finish();
    }

    const Zone* zone = found.node->zone;
    Current cur{static_cast<uint16_t>(kHeaderSize), static_cast<uint16_t>(q.qname.len)};
    uint32_t negative_cap = 0xffffffffu;  // lowered for a balancer's all-down NODATA
    flags |= kFlagAa;

    // Negative answers: the SOA in authority, its TTL per RFC 2308 §5.
    auto negative = [&](uint16_t code) -> size_t {
        rcode = code;
        const size_t size = zone->soa_negative.size();
        if (!w.rr(cur.suffix(zone->wire_len), zone->soa_negative.data(), size)) {
            return truncate();
        }
        w.cap_last_ttl(size, negative_cap);
        ++ns;
        return finish();
    };
    // Additional-section records for the targets of `set`; `required` for referral glue.
    auto additional = [&](const RRset& set, bool required) -> bool {
        for (const Node* t : set.additional) {
            for (uint16_t type : {kTypeA, kTypeAaaa}) {
                const RRset* glue = t->find(type);
                if (glue != nullptr && !w.rrset_named(t->wire, *glue, ar)) {
                    return !required;
                }
            }
        }
        return true;
    };

    for (int chain = 0;; ++chain) {
        const Node* node = found.node;
        // At or below a delegation, refer (AA=0, NS and glue), except for DS at the cut itself,
        // which the parent side owns. After a CNAME the resolver follows the target itself.
        const bool refer =
            node->cut != nullptr && !(found.exact && node->is_cut() && q.qtype == kTypeDs);
        if (refer) {
            if (chain > 0) {
                return finish();
            }
            flags &= static_cast<uint16_t>(~kFlagAa);
            const RRset& cut_ns = *node->cut->find(kTypeNs);
            if (!w.rrset(cur.suffix(node->cut->wire.size()), cut_ns, ns) ||
                !additional(cut_ns, true)) {
                return truncate();
            }
            return finish();
        }
        if (!found.exact) {
            if (node->wildcard == nullptr) {
                return negative(kRcodeNxDomain);
            }
            node = node->wildcard;  // RFC 4592: synthesize from *.<closest encloser>, owner = qname
        }

        // `node` answers for the current name.
        uint16_t qtype = q.qtype;
        if (qtype == kTypeAny) {
            // RFC 8482: one RRset. A balancer's addresses first, else the lowest type.
            if (node->balancer >= 0) {
                qtype = snap_->balancer(node->balancer)->v4.mode != ServeMode::NoMembers
                            ? kTypeA
                            : kTypeAaaa;
            } else if (!node->rrsets.empty()) {
                qtype = node->rrsets.front().type;
            } else {
                return negative(kRcodeNoError);
            }
        }
        if (node->balancer >= 0 && (qtype == kTypeA || qtype == kTypeAaaa)) {
            const Balancer& b = *snap_->balancer(node->balancer);
            const AnswerTable& t = qtype == kTypeA ? b.v4 : b.v6;
            uint16_t picks[kMaxAnswers];
            const size_t n = draw(t, b.max_answers, rng_, picks);
            if (n == 0) {
                negative_cap = t.negative_ttl_cap_s;
                return negative(kRcodeNoError);
            }
            for (size_t i = 0; i < n; ++i) {
                const Candidate& c = t.candidates[picks[i]];
                if (!w.rr(cur.offset, c.body, c.size)) {
                    return truncate();
                }
                ++an;
            }
            return finish();
        }
        if (const RRset* set = node->find(qtype)) {
            if (!w.rrset(cur.offset, *set, an)) {
                return truncate();
            }
            additional(*set, false);
            return finish();
        }
        const RRset* cname = qtype == kTypeCname ? nullptr : node->find(kTypeCname);
        if (cname == nullptr) {
            return negative(kRcodeNoError);  // NODATA
        }

        const size_t rdata_at = w.pos() + 2 + 10;
        if (!w.rr(cur.offset, cname->bodies.data(), cname->bodies.size())) {
            return truncate();
        }
        ++an;
        if (chain + 1 >= kMaxChain || rdata_at > 0x3FFF) {
            return finish();
        }
        // Follow the target inside the same zone; elsewhere the resolver follows it.
        Name target;
        if (read_plain_name(out, w.pos(), rdata_at, target) == 0) {
            return finish();
        }
        Found next = find(*snap_, target);
        if (next.node == nullptr || next.node->zone != zone) {
            return finish();
        }
        found = next;
        cur = Current{static_cast<uint16_t>(rdata_at), static_cast<uint16_t>(target.len)};
    }
}

}  // namespace gtm::dns
