#include "web/metrics.h"

#include <prometheus/text_serializer.h>

#include <set>

#include "web/webhooks.h"

namespace gtm::web {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

namespace {

MetricFamily family(const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
}

void add(MetricFamily& f, Labels labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    f.metric.push_back(std::move(m));
}

// `buckets`: per-bucket (not cumulative) counts for `bounds`, then the +Inf bucket.
template <size_t N, typename Counts>
void add_histogram(MetricFamily& f, Labels labels, const std::array<double, N>& bounds,
                   const Counts& buckets, uint64_t count, double sum) {
    ClientMetric m;
    m.label = std::move(labels);
    m.histogram.sample_count = count;
    m.histogram.sample_sum = sum;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < N; ++i) {
        cumulative += buckets[i];
        m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    f.metric.push_back(std::move(m));
}

const char* family_label(bool v6) { return v6 ? "ipv6" : "ipv4"; }

const char* store_kind(store::StoreError::Kind k) {
    switch (k) {
        case store::StoreError::Kind::Busy:
            return "busy";
        case store::StoreError::Kind::Full:
            return "full";
        case store::StoreError::Kind::ReadOnly:
            return "read_only";
        case store::StoreError::Kind::Corrupt:
            return "corrupt";
        case store::StoreError::Kind::Constraint:
            return "constraint";
        case store::StoreError::Kind::Conflict:
            return "conflict";
        case store::StoreError::Kind::Other:
            return "other";
    }
    return "other";
}

}  // namespace

class Metrics::State : public prometheus::Collectable {
  public:
    explicit State(MetricsSources s) : src_(std::move(s)) {}

    std::vector<MetricFamily> Collect() const override {
        std::vector<MetricFamily> out;
        build_info(out);
        dns(out);
        answers(out);
        health(out);
        balancers(out);
        control(out);
        return out;
    }

  private:
    void build_info(std::vector<MetricFamily>& out) const {
        MetricFamily f = family("gtm_build_info", "gtmd's version; always 1", MetricType::Gauge);
        add(f, {{"version", src_.version}}, 1);
        out.push_back(std::move(f));
    }

    void dns(std::vector<MetricFamily>& out) const {
        if (src_.dns == nullptr) {
            return;
        }
        static const char* const kTransport[2] = {"udp", "tcp"};
        uint64_t queries[2][dns::kQtypeBuckets][dns::kRcodeBuckets] = {};
        uint64_t truncated[2] = {};
        uint64_t dropped[dns::kDropReasons] = {};
        uint64_t buckets[2][dns::kAnswerBuckets.size() + 1] = {};
        uint64_t count[2] = {};
        uint64_t ns[2] = {};
        uint64_t limited[dns::kRrlClasses][dns::kRrlActions] = {};
        src_.dns->each([&](const dns::WorkerStats& w) {
            for (size_t c = 0; c < dns::kRrlClasses; ++c) {
                for (size_t a = 0; a < dns::kRrlActions; ++a) {
                    limited[c][a] += w.rrl_limited[c][a].load(std::memory_order_relaxed);
                }
            }
            for (size_t t = 0; t < 2; ++t) {
                for (size_t q = 0; q < dns::kQtypeBuckets; ++q) {
                    for (size_t r = 0; r < dns::kRcodeBuckets; ++r) {
                        queries[t][q][r] += w.queries[t][q][r].load(std::memory_order_relaxed);
                    }
                }
                truncated[t] += w.truncated[t].load(std::memory_order_relaxed);
                for (size_t b = 0; b <= dns::kAnswerBuckets.size(); ++b) {
                    buckets[t][b] += w.answer_buckets[t][b].load(std::memory_order_relaxed);
                }
                count[t] += w.answer_count[t].load(std::memory_order_relaxed);
                ns[t] += w.answer_ns[t].load(std::memory_order_relaxed);
            }
            for (size_t d = 0; d < dns::kDropReasons; ++d) {
                dropped[d] += w.dropped[d].load(std::memory_order_relaxed);
            }
        });
        MetricFamily q = family("gtm_dns_queries_total",
                                "DNS queries answered, by transport, query type and response code",
                                MetricType::Counter);
        MetricFamily tr = family("gtm_dns_responses_truncated_total",
                                 "DNS answers sent truncated (TC=1)", MetricType::Counter);
        MetricFamily h =
            family("gtm_dns_answer_duration_seconds",
                   "Time to answer a DNS query (UDP: per receive batch)", MetricType::Histogram);
        for (size_t t = 0; t < 2; ++t) {
            for (size_t qt = 0; qt < dns::kQtypeBuckets; ++qt) {
                for (size_t r = 0; r < dns::kRcodeBuckets; ++r) {
                    // Known in advance: the common answers exist from the start (0), the rest
                    // once seen, so that the family stays small.
                    if (queries[t][qt][r] == 0 && !(qt == 0 && r == 0)) {
                        continue;
                    }
                    add(q,
                        {{"transport", kTransport[t]},
                         {"qtype", dns::qtype_label(qt)},
                         {"rcode", dns::rcode_label(r)}},
                        static_cast<double>(queries[t][qt][r]));
                }
            }
            add(tr, {{"transport", kTransport[t]}}, static_cast<double>(truncated[t]));
            add_histogram(h, {{"transport", kTransport[t]}}, dns::kAnswerBuckets, buckets[t],
                          count[t], static_cast<double>(ns[t]) * 1e-9);
        }
        MetricFamily d = family("gtm_dns_packets_dropped_total",
                                "DNS packets not answered, by reason", MetricType::Counter);
        for (size_t r = 0; r < dns::kDropReasons; ++r) {
            add(d, {{"reason", dns::drop_label(r)}}, static_cast<double>(dropped[r]));
        }
        MetricFamily rl = family("gtm_dns_rrl_limited_total",
                                 "DNS answers over UDP held back by response rate limiting, by "
                                 "answer class and action (dropped, or sent truncated: slip)",
                                 MetricType::Counter);
        for (size_t c = 0; c < dns::kRrlClasses; ++c) {
            for (size_t a = 0; a < dns::kRrlActions; ++a) {
                add(rl, {{"class", dns::rrl_class_label(c)}, {"action", dns::rrl_action_label(a)}},
                    static_cast<double>(limited[c][a]));
            }
        }
        out.push_back(std::move(q));
        out.push_back(std::move(tr));
        out.push_back(std::move(d));
        out.push_back(std::move(rl));
        out.push_back(std::move(h));
        if (src_.tcp != nullptr) {
            MetricFamily open =
                family("gtm_dns_tcp_connections", "Open DNS TCP connections", MetricType::Gauge);
            add(open, {}, static_cast<double>(src_.tcp->open.load(std::memory_order_relaxed)));
            MetricFamily closed =
                family("gtm_dns_tcp_connections_closed_total",
                       "DNS TCP connections closed, by reason", MetricType::Counter);
            for (size_t r = 0; r < dns::kTcpCloseReasons; ++r) {
                add(closed, {{"reason", dns::tcp_close_label(r)}},
                    static_cast<double>(src_.tcp->closed[r].load(std::memory_order_relaxed)));
            }
            MetricFamily accept_errors = family(
                "gtm_dns_tcp_accept_errors_total",
                "DNS TCP accept() failures (out of file descriptors, ...)", MetricType::Counter);
            add(accept_errors, {},
                static_cast<double>(src_.tcp->accept_errors.load(std::memory_order_relaxed)));
            out.push_back(std::move(open));
            out.push_back(std::move(closed));
            out.push_back(std::move(accept_errors));
        }
    }

    // Addresses handed out per (balancer, pool, member): the snapshot's balancers, plus those
    // replaced since (their counts are folded in once no worker can count into them any more).
    void answers(std::vector<MetricFamily>& out) const {
        if (src_.holder == nullptr) {
            return;
        }
        using Key = std::tuple<std::string, std::string, std::string>;
        auto collect = [](const dns::Balancer& b, std::map<Key, uint64_t>& into) {
            for (const bool v6 : {false, true}) {
                const dns::AnswerTable& t = v6 ? b.v6 : b.v4;
                for (size_t i = 0; i < t.candidates.size(); ++i) {
                    into[{b.name, t.candidates[i].pool, t.candidates[i].address}] +=
                        b.answered_total(v6, i);
                }
            }
        };
        for (auto& b : src_.holder->take_retired()) {
            pending_.push_back(std::move(b));
        }
        std::erase_if(pending_, [&](const std::shared_ptr<const dns::Balancer>& b) {
            if (b.use_count() > 1) {
                return false;  // a worker's snapshot still holds it: it may still count
            }
            collect(*b, folded_);
            return true;
        });
        std::map<Key, uint64_t> totals = folded_;
        for (const auto& b : pending_) {
            collect(*b, totals);
        }
        if (auto snap = src_.holder->get()) {
            for (const auto& b : snap->balancers()) {
                collect(*b, totals);
            }
        }
        MetricFamily f = family("gtm_dns_answers_total",
                                "Addresses handed out in DNS answers, by balancer, pool and member",
                                MetricType::Counter);
        for (const auto& [key, n] : totals) {
            add(f,
                {{"balancer", std::get<0>(key)},
                 {"pool", std::get<1>(key)},
                 {"member", std::get<2>(key)}},
                static_cast<double>(n));
        }
        out.push_back(std::move(f));
    }

    void health(std::vector<MetricFamily>& out) const {
        if (src_.core == nullptr) {
            return;
        }
        const auto members = src_.core->members();
        const auto snap = src_.core->snapshot();
        const core::CoreStats stats = src_.core->stats();
        // Slow start and effective weight as the selection code computed them.
        std::map<std::pair<std::string, std::string>, const dns::MemberDecision*> decided;
        if (snap) {
            for (const auto& b : snap->balancers()) {
                for (const dns::AnswerTable* t : {&b->v4, &b->v6}) {
                    for (const auto& m : t->members) {
                        decided.emplace(std::make_pair(std::string(m.pool), std::string(m.address)),
                                        &m);
                    }
                }
            }
        }
        MetricFamily up = family("gtm_member_up", "1 when a member's verdict is up, 0 when down",
                                 MetricType::Gauge);
        MetricFamily admin =
            family("gtm_member_admin_state", "1 for a member's admin state (auto, up, drain, down)",
                   MetricType::Gauge);
        MetricFamily suspect = family(
            "gtm_member_suspect", "1 while a member is left out of the answers without being down",
            MetricType::Gauge);
        MetricFamily held =
            family("gtm_member_held", "1 while the isolation guard holds a member's verdict",
                   MetricType::Gauge);
        MetricFamily alerted = family(
            "gtm_member_alert",
            "1 while an alert from Alertmanager marks a member failing (label: the alertname)",
            MetricType::Gauge);
        MetricFamily ramp =
            family("gtm_member_slow_start_ratio",
                   "Slow-start factor applied to a member's weight (0.1 to 1)", MetricType::Gauge);
        MetricFamily weight = family("gtm_member_effective_weight",
                                     "A member's weight after slow start", MetricType::Gauge);
        MetricFamily changes = family("gtm_member_verdict_changes_total",
                                      "Verdict changes of a member", MetricType::Counter);
        std::set<std::pair<std::string, std::string>> seen;
        for (const auto& m : members) {
            if (!seen.emplace(m.pool, m.address).second) {
                continue;
            }
            const Labels id = {{"pool", m.pool}, {"member", m.address}};
            // One series per monitor of the pool: what each monitor says of the member.
            for (const auto& [monitor, state] : m.monitors) {
                if (state.verdict == health::Verdict::Unknown) {
                    continue;
                }
                Labels l = id;
                l.push_back({"monitor", monitor});
                add(up, std::move(l), state.verdict == health::Verdict::Up ? 1 : 0);
            }
            for (auto s : {store::AdminState::Auto, store::AdminState::Up, store::AdminState::Drain,
                           store::AdminState::Down}) {
                Labels l = id;
                l.push_back({"state", store::to_string(s)});
                add(admin, std::move(l), m.admin == s ? 1 : 0);
            }
            add(suspect, id, m.state.suspect ? 1 : 0);
            add(held, id, m.state.held ? 1 : 0);
            if (!m.alert.empty()) {
                Labels l = id;
                l.push_back({"alertname", m.alert});
                add(alerted, std::move(l), 1);
            }
            auto d = decided.find({m.pool, m.address});
            const double factor = d != decided.end() ? d->second->slow_start : 1.0;
            const double w = d != decided.end() ? d->second->weight : 0;
            if (d != decided.end()) {
                add(ramp, id, factor);
                add(weight, id, w * factor);
            }
            auto c = stats.verdict_changes.find({m.pool, m.address});
            add(changes, id,
                c != stats.verdict_changes.end() ? static_cast<double>(c->second) : 0.0);
        }
        for (auto* f : {&up, &admin, &suspect, &held, &alerted, &ramp, &weight, &changes}) {
            out.push_back(std::move(*f));
        }
        if (src_.prober == nullptr) {
            return;
        }
        const health::ProbeStats ps = src_.prober->probe_stats();
        MetricFamily results =
            family("gtm_probe_results_total", "Probe results, by monitor and reason class",
                   MetricType::Counter);
        MetricFamily duration = family("gtm_probe_duration_seconds", "Probe latency, by monitor",
                                       MetricType::Histogram);
        for (const auto& [monitor, m] : ps.monitors) {
            for (size_t r = 0; r < health::kReasons; ++r) {
                add(results,
                    {{"monitor", monitor},
                     {"reason", health::to_string(static_cast<health::Reason>(r))}},
                    static_cast<double>(m.results[r]));
            }
            add_histogram(duration, {{"monitor", monitor}}, health::kProbeBuckets, m.buckets,
                          m.count, m.sum_s);
        }
        MetricFamily queries = family("gtm_promql_queries_total",
                                      "Queries of a promql monitor (one per interval for all "
                                      "its members)",
                                      MetricType::Counter);
        MetricFamily query_errors = family(
            "gtm_promql_query_errors_total",
            "Queries of a promql monitor that failed (no verdict moved)", MetricType::Counter);
        MetricFamily query_ok = family(
            "gtm_promql_last_success_timestamp_seconds",
            "When a promql monitor's query last answered (unix time; never answered: when its "
            "first query started)",
            MetricType::Gauge);
        for (const auto& [monitor, q] : ps.promql) {
            add(queries, {{"monitor", monitor}}, static_cast<double>(q.queries));
            add(query_errors, {{"monitor", monitor}}, static_cast<double>(q.errors));
            add(query_ok, {{"monitor", monitor}},
                static_cast<double>(q.last_success_unix_ms) / 1000.0);
        }
        for (auto* f : {&queries, &query_errors, &query_ok}) {
            out.push_back(std::move(*f));
        }
        MetricFamily isolated =
            family("gtm_prober_isolated", "1 while the isolation guard suspects our own network",
                   MetricType::Gauge);
        add(isolated, {}, src_.prober->isolated() ? 1 : 0);
        MetricFamily targets = family("gtm_prober_targets",
                                      "Probe targets, (monitor, address) pairs", MetricType::Gauge);
        add(targets, {}, static_cast<double>(ps.targets));
        MetricFamily last = family("gtm_prober_last_probe_timestamp_seconds",
                                   "When the last probe completed (unix time)", MetricType::Gauge);
        add(last, {}, static_cast<double>(ps.last_probe_unix_ms) / 1000.0);
        MetricFamily in_flight =
            family("gtm_prober_in_flight",
                   "Probes started and not finished (as of the last result)", MetricType::Gauge);
        add(in_flight, {}, static_cast<double>(ps.in_flight));
        MetricFamily max_in_flight =
            family("gtm_prober_max_in_flight",
                   "Probes in flight at most (health.max_probes_in_flight, after the fd limit)",
                   MetricType::Gauge);
        add(max_in_flight, {}, static_cast<double>(ps.max_in_flight));
        MetricFamily deferred =
            family("gtm_prober_deferred_total",
                   "Due probes that waited for a slot under health.max_probes_in_flight",
                   MetricType::Counter);
        add(deferred, {}, static_cast<double>(ps.deferred));
        for (auto* f : {&results, &duration, &isolated, &targets, &last, &in_flight, &max_in_flight,
                        &deferred}) {
            out.push_back(std::move(*f));
        }
    }

    void balancers(std::vector<MetricFamily>& out) const {
        if (src_.core == nullptr) {
            return;
        }
        const auto snap = src_.core->snapshot();
        if (!snap) {
            return;
        }
        static const dns::ServeMode kModes[] = {
            dns::ServeMode::Normal,     dns::ServeMode::Degraded, dns::ServeMode::FailOpen,
            dns::ServeMode::FailClosed, dns::ServeMode::Fallback, dns::ServeMode::NoMembers};
        MetricFamily tier =
            family("gtm_balancer_serving_priority",
                   "The priority of the tier a balancer answers from", MetricType::Gauge);
        MetricFamily mode = family("gtm_balancer_mode",
                                   "1 for a balancer's mode (normal, degraded, fail_open, "
                                   "fail_closed, fallback, no_members)",
                                   MetricType::Gauge);
        MetricFamily all_down =
            family("gtm_balancer_all_down",
                   "1 while every tier is down and when_all_down is in force", MetricType::Gauge);
        MetricFamily healthy =
            family("gtm_pool_healthy_members", "Eligible members of a pool", MetricType::Gauge);
        MetricFamily min_healthy =
            family("gtm_pool_min_healthy", "A pool's min_healthy", MetricType::Gauge);
        MetricFamily pool_up =
            family("gtm_pool_up", "1 when at least min_healthy members of a pool are eligible",
                   MetricType::Gauge);
        std::set<std::pair<std::string, bool>> pools_seen;
        std::set<std::string> min_seen;
        for (const auto& b : snap->balancers()) {
            for (const bool v6 : {false, true}) {
                const dns::AnswerTable& t = v6 ? b->v6 : b->v4;
                if (t.mode == dns::ServeMode::NoMembers) {
                    continue;
                }
                const Labels id = {{"balancer", b->name}, {"family", family_label(v6)}};
                add(tier, id, t.serving_priority);
                for (auto m : kModes) {
                    Labels l = id;
                    l.push_back({"mode", dns::to_string(m)});
                    add(mode, std::move(l), t.mode == m ? 1 : 0);
                }
                const bool down = t.mode == dns::ServeMode::FailOpen ||
                                  t.mode == dns::ServeMode::FailClosed ||
                                  t.mode == dns::ServeMode::Fallback;
                add(all_down, id, down ? 1 : 0);
                for (const auto& p : t.pools) {
                    if (!pools_seen.emplace(p.pool, v6).second) {
                        continue;
                    }
                    const Labels pid = {{"pool", p.pool}, {"family", family_label(v6)}};
                    add(healthy, pid, p.eligible);
                    add(pool_up, pid, p.up ? 1 : 0);
                    if (min_seen.insert(p.pool).second) {
                        add(min_healthy, {{"pool", p.pool}}, p.min_healthy);
                    }
                }
            }
        }
        for (auto* f : {&tier, &mode, &all_down, &healthy, &min_healthy, &pool_up}) {
            out.push_back(std::move(*f));
        }
    }

    void control(std::vector<MetricFamily>& out) const {
        if (src_.core != nullptr) {
            const core::CoreStats stats = src_.core->stats();
            MetricFamily gen = family("gtm_config_generation", "The snapshot generation served",
                                      MetricType::Gauge);
            add(gen, {}, static_cast<double>(stats.generation));
            MetricFamily rev = family("gtm_config_revision", "The desired-state revision served",
                                      MetricType::Gauge);
            add(rev, {}, static_cast<double>(src_.core->current()->revision));
            MetricFamily changed =
                family("gtm_config_last_change_timestamp_seconds",
                       "When the served desired state last changed (unix time)", MetricType::Gauge);
            add(changed, {}, static_cast<double>(stats.last_change_unix_ms) / 1000.0);
            out.push_back(std::move(gen));
            out.push_back(std::move(rev));
            out.push_back(std::move(changed));
            if (stats.cluster) {  // core/README.md "Cluster mode"
                MetricFamily nodes = family(
                    "gtm_cluster_nodes", "Cluster nodes whose lease is alive (this one included)",
                    MetricType::Gauge);
                add(nodes, {}, static_cast<double>(stats.live_nodes.size()));
                MetricFamily link = family(
                    "gtm_cluster_link_up",
                    "1 while this node follows the shared store (etcd), 0 while it cannot reach it",
                    MetricType::Gauge);
                add(link, {}, stats.link_up ? 1.0 : 0.0);
                MetricFamily alone = family(
                    "gtm_cluster_judging_alone",
                    "1 while this node serves its own verdicts: no link to the shared store for "
                    "longer than cluster.fallback_after",
                    MetricType::Gauge);
                add(alone, {}, stats.fallback ? 1.0 : 0.0);
                out.push_back(std::move(nodes));
                out.push_back(std::move(link));
                out.push_back(std::move(alone));
            }
        }
        if (src_.events != nullptr) {
            MetricFamily written =
                family("gtm_events_written_total", "Health events written", MetricType::Counter);
            add(written, {}, static_cast<double>(src_.events->written()));
            MetricFamily dropped =
                family("gtm_events_dropped_total", "Health events dropped (the queue was full)",
                       MetricType::Counter);
            add(dropped, {}, static_cast<double>(src_.events->dropped()));
            out.push_back(std::move(written));
            out.push_back(std::move(dropped));
        }
        if (src_.webhooks != nullptr) {
            MetricFamily deliveries =
                family("gtm_webhook_deliveries_total",
                       "Webhook delivery attempts, by webhook and result", MetricType::Counter);
            MetricFamily depth =
                family("gtm_webhook_queue_depth", "Events a webhook read and has not delivered yet",
                       MetricType::Gauge);
            MetricFamily last =
                family("gtm_webhook_last_success_timestamp_seconds",
                       "When a webhook last delivered an event (unix time)", MetricType::Gauge);
            for (const auto& w : src_.webhooks->stats()) {
                for (const auto& [result, n] : w.deliveries) {
                    add(deliveries, {{"webhook", w.name}, {"result", result}},
                        static_cast<double>(n));
                }
                add(depth, {{"webhook", w.name}}, static_cast<double>(w.queue_depth));
                add(last, {{"webhook", w.name}},
                    static_cast<double>(w.last_success_unix_ms) / 1000.0);
            }
            out.push_back(std::move(deliveries));
            out.push_back(std::move(depth));
            out.push_back(std::move(last));
        }
    }

    MetricsSources src_;
    mutable std::map<std::tuple<std::string, std::string, std::string>, uint64_t> folded_;
    mutable std::vector<std::shared_ptr<const dns::Balancer>> pending_;
};

Metrics::Metrics(MetricsSources sources)
    : registry_(std::make_shared<prometheus::Registry>()),
      api_requests_(prometheus::BuildCounter()
                        .Name("gtm_api_requests_total")
                        .Help("API requests, by method, route (the path template) and status")
                        .Register(*registry_)),
      audit_entries_(prometheus::BuildCounter()
                         .Name("gtm_audit_entries_total")
                         .Help("Audit entries written, by result (ok, rejected)")
                         .Register(*registry_)),
      store_errors_(prometheus::BuildCounter()
                        .Name("gtm_store_errors_total")
                        .Help("Store operations refused, by kind")
                        .Register(*registry_)),
      state_(std::make_unique<State>(std::move(sources))) {
    for (const char* r : {"ok", "rejected"}) {
        audit_entries_.Add({{"result", r}});
    }
    for (auto k : {store::StoreError::Kind::Busy, store::StoreError::Kind::Full,
                   store::StoreError::Kind::ReadOnly, store::StoreError::Kind::Corrupt,
                   store::StoreError::Kind::Constraint, store::StoreError::Kind::Conflict,
                   store::StoreError::Kind::Other}) {
        store_errors_.Add({{"kind", store_kind(k)}});
    }
}

Metrics::~Metrics() = default;

std::string Metrics::scrape() {
    std::vector<MetricFamily> families = state_->Collect();
    for (auto& f : registry_->Collect()) {
        families.push_back(std::move(f));
    }
    return prometheus::TextSerializer().Serialize(families);
}

void Metrics::api_request(const std::string& method, const std::string& route, int code) {
    auto key = std::make_tuple(method, route, code);
    auto it = api_cache_.find(key);
    if (it == api_cache_.end()) {
        // Family::Add locks and allocates: once per (method, route, code), never per request.
        auto& c = api_requests_.Add(
            {{"method", method}, {"route", route}, {"code", std::to_string(code)}});
        it = api_cache_.emplace(std::move(key), &c).first;
    }
    it->second->Increment();
}

void Metrics::audit_entry(bool ok) {
    audit_entries_.Add({{"result", ok ? "ok" : "rejected"}}).Increment();
}

void Metrics::store_error(store::StoreError::Kind kind) {
    store_errors_.Add({{"kind", store_kind(kind)}}).Increment();
}

}  // namespace gtm::web
