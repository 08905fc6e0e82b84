#include "store/validate.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "store/errors.h"
#include "store/names.h"
#include "store/records.h"

namespace gtm::store {

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeNs = 2;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeDs = 43;

std::string at(const char* list, size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

template <typename T>
void unique_names(const std::vector<T>& items, const char* list, const std::string& doc) {
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < items.size(); ++i) {
        auto [it, fresh] = seen.emplace(items[i].name, i);
        if (!fresh) {
            throw DocumentError(
                doc, at(list, i) + ".name",
                "duplicate name '" + items[i].name + "' (also " + at(list, it->second) + ")");
        }
    }
}

// The zone a name belongs to: the longest zone name it is at or below; -1 if none.
int enclosing_zone(const std::vector<Zone>& zones, std::string_view name) {
    int best = -1;
    for (size_t i = 0; i < zones.size(); ++i) {
        if (in_zone(name, zones[i].name) &&
            (best < 0 || zones[i].name.size() > zones[static_cast<size_t>(best)].name.size())) {
            best = static_cast<int>(i);
        }
    }
    return best;
}

// The delegation point at or above `name` within its zone (an owner of NS below the apex).
std::string cut_above(const std::set<std::string>& cuts, std::string_view name,
                      std::string_view zone) {
    for (std::string_view n = name; n.size() > zone.size(); n = parent_name(n)) {
        if (cuts.count(std::string(n)) != 0) {
            return std::string(n);
        }
    }
    return {};
}

void validate_zones(std::vector<Zone>& zones, const std::string& doc) {
    unique_names(zones, "zones", doc);
    for (size_t zi = 0; zi < zones.size(); ++zi) {
        Zone& z = zones[zi];
        const std::string zp = at("zones", zi);
        if (z.ns.empty()) {
            throw DocumentError(doc, zp + ".ns", "a zone needs at least one NS");
        }
        std::set<std::string> ns_seen;
        for (size_t i = 0; i < z.ns.size(); ++i) {
            if (!ns_seen.insert(z.ns[i]).second) {
                throw DocumentError(doc, zp + ".ns[" + std::to_string(i) + "]",
                                    "duplicate name server '" + z.ns[i] + "'");
            }
        }
        z.parsed.clear();
        for (size_t ri = 0; ri < z.records.size(); ++ri) {
            const std::string rp = zp + ".records[" + std::to_string(ri) + "]";
            RecordData r;
            try {
                r = parse_record(z.records[ri], z.name, z.ttl_s);
            } catch (const std::invalid_argument& e) {
                throw DocumentError(doc, rp, e.what());
            }
            int owner_zone = enclosing_zone(zones, r.owner);
            if (owner_zone != static_cast<int>(zi)) {
                throw DocumentError(doc, rp,
                                    "owner '" + r.owner + "' belongs to the zone '" +
                                        zones[static_cast<size_t>(owner_zone)].name +
                                        "', which is served separately");
            }
            if (r.type == kTypeNs && r.owner == z.name) {
                throw DocumentError(doc, rp, "the apex NS set is the zone's 'ns' key");
            }
            if (r.type == kTypeCname && r.owner == z.name) {
                throw DocumentError(doc, rp, "a CNAME cannot be at the zone apex (RFC 1912 §2.4)");
            }
            if (r.type == kTypeNs && r.owner.rfind("*.", 0) == 0) {
                throw DocumentError(doc, rp,
                                    "NS at a wildcard name is not allowed (RFC 4592 §4.2)");
            }
            z.parsed.push_back(std::move(r));
        }
        // Per owner: CNAME exclusivity, RRset TTLs, duplicates, occlusion below delegations.
        std::set<std::string> cuts;
        for (const auto& r : z.parsed) {
            if (r.type == kTypeNs) {
                cuts.insert(r.owner);
            }
        }
        std::map<std::pair<std::string, uint16_t>, size_t> first_of_set;
        std::map<std::string, std::set<uint16_t>> types_at;
        for (size_t i = 0; i < z.parsed.size(); ++i) {
            const RecordData& r = z.parsed[i];
            const std::string rp = zp + ".records[" + std::to_string(i) + "]";
            auto key = std::make_pair(r.owner, r.type);
            auto [it, fresh] = first_of_set.emplace(key, i);
            if (!fresh) {
                const RecordData& first = z.parsed[it->second];
                if (r.type == kTypeCname) {
                    throw DocumentError(doc, rp, "a name can have only one CNAME");
                }
                if (first.ttl_s != r.ttl_s) {
                    throw DocumentError(doc, rp,
                                        "TTL " + std::to_string(r.ttl_s) + " differs from " +
                                            std::to_string(first.ttl_s) +
                                            " of the same RRset (RFC 2181 §5.2)");
                }
                for (size_t j = it->second; j < i; ++j) {
                    if (z.parsed[j].owner == r.owner && z.parsed[j].type == r.type &&
                        z.parsed[j].rdata == r.rdata) {
                        throw DocumentError(doc, rp, "duplicate record");
                    }
                }
            }
            types_at[r.owner].insert(r.type);
            std::string cut = cut_above(cuts, r.owner, z.name);
            if (!cut.empty() && !(r.owner == cut && (r.type == kTypeNs || r.type == kTypeDs)) &&
                r.type != kTypeA && r.type != kTypeAaaa) {
                throw DocumentError(doc, rp,
                                    "'" + r.owner + "' is at or below the delegation '" + cut +
                                        "': only NS, DS and glue A/AAAA may be there");
            }
        }
        for (size_t i = 0; i < z.parsed.size(); ++i) {
            const RecordData& r = z.parsed[i];
            if (r.type == kTypeCname && types_at[r.owner].size() > 1) {
                throw DocumentError(
                    doc, zp + ".records[" + std::to_string(i) + "]",
                    "'" + r.owner + "' has a CNAME and other records (RFC 1034 §3.6.2)");
            }
        }
    }
}

void validate_pools(DesiredState& s, const std::string& doc) {
    unique_names(s.monitors, "monitors", doc);
    unique_names(s.pools, "pools", doc);
    std::set<std::string> monitors;
    for (const auto& m : s.monitors) {
        monitors.insert(m.name);
    }
    for (size_t pi = 0; pi < s.pools.size(); ++pi) {
        const Pool& p = s.pools[pi];
        const std::string pp = at("pools", pi);
        if (!p.monitor.empty() && monitors.count(p.monitor) == 0) {
            throw DocumentError(doc, pp + ".monitor", "no monitor named '" + p.monitor + "'");
        }
        if (p.members.empty()) {
            throw DocumentError(doc, pp + ".members", "a pool needs members");
        }
        if (p.min_healthy > p.members.size()) {
            throw DocumentError(doc, pp + ".min_healthy",
                                std::to_string(p.min_healthy) + " is more than the pool's " +
                                    std::to_string(p.members.size()) + " members");
        }
        std::map<std::string, size_t> seen;
        for (size_t mi = 0; mi < p.members.size(); ++mi) {
            auto [it, fresh] = seen.emplace(p.members[mi].address, mi);
            if (!fresh) {
                throw DocumentError(doc, pp + ".members[" + std::to_string(mi) + "].address",
                                    "duplicate address '" + p.members[mi].address + "'");
            }
        }
    }
}

void validate_balancers(DesiredState& s, const std::string& doc) {
    unique_names(s.balancers, "balancers", doc);
    std::set<std::string> pools;
    for (const auto& p : s.pools) {
        pools.insert(p.name);
    }
    for (size_t bi = 0; bi < s.balancers.size(); ++bi) {
        const Balancer& b = s.balancers[bi];
        const std::string bp = at("balancers", bi);
        int zi = enclosing_zone(s.zones, b.name);
        if (zi < 0) {
            throw DocumentError(doc, bp + ".name",
                                "'" + b.name + "' is not inside any zone served here");
        }
        const Zone& z = s.zones[static_cast<size_t>(zi)];
        std::set<std::string> cuts;
        for (const auto& r : z.parsed) {
            if (r.type == kTypeNs) {
                cuts.insert(r.owner);
            }
        }
        std::string cut = cut_above(cuts, b.name, z.name);
        if (!cut.empty()) {
            throw DocumentError(doc, bp + ".name",
                                "'" + b.name + "' is at or below the delegation '" + cut + "'");
        }
        for (const auto& r : z.parsed) {
            if (r.owner == b.name &&
                (r.type == kTypeA || r.type == kTypeAaaa || r.type == kTypeCname)) {
                throw DocumentError(doc, bp + ".name",
                                    "'" + b.name + "' also has a static record '" + r.text +
                                        "': its A/AAAA answers come from the balancer");
            }
        }
        if (b.pools.empty()) {
            throw DocumentError(doc, bp + ".pools", "a balancer needs pools");
        }
        std::set<std::string> used;
        for (size_t i = 0; i < b.pools.size(); ++i) {
            const std::string p = bp + ".pools[" + std::to_string(i) + "].pool";
            if (pools.count(b.pools[i].pool) == 0) {
                throw DocumentError(doc, p, "no pool named '" + b.pools[i].pool + "'");
            }
            if (!used.insert(b.pools[i].pool).second) {
                throw DocumentError(doc, p, "pool '" + b.pools[i].pool + "' is listed twice");
            }
        }
        if (b.when_all_down == WhenAllDown::Fallback && b.fallback.empty()) {
            throw DocumentError(doc, bp + ".fallback",
                                "is required when when_all_down is fallback");
        }
        if (b.when_all_down != WhenAllDown::Fallback && !b.fallback.empty()) {
            throw DocumentError(doc, bp + ".fallback",
                                "is only used when when_all_down is fallback");
        }
        std::set<std::string> fb;
        for (size_t i = 0; i < b.fallback.size(); ++i) {
            if (!fb.insert(b.fallback[i]).second) {
                throw DocumentError(doc, bp + ".fallback[" + std::to_string(i) + "]",
                                    "duplicate address '" + b.fallback[i] + "'");
            }
        }
    }
}

}  // namespace

void validate(DesiredState& state, const std::string& document) {
    validate_zones(state.zones, document);
    validate_pools(state, document);
    validate_balancers(state, document);
}

}  // namespace gtm::store
