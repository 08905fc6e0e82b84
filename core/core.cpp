#include "core/core.h"

#include <spdlog/spdlog.h>

#include <future>

#include "base/asio.h"
#include "base/clock.h"
#include "core/diff.h"
#include "store/validate.h"

namespace gtm::core {

using nlohmann::json;

struct Core::Loop {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        boost::asio::make_work_guard(io)};
    boost::asio::steady_timer ticker{io};
};

namespace {

// The audit's before/after: the diff's objects, one list each.
std::pair<std::string, std::string> audit_sides(const json& changes) {
    json before = json::array();
    json after = json::array();
    for (const auto& ch : changes) {
        if (ch.contains("before")) {
            before.push_back({{"kind", ch["kind"]}, {"name", ch["name"]}, {"value", ch["before"]}});
        }
        if (ch.contains("after")) {
            after.push_back({{"kind", ch["kind"]}, {"name", ch["name"]}, {"value", ch["after"]}});
        }
    }
    return {before.dump(), after.dump()};
}

}  // namespace

Core::Core(store::Store& store, dns::SnapshotHolder& holder, CoreOptions options)
    : store_(store),
      holder_(holder),
      options_(std::move(options)),
      controller_(holder),
      current_(std::make_shared<Current>()),
      loop_(std::make_unique<Loop>()) {}

Core::~Core() { stop(); }

void Core::load(int64_t now_ms) {
    store::StoredState stored;
    if (store_.has_state()) {
        stored = store_.load_state();
        canonicalize(stored.state);
        store::validate(stored.state, "the stored state");
    }
    std::vector<Decision> restored;
    for (const auto& v : store_.verdicts()) {
        health::TargetState s;
        s.verdict = v.verdict == "up"     ? health::Verdict::Up
                    : v.verdict == "down" ? health::Verdict::Down
                                          : health::Verdict::Unknown;
        if (s.verdict != health::Verdict::Unknown) {
            restored.push_back({health::target_key(v.monitor, v.address), s});
        }
    }
    std::lock_guard lock(ctl_mu_);
    controller_.restore(restored);
    Controller::Prepared p = controller_.prepare(stored.state, now_ms);
    configure_prober(p);
    controller_.commit(std::move(p), now_ms);
    set_current(stored.state, stored.revision);
    spdlog::info("serving generation {} (revision {}): {} zones, {} balancers",
                 controller_.generation(), stored.revision, stored.state.zones.size(),
                 stored.state.balancers.size());
}

void Core::start() {
    Loop& l = *loop_;
    boost::asio::post(l.io, [this] { tick(); });
    control_ = std::thread([&l] { l.io.run(); });
    watcher_ = std::thread([this] { watch(); });
}

void Core::stop() {
    {
        std::lock_guard lock(watch_mu_);
        stopping_.store(true);
    }
    watch_cv_.notify_all();
    if (watcher_.joinable()) {
        watcher_.join();
    }
    if (control_.joinable()) {
        // The decisions already queued are applied; then the loop ends.
        boost::asio::post(loop_->io, [this] { loop_->ticker.cancel(); });
        loop_->work.reset();
        control_.join();
    }
}

void Core::configure_prober(const Controller::Prepared& p) {
    if (options_.configure_prober) {
        options_.configure_prober(p.state, p.seeds);
    }
}

void Core::set_current(store::DesiredState state, uint64_t revision) {
    auto next = std::make_shared<Current>();
    next->state = std::move(state);
    next->revision = revision;
    std::lock_guard lock(current_mu_);
    current_ = std::move(next);
}

std::shared_ptr<const Current> Core::current() const {
    std::lock_guard lock(current_mu_);
    return current_;
}

uint64_t Core::generation() const {
    std::lock_guard lock(ctl_mu_);
    return controller_.generation();
}

ChangeResult Core::change(const Actor& who, const Edit& edit, bool dry_run,
                          std::optional<uint64_t> if_match) {
    std::lock_guard changing(change_mu_);
    if (stopping_.load()) {
        throw ChangeError(ChangeError::Kind::Unavailable, "gtmd is shutting down");
    }
    const std::shared_ptr<const Current> before = current();
    if (if_match && *if_match != before->revision) {
        throw ChangeError(ChangeError::Kind::Stale,
                          "the state is at revision " + std::to_string(before->revision) +
                              ", not " + std::to_string(*if_match),
                          before->revision);
    }
    store::DesiredState next = before->state;
    ChangeResult out;
    out.result = edit(next);
    canonicalize(next);
    out.warnings = store::validate(next, who.document);
    out.changes = diff(before->state, next);
    out.dry_run = dry_run;
    out.revision = before->revision;

    // Compiled before it is saved: a state that cannot be served is never stored. A dry run
    // compiles too, to say what the change would do to the answers.
    const int64_t now = monotonic_ms();
    Controller::Prepared prepared;
    try {
        for (const auto& b : next.balancers) {
            if (!options_.fail_compile_of.empty() && b.name == options_.fail_compile_of) {
                throw std::runtime_error("injected compile failure (GTMD_TEST_FAIL_COMPILE)");
            }
        }
        std::lock_guard lock(ctl_mu_);
        prepared = controller_.prepare(next, now);
        out.effects = effects(controller_.snapshot().get(), *prepared.snapshot);
    } catch (const std::exception& e) {
        throw ChangeError(ChangeError::Kind::Unservable,
                          std::string("the state cannot be compiled: ") + e.what());
    }
    if (dry_run) {
        return out;
    }

    store::AuditEntry a;
    a.at_ms = unix_ms();
    a.token = who.token;
    a.source = who.source;
    a.action = who.action;
    a.object = who.object;
    std::tie(a.before, a.after) = audit_sides(out.changes);
    a.result = "ok";
    a.status = who.status;
    out.revision = store_.save_state(before->state, next, a, before->revision);  // durable

    {
        std::lock_guard lock(ctl_mu_);
        configure_prober(prepared);
        controller_.commit(std::move(prepared), monotonic_ms());  // live in the DNS answers
        spdlog::info("serving generation {} (revision {}) after {} by '{}': {} change(s)",
                     controller_.generation(), out.revision, who.action, who.token,
                     out.changes.size());
    }
    set_current(std::move(next), out.revision);
    return out;
}

ChangeResult Core::apply(store::DesiredState document, const Actor& who,
                         const ApplyOptions& options) {
    return change(
        who,
        [&](store::DesiredState& s) {
            if (document.zones.empty() && !s.zones.empty() && !options.prune) {
                throw ChangeError(ChangeError::Kind::Empty,
                                  "the document has no zone: applied, it would delete every zone, "
                                  "pool and balancer; refused (prune to mean that)");
            }
            json kept = json::array();
            if (options.source != nullptr) {
                for (const auto& [pool, address] :
                     keep_admin_states(document, s, *options.source)) {
                    kept.push_back(pool + "/" + address);
                }
            }
            s = std::move(document);
            return json{{"admin_states_kept", kept}};
        },
        options.dry_run, options.if_match);
}

void Core::on_decisions(std::vector<health::TargetUpdate> updates) {
    boost::asio::post(loop_->io,
                      [this, updates = std::move(updates)] { apply_decisions(updates); });
}

void Core::sync(uint32_t max_wait_ms) {
    if (!control_.joinable()) {
        loop_->io.poll();  // not started: run what is queued here
        loop_->io.restart();
        return;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    boost::asio::post(loop_->io, [done] { done->set_value(); });
    f.wait_for(std::chrono::milliseconds(max_wait_ms));
}

void Core::apply_decisions(const std::vector<health::TargetUpdate>& updates) {
    std::vector<Decision> decisions;
    std::vector<store::HealthEvent> events;
    const int64_t at = unix_ms();
    for (const auto& u : updates) {
        decisions.push_back({u.key, u.state});
        if (u.from == u.state.verdict) {
            continue;  // suspicion, holds, returns: decisions, not verdict changes
        }
        store::HealthEvent e;
        e.at_ms = at;
        e.monitor = u.monitor;
        e.address = u.address;
        for (const auto& p : u.pools) {
            e.pools += (e.pools.empty() ? "" : ",") + p;
        }
        e.from = health::to_string(u.from);
        e.to = health::to_string(u.state.verdict);
        e.reason = health::to_string(u.state.evidence.reason);
        e.detail = u.state.evidence.detail;
        e.http_status = u.state.evidence.http_status;
        e.latency_ms = u.state.evidence.latency_ms;
        events.push_back(std::move(e));
    }
    {
        std::lock_guard lock(ctl_mu_);
        controller_.apply(decisions, monotonic_ms());
    }
    if (!events.empty() && options_.record_events) {
        options_.record_events(std::move(events));
    }
}

void Core::tick() {
    {
        std::lock_guard lock(ctl_mu_);
        controller_.tick(monotonic_ms());
    }
    loop_->ticker.expires_after(std::chrono::seconds(1));
    loop_->ticker.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            tick();
        }
    });
}

void Core::watch() {
    bool failing = false;
    for (;;) {
        {
            std::unique_lock lock(watch_mu_);
            watch_cv_.wait_for(lock, std::chrono::milliseconds(options_.watch_interval_ms),
                               [this] { return stopping_.load(); });
            if (stopping_.load()) {
                return;
            }
        }
        std::lock_guard changing(change_mu_);
        try {
            if (store_.revision() == current()->revision) {
                failing = false;
                continue;
            }
            store::StoredState stored = store_.load_state();
            canonicalize(stored.state);
            store::validate(stored.state, "the stored state");
            const int64_t now = monotonic_ms();
            {
                std::lock_guard lock(ctl_mu_);
                Controller::Prepared p = controller_.prepare(stored.state, now);
                configure_prober(p);
                controller_.commit(std::move(p), now);
                spdlog::info("serving generation {}: revision {} written elsewhere",
                             controller_.generation(), stored.revision);
            }
            set_current(std::move(stored.state), stored.revision);
            failing = false;
        } catch (const std::exception& e) {
            if (!failing) {  // once per transition
                spdlog::warn("store watch: {}; still serving revision {}", e.what(),
                             current()->revision);
            }
            failing = true;
        }
    }
}

std::optional<Explanation> Core::explain(const std::string& name, bool v6) const {
    std::lock_guard lock(ctl_mu_);
    const store::DesiredState& state = controller_.state();
    Explanation out;
    out.snapshot = controller_.snapshot();
    if (!out.snapshot) {
        return std::nullopt;
    }
    for (size_t i = 0; i < state.balancers.size(); ++i) {
        if (state.balancers[i].name == name) {
            out.config = state.balancers[i];
            out.balancer = out.snapshot->balancers()[i].get();
        }
    }
    if (out.balancer == nullptr) {
        return std::nullopt;
    }
    out.table = v6 ? &out.balancer->v6 : &out.balancer->v4;
    for (const auto& p : state.pools) {
        out.monitor_of_pool[p.name] = p.monitor;
        if (p.monitor.empty()) {
            continue;
        }
        for (const auto& m : p.members) {
            out.decisions[{p.name, m.address}] = controller_.targets().get(p.monitor, m.address);
        }
    }
    return out;
}

}  // namespace gtm::core
