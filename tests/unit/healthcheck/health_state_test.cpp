// Hysteresis, hold-down and scheduling, stepped result by result on an injected clock.
#include "healthcheck/health_state.h"

#include <doctest/doctest.h>

#include <random>
#include <vector>

using namespace gtm::health;

namespace {

ProbeResult ok() { return {}; }
ProbeResult fail(Reason r = Reason::ConnectRefused) {
    ProbeResult p;
    p.reason = r;
    return p;
}

}  // namespace

TEST_CASE("a target never probed takes the verdict of its first result") {
    const Hysteresis h{3, 2, 60000};
    TargetHealth a;
    CHECK(a.verdict() == Verdict::Unknown);
    CHECK(a.record(ok(), h, 1000));
    CHECK(a.verdict() == Verdict::Up);
    TargetHealth b;
    CHECK(b.record(fail(), h, 1000));
    CHECK(b.verdict() == Verdict::Down);
}

TEST_CASE("fall consecutive failures take a target down; a success in between clears them") {
    const Hysteresis h{3, 2, 60000};
    TargetHealth t;
    t.record(ok(), h, 0);
    CHECK_FALSE(t.record(fail(), h, 1000));
    CHECK(t.confirming_failure());
    CHECK_FALSE(t.record(ok(), h, 2000));
    CHECK_FALSE(t.confirming_failure());
    CHECK_FALSE(t.record(fail(), h, 3000));
    CHECK(t.record(fail(Reason::Timeout), h, 4000));
    CHECK(t.verdict() == Verdict::Down);
    CHECK_FALSE(t.confirming_failure());  // confirmed: back to the regular interval
}

TEST_CASE("rise consecutive successes bring a target up, after the hold-down") {
    const Hysteresis h{3, 2, 10000};
    TargetHealth t;
    t.record(ok(), h, 0);
    t.record(fail(), h, 1000);
    t.record(fail(), h, 2000);  // down at 2000
    CHECK_FALSE(t.record(ok(), h, 3000));
    CHECK_FALSE(t.record(ok(), h, 4000));
    CHECK_FALSE(t.record(ok(), h, 5000));  // rise met, hold-down not
    CHECK(t.verdict() == Verdict::Down);
    CHECK_FALSE(t.record(ok(), h, 11999));
    CHECK(t.record(ok(), h, 12000));
    CHECK(t.verdict() == Verdict::Up);
}

TEST_CASE("a failure during rise starts the count again") {
    const Hysteresis h{3, 2, 0};
    TargetHealth t;
    t.record(fail(), h, 0);
    t.record(ok(), h, 1);
    t.record(ok(), h, 2);
    t.record(fail(), h, 3);
    t.record(ok(), h, 4);
    t.record(ok(), h, 5);
    CHECK(t.verdict() == Verdict::Down);
    CHECK(t.record(ok(), h, 6));
}

TEST_CASE("a target that failed its first probe is not held down") {
    const Hysteresis h{2, 2, 60000};
    TargetHealth t;
    t.record(fail(), h, 0);
    t.record(ok(), h, 1000);
    CHECK(t.record(ok(), h, 2000));
    CHECK(t.verdict() == Verdict::Up);
}

TEST_CASE("the last 20 results are kept, oldest first") {
    const Hysteresis h{3, 2, 0};
    TargetHealth t;
    for (int i = 0; i < 25; ++i) {
        ProbeResult r;
        r.latency_ms = static_cast<uint32_t>(i);
        t.record(r, h, i);
    }
    REQUIRE(t.recent().size() == kRecentResults);
    CHECK(t.recent().front().latency_ms == 5);
    CHECK(t.last()->latency_ms == 24);
}

// Counts verdict changes of a target fed `results` once per second, and the most changes in
// any 60-second window.
int max_changes_per_minute(const std::vector<bool>& results, const Hysteresis& h) {
    TargetHealth t;
    t.record(ok(), h, 0);
    std::vector<int64_t> changes;
    int64_t now = 0;
    for (bool r : results) {
        now += 1000;
        // A failure being confirmed is rechecked after one second, as often as regular probes
        // at interval 1 s: one result per second either way.
        if (t.record(r ? ok() : fail(), h, now)) {
            changes.push_back(now);
        }
    }
    int worst = 0;
    for (size_t i = 0; i < changes.size(); ++i) {
        int in_window = 0;
        for (size_t j = i; j < changes.size() && changes[j] - changes[i] < 60000; ++j) {
            ++in_window;
        }
        worst = std::max(worst, in_window);
    }
    return worst;
}

TEST_CASE("a flapping target changes verdict at most twice per minute") {
    const Hysteresis h{3, 2, 60000};
    std::vector<bool> alternate, pairs, random;
    std::mt19937 rng(12345);
    for (int i = 0; i < 3600; ++i) {
        alternate.push_back(i % 2 == 0);
        pairs.push_back((i / 2) % 2 == 0);
        random.push_back(rng() % 2 == 0);
    }
    CHECK(max_changes_per_minute(alternate, h) <= 2);
    CHECK(max_changes_per_minute(pairs, h) <= 2);
    CHECK(max_changes_per_minute(random, h) <= 2);
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        std::mt19937 r(seed);
        std::vector<bool> biased;
        for (int i = 0; i < 3600; ++i) {
            biased.push_back(r() % 10 < 7);  // 30% failures
        }
        CAPTURE(seed);
        CHECK(max_changes_per_minute(biased, h) <= 2);
    }
}
