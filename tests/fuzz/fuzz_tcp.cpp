// libFuzzer target for DNS over TCP framing (dnsd/tcp_framing.h) as the TCP server runs it: the
// input is the byte stream a client sends, received in chunks whose sizes come from its first
// byte (1 to 256 bytes at a time), into a buffer that grows as tcp_server.cpp grows it; every
// complete message is answered by a real responder over TCP. Besides the sanitizers it checks:
// every message is handed on exactly once, in order, each answer keeps the query's ID, the
// buffer never holds more than one message (65537 bytes), and the answers' stream frames back
// into exactly the answers written.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dnsd/responder.h"
#include "dnsd/tcp_framing.h"
#include "dnsd/wire.h"
#include "store/document.h"

namespace {

const char* kZone = R"(
zones:
  - name: fuzz.test
    soa: {mname: ns1.fuzz.test, rname: h.fuzz.test, serial: 1}
    ns: [ns1.fuzz.test]
    records:
      - "ns1 A 127.0.0.53"
      - "www 300 CNAME app"
pools:
  - name: p
    members: [{address: 127.0.0.1}, {address: "::1"}]
balancers:
  - {name: app.fuzz.test, max_answers: 2, pools: [{pool: p}]}
)";

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

struct Fixture {
    gtm::store::DesiredState state = gtm::store::parse_document(kZone, "fuzz.yaml");
    gtm::health::TargetTable targets;
    gtm::dns::SnapshotHolder holder;
    gtm::dns::ResponderConfig config;
    std::unique_ptr<gtm::dns::Responder> responder;
    std::vector<uint8_t> scratch = std::vector<uint8_t>(gtm::dns::kMaxMessage);

    Fixture() {
        gtm::dns::CompileInput in;
        in.state = &state;
        in.targets = &targets;
        in.generation = 1;
        holder.publish(gtm::dns::compile(in));
        responder = std::make_unique<gtm::dns::Responder>(holder, config, 1);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture f;
    if (size == 0) {
        return 0;
    }
    const size_t chunk = static_cast<size_t>(data[0]) + 1;
    const uint8_t* stream = data + 1;
    const size_t len = size - 1;

    // The messages the stream holds, framed independently of split_messages.
    std::vector<std::pair<size_t, size_t>> expected;  // offset, size
    for (size_t pos = 0; pos + 2 <= len;) {
        const size_t s = gtm::dns::rd16(stream + pos);
        if (pos + 2 + s > len) {
            break;
        }
        expected.emplace_back(pos + 2, s);
        pos += 2 + s;
    }

    std::vector<uint8_t> in(4096);  // as tcp_server.cpp: starts at 4096, doubles, fits a message
    size_t in_len = 0;
    size_t handed = 0;
    size_t answers = 0;
    std::vector<uint8_t> out;
    for (size_t fed = 0; fed < len;) {
        if (in.size() - in_len < 512) {
            in.resize(in.size() * 2);
        }
        const size_t n = std::min({chunk, len - fed, in.size() - in_len});
        std::memcpy(in.data() + in_len, stream + fed, n);
        in_len += n;
        fed += n;
        const gtm::dns::Framed fr =
            gtm::dns::split_messages(in.data(), in_len, [&](const uint8_t* msg, size_t s) {
                check(handed < expected.size());
                check(s == expected[handed].second);
                check(s == 0 || std::memcmp(msg, stream + expected[handed].first, s) == 0);
                ++handed;
                const size_t a =
                    f.responder->answer(msg, s, f.scratch.data(), gtm::dns::Transport::Tcp);
                if (a == 0) {
                    check(s < 12 || (msg[2] & 0x80) != 0);  // only what is dropped anyway
                    return;
                }
                check(a >= 12 && a <= gtm::dns::kMaxMessage);
                check(std::memcmp(f.scratch.data(), msg, 2) == 0);
                out.push_back(static_cast<uint8_t>(a >> 8));
                out.push_back(static_cast<uint8_t>(a));
                out.insert(out.end(), f.scratch.begin(), f.scratch.begin() + static_cast<long>(a));
                ++answers;
            });
        check(fr.consumed <= in_len);
        if (fr.consumed > 0) {
            std::memmove(in.data(), in.data() + fr.consumed, in_len - fr.consumed);
            in_len -= fr.consumed;
        }
        if (fr.need > in.size()) {
            in.resize(fr.need);
        }
        check(in.size() <= 2 * 65537);
        check(fr.need == 0 || fr.need > in_len);
    }
    check(handed == expected.size());
    // The answers frame back into exactly what was written.
    size_t reframed = 0;
    const gtm::dns::Framed back = gtm::dns::split_messages(
        out.data(), out.size(), [&](const uint8_t*, size_t) { ++reframed; });
    check(back.consumed == out.size() && back.need == 0 && reframed == answers);
    return 0;
}
