#include "healthcheck/prober.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
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
#include "healthcheck/promql.h"
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
    bool waiting = false;  // due, in Engine::waiting for a slot under max_in_flight
    bool retired = false;  // configure() dropped it
    bool has_result = false;
    int64_t started_ms = 0;
    TargetState sent;  // as last reported through on_update
};

// One promql monitor: its one query per interval, for all of its targets.
struct PromqlRun {
    ~PromqlRun() {
        if (easy != nullptr) {
            curl_easy_cleanup(easy);
        }
    }
    store::Monitor monitor;
    std::vector<uint32_t> ids;  // its targets (ids into Engine::targets)
    CURL* easy = nullptr;
    std::string url;
    std::string body;
    char errbuf[CURL_ERROR_SIZE] = {};
    bool in_flight = false;
    bool retired = false;
    bool failing = false;  // the last query failed (logged once per transition)
    int64_t started_ms = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;

    static size_t on_body(char* data, size_t size, size_t n, void* self) {
        auto* r = static_cast<PromqlRun*>(self);
        if (r->body.size() + size * n > (64u << 20)) {
            return 0;  // an answer over 64 MiB is an error, not a reason to grow
        }
        r->body.append(data, size * n);
        return size * n;
    }
};

struct Prober::Engine {
    Engine(Prober& owner, ProberOptions opts)
        : owner(owner),
          options(std::move(opts)),
          work(asio::make_work_guard(io)),
          wake(io),
          ticker(io),
          judge(options.seed != 0 ? options.seed : std::random_device{}()),
          schedule(options.seed != 0 ? options.seed + 1 : std::random_device{}()) {
        options.max_in_flight = std::max<uint32_t>(1, options.max_in_flight);
        stats.max_in_flight = options.max_in_flight;
    }

    ~Engine() {
        for (auto& [name, r] : promql) {
            retire_run(*r);
        }
        promql.clear();
        for (auto& t : targets) {
            retire(*t);
        }
        targets.clear();
        shards.clear();
    }

    // ---- probes ----

    // A due target: probed now when a slot is free, else queued for the next free one.
    void start_or_wait(const std::shared_ptr<Target>& t) {
        if (t->in_flight || t->waiting) {
            return;
        }
        if (active < options.max_in_flight) {
            launch(t);
            return;
        }
        t->waiting = true;
        waiting.push_back(t);
        ++deferred;
    }

    // Slots were freed: the waiting targets start from the event loop, not from inside the
    // completion being handled (curl's info-read loop, a probe's own callback).
    void kick_waiting() {
        if (waiting.empty() || kicked || stopping) {
            return;
        }
        kicked = true;
        asio::post(io, [this] {
            kicked = false;
            start_waiting();
        });
    }

    // The longest-waiting targets start while slots are free (those dropped meanwhile are
    // skipped).
    void start_waiting() {
        while (active < options.max_in_flight && !waiting.empty() && !stopping) {
            std::shared_ptr<Target> t = waiting.front().lock();
            waiting.pop_front();
            if (t && t->waiting) {
                t->waiting = false;
                if (!t->retired) {
                    launch(t);
                }
            }
        }
    }

    // The one place a probe leaves the in-flight count (finished, or its target dropped).
    void end_flight(Target& t) {
        if (t.in_flight) {
            t.in_flight = false;
            --active;
        }
    }

    void launch(const std::shared_ptr<Target>& t) {
        t->in_flight = true;
        ++active;
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
        end_flight(t);
        t.waiting = false;
        kick_waiting();
    }

    // ---- decisions ----

    void finish(Target& t, ProbeResult r) {
        end_flight(t);
        kick_waiting();
        if (t.retired || stopping) {
            return;
        }
        const int64_t now = monotonic_ms();
        r.started_ms = t.started_ms;
        count(t, r);
        JudgeOutput out = judge.on_result(t.id, r, now);
        const bool first = !t.has_result;
        if (t.spec.monitor.type != store::MonitorType::Promql) {
            // promql targets are not scheduled one by one: their monitor's query answers them.
            schedule.done(t.id, first, t.started_ms, now, t.spec.monitor.interval_ms,
                          judge.confirming(t.id));
        }
        // Reported before the first round may be declared over: whoever waits for it finds the
        // decisions already handed on.
        report(out, now);
        if (first) {
            first_result(t);
        }
        rearm();
    }

    void first_result(Target& t) {
        t.has_result = true;
        std::lock_guard lock(first_mu);
        if (first_pending > 0 && --first_pending == 0 && configs_in_flight == 0) {
            first_cv.notify_all();
        }
    }

    // ---- promql monitors ----

    void retire_run(PromqlRun& r) {
        r.retired = true;
        if (r.timer) {
            r.timer->cancel();
        }
        if (r.in_flight && promql_multi) {
            promql_multi->remove(r.easy);
        }
        r.in_flight = false;
    }

    void run_query(const std::shared_ptr<PromqlRun>& r) {
        if (r->retired || stopping) {
            return;
        }
        const int64_t now = monotonic_ms();
        // The next one an interval after this one started, whatever this one does.
        r->timer->expires_at(std::chrono::steady_clock::time_point(
            std::chrono::milliseconds(now + r->monitor.interval_ms)));
        r->timer->async_wait([this, w = std::weak_ptr(r)](const boost::system::error_code& ec) {
            if (auto run = w.lock(); run && !ec) {
                run_query(run);
            }
        });
        if (r->in_flight) {
            return;  // cannot happen while timeout <= interval; never two at once
        }
        if (r->easy == nullptr) {
            r->easy = curl_easy_init();
            CURL* e = r->easy;
            curl_easy_setopt(e, CURLOPT_PRIVATE, r.get());
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_PROXY, "");
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &PromqlRun::on_body);
            curl_easy_setopt(e, CURLOPT_WRITEDATA, r.get());
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
            curl_easy_setopt(e, CURLOPT_USERAGENT, "gtmd-promql/0.1");
            curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        }
        r->url = promql_query_url(r->monitor);
        curl_easy_setopt(r->easy, CURLOPT_URL, r->url.c_str());
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r->monitor.timeout_ms));
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(r->monitor.timeout_ms));
        r->body.clear();
        r->errbuf[0] = 0;
        r->started_ms = now;
        r->in_flight = true;
        owner.probes_started_.fetch_add(1, std::memory_order_relaxed);
        if (!promql_multi->add(r->easy)) {
            r->in_flight = false;
            query_done(*r, QueryOutcome{false, "curl_multi_add_handle failed", {}});
        }
    }

    void promql_done(CURL* easy, CURLcode rc) {
        void* p = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
        auto* r = static_cast<PromqlRun*>(p);
        r->in_flight = false;
        if (r->retired || stopping) {
            return;
        }
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
            query_done(*r, QueryOutcome{false,
                                        r->errbuf[0] != 0 ? std::string(r->errbuf)
                                                          : std::string(curl_easy_strerror(rc)),
                                        {}});
            return;
        }
        query_done(*r, parse_query_response(r->body, status, r->monitor.match_label));
    }

    void query_done(PromqlRun& r, const QueryOutcome& o) {
        const int64_t now = monotonic_ms();
        const std::string& name = r.monitor.name;
        {
            std::lock_guard lock(stats_mu);
            PromqlStats& ps = stats.promql[name];
            ++ps.queries;
            if (o.ok) {
                ps.last_success_unix_ms = unix_ms();
            } else {
                if (ps.last_success_unix_ms == 0) {
                    // Never answered: "no answer since its first query", not since 1970.
                    ps.last_success_unix_ms = unix_ms() - (now - r.started_ms);
                }
                ++ps.errors;
                ++stats.monitors[name].results[static_cast<size_t>(Reason::QueryError)];
            }
        }
        if (!o.ok) {
            // Prometheus down, slow or refusing the query: no result for anyone, no verdict
            // moves (it is not every member failing).
            if (!r.failing) {
                spdlog::warn("promql monitor {}: query failed ({}); verdicts stay as they are",
                             name, o.error);
            }
            r.failing = true;
            return;
        }
        if (r.failing) {
            spdlog::info("promql monitor {}: queries answer again", name);
            r.failing = false;
        }
        const std::vector<uint32_t> ids = r.ids;  // finish() may not reconfigure, but be safe
        for (uint32_t id : ids) {
            if (id >= targets.size() || targets[id]->retired) {
                continue;
            }
            Target& t = *targets[id];
            std::string missing;
            const auto value = expand_template(r.monitor.match_value, t.spec.address,
                                               t.spec.pools.empty() ? "" : t.spec.pools.front(),
                                               name, t.spec.labels, &missing);
            // A member without the label the template names has no series of its own.
            std::optional<ProbeResult> res =
                promql_result(r.monitor, value.value_or(std::string("\0", 1)), o);
            if (res && !value) {
                res->detail = "the member has no label '" + missing + "': " + res->detail;
            }
            if (!res) {
                if (!t.has_result) {
                    first_result(t);  // no data, no_data: unknown: answered all the same
                }
                continue;
            }
            res->latency_ms = static_cast<uint32_t>(now - r.started_ms);
            t.started_ms = r.started_ms;
            finish(t, std::move(*res));
        }
    }

    void configure_promql() {
        std::map<std::string, std::shared_ptr<PromqlRun>> next;
        for (const auto& t : targets) {
            if (t->spec.monitor.type != store::MonitorType::Promql) {
                continue;
            }
            const store::Monitor& m = t->spec.monitor;
            auto& r = next[m.name];
            if (!r) {
                auto old = promql.find(m.name);
                if (old != promql.end() && same_probe(old->second->monitor, m) &&
                    old->second->monitor.interval_ms == m.interval_ms) {
                    r = old->second;  // keeps its plan
                    promql.erase(old);
                } else {
                    r = std::make_shared<PromqlRun>();
                    r->timer = std::make_unique<asio::steady_timer>(io);
                }
                r->monitor = m;
                r->ids.clear();
            }
            r->ids.push_back(t->id);
        }
        for (auto& [name, r] : promql) {
            retire_run(*r);
        }
        if (!promql_multi && !next.empty()) {
            promql_multi = std::make_unique<CurlMulti>(
                io, [this](CURL* easy, CURLcode rc) { promql_done(easy, rc); });
        }
        promql = std::move(next);
        for (auto& [name, r] : promql) {
            if (r->started_ms == 0) {
                run_query(r);  // a new monitor: its first query now
            }
        }
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
        stats.in_flight = active;
        stats.waiting = waiting.size();
        stats.deferred = deferred;
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
            // A promql target is answered by its monitor's query, not probed on its own (a
            // canary pulled for it waits for that query).
            if (id < targets.size() &&
                targets[id]->spec.monitor.type != store::MonitorType::Promql) {
                start_or_wait(targets[id]);
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
            if (t->spec.monitor.type == store::MonitorType::Promql) {
                pending += t->has_result ? 0 : 1;  // its monitor's query answers it
            } else if (!t->has_result) {
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
        configure_promql();
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
    std::unique_ptr<CurlMulti> promql_multi;                   // promql monitors' queries
    std::map<std::string, std::shared_ptr<PromqlRun>> promql;  // by monitor name
    asio::steady_timer wake;
    asio::steady_timer ticker;
    bool armed = false;
    int64_t armed_at = 0;
    bool stopping = false;
    std::vector<std::shared_ptr<Target>> targets;
    size_t active = 0;                          // probes in flight (end_flight() counts down)
    std::deque<std::weak_ptr<Target>> waiting;  // due, over max_in_flight; oldest first
    uint64_t deferred = 0;                      // probes that waited for a slot
    bool kicked = false;                        // a start_waiting() is posted
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
        for (auto& [name, r] : e.promql) {
            e.retire_run(*r);
        }
        if (e.promql_multi) {
            e.promql_multi->stop();
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
