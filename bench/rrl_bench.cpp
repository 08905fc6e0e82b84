// rrl_bench: what response rate limiting costs the query path, RRL off against on with nothing
// limited, in one process: the same responder and zone, the same query (a balancer's A, as
// dns-bench asks), from one client whose bucket never runs dry (rate 1,000,000/s) or, as a
// third case, from a different /24 for every query (a bucket taken over each time: the worst
// case for the table). No sockets: this is the cost inside answer(), not the system calls
// around it, which dominate a real query (bench/dns-bench measures those).
//
//   rrl_bench [QUERIES]            wall-clock ns/query of each case, best of 5 runs
//   valgrind --tool=callgrind rrl_bench QUERIES CASE    instructions: run with two QUERIES
//                                  values and subtract, CASE = off | on | spread
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dnsd/responder.h"
#include "dnsd/rrl.h"
#include "dnsd/wire.h"
#include "store/document.h"

namespace {

const char* kZone = R"(
zones:
  - name: bench.test
    soa: {mname: ns1.bench.test, rname: h.bench.test, serial: 1}
    ns: [ns1.bench.test, ns2.bench.test]
    records: ["ns1 A 127.0.0.53", "ns2 A 127.0.0.54"]
pools:
  - name: p
    members:
      - {address: 127.0.1.1, weight: 40}
      - {address: 127.0.1.2, weight: 30}
      - {address: 127.0.1.3, weight: 20}
      - {address: 127.0.1.4, weight: 10}
balancers:
  - {name: app.bench.test, pools: [{pool: p}]}
)";

std::vector<uint8_t> query() {
    std::vector<uint8_t> q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    for (const char* label : {"app", "bench", "test"}) {
        q.push_back(static_cast<uint8_t>(std::strlen(label)));
        q.insert(q.end(), label, label + std::strlen(label));
    }
    q.insert(q.end(), {0, 0, 1, 0, 1});
    return q;
}

enum class Case { Off, On, Spread };

// Answers `n` queries; returns the ns taken and checks every one was answered in full.
uint64_t run(Case c, size_t n) {
    const gtm::store::DesiredState state = gtm::store::parse_document(kZone, "bench.yaml");
    gtm::health::TargetTable targets;
    gtm::dns::SnapshotHolder holder;
    gtm::dns::CompileInput in;
    in.state = &state;
    in.targets = &targets;
    in.generation = 1;
    holder.publish(gtm::dns::compile(in));
    gtm::dns::ResponderConfig config;
    gtm::dns::Responder responder(holder, config, 1);
    gtm::dns::RrlConfig rc;
    rc.enabled = true;
    rc.rate = 1000000;
    gtm::dns::Rrl rrl(rc, 7);
    if (c != Case::Off) {
        responder.limit_with(&rrl);
    }
    const std::vector<uint8_t> q = query();
    std::vector<uint8_t> out(gtm::dns::kMaxMessage);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
    size_t full = 0;
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) {
        if (c == Case::Spread) {
            from.sin_addr.s_addr = htonl(0x0A000000u | static_cast<uint32_t>(i << 8));
        }
        rrl.set_now(i / 1000);  // a clock that moves, as the batch loop sets it
        const size_t size =
            responder.answer(q.data(), q.size(), out.data(), gtm::dns::Transport::Udp, nullptr,
                             reinterpret_cast<const sockaddr*>(&from));
        full += size > 0 && out[7] == 1 ? 1 : 0;
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    if (full != n) {
        std::fprintf(stderr, "only %zu of %zu answered in full\n", full, n);
        std::exit(1);
    }
    return static_cast<uint64_t>(ns);
}

}  // namespace

int main(int argc, char** argv) {
    const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
    if (argc > 2) {  // one case, for callgrind
        const std::string c = argv[2];
        run(c == "off" ? Case::Off : c == "on" ? Case::On : Case::Spread, n);
        return 0;
    }
    const char* names[] = {"off", "on (nothing limited)", "on, a new /24 every query"};
    double best[3] = {1e18, 1e18, 1e18};
    for (int round = 0; round < 5; ++round) {  // interleaved: a busy machine hits all alike
        for (int c = 0; c < 3; ++c) {
            best[c] = std::min(best[c], static_cast<double>(run(static_cast<Case>(c), n)) / n);
        }
    }
    for (int c = 0; c < 3; ++c) {
        std::printf("RRL %-26s %7.1f ns/query (%+.1f%%)\n", names[c], best[c],
                    100.0 * (best[c] - best[0]) / best[0]);
    }
    return 0;
}
