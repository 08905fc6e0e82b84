#include "core/diff.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>

#include "store/encode.h"

namespace gtm::core {

using nlohmann::json;

namespace {

template <typename T>
void sort_named(std::vector<T>& items) {
    std::stable_sort(items.begin(), items.end(),
                     [](const T& a, const T& b) { return a.name < b.name; });
}

// A pool's change, as the diff shows it: its own fields, and of its members only those that
// were added, removed or changed (a drain in a pool of 1,000 members is one member, not two
// copies of the pool); `members_unchanged` counts the rest.
std::pair<json, json> pool_change(const store::Pool& before, const store::Pool& after) {
    json b = store::pool_fields_to_json(before);
    json a = store::pool_fields_to_json(after);
    b["members"] = json::array();
    a["members"] = json::array();
    std::unordered_map<std::string_view, const store::Member*> old;
    for (const auto& m : before.members) {
        old.emplace(m.address, &m);
    }
    size_t unchanged = 0;
    for (const auto& m : after.members) {
        auto it = old.find(m.address);
        if (it == old.end()) {
            a["members"].push_back(store::to_json(m));
            continue;
        }
        if (*it->second == m) {
            ++unchanged;
        } else {
            b["members"].push_back(store::to_json(*it->second));
            a["members"].push_back(store::to_json(m));
        }
        old.erase(it);
    }
    for (const auto& m : before.members) {
        if (old.count(m.address) != 0) {
            b["members"].push_back(store::to_json(m));
        }
    }
    b["members_unchanged"] = unchanged;
    a["members_unchanged"] = unchanged;
    return {std::move(b), std::move(a)};
}

// What a change does to the state, resource by resource: the dry-run answer and the audit's
// before/after. Objects are compared as values; only those that differ are turned into JSON.
}  // namespace

json diff(const store::DesiredState& before, const store::DesiredState& after) {
    json changes = json::array();
    auto compare = [&](const char* kind, const auto& old_items, const auto& new_items,
                       auto&& change) {
        using T = typename std::decay_t<decltype(old_items)>::value_type;
        std::map<std::string_view, const T*> o;
        std::map<std::string_view, const T*> n;
        for (const auto& i : old_items) {
            o.emplace(i.name, &i);
        }
        for (const auto& i : new_items) {
            n.emplace(i.name, &i);
        }
        for (const auto& [name, item] : n) {
            auto it = o.find(name);
            if (it == o.end()) {
                changes.push_back({{"kind", kind},
                                   {"name", item->name},
                                   {"op", "add"},
                                   {"after", store::to_json(*item)}});
            } else if (!(*it->second == *item)) {
                auto [b, a] = change(*it->second, *item);
                changes.push_back({{"kind", kind},
                                   {"name", item->name},
                                   {"op", "change"},
                                   {"before", std::move(b)},
                                   {"after", std::move(a)}});
            }
        }
        for (const auto& [name, item] : o) {
            if (n.count(name) == 0) {
                changes.push_back({{"kind", kind},
                                   {"name", item->name},
                                   {"op", "remove"},
                                   {"before", store::to_json(*item)}});
            }
        }
    };
    const auto whole = [](const auto& b, const auto& a) {
        return std::pair<json, json>{store::to_json(b), store::to_json(a)};
    };
    compare("zones", before.zones, after.zones, whole);
    compare("monitors", before.monitors, after.monitors, whole);
    compare("pools", before.pools, after.pools, pool_change);
    compare("balancers", before.balancers, after.balancers, whole);
    return changes;
}

namespace {

json table_view(const dns::AnswerTable& t) {
    json answers = json::array();
    for (const auto& c : t.candidates) {
        answers.push_back(
            {{"pool", c.pool}, {"address", c.address}, {"share", c.weight / t.total_weight}});
    }
    return {{"mode", dns::to_string(t.mode)},
            {"serving_priority", t.serving_priority},
            {"answers", std::move(answers)}};
}

std::vector<std::string> answer_set(const dns::AnswerTable& t) {
    std::vector<std::string> out;
    for (const auto& c : t.candidates) {
        out.emplace_back(c.address);
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool healthy_mode(dns::ServeMode m) {
    return m == dns::ServeMode::Normal || m == dns::ServeMode::Degraded;
}

}  // namespace

json effects(const dns::Snapshot* before, const dns::Snapshot& after) {
    std::map<std::string_view, const dns::Balancer*> old;
    if (before != nullptr) {
        for (const auto& b : before->balancers()) {
            old.emplace(b->name, b.get());
        }
    }
    json out = json::array();
    for (const auto& b : after.balancers()) {
        auto it = old.find(b->name);
        const dns::Balancer* prev = it == old.end() ? nullptr : it->second;
        for (const bool v6 : {false, true}) {
            const dns::AnswerTable& now = v6 ? b->v6 : b->v4;
            const dns::AnswerTable* was = prev == nullptr ? nullptr : (v6 ? &prev->v6 : &prev->v4);
            if (now.mode == dns::ServeMode::NoMembers &&
                (was == nullptr || was->mode == dns::ServeMode::NoMembers)) {
                continue;
            }
            if (was != nullptr && was->mode == now.mode &&
                was->serving_priority == now.serving_priority &&
                answer_set(*was) == answer_set(now)) {
                continue;
            }
            size_t healthy = 0;
            for (const auto& m : now.members) {
                healthy += m.status == dns::MemberStatus::Serving && m.eligible ? 1 : 0;
            }
            json e = {{"balancer", b->name},
                      {"type", v6 ? "AAAA" : "A"},
                      {"before", was != nullptr ? table_view(*was) : json()},
                      {"after", table_view(now)},
                      {"healthy", healthy}};
            if (!healthy_mode(now.mode) && (was == nullptr || healthy_mode(was->mode))) {
                e["warning"] = b->name + " (" + (v6 ? "AAAA" : "A") +
                               ") is left with no healthy member: it answers " +
                               dns::to_string(now.mode);
            }
            out.push_back(std::move(e));
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> keep_admin_states(store::Pool& next,
                                                                   const store::Pool* current,
                                                                   const json& source) {
    std::vector<std::pair<std::string, std::string>> kept;
    if (current == nullptr || !source.is_object() || !source.contains("members") ||
        !source["members"].is_array() || source["members"].size() != next.members.size()) {
        return kept;
    }
    for (size_t i = 0; i < next.members.size(); ++i) {
        const json& m = source["members"][i];
        if (!m.is_object() || m.contains("admin")) {
            continue;  // the document says it
        }
        store::Member& member = next.members[i];
        for (const auto& c : current->members) {
            if (c.address == member.address) {
                member.admin = c.admin;
                if (c.admin != store::AdminState::Auto) {
                    kept.emplace_back(next.name, member.address);
                }
            }
        }
    }
    return kept;
}

std::vector<std::pair<std::string, std::string>> keep_admin_states(
    store::DesiredState& next, const store::DesiredState& current, const json& source) {
    std::vector<std::pair<std::string, std::string>> kept;
    if (!source.is_object() || !source.contains("pools") || !source["pools"].is_array() ||
        source["pools"].size() != next.pools.size()) {
        return kept;
    }
    std::map<std::string_view, const store::Pool*> by_name;
    for (const auto& p : current.pools) {
        by_name.emplace(p.name, &p);
    }
    for (size_t i = 0; i < next.pools.size(); ++i) {
        auto it = by_name.find(next.pools[i].name);
        auto more = keep_admin_states(next.pools[i], it == by_name.end() ? nullptr : it->second,
                                      source["pools"][i]);
        kept.insert(kept.end(), more.begin(), more.end());
    }
    return kept;
}

void canonicalize(store::DesiredState& s) {
    sort_named(s.zones);
    sort_named(s.monitors);
    sort_named(s.pools);
    sort_named(s.balancers);
}

}  // namespace gtm::core
