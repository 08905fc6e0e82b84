#include "dnsd/selection.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "dnsd/wire.h"
#include "healthcheck/combine.h"
#include "store/names.h"

namespace gtm::dns {

namespace {

using store::AdminState;
using store::Family;

struct Pick {
    const store::Member* member;
    size_t decision;       // index into AnswerTable::members
    double weight;         // member weight after slow start
    double nominal;        // member weight before slow start
    bool suspect = false;  // avoided while its tier has members above suspicion
};

struct UpPool {
    const store::BalancerPool* ref;
    const store::Pool* pool;
    std::vector<Pick> members;
};

// A member coming back ramps from a tenth of its weight to full over the pool's slow_start.
double slow_start_factor(const store::Pool& p, int64_t returned_ms, int64_t now_ms) {
    if (p.slow_start_ms == 0 || returned_ms <= 0) {
        return 1.0;
    }
    const int64_t age = now_ms - returned_ms;
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

// Splits traffic across `up` pools by pool weight, then across members by member weight, and
// marks in t.members why each member is served or not. Zero weights are backups: served
// (equally) only when nothing with a non-zero weight is eligible. Suspect members (a failed probe
// not yet confirmed, or back up but still held out) are avoided while the tier has any other.
// Slow start scales a member's weight and, through it, its pool's: a pool whose one member is
// ramping gets a tenth of its share, not all of it.
void fill(std::vector<UpPool> up, Family f, uint32_t ttl, Balancer& out, AnswerTable& t) {
    bool any_member_weight = false;
    for (const auto& p : up) {
        for (const auto& m : p.members) {
            any_member_weight |= m.member->weight > 0;
        }
    }
    for (auto& p : up) {
        if (any_member_weight) {
            std::erase_if(p.members, [&](const Pick& m) {
                if (m.member->weight == 0) {
                    t.members[m.decision].status = MemberStatus::Backup;
                }
                return m.member->weight == 0;
            });
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
            std::erase_if(p.members, [&](const Pick& m) {
                if (m.suspect) {
                    t.members[m.decision].status = MemberStatus::Avoided;
                }
                return m.suspect;
            });
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
    std::vector<size_t> decision_of;  // per candidate
    for (const auto& p : up) {
        const double pool_weight = any_pool_weight ? p.ref->weight : 1.0;
        if (pool_weight <= 0) {
            for (const auto& m : p.members) {
                t.members[m.decision].status = MemberStatus::PoolWeightZero;
            }
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
            t.members[m.decision].status = MemberStatus::Serving;
            decision_of.push_back(m.decision);
        }
    }
    for (size_t i = 0; i < t.candidates.size(); ++i) {
        t.members[decision_of[i]].share = t.candidates[i].weight / t.total_weight;
    }
}

bool served_by_admin(AdminState a) { return a != AdminState::Down && a != AdminState::Drain; }

void compute_family(const store::Balancer& b,
                    const std::map<std::string, const store::Pool*>& pools, const CompileInput& in,
                    Family f, Balancer& out, AnswerTable& t) {
    std::map<uint32_t, std::vector<const store::BalancerPool*>> tiers;
    for (const auto& bp : b.pools) {
        tiers[bp.priority].push_back(&bp);
    }
    static const AdminReturns kNone;
    const AdminReturns& admin_returns = in.admin_returns != nullptr ? *in.admin_returns : kNone;

    const uint32_t degraded_ttl = std::min(b.ttl_s, b.degraded_ttl_s);
    std::vector<UpPool> first_tier_all;  // for fail_open
    bool first = true;
    bool served = false;
    uint32_t first_priority = 0;
    for (const auto& [priority, refs] : tiers) {
        std::vector<UpPool> up;
        std::vector<UpPool> all;
        for (const store::BalancerPool* ref : refs) {
            const store::Pool& pool = *pools.at(ref->pool);
            UpPool eligible{ref, &pool, {}};
            UpPool everyone{ref, &pool, {}};
            const char* pool_name = nullptr;
            const size_t first_decision = t.members.size();
            for (const auto& m : pool.members) {
                if (store::family_of(m.address) != f) {
                    continue;
                }
                if (pool_name == nullptr) {
                    pool_name = out.strings.emplace_back(pool.name).c_str();
                }
                // The pool's monitors combined (all, any, quorum): the one rule, in combine.h.
                // A pool without a monitor has no verdicts: its members are unknown (served).
                std::vector<const health::TargetState*> per_monitor;
                per_monitor.reserve(pool.monitors.size());
                for (const auto& mon : pool.monitors) {
                    per_monitor.push_back(&in.targets->get(mon, m.address));
                }
                const health::Combined combined = health::combine(per_monitor, pool.combine);
                const health::TargetState& h = combined.state;
                // A firing alert marks the member failing like a down verdict (admin 'up' still
                // serves it: the operator's word is above every health input).
                const health::ActiveAlert* alert =
                    in.alerts != nullptr ? in.alerts->firing(pool.name, m.address) : nullptr;
                const bool ok = m.admin == AdminState::Up ||
                                (m.admin == AdminState::Auto &&
                                 h.verdict != health::Verdict::Down && alert == nullptr);
                int64_t returned_ms = h.returned_ms;
                if (auto a = admin_returns.find({pool.name, m.address}); a != admin_returns.end()) {
                    returned_ms = std::max(returned_ms, a->second);
                }
                // An admin 'up' member is served as it is: no ramp, no avoidance.
                const double factor = m.admin == AdminState::Up
                                          ? 1.0
                                          : slow_start_factor(pool, returned_ms, in.now_ms);
                const bool suspect = m.admin == AdminState::Auto && h.suspect;
                MemberStatus status = MemberStatus::TierIdle;
                if (m.admin == AdminState::Down) {
                    status = MemberStatus::AdminDown;
                } else if (m.admin == AdminState::Drain) {
                    status = MemberStatus::AdminDrain;
                } else if (!ok) {
                    status = h.verdict == health::Verdict::Down ? MemberStatus::VerdictDown
                                                                : MemberStatus::AlertDown;
                }
                const size_t d = t.members.size();
                t.members.push_back(
                    {pool_name, out.strings.emplace_back(m.address).c_str(), priority, m.admin,
                     h.verdict, h.suspect, h.held, ok, m.weight, factor, 0.0, status,
                     alert != nullptr ? out.strings.emplace_back(alert->name).c_str() : nullptr,
                     combined.decided_by >= 0
                         ? out.strings.emplace_back(pool.monitors[combined.decided_by]).c_str()
                         : nullptr});
                if (served_by_admin(m.admin)) {
                    everyone.members.push_back({&m, d, double(m.weight), double(m.weight)});
                }
                if (ok) {
                    eligible.members.push_back(
                        {&m, d, m.weight * factor, double(m.weight), suspect});
                }
            }
            if (pool_name == nullptr) {
                continue;  // no member of this family
            }
            const uint32_t family_members =
                static_cast<uint32_t>(t.members.size() - first_decision);
            // min_healthy counts members of the family being answered: a pool of two IPv4 and
            // one IPv6 member with min_healthy 2 is up for AAAA when its one IPv6 member is.
            const size_t needed = std::min<size_t>(pool.min_healthy, family_members);
            const bool pool_up = !eligible.members.empty() && eligible.members.size() >= needed;
            t.pools.push_back({pool_name, priority, ref->weight, pool.min_healthy, family_members,
                               static_cast<uint32_t>(eligible.members.size()), pool_up, 0.0});
            all.push_back(everyone);
            if (pool_up) {
                up.push_back(std::move(eligible));
            } else {
                for (const auto& m : eligible.members) {
                    t.members[m.decision].status = MemberStatus::PoolDown;
                }
            }
        }
        if (all.empty()) {
            continue;  // a tier without members of this family does not count
        }
        if (first) {
            first_tier_all = all;
            first_priority = priority;
        }
        if (!served && !up.empty()) {
            fill(std::move(up), f, first ? b.ttl_s : degraded_ttl, out, t);
            t.mode = first ? ServeMode::Normal : ServeMode::Degraded;
            t.serving_priority = priority;
            served = true;
        }
        first = false;
    }
    if (!served && first) {  // no tier had a member of this family
        t.mode = ServeMode::NoMembers;
    } else if (!served) {
        // Every tier is down. The NODATA of fail_closed is cached no longer than degraded_ttl,
        // so that recovery reaches resolvers as fast as a degraded answer would.
        t.negative_ttl_cap_s = degraded_ttl;
        t.serving_priority = first_priority;
        switch (b.when_all_down) {
            case store::WhenAllDown::FailOpen:
                fill(std::move(first_tier_all), f, degraded_ttl, out, t);
                t.mode = ServeMode::FailOpen;
                break;
            case store::WhenAllDown::FailClosed:
                t.mode = ServeMode::FailClosed;
                break;
            case store::WhenAllDown::Fallback: {
                t.mode = ServeMode::Fallback;
                t.ttl_s = degraded_ttl;
                const char* pool_name = out.strings.emplace_back("fallback").c_str();
                for (const auto& a : b.fallback) {
                    if (store::family_of(a) != f) {
                        continue;
                    }
                    const char* addr = out.strings.emplace_back(a).c_str();
                    t.candidates.push_back(
                        make_candidate(a, f, degraded_ttl, 1.0, pool_name, addr));
                    t.total_weight += 1.0;
                }
                break;
            }
        }
    }
    // Each pool's share of the answers, from its members'.
    for (auto& p : t.pools) {
        for (const auto& m : t.members) {
            if (m.pool == p.pool && m.priority == p.priority) {
                p.share += m.share;
            }
        }
    }
}

}  // namespace

const char* to_string(ServeMode m) {
    switch (m) {
        case ServeMode::Normal:
            return "normal";
        case ServeMode::Degraded:
            return "degraded";
        case ServeMode::FailOpen:
            return "fail_open";
        case ServeMode::Fallback:
            return "fallback";
        case ServeMode::FailClosed:
            return "fail_closed";
        case ServeMode::NoMembers:
            return "no_members";
    }
    return "?";
}

const char* to_string(MemberStatus s) {
    switch (s) {
        case MemberStatus::Serving:
            return "serving";
        case MemberStatus::Avoided:
            return "avoided";
        case MemberStatus::Backup:
            return "backup";
        case MemberStatus::PoolWeightZero:
            return "pool_weight_zero";
        case MemberStatus::PoolDown:
            return "pool_down";
        case MemberStatus::TierIdle:
            return "tier_idle";
        case MemberStatus::AdminDrain:
            return "admin_drain";
        case MemberStatus::AdminDown:
            return "admin_down";
        case MemberStatus::VerdictDown:
            return "verdict_down";
        case MemberStatus::AlertDown:
            return "alert";
    }
    return "?";
}

void compute_answers(const store::Balancer& b, const CompileInput& in, Balancer& out) {
    std::map<std::string, const store::Pool*> pools;
    for (const auto& p : in.state->pools) {
        pools.emplace(p.name, &p);
    }
    compute_family(b, pools, in, Family::V4, out, out.v4);
    compute_family(b, pools, in, Family::V6, out, out.v6);
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
