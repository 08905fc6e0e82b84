#include "core/core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <random>
#include <thread>

#include "base/asio.h"
#include "base/clock.h"
#include "core/diff.h"
#include "core/quorum.h"
#include "healthcheck/combine.h"
#include "store/errors.h"
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
      controller_(holder, options_.worker_slots),
      current_(std::make_shared<Current>()),
      loop_(std::make_unique<Loop>()),
      alive_(std::make_shared<Alive>(this)) {
    // The store calls these from its own threads, which may outlive this object (the store is
    // destroyed after the core): each call runs under alive_'s lock, and stop() detaches them.
    store_.set_change_listener([alive = alive_] {
        std::lock_guard guard(alive->mu);
        if (Core* self = alive->core) {
            {
                std::lock_guard lock(self->watch_mu_);
                self->change_hint_ = true;
            }
            self->watch_cv_.notify_all();
        }
    });
    if (options_.board != nullptr) {
        options_.board->on_votes(
            [alive = alive_](const std::string& target, std::vector<store::Vote> v) {
                std::lock_guard guard(alive->mu);
                Core* self = alive->core;
                if (self == nullptr) {
                    return;
                }
                boost::asio::post(self->loop_->io, [self, target, v = std::move(v)]() mutable {
                    std::lock_guard lock(self->ctl_mu_);
                    if (v.empty()) {
                        self->votes_.erase(target);
                    } else {
                        self->votes_[target] = std::move(v);
                    }
                    if (self->fallback_) {
                        return;
                    }
                    std::vector<Decision> decisions;
                    self->serve_votes(target, monotonic_ms(), decisions);
                    self->controller_.apply(decisions, monotonic_ms());
                    self->note_modes();
                });
            });
        options_.board->on_link([alive = alive_](bool up) {
            std::lock_guard guard(alive->mu);
            if (Core* self = alive->core) {
                boost::asio::post(self->loop_->io, [self, up] { self->link_changed(up); });
            }
        });
    }
}

Core::~Core() { stop(); }

// A state that was stored was valid when it was written; a newer gtmd may refuse what an older
// one took (its checks grow). Refusing to start, or to follow the cluster, would take the zone
// down over a record that served well yesterday: the state is served as stored when it
// compiles, the problem is logged, and the next change must fix it (changes are validated).
void Core::check_stored(store::DesiredState& state) {
    try {
        store::validate(state, "the stored state");
    } catch (const store::DocumentError& e) {
        spdlog::error(
            "{} (the stored state fails this version's checks: it is served as stored; "
            "the next change must fix it)",
            e.what());
    }
}

void Core::load(int64_t now_ms) {
    store::StoredState stored;
    if (store_.has_state()) {
        stored = store_.load_state();
        canonicalize(stored.state);
        check_stored(stored.state);
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
    note_modes();
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
        std::lock_guard guard(alive_->mu);  // no store callback runs now or reaches us later
        alive_->core = nullptr;
    }
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
    {
        std::lock_guard lock(stats_mu_);
        stats_.last_change_unix_ms = unix_ms();
    }
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
    // Another writer (another node) may have saved first: the edit is done again on top of the
    // newer state — unless the caller named the revision it read (If-Match: then 412). The retry
    // edits the state just read from the store and compiles once, so the window between reading
    // and saving stays as short as a first try's; after a few lost races the node claims the
    // store's write turn, so a node that keeps writing cannot starve one that lost. The served
    // state catches up when the change is saved (or through the watch, when every try lost).
    std::shared_ptr<const Current> base;
    std::minstd_rand jitter(static_cast<unsigned>(monotonic_ms()));
    struct EndWrite {
        store::Store& s;
        ~EndWrite() { s.end_write(); }
    } end_write{store_};
    for (int attempt = 0;; ++attempt) {
        try {
            return change_once(who, edit, dry_run, if_match, base);
        } catch (const store::StoreError& e) {
            if (e.kind() != store::StoreError::Kind::Conflict || attempt >= 16) {
                throw;
            }
            if (attempt >= 2) {  // out of phase with a writer that keeps winning
                std::this_thread::sleep_for(
                    std::chrono::milliseconds(jitter() % (5 * static_cast<unsigned>(attempt))));
            }
            store::StoredState stored = store_.load_state();
            canonicalize(stored.state);
            if (if_match && stored.revision != *if_match) {
                // The revision the caller read is no longer the store's: a precondition failure.
                throw ChangeError(ChangeError::Kind::Stale,
                                  "the state is at revision " + std::to_string(stored.revision) +
                                      ", not " + std::to_string(*if_match),
                                  stored.revision);
            }
            base =
                std::make_shared<const Current>(Current{std::move(stored.state), stored.revision});
            if (attempt >= 2) {
                store_.claim_turn();
            }
        }
    }
}

ChangeResult Core::change_once(const Actor& who, const Edit& edit, bool dry_run,
                               std::optional<uint64_t> if_match,
                               std::shared_ptr<const Current> base) {
    const std::shared_ptr<const Current> before = base ? std::move(base) : current();
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
        const std::set<std::string> before_targets = controller_.live_targets();
        controller_.commit(std::move(prepared), monotonic_ms());  // live in the DNS answers
        note_modes();
        withdraw_removed(before_targets);
        spdlog::info("serving generation {} (revision {}) after {} by '{}': {} change(s)",
                     controller_.generation(), out.revision, who.action, who.token,
                     out.changes.size());
    }
    std::vector<store::Event> events;
    for (const auto& pool : next.pools) {
        const store::Pool* old = nullptr;
        for (const auto& p : before->state.pools) {
            if (p.name == pool.name) {
                old = &p;
            }
        }
        for (const auto& m : pool.members) {
            store::AdminState was = store::AdminState::Auto;
            bool existed = false;
            if (old != nullptr) {
                for (const auto& om : old->members) {
                    if (om.address == m.address) {
                        was = om.admin;
                        existed = true;
                    }
                }
            }
            if (existed && was != m.admin) {
                events.push_back(event("admin", {{"pool", pool.name},
                                                 {"member", m.address},
                                                 {"from", store::to_string(was)},
                                                 {"to", store::to_string(m.admin)},
                                                 {"by", who.token}}));
            }
        }
    }
    json summary = json::array();
    for (const auto& ch : out.changes) {
        if (summary.size() < 20) {
            summary.push_back(ch["op"].get<std::string>() + " " + ch["kind"].get<std::string>() +
                              "/" + ch["name"].get<std::string>());
        }
    }
    events.push_back(event("config", {{"revision", out.revision},
                                      {"by", who.token},
                                      {"action", who.action},
                                      {"changes", out.changes.size()},
                                      {"summary", summary}}));
    record(std::move(events));
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
        {
            std::lock_guard lock(stats_mu_);
            for (const auto& p : u.pools) {
                ++stats_.verdict_changes[{p, u.address}];
            }
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
        if (options_.board != nullptr) {
            e.node = options_.board->node();  // this vantage's view
        }
        e.http_status = u.state.evidence.http_status;
        e.latency_ms = u.state.evidence.latency_ms;
        events.push_back(std::move(e));
    }
    {
        std::lock_guard lock(ctl_mu_);
        if (options_.board == nullptr) {
            controller_.apply(decisions, monotonic_ms());
            note_modes();
        } else {
            // Cluster mode: our decisions are our votes; what is served is their quorum.
            for (const auto& d : decisions) {
                local_[d.key] = d.state;
                options_.board->publish_vote(d.key, vote_of(options_.board->node(), d.state, at));
            }
            if (fallback_) {
                controller_.apply(decisions, monotonic_ms());
                note_modes();
            }
        }
    }
    if (!events.empty() && options_.record_events) {
        options_.record_events(std::move(events));
    }
}

void Core::serve_votes(const std::string& target, int64_t now_ms, std::vector<Decision>& out) {
    const Tally t = tally(votes_[target], options_.quorum);
    const health::TargetState& before = controller_.targets().get(
        target.substr(0, target.find('\0')), target.substr(target.find('\0') + 1));
    health::TargetState next;
    next.verdict = t.verdict;
    next.suspect = t.suspect;
    next.evidence = t.evidence;
    next.returned_ms = before.returned_ms;
    if (!before.present() && next.present() && before.verdict != health::Verdict::Unknown) {
        next.returned_ms = now_ms;  // back in the answers: slow start
    }
    if (!next.same_decision(before)) {
        out.push_back({target, std::move(next)});
    }
}

void Core::link_changed(bool up) {
    std::lock_guard lock(ctl_mu_);
    const int64_t now = monotonic_ms();
    if (!up) {
        if (link_down_since_ms_ == 0) {
            link_down_since_ms_ = now;
            spdlog::warn(
                "cluster: the link to the other nodes is down; serving the last decisions "
                "(judging alone after {} s)",
                options_.fallback_after_ms / 1000);
        }
        return;
    }
    link_down_since_ms_ = 0;
    if (fallback_) {
        fallback_ = false;
        spdlog::warn("cluster: the link is back; the quorum of the vantages decides again");
        std::vector<Decision> decisions;
        for (const auto& [target, votes] : votes_) {
            serve_votes(target, now, decisions);
        }
        controller_.apply(decisions, now);
        note_modes();
    }
}

bool Core::wait_votes_settled(uint32_t max_wait_ms) {
    const int64_t until = monotonic_ms() + max_wait_ms;
    for (;;) {
        bool settled = true;
        {
            std::lock_guard lock(ctl_mu_);
            for (const auto& [key, state] : local_) {
                const auto v = votes_.find(key);
                // Not `state` in the lambda: clang 14 (the fuzz preset) refuses to capture a
                // structured binding.
                const std::string verdict = health::to_string(state.verdict);
                const bool mine =
                    v != votes_.end() &&
                    std::any_of(v->second.begin(), v->second.end(), [&](const store::Vote& x) {
                        return x.node == options_.board->node() && x.verdict == verdict;
                    });
                settled &= mine || state.verdict == health::Verdict::Unknown;
            }
        }
        if (settled || monotonic_ms() >= until) {
            return settled;
        }
        sync(100);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void Core::record(std::vector<store::Event> events) {
    if (!events.empty() && options_.record_events) {
        options_.record_events(std::move(events));
    }
}

store::Event Core::event(const char* type, json data) const {
    store::Event e;
    e.at_ms = unix_ms();
    e.type = type;
    if (options_.board != nullptr) {
        e.node = options_.board->node();
    }
    e.data = data.dump();
    return e;
}

void Core::note_modes() {
    const auto snap = controller_.snapshot();
    if (!snap) {
        return;
    }
    std::vector<store::Event> events;
    std::map<std::pair<std::string, bool>, std::pair<dns::ServeMode, uint32_t>> now;
    for (const auto& b : snap->balancers()) {
        for (const bool v6 : {false, true}) {
            const dns::AnswerTable& t = v6 ? b->v6 : b->v4;
            if (t.mode == dns::ServeMode::NoMembers) {
                continue;
            }
            const auto key = std::make_pair(b->name, v6);
            now[key] = {t.mode, t.serving_priority};
            auto it = modes_.find(key);
            if (it == modes_.end() || !modes_known_) {
                continue;  // new, or the first look: nothing changed
            }
            const auto [old_mode, old_priority] = it->second;
            const auto all_down = [](dns::ServeMode m) {
                return m == dns::ServeMode::FailOpen || m == dns::ServeMode::FailClosed ||
                       m == dns::ServeMode::Fallback;
            };
            const json id = {{"balancer", b->name}, {"family", v6 ? "ipv6" : "ipv4"}};
            if (all_down(t.mode) != all_down(old_mode)) {
                json d = id;
                d["state"] = all_down(t.mode) ? "enter" : "leave";
                d["policy"] = dns::to_string(all_down(t.mode) ? t.mode : old_mode);
                events.push_back(event("all_down", d));
                spdlog::warn("{} {}: every tier {} ({})", b->name, v6 ? "AAAA" : "A",
                             all_down(t.mode) ? "down" : "up again", dns::to_string(t.mode));
            } else if (old_priority != t.serving_priority || old_mode != t.mode) {
                json d = id;
                d["from_priority"] = old_priority;
                d["to_priority"] = t.serving_priority;
                d["from_mode"] = dns::to_string(old_mode);
                d["to_mode"] = dns::to_string(t.mode);
                events.push_back(event("tier", d));
                spdlog::info("{} {}: tier {} -> {} ({})", b->name, v6 ? "AAAA" : "A", old_priority,
                             t.serving_priority, dns::to_string(t.mode));
            }
        }
    }
    modes_ = std::move(now);
    modes_known_ = true;
    record(std::move(events));
}

namespace {

std::vector<std::string> members_of(const store::DesiredState& state,
                                    const health::ActiveAlert& a) {
    std::vector<std::string> out;
    for (const auto& p : state.pools) {
        for (const auto& m : p.members) {
            if (a.matches(p.name, m.address)) {
                out.push_back(p.name + "/" + m.address);
            }
        }
    }
    return out;
}

}  // namespace

void Core::note_alerts(const std::vector<health::AlertEvent>& changes) {
    std::vector<store::Event> events;
    for (const auto& c : changes) {
        const auto members = members_of(controller_.state(), c.alert);
        json d = {{"alertname", c.alert.name},
                  {"state", health::to_string(c.change)},
                  {"reason", "alert: " + c.alert.name},
                  {"fingerprint", c.alert.fingerprint},
                  {"members", members}};
        if (!c.alert.pool.empty()) {
            d["pool"] = c.alert.pool;
        }
        if (!c.alert.member.empty()) {
            d["member"] = c.alert.member;
        }
        events.push_back(event("alert", d));
        spdlog::info("alert {} {} ({}{}{}): {} member(s)", c.alert.name,
                     health::to_string(c.change), c.alert.pool,
                     c.alert.pool.empty() || c.alert.member.empty() ? "" : " ", c.alert.member,
                     members.size());
    }
    record(std::move(events));
}

std::vector<health::AlertEvent> Core::on_alerts(const std::vector<health::AlertNotice>& notices) {
    if (stopping_.load()) {
        throw ChangeError(ChangeError::Kind::Unavailable, "shutting down");
    }
    std::lock_guard lock(ctl_mu_);
    auto changes = controller_.apply_alerts(notices, monotonic_ms());
    note_modes();
    note_alerts(changes);
    return changes;
}

std::vector<std::pair<health::ActiveAlert, std::vector<std::string>>> Core::alerts() const {
    std::lock_guard lock(ctl_mu_);
    std::vector<std::pair<health::ActiveAlert, std::vector<std::string>>> out;
    for (const auto& [fp, a] : controller_.alerts().all()) {
        out.emplace_back(a, members_of(controller_.state(), a));
    }
    return out;
}

void Core::on_isolation(bool isolated) {
    record({event("isolation", {{"state", isolated ? "enter" : "leave"}})});
}

std::vector<store::Vote> Core::votes_of(const std::string& target) const {
    std::lock_guard lock(ctl_mu_);
    auto it = votes_.find(target);
    return it == votes_.end() ? std::vector<store::Vote>{} : it->second;
}

void Core::withdraw_removed(const std::set<std::string>& before) {
    if (options_.board == nullptr) {
        return;
    }
    for (const auto& key : before) {
        if (controller_.live_targets().count(key) == 0) {
            options_.board->withdraw_vote(key);
            local_.erase(key);
        }
    }
}

void Core::tick() {
    {
        std::lock_guard lock(ctl_mu_);
        const int64_t now = monotonic_ms();
        std::vector<health::AlertEvent> expired;
        controller_.tick(now, &expired);
        note_modes();
        note_alerts(expired);
        if (options_.board != nullptr && !fallback_ && link_down_since_ms_ != 0 &&
            now - link_down_since_ms_ >= static_cast<int64_t>(options_.fallback_after_ms)) {
            // The others are out of reach for long: our own decisions are better than frozen
            // ones (a region that dies meanwhile must still leave the answers).
            fallback_ = true;
            spdlog::warn(
                "cluster: no link to the other nodes for {} s; judging alone until it "
                "is back",
                options_.fallback_after_ms / 1000);
            std::vector<Decision> own;
            for (const auto& [key, state] : local_) {
                own.push_back({key, state});
            }
            controller_.apply(own, now);
            note_modes();
        }
    }
    loop_->ticker.expires_after(std::chrono::seconds(1));
    loop_->ticker.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            tick();
        }
    });
}

void Core::reload_from_store() {
    store::StoredState stored = store_.load_state();
    canonicalize(stored.state);
    check_stored(stored.state);
    const int64_t now = monotonic_ms();
    {
        std::lock_guard lock(ctl_mu_);
        Controller::Prepared p = controller_.prepare(stored.state, now);
        configure_prober(p);
        const std::set<std::string> before_targets = controller_.live_targets();
        controller_.commit(std::move(p), now);
        note_modes();
        withdraw_removed(before_targets);
        spdlog::info("serving generation {}: revision {} written elsewhere",
                     controller_.generation(), stored.revision);
    }
    set_current(std::move(stored.state), stored.revision);
}

void Core::watch() {
    bool failing = false;
    for (;;) {
        {
            std::unique_lock lock(watch_mu_);
            watch_cv_.wait_for(lock, std::chrono::milliseconds(options_.watch_interval_ms),
                               [this] { return stopping_.load() || change_hint_; });
            change_hint_ = false;
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
            reload_from_store();
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

std::vector<MemberView> Core::members() const {
    std::lock_guard lock(ctl_mu_);
    std::vector<MemberView> out;
    for (const auto& p : controller_.state().pools) {
        for (const auto& m : p.members) {
            MemberView v{p.name, m.address, {}, m.admin, {}, {}};
            if (const auto* a = controller_.alerts().firing(p.name, m.address)) {
                v.alert = a->name;
            }
            std::vector<const health::TargetState*> states;
            for (const auto& mon : p.monitors) {
                v.monitors.emplace_back(mon, controller_.targets().get(mon, m.address));
            }
            for (const auto& [mon, s] : v.monitors) {
                states.push_back(&s);
            }
            v.state = health::combine(states, p.combine).state;
            out.push_back(std::move(v));
        }
    }
    return out;
}

std::shared_ptr<const dns::Snapshot> Core::snapshot() const {
    std::lock_guard lock(ctl_mu_);
    return controller_.snapshot();
}

CoreStats Core::stats() const {
    CoreStats out;
    {
        std::lock_guard lock(stats_mu_);
        out = stats_;
    }
    out.generation = generation();
    std::lock_guard lock(ctl_mu_);
    out.cluster = options_.board != nullptr;
    out.link_up = link_down_since_ms_ == 0;
    out.fallback = fallback_;
    if (options_.board != nullptr) {
        out.node = options_.board->node();
        out.live_nodes = options_.board->live_nodes();
    }
    return out;
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
        out.combine_of_pool[p.name] = p.combine;
        for (const auto& m : p.members) {
            auto& list = out.decisions[{p.name, m.address}];
            for (const auto& mon : p.monitors) {
                Explanation::MonitorDecision d{mon, controller_.targets().get(mon, m.address), {}};
                if (auto v = votes_.find(health::target_key(mon, m.address)); v != votes_.end()) {
                    d.vantages = v->second;
                }
                list.push_back(std::move(d));
            }
        }
    }
    return out;
}

}  // namespace gtm::core
