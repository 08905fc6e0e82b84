#include "core/controller.h"

#include <algorithm>
#include <ctime>

#include "healthcheck/targets.h"

namespace gtm::core {

namespace {

bool admin_out(store::AdminState a) {
    return a == store::AdminState::Drain || a == store::AdminState::Down;
}

}  // namespace

dns::CompileInput Controller::input(const store::DesiredState& state,
                                    const health::TargetTable& targets,
                                    const dns::AdminReturns& admin, int64_t now_ms,
                                    uint64_t generation) const {
    dns::CompileInput in;
    in.state = &state;
    in.targets = &targets;
    in.admin_returns = &admin;
    in.alerts = &alerts_;
    in.now_ms = now_ms;
    in.default_serial = serial_;
    in.generation = generation;
    in.worker_slots = worker_slots_;
    return in;
}

void Controller::restore(const std::vector<Decision>& restored) {
    for (const auto& d : restored) {
        targets_.set(d.key, d.state);
        restored_.insert(d.key);
    }
}

Controller::Prepared Controller::prepare(store::DesiredState next, int64_t now_ms) const {
    Prepared p;
    p.state = std::move(next);

    // Undrained members (drain or down -> auto or up) ramp through slow start like members
    // coming back up; ramps under way continue for members that stay.
    std::map<std::pair<std::string, std::string>, store::AdminState> old_admin;
    for (const auto& pool : state_.pools) {
        for (const auto& m : pool.members) {
            old_admin[{pool.name, m.address}] = m.admin;
        }
    }
    for (const auto& pool : p.state.pools) {
        for (const auto& m : pool.members) {
            const std::pair<std::string, std::string> id{pool.name, m.address};
            auto before = old_admin.find(id);
            if (before != old_admin.end() && admin_out(before->second) && !admin_out(m.admin)) {
                p.admin_returns[id] = now_ms;
            } else if (auto r = admin_returns_.find(id);
                       r != admin_returns_.end() &&
                       now_ms - r->second < static_cast<int64_t>(pool.slow_start_ms)) {
                p.admin_returns.insert(*r);
            }
        }
    }

    // Seeds for the targets the prober does not probe yet.
    std::unordered_map<std::string, health::Verdict> by_address;  // down wins
    for (const auto& [key, s] : targets_.all()) {
        if (s.verdict == health::Verdict::Unknown) {
            continue;
        }
        const std::string address = key.substr(key.find('\0') + 1);
        auto [it, added] = by_address.emplace(address, s.verdict);
        if (!added && s.verdict == health::Verdict::Down) {
            it->second = health::Verdict::Down;
        }
    }
    health::TargetTable table = targets_;
    for (const auto& spec : health::targets_of(p.state)) {
        if (live_.count(spec.key) != 0) {
            continue;
        }
        std::optional<health::Seed> seed;
        const health::TargetState* known = targets_.find(spec.key);
        if (known != nullptr && known->verdict != health::Verdict::Unknown) {
            seed = health::Seed{known->verdict, restored_.count(spec.key) == 0};
        } else if (auto a = by_address.find(spec.address); a != by_address.end()) {
            seed = health::Seed{a->second, true};
        }
        health::TargetState fresh;
        if (seed) {
            fresh.verdict = seed->verdict;
            p.seeds.emplace(spec.key, *seed);
        }
        // A target new to the prober starts afresh: no suspicion or hold carried from the past.
        table.set(spec.key, fresh);
        p.seeded.push_back({spec.key, fresh});
    }
    const uint32_t serial =
        std::max<uint32_t>(serial_ + 1, static_cast<uint32_t>(std::time(nullptr)));
    dns::CompileInput in = input(p.state, table, p.admin_returns, now_ms, generation_ + 1);
    in.default_serial = serial;
    p.snapshot = dns::compile(in);
    p.decisions_seen = decisions_applied_;
    return p;
}

void Controller::commit(Prepared p, int64_t now_ms) {
    for (auto& d : p.seeded) {
        targets_.set(d.key, std::move(d.state));
    }
    restored_.clear();
    state_ = std::move(p.state);
    admin_returns_ = std::move(p.admin_returns);
    if (p.decisions_seen != decisions_applied_) {
        // Decisions arrived while the change was being saved: serve them too.
        std::vector<size_t> all(state_.balancers.size());
        for (size_t i = 0; i < all.size(); ++i) {
            all[i] = i;
        }
        p.snapshot = dns::recompile_balancers(
            *p.snapshot, input(state_, targets_, admin_returns_, now_ms, p.snapshot->generation()),
            all);
    }
    current_ = std::move(p.snapshot);
    generation_ = current_->generation();
    // SOA serials of zones that set none follow the clock, and always move forward.
    serial_ = std::max<uint32_t>(serial_ + 1, static_cast<uint32_t>(std::time(nullptr)));

    balancers_of_pool_.clear();
    slow_start_of_pool_.clear();
    pools_of_target_.clear();
    live_.clear();
    for (size_t i = 0; i < state_.balancers.size(); ++i) {
        for (const auto& bp : state_.balancers[i].pools) {
            balancers_of_pool_[bp.pool].push_back(i);
        }
    }
    for (const auto& pool : state_.pools) {
        slow_start_of_pool_[pool.name] = pool.slow_start_ms;
    }
    for (auto& spec : health::targets_of(state_)) {
        live_.insert(spec.key);
        pools_of_target_[spec.key] = std::move(spec.pools);
    }
    // Ramps under way: members back up recently, members undrained recently.
    ramping_pools_.clear();
    for (const auto& [key, pools] : pools_of_target_) {
        if (const health::TargetState* s = targets_.find(key); s != nullptr && s->returned_ms > 0) {
            ramp(key, s->returned_ms);
        }
    }
    for (const auto& [id, at] : admin_returns_) {
        const uint32_t ss = slow_start_of_pool_[id.first];
        int64_t& end = ramping_pools_[id.first];
        end = std::max(end, at + ss);
    }
    std::erase_if(ramping_pools_, [&](const auto& r) { return r.second <= now_ms; });
    holder_.publish(current_);
}

void Controller::ramp(const std::string& key, int64_t returned_ms) {
    auto it = pools_of_target_.find(key);
    if (it == pools_of_target_.end()) {
        return;
    }
    for (const auto& pool : it->second) {
        const uint32_t ss = slow_start_of_pool_[pool];
        if (ss > 0) {
            int64_t& end = ramping_pools_[pool];
            end = std::max(end, returned_ms + ss);
        }
    }
}

void Controller::touch_pool(const std::string& pool, std::set<size_t>& touched) const {
    auto it = balancers_of_pool_.find(pool);
    if (it != balancers_of_pool_.end()) {
        touched.insert(it->second.begin(), it->second.end());
    }
}

void Controller::touch_target(const std::string& key, std::set<size_t>& touched) const {
    auto it = pools_of_target_.find(key);
    if (it == pools_of_target_.end()) {
        return;
    }
    for (const auto& pool : it->second) {
        touch_pool(pool, touched);
    }
}

size_t Controller::publish_touched(const std::set<size_t>& touched, int64_t now_ms) {
    if (touched.empty() || !current_) {
        return 0;
    }
    current_ = dns::recompile_balancers(
        *current_, input(state_, targets_, admin_returns_, now_ms, generation_ + 1),
        {touched.begin(), touched.end()});
    generation_ = current_->generation();
    holder_.publish(current_);
    return touched.size();
}

size_t Controller::apply(const std::vector<Decision>& decisions, int64_t now_ms) {
    ++decisions_applied_;
    std::set<size_t> touched;
    for (const auto& d : decisions) {
        targets_.set(d.key, d.state);
        touch_target(d.key, touched);
        if (d.state.returned_ms > 0) {
            ramp(d.key, d.state.returned_ms);
        }
    }
    return publish_touched(touched, now_ms);
}

void Controller::touch_alert(const health::ActiveAlert& a, std::set<size_t>& touched) const {
    if (!a.pool.empty()) {
        touch_pool(a.pool, touched);
        return;
    }
    for (const auto& pool : state_.pools) {
        for (const auto& m : pool.members) {
            if (m.address == a.member) {
                touch_pool(pool.name, touched);
                break;
            }
        }
    }
}

std::vector<health::AlertEvent> Controller::apply_alerts(
    const std::vector<health::AlertNotice>& notices, int64_t now_ms) {
    std::set<size_t> touched;
    // A changed scope clears the old one: what it covered before is touched too. A re-sent
    // alert (no event) touches nothing.
    std::map<std::string, health::ActiveAlert> before;
    for (const auto& n : notices) {
        if (auto it = alerts_.all().find(n.fingerprint); it != alerts_.all().end()) {
            before.emplace(n.fingerprint, it->second);
        }
    }
    std::vector<health::AlertEvent> events = alerts_.apply(notices, now_ms);
    for (const auto& e : events) {
        touch_alert(e.alert, touched);
        if (auto b = before.find(e.alert.fingerprint); b != before.end()) {
            touch_alert(b->second, touched);
        }
    }
    publish_touched(touched, now_ms);
    return events;
}

size_t Controller::tick(int64_t now_ms, std::vector<health::AlertEvent>* expired) {
    std::set<size_t> touched;
    std::vector<health::AlertEvent> gone = alerts_.expire(now_ms);
    for (const auto& e : gone) {
        touch_alert(e.alert, touched);
    }
    if (expired != nullptr) {
        *expired = std::move(gone);
    }
    for (auto it = ramping_pools_.begin(); it != ramping_pools_.end();) {
        touch_pool(it->first, touched);
        // One last recompile at or after the end of the ramp sets the full weight.
        it = it->second <= now_ms ? ramping_pools_.erase(it) : std::next(it);
    }
    return publish_touched(touched, now_ms);
}

}  // namespace gtm::core
