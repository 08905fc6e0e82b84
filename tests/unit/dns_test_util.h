// Helpers for query-path tests: a responder over a compiled document, queries built with ldns
// or byte by byte, answers parsed with ldns. No sockets.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dnsd/responder.h"
#include "dnsd/snapshot.h"
#include "dnsd/wire.h"
#include "store/document.h"
#include "store/ldns_wrap.h"

namespace doctest {
// Sections print as their records when a comparison fails.
template <>
struct StringMaker<std::vector<std::string>> {
    static String convert(const std::vector<std::string>& v) {
        std::string s = "{";
        for (const auto& x : v) {
            s += "\n  " + x;
        }
        return (s + (v.empty() ? "}" : "\n}")).c_str();
    }
};
}  // namespace doctest

namespace gtm::test {

using Bytes = std::vector<uint8_t>;

struct PktDeleter {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

// Verdicts as the tests write them: by (pool, address). compile_input() gives every pool without
// a monitor a monitor named after itself, so that the verdicts reach its members through the
// verdict channel's (monitor, address) keys.
struct MemberHealth {
    health::Verdict verdict = health::Verdict::Unknown;
    int64_t returned_ms = 0;  // slow start
    bool suspect = false;
};

class TestVerdicts {
  public:
    void set(const std::string& pool, const std::string& address, MemberHealth h) {
        set_[{pool, address}] = h;
    }

    // A compile input for `state` (`probed` receives the copy with monitors filled in).
    dns::CompileInput input(const store::DesiredState& state, store::DesiredState& probed,
                            int64_t now_ms) {
        probed = state;
        for (auto& p : probed.pools) {
            if (p.monitors.empty()) {
                p.monitors = {p.name};
            }
        }
        table_ = {};
        for (const auto& [id, h] : set_) {
            std::string monitor = id.first;
            for (const auto& p : probed.pools) {
                if (p.name == id.first) {
                    monitor = p.monitors.front();
                }
            }
            health::TargetState t;
            t.verdict = h.verdict;
            t.returned_ms = h.returned_ms;
            t.suspect = h.suspect;
            table_.set(health::target_key(monitor, id.second), t);
        }
        dns::CompileInput in;
        in.state = &probed;
        in.targets = &table_;
        in.now_ms = now_ms;
        return in;
    }

  private:
    std::map<std::pair<std::string, std::string>, MemberHealth> set_;
    health::TargetTable table_;
};

// A responder answering from `document` (YAML), compiled with `verdicts`.
class TestServer {
  public:
    explicit TestServer(const std::string& document, TestVerdicts verdicts = {},
                        int64_t now_ms = 1000000, uint64_t seed = 42)
        : TestServer(store::parse_document(document, "test.yaml"), std::move(verdicts), now_ms,
                     seed) {}
    // From a state as it is, validated or not (what validate() refuses may still be stored by an
    // older gtmd: the responder must cope).
    explicit TestServer(store::DesiredState state, TestVerdicts verdicts = {},
                        int64_t now_ms = 1000000, uint64_t seed = 42)
        : state_(std::move(state)), verdicts_(std::move(verdicts)) {
        recompile(now_ms);
        responder_ = std::make_unique<dns::Responder>(holder_, config, seed);
    }

    void recompile(int64_t now_ms) {
        dns::CompileInput in = verdicts_.input(state_, probed_, now_ms);
        in.default_serial = 2026112201;
        in.generation = ++generation_;
        holder_.publish(dns::compile(in));
    }

    TestVerdicts& verdicts() { return verdicts_; }

    Bytes ask(const Bytes& query, dns::Transport t = dns::Transport::Udp,
              dns::Outcome* outcome = nullptr) {
        Bytes out(dns::kMaxMessage);
        size_t n = responder_->answer(query.data(), query.size(), out.data(), t, outcome);
        out.resize(n);
        return out;
    }

    // Over UDP from `from` (rate limiting sees the client).
    Bytes ask_from(const Bytes& query, const sockaddr* from, dns::Outcome* outcome = nullptr) {
        Bytes out(dns::kMaxMessage);
        size_t n = responder_->answer(query.data(), query.size(), out.data(), dns::Transport::Udp,
                                      outcome, from);
        out.resize(n);
        return out;
    }

    dns::Responder& responder() { return *responder_; }

    dns::ResponderConfig config;

  private:
    store::DesiredState state_;
    store::DesiredState probed_;
    TestVerdicts verdicts_;
    dns::SnapshotHolder holder_;
    std::unique_ptr<dns::Responder> responder_;
    uint64_t generation_ = 0;
};

struct QueryOptions {
    uint16_t id = 0x1234;
    uint16_t klass = dns::kClassIn;
    bool rd = false;
    bool edns = false;
    uint16_t udp_size = 1232;
    bool dnssec_ok = false;
    bool nsid = false;
};

// A well-formed query, written by hand so that the bytes (and the name's case) are exactly
// what the test says.
inline Bytes make_query(const std::string& name, uint16_t type, const QueryOptions& o = {}) {
    Bytes q = {
        static_cast<uint8_t>(o.id >> 8),     static_cast<uint8_t>(o.id), 0, 0, 0, 1, 0, 0, 0, 0, 0,
        static_cast<uint8_t>(o.edns ? 1 : 0)};
    if (o.rd) {
        q[2] |= 0x01;
    }
    size_t start = 0;
    std::string n = name;
    if (!n.empty() && n.back() == '.') {
        n.pop_back();
    }
    while (start < n.size()) {
        size_t dot = n.find('.', start);
        if (dot == std::string::npos) {
            dot = n.size();
        }
        q.push_back(static_cast<uint8_t>(dot - start));
        q.insert(q.end(), n.begin() + static_cast<long>(start), n.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    q.push_back(0);
    q.push_back(static_cast<uint8_t>(type >> 8));
    q.push_back(static_cast<uint8_t>(type));
    q.push_back(static_cast<uint8_t>(o.klass >> 8));
    q.push_back(static_cast<uint8_t>(o.klass));
    if (o.edns) {
        Bytes opt = {0,
                     0,
                     41,
                     static_cast<uint8_t>(o.udp_size >> 8),
                     static_cast<uint8_t>(o.udp_size),
                     0,
                     0,
                     static_cast<uint8_t>(o.dnssec_ok ? 0x80 : 0),
                     0,
                     0,
                     static_cast<uint8_t>(o.nsid ? 4 : 0)};
        if (o.nsid) {
            opt.insert(opt.end(), {0, 3, 0, 0});
        }
        q.insert(q.end(), opt.begin(), opt.end());
    }
    return q;
}

inline Pkt parse(const Bytes& wire) {
    ldns_pkt* p = nullptr;
    REQUIRE_MESSAGE(!wire.empty(), "no answer");
    ldns_status st = ldns_wire2pkt(&p, wire.data(), wire.size());
    REQUIRE_MESSAGE(st == LDNS_STATUS_OK,
                    "ldns cannot parse the answer: ", ldns_get_errorstr_by_id(st));
    return Pkt(p);
}

inline std::string rr_text(const ldns_rr* rr) {
    std::unique_ptr<char, decltype(&free)> s(ldns_rr2str(rr), &free);
    std::string t = s ? s.get() : "";
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) {
        t.pop_back();
    }
    return t;
}

// A section as zone-file lines, in the order of the message.
inline std::vector<std::string> section(const ldns_rr_list* list) {
    std::vector<std::string> out;
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
        out.push_back(rr_text(ldns_rr_list_rr(list, i)));
    }
    return out;
}

inline uint8_t rcode(const Bytes& wire) { return wire.size() >= 4 ? wire[3] & 0x0F : 0xFF; }
inline bool flag_aa(const Bytes& w) { return (w[2] & 0x04) != 0; }
inline bool flag_tc(const Bytes& w) { return (w[2] & 0x02) != 0; }
inline uint16_t count(const Bytes& w, int section) { return dns::rd16(w.data() + 4 + 2 * section); }

}  // namespace gtm::test
