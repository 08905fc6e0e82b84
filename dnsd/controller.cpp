#include "dnsd/controller.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace gtm::dns {

CompileInput Controller::input(int64_t now_ms) {
    CompileInput in;
    in.state = &state_;
    in.verdicts = &verdicts_;
    in.now_ms = now_ms;
    in.default_serial = serial_;
    in.generation = ++generation_;
    return in;
}

void Controller::set_state(store::DesiredState state, int64_t now_ms) {
    // Keep the verdicts of members that are still there; drop the others. A member undrained
    // (drain or down -> auto or up) ramps through slow start like one coming back up.
    std::map<std::pair<std::string, std::string>, store::AdminState> old_admin;
    for (const auto& p : state_.pools) {
        for (const auto& m : p.members) {
            old_admin[{p.name, m.address}] = m.admin;
        }
    }
    health::VerdictTable kept;
    std::map<std::pair<std::string, std::string>, int64_t> ramping;
    for (const auto& p : state.pools) {
        for (const auto& m : p.members) {
            // A pool without a monitor has no verdicts: its members are unknown (served).
            health::MemberHealth h =
                p.monitor.empty() ? health::MemberHealth{} : verdicts_.get(p.name, m.address);
            auto before = old_admin.find({p.name, m.address});
            const auto out = [](store::AdminState a) {
                return a == store::AdminState::Drain || a == store::AdminState::Down;
            };
            if (before != old_admin.end() && out(before->second) && !out(m.admin)) {
                h.eligible_since_ms = now_ms;
                if (p.slow_start_ms > 0) {
                    ramping[{p.name, m.address}] = now_ms + p.slow_start_ms;
                }
            }
            if (h.verdict != health::Verdict::Unknown || h.eligible_since_ms != 0 || h.suspect) {
                kept.set(p.name, m.address, h);
            }
            auto r = ramping_.find({p.name, m.address});
            if (r != ramping_.end()) {
                ramping.insert(*r);
            }
        }
    }
    // SOA serials of zones that set none follow the clock, and always move forward.
    serial_ = std::max<uint32_t>(serial_ + 1, static_cast<uint32_t>(std::time(nullptr)));
    state_ = std::move(state);
    verdicts_ = std::move(kept);
    ramping_ = std::move(ramping);
    balancers_of_pool_.clear();
    slow_start_of_pool_.clear();
    for (size_t i = 0; i < state_.balancers.size(); ++i) {
        for (const auto& bp : state_.balancers[i].pools) {
            balancers_of_pool_[bp.pool].push_back(i);
        }
    }
    for (const auto& p : state_.pools) {
        slow_start_of_pool_[p.name] = p.slow_start_ms;
    }
    current_ = compile(input(now_ms));
    holder_.publish(current_);
}

void Controller::touch(const std::string& pool, std::set<size_t>& touched) const {
    auto it = balancers_of_pool_.find(pool);
    if (it != balancers_of_pool_.end()) {
        touched.insert(it->second.begin(), it->second.end());
    }
}

size_t Controller::publish_touched(const std::set<size_t>& touched, int64_t now_ms) {
    if (!touched.empty()) {
        current_ = recompile_balancers(*current_, input(now_ms), {touched.begin(), touched.end()});
        holder_.publish(current_);
    }
    return touched.size();
}

size_t Controller::apply_verdicts(const std::vector<MemberVerdict>& changes, int64_t now_ms) {
    std::set<size_t> touched;
    for (const auto& c : changes) {
        const health::MemberHealth before = verdicts_.get(c.pool, c.address);
        health::MemberHealth after = before;
        after.verdict = c.verdict;
        after.suspect = false;  // a verdict settles the question
        // Slow start: a member that was down and is up again ramps its weight.
        if (before.verdict == health::Verdict::Down && c.verdict != health::Verdict::Down) {
            after.eligible_since_ms = now_ms;
            auto ss = slow_start_of_pool_.find(c.pool);
            if (ss != slow_start_of_pool_.end() && ss->second > 0) {
                ramping_[{c.pool, c.address}] = now_ms + ss->second;
            }
        }
        verdicts_.set(c.pool, c.address, after);
        touch(c.pool, touched);
    }
    return publish_touched(touched, now_ms);
}

size_t Controller::apply_suspects(const std::vector<MemberSuspicion>& changes, int64_t now_ms) {
    std::set<size_t> touched;
    for (const auto& m : changes) {
        health::MemberHealth h = verdicts_.get(m.pool, m.address);
        if (h.suspect == m.suspect) {
            continue;
        }
        h.suspect = m.suspect;
        verdicts_.set(m.pool, m.address, h);
        touch(m.pool, touched);
    }
    return publish_touched(touched, now_ms);
}

size_t Controller::tick(int64_t now_ms) {
    std::set<size_t> touched;
    for (auto it = ramping_.begin(); it != ramping_.end();) {
        touch(it->first.first, touched);
        // One last recompile at or after the end of the ramp sets the full weight.
        it = it->second <= now_ms ? ramping_.erase(it) : std::next(it);
    }
    return publish_touched(touched, now_ms);
}

}  // namespace gtm::dns
