#include "healthcheck/judge.h"

#include <algorithm>

namespace gtm::health {

void Judge::configure(std::vector<JudgeTarget> targets, const std::vector<int64_t>& old_to_new,
                      const std::vector<std::optional<Seed>>& seeds, uint32_t isolation_hold_ms,
                      int64_t now_ms) {
    const size_t n = targets.size();
    std::vector<State> next(n);
    std::vector<bool> carried(n, false);
    auto map = [&](uint32_t old) -> int64_t {
        return old < old_to_new.size() && old < states_.size() ? old_to_new[old] : -1;
    };
    for (uint32_t old = 0; old < states_.size(); ++old) {
        const int64_t to = map(old);
        if (to >= 0 && static_cast<size_t>(to) < n) {
            next[to] = std::move(states_[old]);
            carried[to] = true;
        }
    }
    std::deque<std::pair<int64_t, uint32_t>> wave;
    for (const auto& [since, id] : wave_) {
        if (const int64_t to = map(id); to >= 0) {
            wave.emplace_back(since, static_cast<uint32_t>(to));
        }
    }
    std::vector<uint32_t> pending;
    for (uint32_t id : pending_) {
        if (const int64_t to = map(id); to >= 0) {
            pending.push_back(static_cast<uint32_t>(to));
        }
    }
    window_ms_ = 0;
    for (size_t i = 0; i < n; ++i) {
        State& s = next[i];
        s.cfg = std::move(targets[i]);
        if (!carried[i] && i < seeds.size() && seeds[i]) {
            s.pub.verdict = seeds[i]->verdict;
            s.provisional = seeds[i]->provisional;
            if (!s.provisional) {
                s.health.force(seeds[i]->verdict, now_ms);
            }
        }
        // Passers are ids of the old numbering: start counting again.
        s.passers.clear();
        // A mass failure shows up within one interval (every member is probed once in it, ±10 %)
        // plus the timeout of the last probe.
        window_ms_ =
            std::max(window_ms_, s.cfg.interval_ms + s.cfg.interval_ms / 10 + s.cfg.timeout_ms);
    }
    states_ = std::move(next);
    hold_ms_ = isolation_hold_ms;
    pending_ = std::move(pending);
    wave_ = std::move(wave);
    // Recount what is kept incrementally.
    up_count_ = 0;
    up_pools_.clear();
    wave_count_ = 0;
    wave_pools_.clear();
    for (uint32_t id = 0; id < states_.size(); ++id) {
        const State& s = states_[id];
        if (counted(s)) {
            ++up_count_;
            for (uint32_t p : s.cfg.pools) {
                ++up_pools_[p];
            }
        }
        if (s.in_wave) {
            ++wave_count_;
            for (uint32_t p : s.cfg.pools) {
                ++wave_pools_[p];
            }
        }
    }
}

size_t Judge::held() const {
    return static_cast<size_t>(
        std::count_if(states_.begin(), states_.end(), [](const State& s) { return s.pub.held; }));
}

// What health alone says should be published now (the guard not consulted).
TargetState Judge::wanted(const State& s, int64_t now_ms) const {
    TargetState w = s.pub;
    w.held = false;
    if (s.health.verdict() == Verdict::Unknown) {
        return w;  // no result yet: a seed stands
    }
    w.verdict = s.health.verdict();
    if (w.verdict != Verdict::Up) {
        w.suspect = false;
        return w;
    }
    if (s.pub.present()) {
        // Suspicion at the first failed probe of a member in the answers (not of one that was
        // never decided: its first result is its verdict).
        w.suspect = s.failing && s.pub.verdict != Verdict::Unknown;
        return w;
    }
    // Out of the answers: back after `rise` passes, and not sooner than hold_down after it left,
    // so that its presence changes at most twice per hold_down.
    const Hysteresis& h = s.cfg.hysteresis;
    const bool rested =
        s.left_ms == 0 || now_ms - s.left_ms >= static_cast<int64_t>(h.hold_down_ms);
    w.suspect = s.failing || s.health.consecutive_ok() < h.rise || !rested;
    return w;
}

bool Judge::bad_news(const TargetState& from, const TargetState& to) {
    return (from.present() && !to.present()) ||
           (to.verdict == Verdict::Down && from.verdict != Verdict::Down);
}

void Judge::publish(uint32_t id, TargetState next, int64_t now_ms, JudgeOutput& out) {
    State& s = states_[id];
    const TargetState& prev = s.pub;
    if (prev.present() && !next.present() && prev.verdict == Verdict::Up) {
        s.left_ms = now_ms;
    }
    if (!prev.present() && next.present() && prev.verdict != Verdict::Unknown) {
        next.returned_ms = now_ms;  // slow start
    }
    if (const ProbeResult* last = s.health.last()) {
        next.evidence = *last;
    }
    const bool was_counted = counted(s);
    s.pub = std::move(next);
    if (counted(s) != was_counted) {
        count_up(id, !was_counted);
    }
    out.changed.push_back(id);
}

void Judge::count_up(uint32_t id, bool up) {
    up_count_ = up ? up_count_ + 1 : up_count_ - 1;
    for (uint32_t p : states_[id].cfg.pools) {
        if (up) {
            ++up_pools_[p];
        } else if (auto it = up_pools_.find(p); it != up_pools_.end() && --it->second == 0) {
            up_pools_.erase(it);
        }
    }
}

void Judge::decide(uint32_t id, int64_t now_ms, JudgeOutput& out) {
    State& s = states_[id];
    TargetState w = wanted(s, now_ms);
    if (bad_news(s.pub, w)) {
        gate(id, now_ms, out);
        return;
    }
    if (s.pending) {  // the news turned good before it was ruled on: nothing to publish
        s.pending = false;
        std::erase(pending_, id);
    }
    if (!w.same_decision(s.pub)) {
        publish(id, std::move(w), now_ms, out);
    }
}

bool Judge::guard_can_trigger() const { return up_count_ >= 2 && up_pools_.size() >= 2; }

size_t Judge::passes_needed() const {
    // Passes by others of probes started after the bad news: once more than half of the
    // members that are up passed, no failure of more than half can be under way. Beyond 16, a
    // random sample answers with certainty enough (2^-16).
    return std::clamp<size_t>((up_count_ + 1) / 2, 1, kMaxPassesNeeded);
}

void Judge::gate(uint32_t id, int64_t now_ms, JudgeOutput& out) {
    State& s = states_[id];
    if (isolated_) {
        // Part of the mass failure: the published state stays.
        if (!s.pub.held) {
            s.pub.held = true;
            out.changed.push_back(id);
        }
        if (s.pending) {
            s.pending = false;
            std::erase(pending_, id);
        }
        return;
    }
    // A first verdict is news about a member, not about our network; and with one pool (or one
    // member) up there is no mass failure to wait for.
    if (s.pub.verdict == Verdict::Unknown || !guard_can_trigger()) {
        release(id, now_ms, out);
        return;
    }
    if (!s.pending) {
        s.pending = true;
        s.pending_since_ms = now_ms;
        s.passers.clear();
        pending_.push_back(id);
        pick_canaries(id, out);
    }
    if (s.passers.size() >= passes_needed() || now_ms - s.pending_since_ms >= window_ms_) {
        release(id, now_ms, out);
    }
}

void Judge::release(uint32_t id, int64_t now_ms, JudgeOutput& out) {
    State& s = states_[id];
    if (s.pending) {
        s.pending = false;
        std::erase(pending_, id);
    }
    TargetState w = wanted(s, now_ms);
    if (!w.same_decision(s.pub)) {
        publish(id, std::move(w), now_ms, out);
    }
}

void Judge::count_pass(uint32_t id, int64_t started_ms, int64_t now_ms, JudgeOutput& out) {
    const std::vector<uint32_t> waiting = pending_;
    for (uint32_t i : waiting) {
        State& s = states_[i];
        if (i == id || !s.pending || started_ms < s.pending_since_ms) {
            continue;
        }
        if (std::find(s.passers.begin(), s.passers.end(), id) == s.passers.end()) {
            s.passers.push_back(id);
        }
        if (s.passers.size() >= passes_needed()) {
            release(i, now_ms, out);
        }
    }
}

void Judge::pick_canaries(uint32_t id, JudgeOutput& out) {
    const size_t want = std::min(2 * passes_needed(), 2 * kMaxPassesNeeded);
    const size_t n = states_.size();
    std::vector<uint32_t> picked;
    auto usable = [&](uint32_t j) {
        return j != id && !states_[j].failing && states_[j].pub.present() &&
               std::find(picked.begin(), picked.end(), j) == picked.end();
    };
    if (n <= 4 * want) {
        std::vector<uint32_t> all(n);
        for (uint32_t j = 0; j < n; ++j) {
            all[j] = j;
        }
        std::shuffle(all.begin(), all.end(), rng_);
        for (uint32_t j : all) {
            if (picked.size() == want) {
                break;
            }
            if (usable(j)) {
                picked.push_back(j);
            }
        }
    } else {
        std::uniform_int_distribution<uint32_t> any(0, static_cast<uint32_t>(n - 1));
        for (size_t attempt = 0; attempt < 8 * want && picked.size() < want; ++attempt) {
            const uint32_t j = any(rng_);
            if (usable(j)) {
                picked.push_back(j);
            }
        }
    }
    out.canaries.insert(out.canaries.end(), picked.begin(), picked.end());
}

void Judge::wave_add(uint32_t id, int64_t now_ms) {
    State& s = states_[id];
    s.in_wave = true;
    wave_.emplace_back(now_ms, id);
    ++wave_count_;
    for (uint32_t p : s.cfg.pools) {
        ++wave_pools_[p];
    }
}

void Judge::wave_remove(uint32_t id) {
    State& s = states_[id];
    if (!s.in_wave) {
        return;
    }
    s.in_wave = false;
    if (!counted(s)) {
        count_up(id, false);  // it was counted as up for the wave's sake only
    }
    --wave_count_;
    for (uint32_t p : s.cfg.pools) {
        if (auto it = wave_pools_.find(p); it != wave_pools_.end() && --it->second == 0) {
            wave_pools_.erase(it);
        }
    }
}

void Judge::wave_expire(int64_t now_ms) {
    while (!wave_.empty() && now_ms - wave_.front().first > window_ms_) {
        const auto [since, id] = wave_.front();
        wave_.pop_front();
        if (id < states_.size() && states_[id].in_wave && states_[id].failing_since_ms == since) {
            wave_remove(id);
        }
    }
}

void Judge::wave_clear() {
    for (const auto& [since, id] : wave_) {
        if (id < states_.size() && states_[id].in_wave) {
            states_[id].in_wave = false;
            if (!counted(states_[id])) {
                count_up(id, false);
            }
        }
    }
    wave_.clear();
    wave_count_ = 0;
    wave_pools_.clear();
}

bool Judge::wave_triggered(int64_t now_ms) {
    wave_expire(now_ms);
    return wave_count_ >= 2 && wave_count_ * 2 > up_count_ && wave_pools_.size() >= 2;
}

void Judge::engage(int64_t now_ms, JudgeOutput& out) {
    isolated_ = true;
    isolated_since_ms_ = now_ms;
    out.entered = true;
    // The members of the wave keep, or get back, what was published before their failure began.
    for (const auto& [since, id] : wave_) {
        State& s = states_[id];
        if (!s.in_wave || s.failing_since_ms != since) {
            continue;
        }
        TargetState keep = s.before_wave;
        keep.held = true;
        keep.evidence = s.pub.evidence;
        if (!keep.same_decision(s.pub)) {
            s.pub = keep;  // counted either way: it is in the wave
            out.changed.push_back(id);
        }
    }
    // Bad news still waiting belongs to the wave too.
    for (uint32_t id : pending_) {
        State& s = states_[id];
        s.pending = false;
        if (!s.pub.held) {
            s.pub.held = true;
            out.changed.push_back(id);
        }
    }
    pending_.clear();
}

void Judge::disengage(bool hold_expired, int64_t now_ms, JudgeOutput& out) {
    isolated_ = false;
    out.left = true;
    wave_clear();  // the wave is forgotten: its members confirming later do not engage it again
    for (uint32_t id = 0; id < states_.size(); ++id) {
        State& s = states_[id];
        if (!s.pub.held) {
            continue;
        }
        s.pub.held = false;
        out.changed.push_back(id);
        if (!s.failing) {
            // It passed again: it keeps its published verdict, its hysteresis restarts from it.
            s.health.force(s.pub.verdict, now_ms);
        } else if (hold_expired) {
            release(id, now_ms, out);  // the mass failure is real
        } else {
            // Still failing, but its failures are those of our network: they do not count.
            // It starts again from its published verdict, probes started before now (in
            // flight through the cut) are ignored when they fail, and its first failure of a
            // probe started from now on is news about it alone (ruled as any, not a wave).
            s.health.force(s.pub.verdict, now_ms);
            s.failing = false;
            s.fresh_after_ms = now_ms;
        }
    }
}

JudgeOutput Judge::on_result(uint32_t id, const ProbeResult& r, int64_t now_ms) {
    JudgeOutput out;
    if (id >= states_.size()) {
        return out;
    }
    State& s = states_[id];
    bool after_isolation = false;
    if (s.fresh_after_ms != 0) {
        if (r.started_ms < s.fresh_after_ms) {
            if (!r.ok()) {
                return out;  // started while our own network failed: says nothing of it
            }
        } else {
            after_isolation = true;
            s.fresh_after_ms = 0;
        }
    }
    s.health.record(r, s.cfg.hysteresis, now_ms);
    s.has_result = true;
    if (s.provisional) {
        // The seed stood for the first result, which now decides as for a target never probed.
        s.provisional = false;
        if (counted(s)) {
            count_up(id, false);
        }
        s.pub.verdict = Verdict::Unknown;
        s.pub.suspect = false;
    }
    if (r.ok()) {
        s.failing = false;
        wave_remove(id);
        count_pass(id, r.started_ms, now_ms, out);
        if (isolated_ && s.pub.held && r.started_ms >= isolated_since_ms_) {
            disengage(false, now_ms, out);  // a held member passes: our network works again
        }
    } else if (!s.failing) {
        s.failing = true;
        s.failing_since_ms = now_ms;
        s.before_wave = s.pub;
        // A member held through an isolation that fails again right after it does not start
        // a new wave: our network was just seen working (a held member passed).
        if (s.pub.verdict == Verdict::Up && !isolated_ && !after_isolation) {
            wave_add(id, now_ms);
        }
    }
    if (!r.ok() && !isolated_ && wave_triggered(now_ms)) {
        engage(now_ms, out);
    }
    if (!s.pub.held) {
        decide(id, now_ms, out);
    }
    std::sort(out.changed.begin(), out.changed.end());
    out.changed.erase(std::unique(out.changed.begin(), out.changed.end()), out.changed.end());
    return out;
}

JudgeOutput Judge::tick(int64_t now_ms) {
    JudgeOutput out;
    if (isolated_ && now_ms - isolated_since_ms_ >= static_cast<int64_t>(hold_ms_)) {
        disengage(true, now_ms, out);
    }
    const std::vector<uint32_t> waiting = pending_;
    for (uint32_t id : waiting) {
        if (states_[id].pending && now_ms - states_[id].pending_since_ms >= window_ms_) {
            release(id, now_ms, out);  // a whole window and the guard did not engage
        }
    }
    wave_expire(now_ms);
    std::sort(out.changed.begin(), out.changed.end());
    out.changed.erase(std::unique(out.changed.begin(), out.changed.end()), out.changed.end());
    return out;
}

}  // namespace gtm::health
