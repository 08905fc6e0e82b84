// The judge, stepped result by result on an injected clock: suspicion at the first failed probe,
// damping of returns, and the isolation guard ruling on bad news before it is published.
#include "healthcheck/judge.h"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

using namespace gtm::health;

namespace {

ProbeResult result(bool ok, int64_t started_ms) {
    ProbeResult r;
    r.started_ms = started_ms;
    if (!ok) {
        r.reason = Reason::ConnectRefused;
    }
    return r;
}

// Targets with their pools; `healthy(id, now)` says what a probe of each would find. Canaries
// the judge asks for are probed at once (a healthy one answers within the same millisecond).
struct Sim {
    Judge judge{7};
    std::function<bool(uint32_t, int64_t)> healthy = [](uint32_t, int64_t) { return true; };
    int64_t now = 0;
    std::vector<std::pair<int64_t, uint32_t>> presence_changes;  // (time, id)
    bool entered = false;
    bool left = false;

    Sim(const std::vector<std::vector<uint32_t>>& pools, Hysteresis h = {2, 2, 60000},
        uint32_t hold_ms = 60000) {
        std::vector<JudgeTarget> targets;
        for (const auto& p : pools) {
            targets.push_back({p, h, 1000, 500});
        }
        judge.configure(std::move(targets), {}, {}, hold_ms, 0);
        // Everyone up.
        for (uint32_t id = 0; id < pools.size(); ++id) {
            handle(judge.on_result(id, result(true, 0), 1));
        }
        presence_changes.clear();
    }

    void handle(const JudgeOutput& out) {
        entered |= out.entered;
        left |= out.left;
        for (uint32_t id : out.changed) {
            (void)id;
        }
        for (uint32_t id : out.canaries) {
            handle(judge.on_result(id, result(healthy(id, now), now), now));
        }
    }

    void probe(uint32_t id, bool ok) {
        const bool was = present(id);
        handle(judge.on_result(id, result(ok, now), now));
        note(id, was);
    }
    void probe(uint32_t id) { probe(id, healthy(id, now)); }

    void note(uint32_t id, bool was) {
        if (present(id) != was) {
            presence_changes.emplace_back(now, id);
        }
    }

    bool present(uint32_t id) const { return judge.published(id).present(); }
    Verdict verdict(uint32_t id) const { return judge.published(id).verdict; }

    // Every target probed once a second for `seconds`.
    void run(int seconds) {
        for (int s = 0; s < seconds; ++s) {
            now += 1000;
            std::vector<bool> before;
            for (uint32_t id = 0; id < judge.size(); ++id) {
                before.push_back(present(id));
            }
            for (uint32_t id = 0; id < judge.size(); ++id) {
                handle(judge.on_result(id, result(healthy(id, now), now), now));
            }
            handle(judge.tick(now));
            for (uint32_t id = 0; id < judge.size(); ++id) {
                note(id, before[id]);
            }
        }
    }

    size_t changes_of(uint32_t id) const {
        size_t n = 0;
        for (const auto& [t, i] : presence_changes) {
            n += i == id ? 1 : 0;
        }
        return n;
    }
    // The most presence changes of `id` in any 60 s window.
    size_t max_per_minute(uint32_t id) const {
        std::vector<int64_t> times;
        for (const auto& [t, i] : presence_changes) {
            if (i == id) {
                times.push_back(t);
            }
        }
        size_t most = 0;
        for (size_t i = 0; i < times.size(); ++i) {
            size_t n = 0;
            for (size_t j = i; j < times.size() && times[j] - times[i] < 60000; ++j) {
                ++n;
            }
            most = std::max(most, n);
        }
        return most;
    }
};

// Five targets: 0,1 in pool 0; 2,3 in pool 1; 4 in pool 2.
const std::vector<std::vector<uint32_t>> kFive = {{0}, {0}, {1}, {1}, {2}};

}  // namespace

TEST_CASE("a lone failure leaves the answers at its first failed probe, once others passed") {
    Sim sim(kFive);
    sim.now = 5000;
    const JudgeOutput out = sim.judge.on_result(0, result(false, 5000), 5000);
    CHECK(sim.judge.pending(0));
    CHECK(sim.present(0));  // not yet: the guard rules first
    CHECK(out.canaries.size() == 4);
    sim.handle(out);  // the canaries pass within the same millisecond
    CHECK_FALSE(sim.judge.pending(0));
    CHECK_FALSE(sim.present(0));
    CHECK(sim.judge.published(0).suspect);
    CHECK(sim.verdict(0) == Verdict::Up);  // not confirmed yet: suspect, no verdict change
    sim.probe(0, false);                   // the fast recheck confirms it
    CHECK(sim.verdict(0) == Verdict::Down);
}

TEST_CASE("with one pool there is no mass failure to wait for: bad news is published at once") {
    Sim sim(std::vector<std::vector<uint32_t>>{{0}, {0}, {0}});
    sim.now = 5000;
    sim.probe(1, false);
    CHECK_FALSE(sim.present(1));
}

TEST_CASE("bad news nobody rules on is published one window later") {
    Sim sim(kFive);
    sim.now = 5000;
    sim.judge.on_result(0, result(false, 5000), 5000);  // canaries never answer
    CHECK(sim.judge.pending(0));
    sim.handle(sim.judge.tick(5000 + sim.judge.window_ms() - 1));
    CHECK(sim.present(0));
    sim.handle(sim.judge.tick(5000 + sim.judge.window_ms()));
    CHECK_FALSE(sim.present(0));
}

TEST_CASE(
    "four of five failing across two pools: nothing leaves, no verdict changes, until the "
    "hold expires") {
    Sim sim(kFive, {2, 2, 60000}, 5000);
    sim.healthy = [](uint32_t id, int64_t t) { return id == 4 || t < 3000; };
    sim.run(4);  // the failures arrive one by one
    CHECK(sim.entered);
    for (uint32_t id = 0; id < 5; ++id) {
        CHECK(sim.present(id));
        CHECK(sim.verdict(id) == Verdict::Up);
    }
    CHECK(sim.judge.isolated());
    CHECK(sim.judge.held() == 4);
    CHECK(sim.presence_changes.empty());
    sim.run(4);  // isolation_hold 5 s (engaged at 3 s): the failure is accepted
    CHECK(sim.left);
    CHECK_FALSE(sim.judge.isolated());
    for (uint32_t id = 0; id < 4; ++id) {
        CHECK(sim.verdict(id) == Verdict::Down);
    }
    CHECK(sim.present(4));
    sim.run(5);  // accepted means forgotten: no second isolation for the same failure
    CHECK_FALSE(sim.judge.isolated());
}

TEST_CASE("a held member passing again ends the isolation; those still failing then leave") {
    Sim sim(kFive, {2, 2, 60000}, 600000);
    sim.healthy = [](uint32_t id, int64_t t) {
        if (id == 4 || t < 3000) {
            return true;
        }
        return id == 0 && t >= 10000;  // 0 comes back: it was (partly) our network
    };
    sim.run(6);
    REQUIRE(sim.judge.isolated());
    CHECK(sim.presence_changes.empty());
    sim.run(8);
    CHECK(sim.left);
    CHECK_FALSE(sim.judge.isolated());
    CHECK(sim.present(0));
    CHECK(sim.verdict(0) == Verdict::Up);
    for (uint32_t id : {1u, 2u, 3u}) {
        CHECK_FALSE(sim.present(id));
    }
    CHECK(sim.changes_of(0) == 0);  // it never left
}

TEST_CASE(
    "our own network cut and healed: the members still failing at the release stay, and the "
    "probes the cut failed are ignored") {
    // Every member fails from 3 s (our network), it heals at 10 s: member 0 passes first and
    // ends the isolation; the others' probes started before that fail when they end.
    Sim sim(kFive, {2, 2, 60000}, 600000);
    sim.healthy = [](uint32_t, int64_t t) { return t < 3000 || t >= 10000; };
    sim.run(6);
    REQUIRE(sim.judge.isolated());
    sim.now = 10000;
    sim.probe(0, true);
    CHECK(sim.left);
    CHECK_FALSE(sim.judge.isolated());
    for (uint32_t id : {1u, 2u, 3u, 4u}) {
        // Started at 9.6 s, through the cut, ended after the release.
        sim.handle(sim.judge.on_result(id, result(false, 9600), 10100));
    }
    sim.run(5);
    CHECK(sim.presence_changes.empty());
    for (uint32_t id = 0; id < 5; ++id) {
        CHECK(sim.present(id));
        CHECK(sim.verdict(id) == Verdict::Up);
        CHECK_FALSE(sim.judge.published(id).suspect);
    }
}

TEST_CASE("after the release a member that really died leaves at its next failed probe") {
    Sim sim(kFive, {2, 2, 60000}, 600000);
    // Our network fails from 3 s to 10 s; member 2 died meanwhile and stays dead.
    sim.healthy = [](uint32_t id, int64_t t) { return t < 3000 || (t >= 10000 && id != 2); };
    sim.run(6);
    REQUIRE(sim.judge.isolated());
    sim.run(5);  // 10 s: member 0 passes first and ends the isolation
    CHECK_FALSE(sim.judge.isolated());
    CHECK_FALSE(sim.present(2));
    sim.run(3);
    CHECK_FALSE(sim.judge.isolated());  // its failure after the release is no new wave
    CHECK(sim.verdict(2) == Verdict::Down);
    for (uint32_t id : {0u, 1u, 3u, 4u}) {
        CHECK(sim.present(id));
    }
}

TEST_CASE("a member that left comes back after rise passes and no sooner than hold_down") {
    Sim sim(kFive, {2, 2, 10000});
    sim.healthy = [](uint32_t id, int64_t t) { return id != 0 || t != 3000; };  // one lost probe
    sim.run(3);
    CHECK_FALSE(sim.present(0));
    CHECK(sim.judge.published(0).suspect);
    sim.run(9);  // 12 s: 9 s after it left
    CHECK_FALSE(sim.present(0));
    sim.run(1);
    CHECK(sim.present(0));
    CHECK(sim.judge.published(0).returned_ms == 13000);  // slow start from its return
    CHECK(sim.changes_of(0) == 2);
}

TEST_CASE("a flapping member changes its presence at most twice a minute, whatever the pattern") {
    const std::map<std::string, std::function<bool(int64_t)>> patterns = {
        {"alternating", [](int64_t t) { return (t / 1000) % 2 == 0; }},
        {"pairs", [](int64_t t) { return (t / 2000) % 2 == 0; }},
        {"threes", [](int64_t t) { return (t / 3000) % 2 == 0; }},
        {"one in five fails", [](int64_t t) { return (t / 1000) % 5 != 0; }},
    };
    for (const auto& [name, up] : patterns) {
        for (const Hysteresis h :
             {Hysteresis{2, 2, 60000}, Hysteresis{1, 1, 60000}, Hysteresis{3, 2, 60000}}) {
            CAPTURE(name);
            CAPTURE(h.rise);
            CAPTURE(h.fall);
            Sim sim(kFive, h);
            sim.healthy = [&](uint32_t id, int64_t t) { return id != 0 || up(t); };
            sim.run(3600);
            CHECK(sim.max_per_minute(0) <= 2);
            CHECK(sim.changes_of(0) >= 1);  // it did flap out
        }
    }
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        std::map<int64_t, bool> draws;
        Sim sim(kFive);
        sim.healthy = [&](uint32_t id, int64_t t) {
            if (id != 0) {
                return true;
            }
            auto it = draws.find(t);
            if (it == draws.end()) {
                it = draws.emplace(t, std::bernoulli_distribution(0.5)(rng)).first;
            }
            return it->second;
        };
        sim.run(3600);
        CHECK(sim.max_per_minute(0) <= 2);
    }
}

TEST_CASE("a provisional seed stands until the first result, which decides") {
    Judge j;
    j.configure({{{0}, {2, 2, 60000}, 1000, 500}, {{1}, {2, 2, 60000}, 1000, 500}}, {},
                {Seed{Verdict::Down, true}, Seed{Verdict::Down, true}}, 60000, 0);
    CHECK(j.published(0).verdict == Verdict::Down);
    j.on_result(0, result(true, 10), 10);
    CHECK(j.published(0).verdict == Verdict::Up);
    CHECK(j.published(0).present());
    j.on_result(1, result(false, 10), 10);
    CHECK(j.published(1).verdict == Verdict::Down);
}

TEST_CASE("a restored seed is a verdict like any other: rise passes bring it up") {
    Judge j;
    j.configure({{{0}, {2, 2, 60000}, 1000, 500}}, {}, {Seed{Verdict::Down, false}}, 60000, 0);
    j.on_result(0, result(true, 10), 10);
    CHECK(j.published(0).verdict == Verdict::Down);
    j.on_result(0, result(true, 20), 20);
    CHECK(j.published(0).verdict == Verdict::Up);
}

TEST_CASE(
    "a reconfiguration keeps the decisions, the wave and the isolation of the targets that "
    "stay") {
    Sim sim(kFive, {2, 2, 60000}, 600000);
    sim.healthy = [](uint32_t id, int64_t t) { return id == 4 || t < 3000; };
    sim.run(5);
    REQUIRE(sim.judge.isolated());
    // Target 4 goes away, a new one (in pool 3) comes: the old ids 0..3 keep theirs.
    std::vector<JudgeTarget> next;
    for (const auto& p : {std::vector<uint32_t>{0}, {0}, {1}, {1}, {3}}) {
        next.push_back({p, {2, 2, 60000}, 1000, 500});
    }
    sim.judge.configure(std::move(next), {0, 1, 2, 3, -1}, {}, 600000, sim.now);
    CHECK(sim.judge.isolated());
    CHECK(sim.judge.held() == 4);
    CHECK(sim.present(0));
    CHECK(sim.verdict(4) == Verdict::Unknown);
}

TEST_CASE("members of a wave already published down still count in the wave's base") {
    std::vector<std::vector<uint32_t>> pools;
    for (uint32_t i = 0; i < 10; ++i) {
        pools.push_back({i});
    }
    Sim sim(pools, {1, 1, 60000});
    sim.healthy = [](uint32_t id, int64_t t) {
        return !(t >= 2000 && (id < 4 || (id == 4 && t >= 2500)));
    };
    sim.now = 2000;
    for (uint32_t id = 0; id < 10; ++id) {
        sim.probe(id);
    }
    for (uint32_t id = 0; id < 4; ++id) {
        CHECK(sim.verdict(id) == Verdict::Down);  // four of ten: believed at once
    }
    sim.now = 2500;
    sim.probe(4);  // five of ten within the window: not more than half of those that were up
    CHECK_FALSE(sim.judge.isolated());
    CHECK(sim.verdict(4) == Verdict::Down);
}
