#include "dnsd/selection.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "dnsd/wire.h"
#include "store/names.h"

namespace gtm::dns {

namespace {

using store::AdminState;
using store::Family;

struct Pick {
    const store::Member* member;
    double weight;         // member weight after slow start
    double nominal;        // member weight before slow start
    bool suspect = false;  // a failed probe not yet confirmed
};

struct UpPool {
    const store::BalancerPool* ref;
    const store::Pool* pool;
    std::vector<Pick> members;
};

bool of_family(const std::string& address, Family f) {
    return (address.find(':') == std::string::npos) == (f == Family::V4);
}

// A member coming back ramps from a tenth of its weight to full over the pool's slow_start.
double slow_start_factor(const store::Pool& p, const health::MemberHealth& h, int64_t now_ms) {
    if (p.slow_start_ms == 0 || h.eligible_since_ms <= 0) {
        return 1.0;
    }
    const int64_t age = now_ms - h.eligible_since_ms;
    if (age >= static_cast<int64_t>(p.slow_start_ms)) {
        return 1.0;
    }
    if (age <= 0) {
        return 0.1;
    }
    return 0.1 + 0.9 * static_cast<double>(age) / static_cast<double>(p.slow_start_ms);
}

Candidate make_candidate(const std::string& address, Family f, uint32_t ttl, double weight,
                         const char* pool, const char* addr_text) {
    Candidate c{};
    const uint16_t type = f == Family::V4 ? kTypeA : kTypeAaaa;
    const uint16_t rdlen = f == Family::V4 ? 4 : 16;
    wr16(c.body, type);
    wr16(c.body + 2, kClassIn);
    wr32(c.body + 4, ttl);
    wr16(c.body + 8, rdlen);
    inet_pton(f == Family::V4 ? AF_INET : AF_INET6, address.c_str(), c.body + 10);
    c.size = static_cast<uint8_t>(10 + rdlen);
    c.weight = weight;
    c.pool = pool;
    c.address = addr_text;
    return c;
}

// Splits traffic across `up` pools by pool weight, then across members by member weight.
// Zero weights are backups: served (equally) only when nothing with a non-zero weight is
// eligible. Suspect members (a failed probe, not yet confirmed) are avoided while the tier has
// any other. Slow start scales a member's weight and, through it, its pool's: a pool whose one
// member is ramping gets a tenth of its share, not all of it.
void fill(std::vector<UpPool> up, Family f, uint32_t ttl, Balancer& out, AnswerTable& t) {
    bool any_member_weight = false;
    for (const auto& p : up) {
        for (const auto& m : p.members) {
            any_member_weight |= m.member->weight > 0;
        }
    }
    for (auto& p : up) {
        if (any_member_weight) {
            std::erase_if(p.members, [](const Pick& m) { return m.member->weight == 0; });
        } else {
            for (auto& m : p.members) {
                m.weight = 1.0;
                m.nominal = 1.0;
            }
        }
    }
    bool any_trusted = false;
    for (const auto& p : up) {
        for (const auto& m : p.members) {
            any_trusted |= !m.suspect;
        }
    }
    if (any_trusted) {
        for (auto& p : up) {
            std::erase_if(p.members, [](const Pick& m) { return m.suspect; });
        }
    }
    std::erase_if(up, [](const UpPool& p) { return p.members.empty(); });
    bool any_pool_weight = false;
    for (const auto& p : up) {
        any_pool_weight |= p.ref->weight > 0;
    }

    t.candidates.clear();
    t.total_weight = 0;
    t.ttl_s = ttl;
    for (const auto& p : up) {
        const double pool_weight = any_pool_weight ? p.ref->weight : 1.0;
        if (pool_weight <= 0) {
            continue;
        }
        double nominal_total = 0;
        for (const auto& m : p.members) {
            nominal_total += m.nominal;
        }
        const char* pool_name = out.strings.emplace_back(p.pool->name).c_str();
        for (const auto& m : p.members) {
            // The pool's weight over its members' full weights: a ramping member takes a share
            // of its pool's traffic, and its pool a share of the tier's, in proportion.
            const double w = pool_weight * m.weight / nominal_total;
            if (w <= 0) {
                continue;
            }
            const char* addr = out.strings.emplace_back(m.member->address).c_str();
            t.candidates.push_back(make_candidate(m.member->address, f, ttl, w, pool_name, addr));
            t.total_weight += w;
        }
    }
}

bool served_by_admin(AdminState a) { return a != AdminState::Down && a != AdminState::Drain; }

void compute_family(const store::Balancer& b,
                    const std::map<std::string, const store::Pool*>& pools,
                    const health::VerdictTable& verdicts, int64_t now_ms, Family f, Balancer& out,
                    AnswerTable& t) {
    std::map<uint32_t, std::vector<const store::BalancerPool*>> tiers;
    for (const auto& bp : b.pools) {
        tiers[bp.priority].push_back(&bp);
    }

    const uint32_t degraded_ttl = std::min(b.ttl_s, b.degraded_ttl_s);
    std::vector<UpPool> first_tier_all;  // for fail_open
    bool first = true;
    uint32_t first_priority = 0;
    for (const auto& [priority, refs] : tiers) {
        std::vector<UpPool> up;
        std::vector<UpPool> all;
        for (const store::BalancerPool* ref : refs) {
            const store::Pool& pool = *pools.at(ref->pool);
            UpPool eligible{ref, &pool, {}};
            UpPool everyone{ref, &pool, {}};
            size_t family_members = 0;
            for (const auto& m : pool.members) {
                if (!of_family(m.address, f)) {
                    continue;
                }
                ++family_members;
                if (served_by_admin(m.admin)) {
                    everyone.members.push_back({&m, double(m.weight), double(m.weight)});
                }
                const health::MemberHealth h = verdicts.get(pool.name, m.address);
                const bool ok = m.admin == AdminState::Up ||
                                (m.admin == AdminState::Auto && h.verdict != health::Verdict::Down);
                if (!ok) {
                    continue;
                }
                const double factor =
                    m.admin == AdminState::Up ? 1.0 : slow_start_factor(pool, h, now_ms);
                // An admin 'up' member is served as it is: no ramp, no avoidance.
                const bool suspect = m.admin == AdminState::Auto && h.suspect;
                eligible.members.push_back({&m, m.weight * factor, double(m.weight), suspect});
            }
            if (family_members == 0) {
                continue;
            }
            all.push_back(everyone);
            // min_healthy counts members of the family being answered: a pool of two IPv4 and
            // one IPv6 member with min_healthy 2 is up for AAAA when its one IPv6 member is.
            const size_t needed = std::min<size_t>(pool.min_healthy, family_members);
            if (!eligible.members.empty() && eligible.members.size() >= needed) {
                up.push_back(std::move(eligible));
            }
        }
        if (all.empty()) {
            continue;  // a tier without members of this family does not count
        }
        if (first) {
            first_tier_all = all;
            first_priority = priority;
        }
        if (!up.empty()) {
            fill(std::move(up), f, first ? b.ttl_s : degraded_ttl, out, t);
            t.mode = first ? ServeMode::Normal : ServeMode::Degraded;
            t.serving_priority = priority;
            return;
        }
        first = false;
    }
    if (first) {  // no tier had a member of this family
        t.mode = ServeMode::NoMembers;
        return;
    }
    // Every tier is down. The NODATA of fail_closed is cached no longer than degraded_ttl, so that
    // recovery reaches resolvers as fast as a degraded answer would.
    t.negative_ttl_cap_s = degraded_ttl;
    t.serving_priority = first_priority;
    switch (b.when_all_down) {
        case store::WhenAllDown::FailOpen:
            fill(std::move(first_tier_all), f, degraded_ttl, out, t);
            t.mode = ServeMode::FailOpen;
            return;
        case store::WhenAllDown::FailClosed:
            t.mode = ServeMode::FailClosed;
            return;
        case store::WhenAllDown::Fallback: {
            t.mode = ServeMode::Fallback;
            t.ttl_s = degraded_ttl;
            const char* pool_name = out.strings.emplace_back("fallback").c_str();
            for (const auto& a : b.fallback) {
                if (!of_family(a, f)) {
                    continue;
                }
                const char* addr = out.strings.emplace_back(a).c_str();
                t.candidates.push_back(make_candidate(a, f, degraded_ttl, 1.0, pool_name, addr));
                t.total_weight += 1.0;
            }
            return;
        }
    }
}

}  // namespace

void compute_answers(const store::Balancer& b, const store::DesiredState& state,
                     const health::VerdictTable& verdicts, int64_t now_ms, Balancer& out) {
    std::map<std::string, const store::Pool*> pools;
    for (const auto& p : state.pools) {
        pools.emplace(p.name, &p);
    }
    compute_family(b, pools, verdicts, now_ms, Family::V4, out, out.v4);
    compute_family(b, pools, verdicts, now_ms, Family::V6, out, out.v6);
}

size_t draw(const AnswerTable& t, size_t max, Rng& rng, uint16_t* out) noexcept {
    const size_t n = t.candidates.size();
    const size_t k = std::min({max, n, kMaxAnswers});
    if (k == 0) {
        return 0;
    }
    const Candidate* c = t.candidates.data();
    if (k == 1) {
        double r = rng.uniform() * t.total_weight;
        for (size_t i = 0; i + 1 < n; ++i) {
            r -= c[i].weight;
            if (r < 0) {
                out[0] = static_cast<uint16_t>(i);
                return 1;
            }
        }
        out[0] = static_cast<uint16_t>(n - 1);
        return 1;
    }
    double remaining = t.total_weight;
    for (size_t j = 0; j < k; ++j) {
        double r = rng.uniform() * remaining;
        size_t pick = n;
        size_t last_free = n;
        for (size_t i = 0; i < n; ++i) {
            bool taken = false;
            for (size_t x = 0; x < j; ++x) {
                taken |= out[x] == i;
            }
            if (taken) {
                continue;
            }
            last_free = i;
            r -= c[i].weight;
            if (r < 0) {
                pick = i;
                break;
            }
        }
        if (pick == n) {
            pick = last_free;  // rounding left r a hair above zero
        }
        out[j] = static_cast<uint16_t>(pick);
        remaining -= c[pick].weight;
    }
    return k;
}

}  // namespace gtm::dns
