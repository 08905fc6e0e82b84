// Choosing the answer for a balancer (DESIGN.md): tiers, pool and member weights, min_healthy,
// admin states, slow start and when_all_down are resolved at compile time into an AnswerTable;
// per query only the weighted draw remains.
#pragma once

#include <cstdint>

#include "dnsd/snapshot.h"

namespace gtm::dns {

// Fills out.v4 and out.v6 for balancer `b` from the pools of in.state and the decisions of
// in.targets: the answer tables and, with them, their explanation. The one place where the
// rules that choose answers live.
void compute_answers(const store::Balancer& b, const CompileInput& in, Balancer& out);

// The per-worker generator: splitmix64 seeding xoshiro256**. Small, fast, and reproducible from
// a seed, so tests can draw 100,000 times and check the shares.
class Rng {
  public:
    explicit Rng(uint64_t seed) noexcept {
        for (auto& w : s_) {
            seed += 0x9e3779b97f4a7c15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            w = z ^ (z >> 31);
        }
    }
    uint64_t next() noexcept {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, 1).
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  private:
    static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

inline constexpr size_t kMaxAnswers = 16;

// Draws up to `max` distinct candidates by weighted sampling without replacement; writes their
// indices to `out` and returns how many. No allocation.
size_t draw(const AnswerTable& t, size_t max, Rng& rng, uint16_t* out) noexcept;

}  // namespace gtm::dns
