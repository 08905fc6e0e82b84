// libFuzzer target for the query path: any bytes, over UDP and TCP, against a zone with every
// feature. Besides the sanitizers, it checks the invariants every answer keeps.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dnsd/responder.h"
#include "dnsd/wire.h"
#include "store/document.h"
#include "store/records.h"

namespace {

const char* kZone = R"(
zones:
  - name: fuzz.test
    soa: {mname: ns1.fuzz.test, rname: h.fuzz.test, serial: 1}
    ns: [ns1.fuzz.test, ns2.elsewhere.test]
    records:
      - "ns1 A 127.0.0.53"
      - "www 300 CNAME app"
      - "@ 300 MX 10 mail"
      - "mail 300 A 127.0.0.25"
      - "*.wild 300 A 127.0.0.99"
      - "sub 300 NS ns.sub"
      - "ns.sub 300 A 127.0.0.70"
      - "big 300 TXT \"0123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"1123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"2123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"3123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"4123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"5123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"6123456789012345678901234567890123456789012345678901234567890123456789\""
      - "big 300 TXT \"7123456789012345678901234567890123456789012345678901234567890123456789\""
pools:
  - name: p
    members: [{address: 127.0.0.1, weight: 3}, {address: 127.0.0.2}, {address: "::1"}]
balancers:
  - {name: app.fuzz.test, max_answers: 2, pools: [{pool: p}]}
)";

// The zone, with a CNAME loop that validate() would refuse: a state stored by an older gtmd may
// hold one, and the responder must stop in it.
gtm::store::DesiredState fuzz_state() {
    gtm::store::DesiredState state = gtm::store::parse_document(kZone, "fuzz.yaml");
    for (const char* r : {"c1 300 CNAME c2", "c2 300 CNAME c1"}) {
        state.zones[0].parsed.push_back(gtm::store::parse_record(r, "fuzz.test", 3600));
    }
    return state;
}

struct Fixture {
    gtm::store::DesiredState state = fuzz_state();
    gtm::health::TargetTable targets;
    gtm::dns::SnapshotHolder holder;
    gtm::dns::ResponderConfig config;
    std::unique_ptr<gtm::dns::Responder> responder;
    std::unique_ptr<uint8_t[]> out{new uint8_t[gtm::dns::kMaxMessage]};

    Fixture() {
        gtm::dns::CompileInput in;
        in.state = &state;
        in.targets = &targets;
        in.generation = 1;
        holder.publish(gtm::dns::compile(in));
        config.nsid = "fuzz";
        config.version = "v";
        responder = std::make_unique<gtm::dns::Responder>(holder, config, 1);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture f;
    for (auto t : {gtm::dns::Transport::Udp, gtm::dns::Transport::Tcp}) {
        const size_t n = f.responder->answer(data, size, f.out.get(), t);
        if (n == 0) {
            // Dropped: only packets under 12 bytes and responses.
            if (size >= 12 && (data[2] & 0x80) == 0) {
                std::abort();
            }
            continue;
        }
        if (n < 12 || std::memcmp(f.out.get(), data, 2) != 0 || (f.out[2] & 0x80) == 0) {
            std::abort();
        }
        if (t == gtm::dns::Transport::Udp && n > 1232) {
            std::abort();
        }
    }
    return 0;
}
