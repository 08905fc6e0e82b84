// The prober's schedule on a fake clock: the first round spread, the population kept evenly
// spread over the interval, fast rechecks, canaries pulled forward. No sleeps.
#include "healthcheck/schedule.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace gtm::health;

TEST_CASE("the first round starts within 200 ms, at most 20,000 a second") {
    Schedule s(3);
    s.reset(1000);
    for (uint32_t id = 0; id < 1000; ++id) {
        s.first(id, 10000, 5000, 1000);
    }
    CHECK(s.next_due_ms() >= 10000);
    CHECK(s.due(10200).size() == 1000);
    Schedule big(3);
    big.reset(10000);
    for (uint32_t id = 0; id < 10000; ++id) {
        big.first(id, 0, 5000, 10000);
    }
    const size_t early = big.due(250).size();  // spread over 500 ms, not 200
    CHECK(early > 10000 * 0.4);
    CHECK(early < 10000 * 0.6);
    CHECK(early + big.due(500).size() == 10000);
}

TEST_CASE("a population probed for a minute stays spread evenly over the interval") {
    const uint32_t n = 1000;
    const uint32_t interval = 1000;
    Schedule s(11);
    s.reset(n);
    for (uint32_t id = 0; id < n; ++id) {
        s.first(id, 0, interval, n);
    }
    std::vector<size_t> per_tenth(10, 0);
    std::vector<bool> has_result(n, false);
    size_t started_total = 0;
    for (int64_t now = 0; now < 60000; now += 10) {
        for (uint32_t id : s.due(now)) {
            s.done(id, !has_result[id], now, now + 5, interval, false);  // a 5 ms probe
            has_result[id] = true;
            if (now >= 5000) {
                ++per_tenth[(now % interval) / 100];
                ++started_total;
            }
        }
    }
    // 55 s at one probe per target per second, each tenth of the interval about a tenth.
    CHECK(static_cast<double>(started_total) == doctest::Approx(55.0 * n).epsilon(0.03));
    for (size_t share : per_tenth) {
        CHECK(static_cast<double>(share) ==
              doctest::Approx(static_cast<double>(started_total) / 10.0).epsilon(0.25));
    }
}

TEST_CASE("regular probes follow the interval within 5 percent; failures are rechecked after 1 s") {
    for (double u : {0.0, 0.5, 0.999}) {
        const int64_t next = next_probe_ms(10000, 10010, 5000, false, u);
        CHECK(next >= 10000 + 4750);
        CHECK(next <= 10000 + 5250);
    }
    CHECK(next_probe_ms(10000, 10010, 5000, true, 0.0) == 11000);
    CHECK(next_probe_ms(10000, 10010, 5000, true, 0.99) == 11099);  // spread: no lockstep retries
    CHECK(next_probe_ms(10000, 10600, 500, true, 0.5) == 10600);    // interval shorter than 1 s
    CHECK(next_probe_ms(10000, 12000, 1000, true, 0.5) == 12000);   // never in the past
}

TEST_CASE("a canary is pulled forward; its plan continues from that probe") {
    Schedule s(5);
    s.reset(2);
    s.keep(0, 5000);
    s.keep(1, 6000);
    s.pull(1, 1000);
    CHECK(s.next_due_ms() == 1000);
    CHECK(s.due(1000) == std::vector<uint32_t>{1});
    CHECK(s.planned_ms(1) == -1);  // in flight: not planned until done
    s.done(1, false, 1000, 1010, 5000, false);
    CHECK(s.planned_ms(1) >= 5750);
    CHECK(s.due(5000) == std::vector<uint32_t>{0});  // the stale plan of 1 at 6000 is gone
    CHECK(s.due(5500).empty());
}
