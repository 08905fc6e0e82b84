// /metrics: the exposition (prometheus-cpp's Registry and TextSerializer) of what gtmd's parts
// count and decide. Everything the DNS path counts lives in per-worker plain counters
// (dnsd/stats.h) and in the balancers' answer counts, folded here at scrape time by a custom
// Collectable; the state (verdicts, modes, tiers) is read from the core and the snapshot being
// served — the same decisions explain shows. The API's own counters are prometheus-cpp counters,
// incremented on the web thread.
//
// Used on the web thread only. The names and labels are the contract in web/README.md.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/core.h"
#include "dnsd/snapshot.h"
#include "dnsd/stats.h"
#include "healthcheck/prober.h"
#include "store/event_writer.h"
#include "store/store.h"

namespace gtm::web {

struct MetricsSources {
    const dns::StatsRegistry* dns = nullptr;
    const dns::TcpStats* tcp = nullptr;
    dns::SnapshotHolder* holder = nullptr;  // its retired balancers' answer counts
    core::Core* core = nullptr;
    health::Prober* prober = nullptr;
    const store::EventWriter* events = nullptr;
    std::string version = "0.1.0";
};

class Metrics {
  public:
    explicit Metrics(MetricsSources sources);
    ~Metrics();

    // The whole exposition, text format 0.0.4.
    std::string scrape();
    static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

    // Counted by the API.
    void api_request(const std::string& method, const std::string& route, int code);
    void audit_entry(bool ok);
    void store_error(store::StoreError::Kind kind);

    class State;  // the Collectable reading the parts

  private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& api_requests_;
    prometheus::Family<prometheus::Counter>& audit_entries_;
    prometheus::Family<prometheus::Counter>& store_errors_;
    std::map<std::tuple<std::string, std::string, int>, prometheus::Counter*> api_cache_;
    std::unique_ptr<State> state_;
};

}  // namespace gtm::web
