#include "healthcheck/prober.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "base/asio.h"
#include "base/clock.h"
#include "healthcheck/curl_multi.h"
#include "healthcheck/http_probe.h"
#include "healthcheck/judge.h"
#include "healthcheck/schedule.h"
#include "healthcheck/targets.h"
#include "healthcheck/tcp_probe.h"
#include "store/names.h"

namespace gtm::health {

namespace asio = boost::asio;

// One (monitor, address) pair: probed once at a time, whatever the number of pools it serves.
struct Target {
    uint32_t id = 0;
    TargetSpec spec;
    std::unique_ptr<HttpProbe> http;
    std::unique_ptr<TcpProbe> tcp;
    CurlMulti* multi = nullptr;  // the shard its transfer is in, while one is
    bool in_flight = false;
    bool retired = false;  // configure() dropped it
    bool has_result = false;
    int64_t started_ms = 0;
    TargetState sent;  // as last reported through on_update
};

struct Prober::Engine {
    Engine(Prober& owner, ProberOptions opts)
        : owner(owner),
          options(std::move(opts)),
          work(asio::make_work_guard(io)),
          wake(io),
          ticker(io),
          judge(options.seed != 0 ? options.seed : std::random_device{}()),
          schedule(options.seed != 0 ? options.seed + 1 : std::random_device{}()) {}

    ~Engine() {
        for (auto& t : targets) {
            retire(*t);
        }
        targets.clear();
        shards.clear();
    }

    // ---- probes ----

    void launch(const std::shared_ptr<Target>& t) {
        t->in_flight = true;
        t->started_ms = monotonic_ms();
        owner.probes_started_.fetch_add(1, std::memory_order_relaxed);
        const store::Monitor& m = t->spec.monitor;
        if (m.type == store::MonitorType::Tcp) {
            if (!t->tcp) {
                t->tcp = std::make_unique<TcpProbe>(io, t->spec.address, m.port, m.timeout_ms,
                                                    source_of(t->spec.address));
            }
            t->tcp->start(t->started_ms, [this, w = std::weak_ptr(t)](ProbeResult r) {
                if (auto target = w.lock()) {
                    finish(*target, std::move(r));
                }
            });
            return;
        }
        if (!t->http) {
            t->http = std::make_unique<HttpProbe>(t->spec.monitor, t->spec.address, t.get(),
                                                  source_of(t->spec.address));
        }
        t->multi = shards[t->id % shards.size()].get();
        if (!t->multi->add(t->http->start())) {
            t->multi = nullptr;
            ProbeResult r;
            r.started_ms = t->started_ms;
            r.reason = Reason::Internal;
            r.detail = "curl_multi_add_handle failed";
            finish(*t, std::move(r));
        }
    }

    void http_done(CURL* easy, CURLcode rc) {
        auto* t = static_cast<Target*>(HttpProbe::owner_of(easy));
        t->multi = nullptr;
        finish(*t, t->http->finish(rc, t->started_ms));
    }

    const std::string& source_of(const std::string& address) const {
        return store::family_of(address) == store::Family::V4 ? options.source_v4
                                                              : options.source_v6;
    }

    // Stops what is in flight for a target configure() dropped; no result will arrive.
    void retire(Target& t) {
        t.retired = true;
        if (t.multi != nullptr && t.http) {
            t.multi->remove(t.http->easy());
            t.multi = nullptr;
        }
        if (t.tcp) {
            t.tcp->cancel();
        }
        t.in_flight = false;
    }

    // ---- decisions ----

    void finish(Target& t, ProbeResult r) {
        t.in_flight = false;
        if (t.retired || stopping) {
            return;
        }
        const int64_t now = monotonic_ms();
        r.started_ms = t.started_ms;
        count(t, r);
        JudgeOutput out = judge.on_result(t.id, r, now);
        const bool first = !t.has_result;
        schedule.done(t.id, first, t.started_ms, now, t.spec.monitor.interval_ms,
                      judge.confirming(t.id));
        // Reported before the first round may be declared over: whoever waits for it finds the
        // decisions already handed on.
        report(out, now);
        if (first) {
            t.has_result = true;
            std::lock_guard lock(first_mu);
            if (first_pending > 0 && --first_pending == 0 && configs_in_flight == 0) {
                first_cv.notify_all();
            }
        }
        rearm();
    }

    void report(const JudgeOutput& out, int64_t now) {
        for (uint32_t id : out.canaries) {
            if (!targets[id]->in_flight) {
                schedule.pull(id, now);
            }
        }
        std::vector<TargetUpdate> updates;
        for (uint32_t id : out.changed) {
            Target& t = *targets[id];
            const TargetState& s = judge.published(id);
            if (s.same_decision(t.sent)) {
                continue;
            }
            TargetUpdate u;
            u.key = t.spec.key;
            u.monitor = t.spec.monitor.name;
            u.address = t.spec.address;
            u.pools = t.spec.pools;
            u.state = s;
            u.from = t.sent.verdict;
            if (u.from != s.verdict && (u.from != Verdict::Unknown || s.verdict == Verdict::Down)) {
                spdlog::info("{} {} [{}]: {} -> {} ({}{})", u.monitor, u.address,
                             joined(t.spec.pools), to_string(u.from), to_string(s.verdict),
                             to_string(s.evidence.reason),
                             s.evidence.detail.empty() ? "" : ": " + s.evidence.detail);
            }
            t.sent = s;
            updates.push_back(std::move(u));
        }
        if (out.entered) {
            owner.isolated_.store(true);
            spdlog::warn(
                "isolation guard: {} of {} monitored targets across several pools went down "
                "at once; keeping what was published for up to {} s (suspecting our own network)",
                judge.held(), targets.size(), options.isolation_hold_ms / 1000);
        }
        if (out.left) {
            owner.isolated_.store(false);
            spdlog::warn("isolation guard: released");
        }
        if (!updates.empty() && options.on_update) {
            options.on_update(std::move(updates));
        }
        if ((out.entered || out.left) && options.on_isolation) {
            options.on_isolation(owner.isolated_.load());
        }
    }

    void count(const Target& t, const ProbeResult& r) {
        std::lock_guard lock(stats_mu);
        MonitorProbeStats& m = stats.monitors[t.spec.monitor.name];
        ++m.results[static_cast<size_t>(r.reason)];
        const double seconds = r.latency_ms / 1000.0;
        size_t b = 0;
        while (b < kProbeBuckets.size() && seconds > kProbeBuckets[b]) {
            ++b;
        }
        ++m.buckets[b];
        ++m.count;
        m.sum_s += seconds;
        stats.last_probe_unix_ms = unix_ms();
    }

    static std::string joined(const std::vector<std::string>& items) {
        std::string s;
        for (const auto& i : items) {
            s += (s.empty() ? "" : ",") + i;
        }
        return s;
    }

    // ---- scheduling ----

    void rearm() {
        if (stopping) {
            return;
        }
        const int64_t at = schedule.next_due_ms();
        if (at == INT64_MAX || (armed && armed_at <= at)) {
            return;
        }
        armed = true;
        armed_at = at;
        wake.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(at)));
        wake.async_wait([this](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) {
                return;
            }
            armed = false;
            run_due();
        });
    }

    void run_due() {
        for (uint32_t id : schedule.due(monotonic_ms())) {
            if (id < targets.size() && !targets[id]->in_flight) {
                launch(targets[id]);
            }
        }
        rearm();
    }

    void on_tick() {
        ticker.expires_after(std::chrono::seconds(1));
        ticker.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            const int64_t now = monotonic_ms();
            report(judge.tick(now), now);
            rearm();
            on_tick();
        });
    }

    // ---- configuration ----

    void apply(const store::DesiredState& state,
               const std::unordered_map<std::string, Seed>& seeds) {
        std::vector<TargetSpec> specs = targets_of(state);
        std::map<std::string, std::shared_ptr<Target>> old;
        for (auto& t : targets) {
            old[t->spec.key] = t;
        }
        const int64_t now = monotonic_ms();
        std::vector<std::shared_ptr<Target>> next;
        std::vector<int64_t> old_to_new(targets.size(), -1);
        std::vector<std::optional<Seed>> target_seeds(specs.size());
        std::vector<JudgeTarget> judged;
        std::vector<int64_t> keep_at(specs.size(), -1);
        for (auto& spec : specs) {
            const uint32_t id = static_cast<uint32_t>(next.size());
            std::shared_ptr<Target> t;
            auto it = old.find(spec.key);
            if (it != old.end() && same_probe(it->second->spec.monitor, spec.monitor)) {
                t = it->second;  // the same probe: its connection, history and plan stay
                old.erase(it);
                old_to_new[t->id] = id;
                keep_at[id] = schedule.planned_ms(t->id);
            } else {
                t = std::make_shared<Target>();
                if (it != old.end()) {
                    // Probed differently now: a new probe, but the decisions stay.
                    old_to_new[it->second->id] = id;
                    t->sent = it->second->sent;
                }
                if (auto s = seeds.find(spec.key); s != seeds.end() && it == old.end()) {
                    // The core published the seed already: only later changes are reported.
                    target_seeds[id] = s->second;
                    t->sent.verdict = s->second.verdict;
                }
            }
            t->id = id;
            t->spec = std::move(spec);
            judged.push_back(
                {t->spec.pool_ids,
                 {t->spec.monitor.rise, t->spec.monitor.fall, t->spec.monitor.hold_down_ms},
                 t->spec.monitor.interval_ms,
                 t->spec.monitor.timeout_ms});
            next.push_back(std::move(t));
        }
        for (auto& [key, t] : old) {
            retire(*t);
        }
        judge.configure(std::move(judged), old_to_new, target_seeds, options.isolation_hold_ms,
                        now);
        targets = std::move(next);
        {
            std::lock_guard lock(stats_mu);
            stats.targets = targets.size();
        }
        schedule.reset(targets.size());
        size_t pending = 0;
        for (auto& t : targets) {
            if (!t->has_result) {
                schedule.first(t->id, now, t->spec.monitor.interval_ms, targets.size());
                ++pending;
            } else if (!t->in_flight) {
                schedule.keep(t->id, keep_at[t->id] >= 0 ? keep_at[t->id] : now);
            }
        }
        // Shards are added as the targets grow, never removed (transfers may be in flight).
        while (shards.size() * kShardSize < targets.size() || shards.empty()) {
            shards.push_back(std::make_unique<CurlMulti>(
                io, [this](CURL* easy, CURLcode rc) { http_done(easy, rc); }));
        }
        {
            // The targets of this configuration still waiting for their first result; a round
            // is over when the last configuration posted has been applied and they all answered.
            std::lock_guard lock(first_mu);
            first_pending = pending;
            --configs_in_flight;
            if (pending == 0 && configs_in_flight == 0) {
                first_cv.notify_all();
            }
        }
        armed = false;
        wake.cancel();
        rearm();
    }

    std::vector<TargetStatus> snapshot_status() const {
        std::vector<TargetStatus> out;
        for (const auto& t : targets) {
            TargetStatus s;
            s.monitor = t->spec.monitor.name;
            s.address = t->spec.address;
            s.pools = t->spec.pools;
            s.state = judge.published(t->id);
            s.raw = judge.health(t->id).verdict();
            s.pending = judge.pending(t->id);
            s.last_change_ms = judge.health(t->id).last_change_ms();
            s.recent = judge.health(t->id).recent();
            out.push_back(std::move(s));
        }
        return out;
    }

    Prober& owner;
    ProberOptions options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    std::vector<std::unique_ptr<CurlMulti>> shards;
    asio::steady_timer wake;
    asio::steady_timer ticker;
    bool armed = false;
    int64_t armed_at = 0;
    bool stopping = false;
    std::vector<std::shared_ptr<Target>> targets;
    Judge judge;
    Schedule schedule;
    std::thread thread;
    mutable std::mutex stats_mu;  // the prober thread writes, the scrape reads
    ProbeStats stats;
    std::mutex first_mu;
    std::condition_variable first_cv;
    size_t first_pending = 0;
    size_t configs_in_flight = 0;  // configure() calls posted, not yet applied
};

Prober::Prober(ProberOptions options)
    : engine_(std::make_unique<Engine>(*this, std::move(options))) {}

Prober::~Prober() { stop(); }

void Prober::start() {
    Engine& e = *engine_;
    asio::post(e.io, [&e] { e.on_tick(); });
    e.thread = std::thread([&e] { e.io.run(); });
}

void Prober::stop() {
    Engine& e = *engine_;
    if (!e.thread.joinable()) {
        return;
    }
    asio::post(e.io, [&e] {
        e.stopping = true;
        e.wake.cancel();
        e.ticker.cancel();
        for (auto& sh : e.shards) {
            sh->stop();
        }
        for (auto& t : e.targets) {
            e.retire(*t);
        }
        e.work.reset();
        e.io.stop();
    });
    e.thread.join();
}

void Prober::configure(const store::DesiredState& state,
                       std::unordered_map<std::string, Seed> seeds) {
    auto copy = std::make_shared<store::DesiredState>();
    copy->monitors = state.monitors;
    copy->pools = state.pools;
    Engine& e = *engine_;
    {
        // Counted before the post so that wait_first_round() right after waits for this round.
        std::lock_guard lock(e.first_mu);
        ++e.configs_in_flight;
    }
    asio::post(e.io, [&e, copy, seeds = std::move(seeds)] { e.apply(*copy, seeds); });
}

ProbeStats Prober::probe_stats() const {
    std::lock_guard lock(engine_->stats_mu);
    return engine_->stats;
}

bool Prober::wait_first_round(uint32_t max_wait_ms) {
    Engine& e = *engine_;
    std::unique_lock lock(e.first_mu);
    return e.first_cv.wait_for(lock, std::chrono::milliseconds(max_wait_ms),
                               [&e] { return e.first_pending == 0 && e.configs_in_flight == 0; });
}

std::optional<std::vector<TargetStatus>> Prober::status() {
    Engine& e = *engine_;
    if (!e.thread.joinable()) {
        return e.snapshot_status();
    }
    auto p = std::make_shared<std::promise<std::vector<TargetStatus>>>();
    auto f = p->get_future();
    asio::post(e.io, [&e, p] { p->set_value(e.snapshot_status()); });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        return std::nullopt;
    }
    return f.get();
}

}  // namespace gtm::health
