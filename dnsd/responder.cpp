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
// Over UDP, ANY and balancer answers stay under this many times the query's size: a forged
// source gets little amplification from them (RRL caps the rate, this the size).
constexpr size_t kMaxAmplification = 10;

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

    // Drops what was written after `pos`.
    void rewind(size_t pos) noexcept { pos_ = pos; }

    // Lowers the size limit (never below what is written).
    void cap(size_t limit) noexcept { limit_ = std::max(pos_, std::min(limit_, limit)); }

  private:
    uint8_t* out_;
    size_t pos_;
    size_t limit_;
};

// The answer under construction, on the worker's stack: the header's fields, the writer of the
// sections and what the OPT record will hold.
struct Reply {
    uint8_t* out;
    Writer w;
    size_t sections_at;  // after the echoed question, or after the header without one
    uint16_t flags;
    uint16_t rcode = kRcodeNoError;
    uint16_t an = 0;
    uint16_t ns = 0;
    uint16_t ar = 0;
    bool question;  // QDCOUNT 1
    bool edns;      // an OPT record ends the answer
    bool dnssec_ok;
    bool nsid;        // the OPT carries dns.nsid
    size_t opt_size;  // the room kept for it after the sections
    // Rate limiting's view of the answer: the name its bucket is keyed by (the question, the
    // zone of an NXDOMAIN, the delegation of a referral, the closest encloser of a wildcard),
    // and whether it is a referral.
    uint32_t rrl_name = 0;
    bool referral = false;
    // Over UDP: the largest ANY or balancer answer, OPT included (kMaxAmplification).
    size_t amplification_limit = kMaxMessage;

    // Keeps the answer under amplification_limit from here on.
    void limit_amplification() noexcept {
        if (amplification_limit > opt_size) {
            w.cap(amplification_limit - opt_size);
        }
    }
};

// Starts the answer: the ID and the question as received (letter case kept: 0x20); QR, with
// the query's opcode, RD and CD (for QUERY only); room for the sections under the size limit less
// the OPT. The limit over UDP: max(512, min(the client's EDNS size, dns.udp_max_size)), 512 without
// EDNS.
Reply begin_reply(const uint8_t* msg, const Query& q, Parse parsed, Transport transport,
                  const ResponderConfig& config, uint8_t* out) noexcept {
    std::memcpy(out, msg, 2);
    size_t sections_at = kHeaderSize;
    if (q.question_end != 0) {
        std::memcpy(out + kHeaderSize, msg + kHeaderSize, q.question_end - kHeaderSize);
        sections_at = q.question_end;
    }
    const bool edns = parsed != Parse::FormErr && q.edns;  // no OPT in a FORMERR
    size_t limit = kMaxMessage;
    if (transport == Transport::Udp) {
        limit = edns ? std::max<size_t>(kMaxUdpNoEdns,
                                        std::min<size_t>(q.udp_size, config.udp_max_size))
                     : kMaxUdpNoEdns;
    }
    const bool nsid = edns && q.nsid && !config.nsid.empty();
    const size_t opt_size = edns ? kOptFixed + (nsid ? 4 + config.nsid.size() : 0) : 0;
    const uint16_t qflags = rd16(msg + 2);
    // RD and CD are echoed for QUERY (RFC 1035 §4.1.1, RFC 4035 §3.1.6); a reply to any other
    // opcode (NOTIFY, UPDATE, unknown: NOTIMP) keeps the opcode and clears every flag but QR.
    const uint16_t echoed = (qflags & 0x7800) == 0 ? (kFlagRd | kFlagCd) : 0;
    return Reply{
        .out = out,
        .w = Writer(out, sections_at, limit - opt_size),
        .sections_at = sections_at,
        .flags = static_cast<uint16_t>(kFlagQr | (qflags & (0x7800 | echoed))),
        .question = q.question_end != 0,
        .edns = edns,
        .dnssec_ok = q.dnssec_ok,
        .nsid = nsid,
        .opt_size = opt_size,
    };
}

// The answer does not fit: TC=1 and no records; the OPT is kept. The client asks again over TCP.
void truncate(Reply& r) noexcept {
    r.w.rewind(r.sections_at);
    r.an = r.ns = r.ar = 0;
    r.flags |= kFlagTc;
}

// Our OPT record at `o` (RFC 6891 §6.1.2): our UDP size, the rcode's upper bits, DO echoed
// (RFC 3225 §3), and NSID when the query asked for it and dns.nsid is set (RFC 5001).
void write_opt(const Reply& r, const ResponderConfig& config, uint8_t* o) noexcept {
    o[0] = 0;
    wr16(o + 1, kTypeOpt);
    wr16(o + 3, config.udp_max_size);
    wr32(o + 5, static_cast<uint32_t>(r.rcode >> 4) << 24 | (r.dnssec_ok ? kEdnsDo : 0));
    wr16(o + 9, static_cast<uint16_t>(r.opt_size - kOptFixed));
    if (r.nsid) {
        wr16(o + 11, kEdnsOptionNsid);
        wr16(o + 13, static_cast<uint16_t>(config.nsid.size()));
        std::memcpy(o + 15, config.nsid.data(), config.nsid.size());
    }
}

// The header after the ID, once the flags, the rcode and the counts are known.
void write_header(const Reply& r) noexcept {
    wr16(r.out + 2, static_cast<uint16_t>(r.flags | (r.rcode & 0xF)));
    wr16(r.out + 4, r.question ? 1 : 0);
    wr16(r.out + 6, r.an);
    wr16(r.out + 8, r.ns);
    wr16(r.out + 10, r.ar);
}

// Ends the answer: the OPT after the sections, then the header; reports the outcome. Returns the
// answer's size.
size_t finish(Reply& r, const ResponderConfig& config, Outcome& oc) noexcept {
    size_t size = r.w.pos();
    if (r.edns) {
        write_opt(r, config, r.out + size);
        size += r.opt_size;
        ++r.ar;
    }
    write_header(r);
    oc.rcode = r.rcode;
    oc.truncated = (r.flags & kFlagTc) != 0;
    return size;
}

// The rcode of a query that did not parse as one we answer (Parse::Ok and Drop never get here).
uint16_t error_rcode(Parse parsed) noexcept {
    switch (parsed) {
        case Parse::NotImp:
            return kRcodeNotImp;
        case Parse::BadVers:
            return kRcodeBadVers;  // RFC 6891 §6.1.3, answered with OPT version 0
        default:
            return kRcodeFormErr;
    }
}

// Whether `n` is the lower-case wire name `wire` of `size` bytes.
bool ch_name_is(const Name& n, const char* wire, size_t size) noexcept {
    return n.len == size && std::memcmp(n.wire, wire, size) == 0;
}

// The text class CH asks for by name: dns.version for version.bind and version.server,
// dns.identity for hostname.bind and id.server; null for any other name.
const std::string* chaos_text(const Name& n, const ResponderConfig& config) noexcept {
    if (ch_name_is(n, "\7version\4bind", 14) || ch_name_is(n, "\7version\6server", 16)) {
        return &config.version;
    }
    if (ch_name_is(n, "\10hostname\4bind", 15) || ch_name_is(n, "\2id\6server", 11)) {
        return &config.identity;
    }
    return nullptr;
}

// Class CH: the TXT of chaos_text() for TXT and ANY, NODATA for other types; REFUSED when the
// name is unknown or its text is not configured.
void answer_chaos(Reply& r, const Query& q, const ResponderConfig& config) noexcept {
    const std::string* text = chaos_text(q.qname, config);
    if (text == nullptr || text->empty()) {
        r.rcode = kRcodeRefused;
        return;
    }
    r.flags |= kFlagAa;
    if (q.qtype != kTypeTxt && q.qtype != kTypeAny) {
        return;
    }
    uint8_t body[10 + 256];
    const size_t tlen = std::min<size_t>(text->size(), 255);  // one character-string
    wr16(body, kTypeTxt);
    wr16(body + 2, kClassCh);
    wr32(body + 4, 0);
    wr16(body + 8, static_cast<uint16_t>(tlen + 1));
    body[10] = static_cast<uint8_t>(tlen);
    std::memcpy(body + 11, text->data(), tlen);
    if (!r.w.rr(kHeaderSize, body, 11 + tlen)) {
        truncate(r);
        return;
    }
    ++r.an;
}

// What the zones do not answer: other classes and zone transfers are refused, QTYPE OPT is a
// FORMERR. Returns that rcode, or NOERROR when the zones answer.
uint16_t screen(const Query& q) noexcept {
    if (q.qclass != kClassIn) {
        return kRcodeRefused;
    }
    if (q.qtype == kTypeOpt) {
        return kRcodeFormErr;
    }
    if (q.qtype == kTypeAxfr || q.qtype == kTypeIxfr) {
        return kRcodeRefused;  // zone transfers are not offered
    }
    return kRcodeNoError;
}

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

// The name being answered, the question or a CNAME target: its closest encloser in the snapshot
// and where it sits in the message.
struct Owner {
    Found found;
    Current at;
};

// At or below a delegation the answer is a referral, except for DS at the cut itself, which the
// parent side answers (RFC 4035 §3.1.4.1).
bool below_cut(const Found& f, uint16_t qtype) noexcept {
    return f.node->cut != nullptr && !(f.exact && f.node->is_cut() && qtype == kTypeDs);
}

// The A and AAAA records of the in-zone targets of `set` (NS, MX, SRV) in additional. Returns
// false at the first RR that does not fit; those before it stay.
bool write_additional(Reply& r, const RRset& set) noexcept {
    for (const Node* t : set.additional) {
        for (uint16_t type : {kTypeA, kTypeAaaa}) {
            const RRset* glue = t->find(type);
            if (glue != nullptr && !r.w.rrset_named(t->wire, *glue, r.ar)) {
                return false;
            }
        }
    }
    return true;
}

// A referral: AA=0, the delegation's NS in authority and their glue in additional; TC when the
// glue does not fit.
void write_referral(Reply& r, const Node& cut, Current at) noexcept {
    r.flags &= static_cast<uint16_t>(~kFlagAa);
    r.referral = true;
    r.rrl_name = cut.hash;
    const RRset& ns = *cut.find(kTypeNs);
    if (!r.w.rrset(at.suffix(cut.wire.size()), ns, r.ns) || !write_additional(r, ns)) {
        truncate(r);
    }
}

// NXDOMAIN or NODATA: the zone's SOA in authority with the negative TTL, min(SOA TTL, minimum)
// (RFC 2308 §5), lowered to `ttl_cap_s`.
void write_negative(Reply& r, const Zone& zone, Current at, uint16_t rcode,
                    uint32_t ttl_cap_s = 0xffffffffu) noexcept {
    r.rcode = rcode;
    const size_t size = zone.soa_negative.size();
    if (!r.w.rr(at.suffix(zone.wire_len), zone.soa_negative.data(), size)) {
        truncate(r);
        return;
    }
    r.w.cap_last_ttl(size, ttl_cap_s);
    ++r.ns;
}

// The type to answer: `qtype`, except that ANY gets one RRset (RFC 8482): a balancer's A (AAAA
// when it has no IPv4 member), else the node's lowest type. ANY at a node without data stays ANY,
// which finds nothing: NODATA.
uint16_t answer_type(const Snapshot& snap, const Node& node, uint16_t qtype) noexcept {
    if (qtype != kTypeAny) {
        return qtype;
    }
    if (node.balancer >= 0) {
        return snap.balancer(node.balancer)->v4.mode != ServeMode::NoMembers ? kTypeA : kTypeAaaa;
    }
    if (!node.rrsets.empty()) {
        return node.rrsets.front().type;
    }
    return qtype;
}

// A balancer's A or AAAA records: up to max_answers weighted draws (selection.cpp). No
// candidate is NODATA, its SOA TTL capped by the table (degraded_ttl when every tier is down).
void write_balancer(Reply& r, const Zone& zone, Current at, const Balancer& b, uint16_t qtype,
                    Rng& rng, uint32_t slot) noexcept {
    const AnswerTable& t = qtype == kTypeA ? b.v4 : b.v6;
    uint16_t picks[kMaxAnswers];
    const size_t n = draw(t, b.max_answers, rng, picks);
    if (n == 0) {
        write_negative(r, zone, at, kRcodeNoError, t.negative_ttl_cap_s);
        return;
    }
    // Any subset of the draws is a valid answer: what does not fit the size limit (512 bytes
    // without EDNS, the amplification limit over UDP) is left out; TC only when none fits.
    r.limit_amplification();
    size_t written = 0;
    while (written < n) {
        const Candidate& c = t.candidates[picks[written]];
        if (!r.w.rr(at.offset, c.body, c.size)) {
            break;
        }
        ++r.an;
        ++written;
    }
    if (written == 0) {
        truncate(r);
        return;
    }
    b.count(slot, qtype != kTypeA, picks, written);  // handed out: per member, for metrics
}

// A static RRset in answer, then what fits of its targets' addresses in additional.
void write_rrset(Reply& r, Current at, const RRset& set) noexcept {
    if (!r.w.rrset(at.offset, set, r.an)) {
        truncate(r);
        return;
    }
    write_additional(r, set);
}

// Writes the CNAME of the current name and, when its target is in the same zone and the chain
// is shorter than kMaxChain, makes the target the current name. Elsewhere the resolver follows
// it. Returns false when the answer ends here.
bool chase_cname(Reply& r, const Snapshot& snap, const RRset& cname, int chain,
                 Owner& name) noexcept {
    const size_t rdata_at = r.w.pos() + 2 + 10;
    if (!r.w.rr(name.at.offset, cname.bodies.data(), cname.bodies.size())) {
        truncate(r);
        return false;
    }
    ++r.an;
    if (chain + 1 >= kMaxChain || rdata_at > 0x3FFF) {
        return false;  // too long, or the target is out of a pointer's reach
    }
    Name target;
    if (read_plain_name(r.out, r.w.pos(), rdata_at, target) == 0) {
        return false;
    }
    const Found next = find(snap, target);
    if (next.node == nullptr || next.node->zone != name.found.node->zone) {
        return false;
    }
    name.found = next;
    name.at = Current{static_cast<uint16_t>(rdata_at), static_cast<uint16_t>(target.len)};
    return true;
}

// A class IN query, answered from the zones per RFC 1034 §4.3.2: referral, wildcard synthesis
// (RFC 4592), a balancer's addresses, static RRsets, the CNAME chain inside the zone, NXDOMAIN
// and NODATA. REFUSED, without AA, outside every zone.
void answer_from_zones(Reply& r, const Query& q, const Snapshot& snap, Rng& rng,
                       uint32_t slot) noexcept {
    Owner name{find(snap, q.qname),
               Current{static_cast<uint16_t>(kHeaderSize), static_cast<uint16_t>(q.qname.len)}};
    if (name.found.node == nullptr) {
        r.rcode = kRcodeRefused;  // not authoritative: AA=0, question echoed
        return;
    }
    const Zone& zone = *name.found.node->zone;
    r.flags |= kFlagAa;
    for (int chain = 0;; ++chain) {
        const Node* node = name.found.node;
        if (below_cut(name.found, q.qtype)) {
            // A CNAME into a delegation ends the answer: the resolver follows it itself.
            if (chain == 0) {
                write_referral(r, *node->cut, name.at);
            }
            return;
        }
        if (!name.found.exact) {
            if (node->wildcard == nullptr) {
                // A random-subdomain flood shares the zone's bucket.
                r.rrl_name = zone.apex != nullptr ? zone.apex->hash : 0;
                write_negative(r, zone, name.at, kRcodeNxDomain);
                return;
            }
            r.rrl_name = node->hash;  // every name the wildcard answers shares one bucket
            node = node->wildcard;  // RFC 4592: synthesize from *.<closest encloser>, owner = qname
        }
        const uint16_t qtype = answer_type(snap, *node, q.qtype);
        if (q.qtype == kTypeAny) {
            r.limit_amplification();  // RFC 8482: one RRset, and over UDP a small one or TC
        }
        if (node->balancer >= 0 && (qtype == kTypeA || qtype == kTypeAaaa)) {
            write_balancer(r, zone, name.at, *snap.balancer(node->balancer), qtype, rng, slot);
            return;
        }
        if (const RRset* set = node->find(qtype)) {
            write_rrset(r, name.at, *set);
            return;
        }
        const RRset* cname = qtype == kTypeCname ? nullptr : node->find(kTypeCname);
        if (cname == nullptr) {
            write_negative(r, zone, name.at, kRcodeNoError);  // NODATA
            return;
        }
        if (!chase_cname(r, snap, *cname, chain, name)) {
            return;
        }
    }
}

// The kind of answer rate limiting counts it under.
RrlClass rrl_class(const Reply& r) noexcept {
    if (r.rcode == kRcodeNxDomain) {
        return RrlClass::NxDomain;
    }
    if (r.rcode != kRcodeNoError) {
        return RrlClass::Error;
    }
    if (r.referral) {
        return RrlClass::Referral;
    }
    return r.an == 0 && (r.flags & kFlagTc) == 0 ? RrlClass::NoData : RrlClass::Answer;
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

// Parses the query, starts the reply, lets the first step that applies answer it, and finishes
// it with the OPT and the header.
size_t Responder::answer(const uint8_t* msg, size_t len, uint8_t* out, Transport transport,
                         Outcome* outcome, const sockaddr* from) noexcept {
    Outcome local;
    Outcome& oc = outcome != nullptr ? *outcome : local;
    oc = Outcome{};
    refresh_if_stale();  // one atomic load of the generation

    Query q;
    const Parse parsed = parse(msg, len, q);
    if (parsed == Parse::Drop) {
        oc.dropped = true;
        if (stats_ != nullptr) {
            stats_->drop(len < kHeaderSize ? DropReason::Short : DropReason::QrSet);
        }
        return 0;
    }
    Reply r = begin_reply(msg, q, parsed, transport, config_, out);
    if (q.question_end != 0) {
        r.rrl_name = q.qname.hashes[0];
    }
    if (transport == Transport::Udp) {
        r.amplification_limit = kMaxAmplification * len - 1;  // under 10x the query
    }
    if (parsed != Parse::Ok) {
        r.rcode = error_rcode(parsed);
    } else if (q.qclass == kClassCh) {
        answer_chaos(r, q, config_);
    } else if (const uint16_t refused = screen(q); refused != kRcodeNoError) {
        r.rcode = refused;
    } else if (snap_ == nullptr) {
        r.rcode = kRcodeRefused;  // nothing published yet
    } else {
        answer_from_zones(r, q, *snap_, rng_, slot_);
    }
    RrlAction limited = RrlAction::Pass;
    if (rrl_ != nullptr && transport == Transport::Udp && from != nullptr) {
        const RrlClass c = rrl_class(r);
        limited = rrl_->check(from, c, c == RrlClass::Error ? 0 : r.rrl_name, q.qtype);
        if (limited == RrlAction::Slip) {
            truncate(r);  // TC=1, no records: a real client asks again over TCP
        }
        if (limited != RrlAction::Pass && stats_ != nullptr) {
            stats_->limited(c, limited);
        }
    }
    const size_t size = finish(r, config_, oc);
    oc.rrl = limited;
    if (stats_ != nullptr) {
        stats_->query(transport == Transport::Udp ? 0 : 1, parsed == Parse::Ok ? q.qtype : 0,
                      oc.rcode, oc.truncated);
    }
    if (limited == RrlAction::Drop) {
        oc.dropped = true;
        return 0;
    }
    return size;
}

}  // namespace gtm::dns
