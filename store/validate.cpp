#include "store/validate.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "store/errors.h"
#include "store/names.h"
#include "store/records.h"

namespace gtm::store {

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeNs = 2;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeMx = 15;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeSrv = 33;
constexpr uint16_t kTypeDs = 43;

// The largest DNS message (RFC 1035 §4.2.2: TCP's two-byte length), and what an answer with one
// RRset needs besides the records: the header, the question, an OPT record.
constexpr size_t kMaxMessage = 65535;
constexpr size_t kHeader = 12;
constexpr size_t kOpt = 11;
// One record in an answer: its owner as a compression pointer, type, class, TTL, rdlength.
constexpr size_t kRecordOverhead = 2 + 2 + 2 + 4 + 2;

std::string at(const char* list, size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

std::string type_name(uint16_t t) { return type_to_string(t); }

template <typename T>
void unique_names(const std::vector<T>& items, const char* list, const std::string& doc) {
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < items.size(); ++i) {
        auto [it, fresh] = seen.emplace(items[i].name, i);
        if (!fresh) {
            throw DocumentError(
                doc, at(list, i) + ".name",
                "duplicate name '" + items[i].name + "' (also " + at(list, it->second) + ")");
        }
    }
}

// One owner name of the zone data, across all zones (a name belongs to one zone: the longest).
struct NameInfo {
    size_t zone = 0;
    std::vector<uint16_t> types;  // distinct, in the order first seen
    size_t first_record = 0;      // index into the zone's parsed records
    bool address = false;         // A or AAAA here
    bool cname = false;
    std::string cname_target;
    size_t cname_record = 0;
};

// An RRset: owner and type. The owner points into the zone's parsed records, which do not move
// while they are checked.
struct RRsetKey {
    std::string_view owner;
    uint16_t type;
    bool operator==(const RRsetKey&) const = default;
};
struct RRsetKeyHash {
    size_t operator()(const RRsetKey& k) const {
        return std::hash<std::string_view>{}(k.owner) ^ (size_t{k.type} * 0x9e3779b97f4a7c15ull);
    }
};

// One RRset while its records are read.
struct RRsetInfo {
    size_t first = 0;  // index of its first record
    size_t bytes = 0;  // in an answer: header, question, OPT and every record
    size_t count = 0;
    size_t over_at = 0;  // the record that took it over kMaxMessage (when bytes > kMaxMessage)
};

// Everything validate() learns about the zones, shared by the checks that look across zones,
// pools and balancers. Lookups are hash lookups per label, so validation stays linear in the
// size of the document (40,000 records at one name once took 10 s here: a quadratic duplicate
// scan, and a pass over every record for every balancer).
class ZoneData {
  public:
    ZoneData(std::vector<Zone>& zones, const std::string& doc, std::vector<Warning>& warnings)
        : zones_(zones), doc_(doc), warnings_(warnings) {}

    void check() {
        unique_names(zones_, "zones", doc_);
        size_t records = 0;
        for (const auto& z : zones_) {
            records += z.records.size();
        }
        names_.reserve(records);
        existing_.reserve(records + zones_.size());
        for (size_t i = 0; i < zones_.size(); ++i) {
            by_name_.emplace(zones_[i].name, i);
            add_existing(zones_[i].name, i);
        }
        for (size_t zi = 0; zi < zones_.size(); ++zi) {
            parse_zone(zi);
        }
        for (size_t zi = 0; zi < zones_.size(); ++zi) {
            check_rrsets(zi);
        }
    }

    // The zone `name` is at or below: the longest zone name; -1 if none.
    int enclosing(std::string_view name) const {
        for (std::string_view n = name;; n = parent_name(n)) {
            auto it = by_name_.find(std::string(n));
            if (it != by_name_.end()) {
                return static_cast<int>(it->second);
            }
            if (n.empty()) {
                return -1;
            }
        }
    }

    // The delegation closest to the apex at or above `name` in zone `zi`, or "".
    std::string highest_cut(std::string_view name, size_t zi) const {
        const std::string& zone = zones_[zi].name;
        std::string cut;
        if (cuts_[zi].empty()) {
            return cut;
        }
        for (std::string_view n = name; n.size() > zone.size(); n = parent_name(n)) {
            if (cuts_[zi].count(std::string(n)) != 0) {
                cut = std::string(n);
            }
        }
        return cut;
    }

    const NameInfo* info(const std::string& name) const {
        auto it = names_.find(name);
        return it == names_.end() ? nullptr : &it->second;
    }

    bool exists(const std::string& name) const { return existing_.count(name) != 0; }

    // A balancer's name exists (for wildcard matching) and answers A/AAAA.
    void add_balancer(const std::string& name, size_t zi) {
        balancers_.insert(name);
        add_existing(name, zi);
    }
    bool is_balancer(const std::string& name) const { return balancers_.count(name) != 0; }

    std::string record_path(size_t zi, size_t ri) const {
        return at("zones", zi) + ".records[" + std::to_string(ri) + "]";
    }

    // Name server, mail exchange and service targets, once balancers are known.
    void check_targets() {
        for (size_t zi = 0; zi < zones_.size(); ++zi) {
            const Zone& z = zones_[zi];
            for (size_t i = 0; i < z.ns.size(); ++i) {
                check_ns_target(zi, z.ns[i], at("zones", zi) + ".ns[" + std::to_string(i) + "]",
                                true);
            }
            for (size_t ri = 0; ri < z.parsed.size(); ++ri) {
                const RecordData& r = z.parsed[ri];
                if (r.type == kTypeNs) {
                    check_ns_target(zi, r.target, record_path(zi, ri), false);
                } else if ((r.type == kTypeMx || r.type == kTypeSrv) && !r.target.empty()) {
                    check_service_target(zi, r, record_path(zi, ri));
                }
            }
        }
    }

    // RFC 1034 §3.6.2: a chain of CNAMEs inside the zones served here must end. Followed as the
    // responder follows it: exact names, then the wildcard at the closest encloser (RFC 4592).
    void check_cname_loops() {
        enum class State { Open, Done };
        std::unordered_map<std::string, State> state;
        for (size_t zi = 0; zi < zones_.size(); ++zi) {
            const Zone& z = zones_[zi];
            for (size_t ri = 0; ri < z.parsed.size(); ++ri) {
                if (z.parsed[ri].type != kTypeCname || state.count(z.parsed[ri].owner) != 0) {
                    continue;
                }
                std::vector<std::string> chain;
                std::string at_name = z.parsed[ri].owner;
                for (;;) {
                    auto [it, fresh] = state.emplace(at_name, State::Open);
                    if (!fresh) {
                        if (it->second == State::Open) {
                            fail_loop(chain, at_name);
                        }
                        break;
                    }
                    chain.push_back(at_name);
                    const std::string* next = cname_owner_for(names_.at(at_name).cname_target);
                    if (next == nullptr) {
                        break;
                    }
                    at_name = *next;
                }
                for (const auto& n : chain) {
                    state[n] = State::Done;
                }
            }
        }
    }

  private:
    void warn(std::string path, std::string message) {
        warnings_.push_back({std::move(path), std::move(message), 0});
    }

    // `name` and every name between it and its zone's apex exist (empty non-terminals).
    void add_existing(std::string_view name, size_t zi) {
        const std::string& apex = zones_[zi].name;
        for (std::string_view n = name;; n = parent_name(n)) {
            if (!existing_.insert(std::string(n)).second || n.size() <= apex.size()) {
                return;
            }
        }
    }

    void parse_zone(size_t zi) {
        Zone& z = zones_[zi];
        const std::string zp = at("zones", zi);
        if (z.ns.empty()) {
            throw DocumentError(doc_, zp + ".ns", "a zone needs at least one NS");
        }
        std::unordered_set<std::string> ns_seen;
        for (size_t i = 0; i < z.ns.size(); ++i) {
            if (!ns_seen.insert(z.ns[i]).second) {
                throw DocumentError(doc_, zp + ".ns[" + std::to_string(i) + "]",
                                    "duplicate name server '" + z.ns[i] + "'");
            }
        }
        cuts_.emplace_back();
        z.parsed.clear();
        z.parsed.reserve(z.records.size());
        const RecordParser parser(z.name);
        for (size_t ri = 0; ri < z.records.size(); ++ri) {
            auto rp = [&] { return record_path(zi, ri); };  // built only for an error
            RecordData r;
            try {
                r = parser.parse(z.records[ri], z.ttl_s);
            } catch (const std::invalid_argument& e) {
                throw DocumentError(doc_, rp(), e.what());
            }
            const int owner_zone = enclosing(r.owner);
            if (owner_zone != static_cast<int>(zi)) {
                throw DocumentError(doc_, rp(),
                                    "owner '" + r.owner + "' belongs to the zone '" +
                                        zones_[static_cast<size_t>(owner_zone)].name +
                                        "', which is served separately");
            }
            if (r.type == kTypeNs && r.owner == z.name) {
                throw DocumentError(doc_, rp(), "the apex NS set is the zone's 'ns' key");
            }
            if (r.type == kTypeCname && r.owner == z.name) {
                throw DocumentError(doc_, rp(),
                                    "a CNAME cannot be at the zone apex (RFC 1912 §2.4)");
            }
            if (r.type == kTypeNs && r.owner.rfind("*.", 0) == 0) {
                throw DocumentError(doc_, rp(),
                                    "NS at a wildcard name is not allowed (RFC 4592 §4.2)");
            }
            if (r.type == kTypeDs && r.owner == z.name) {
                throw DocumentError(doc_, rp(),
                                    "the DS of a zone belongs in its parent zone (RFC 4035 §2.4)");
            }
            if (r.type == kTypeNs) {
                cuts_[zi].insert(r.owner);
            }
            auto [it, fresh] = names_.try_emplace(r.owner);
            NameInfo& n = it->second;
            if (fresh) {
                n.zone = zi;
                n.first_record = ri;
                add_existing(r.owner, zi);
            }
            if (std::find(n.types.begin(), n.types.end(), r.type) == n.types.end()) {
                n.types.push_back(r.type);
            }
            n.address = n.address || r.type == kTypeA || r.type == kTypeAaaa;
            if (r.type == kTypeCname && !n.cname) {
                n.cname = true;
                n.cname_target = r.target;
                n.cname_record = ri;
            }
            z.parsed.push_back(std::move(r));
        }
    }

    // Per RRset and per owner: duplicates, TTLs, CNAME exclusivity, DS placement, occlusion,
    // and whether the RRset fits in a DNS message at all.
    void check_rrsets(size_t zi) {
        const Zone& z = zones_[zi];
        // The names NS records point at: A/AAAA below a cut is glue only for them.
        std::unordered_set<std::string> ns_targets(z.ns.begin(), z.ns.end());
        for (const auto& r : z.parsed) {
            if (r.type == kTypeNs) {
                ns_targets.insert(r.target);
            }
        }
        std::unordered_map<RRsetKey, RRsetInfo, RRsetKeyHash> rrsets;
        rrsets.reserve(z.parsed.size());
        // Every record by a hash of its owner, type and rdata, to find duplicates.
        std::unordered_multimap<size_t, size_t> seen;
        seen.reserve(z.parsed.size());
        for (size_t i = 0; i < z.parsed.size(); ++i) {
            const RecordData& r = z.parsed[i];
            auto [it, fresh] = rrsets.try_emplace(RRsetKey{r.owner, r.type});
            RRsetInfo& set = it->second;
            if (fresh) {
                set.first = i;
                set.bytes = kHeader + name_to_wire(r.owner).size() + 4 + kOpt;
            } else {
                const RecordData& first = z.parsed[set.first];
                if (r.type == kTypeCname) {
                    throw DocumentError(doc_, record_path(zi, i), "a name can have only one CNAME");
                }
                if (first.ttl_s != r.ttl_s) {
                    throw DocumentError(doc_, record_path(zi, i),
                                        "TTL " + std::to_string(r.ttl_s) + " differs from " +
                                            std::to_string(first.ttl_s) +
                                            " of the same RRset (RFC 2181 §5.2)");
                }
            }
            const size_t h = RRsetKeyHash{}(RRsetKey{r.owner, r.type}) ^
                             (std::hash<std::string_view>{}(std::string_view(
                                  reinterpret_cast<const char*>(r.rdata.data()), r.rdata.size())) *
                              31);
            auto [b, e] = seen.equal_range(h);
            for (auto d = b; d != e; ++d) {
                const RecordData& other = z.parsed[d->second];
                if (other.type == r.type && other.owner == r.owner && other.rdata == r.rdata) {
                    throw DocumentError(doc_, record_path(zi, i), "duplicate record");
                }
            }
            seen.emplace(h, i);
            ++set.count;
            set.bytes += kRecordOverhead + r.rdata.size();
            if (set.bytes > kMaxMessage && set.over_at == 0) {
                set.over_at = i;
            }
            if (r.type == kTypeDs && cuts_[zi].count(r.owner) == 0) {
                throw DocumentError(doc_, record_path(zi, i),
                                    "a DS record belongs at a delegation (a name with NS records "
                                    "in this zone); '" +
                                        r.owner + "' is none (RFC 4035 §2.4)");
            }
            check_occlusion(zi, i, ns_targets);
        }
        for (size_t i = 0; i < z.parsed.size(); ++i) {
            const RecordData& r = z.parsed[i];
            if (r.type == kTypeCname && names_.at(r.owner).types.size() > 1) {
                throw DocumentError(
                    doc_, record_path(zi, i),
                    "'" + r.owner + "' has a CNAME and other records (RFC 1034 §3.6.2)");
            }
        }
        // The first record, in document order, that took an RRset over the limit.
        const RRsetInfo* over = nullptr;
        for (const auto& [key, set] : rrsets) {
            (void)key;
            if (set.bytes > kMaxMessage && (over == nullptr || set.over_at < over->over_at)) {
                over = &set;
            }
        }
        if (over != nullptr) {
            const RecordData& r = z.parsed[over->over_at];
            throw DocumentError(doc_, record_path(zi, over->over_at),
                                "the " + type_name(r.type) + " RRset of '" + r.owner + "' (" +
                                    std::to_string(over->count) + " records) needs " +
                                    std::to_string(over->bytes) + " bytes in an answer: over the " +
                                    std::to_string(kMaxMessage) +
                                    " bytes of the largest DNS message, it could never be served");
        }
    }

    // RFC 1034 §4.2.1: below a zone cut only the delegation's NS (and its DS, RFC 4035) and glue
    // are data of this zone; anything else would be stored and never served.
    void check_occlusion(size_t zi, size_t ri, const std::unordered_set<std::string>& ns_targets) {
        const RecordData& r = zones_[zi].parsed[ri];
        const std::string cut = highest_cut(r.owner, zi);
        if (cut.empty()) {
            return;
        }
        const std::string rp = record_path(zi, ri);
        if (r.owner == cut && (r.type == kTypeNs || r.type == kTypeDs)) {
            return;
        }
        if (r.type == kTypeNs) {
            throw DocumentError(doc_, rp,
                                "'" + r.owner + "' is below the delegation '" + cut +
                                    "': an NS set there is occluded, never served (delegate it "
                                    "from the child zone)");
        }
        if (r.type == kTypeA || r.type == kTypeAaaa) {
            if (ns_targets.count(r.owner) != 0) {
                return;  // glue
            }
            throw DocumentError(doc_, rp,
                                "'" + r.owner + "' is at or below the delegation '" + cut +
                                    "' and no NS record names it: it is not glue and would "
                                    "never be served");
        }
        throw DocumentError(doc_, rp,
                            "'" + r.owner + "' is at or below the delegation '" + cut +
                                "': only NS, DS and glue A/AAAA may be there");
    }

    // An NS target inside a zone served here must be reachable: glue when it is below a zone
    // cut, an address (a record or a balancer) when gtmd answers for it. RFC 2181 §10.3: never
    // an alias.
    void check_ns_target(size_t zi, const std::string& target, const std::string& path, bool apex) {
        const int tz = enclosing(target);
        if (tz < 0) {
            return;  // out of every zone here: resolvers look it up elsewhere, no glue needed
        }
        const size_t tzi = static_cast<size_t>(tz);
        const NameInfo* n = info(target);
        const bool has_address = (n != nullptr && n->address) || is_balancer(target);
        if (n != nullptr && n->cname) {
            throw DocumentError(doc_, path,
                                "the name server '" + target +
                                    "' is a CNAME: NS must name a host (RFC 2181 §10.3)");
        }
        if (has_address) {
            return;
        }
        const std::string cut = highest_cut(target, tzi);
        if (tzi != zi) {
            warn(path, "the name server '" + target + "' is in the zone '" + zones_[tzi].name +
                           "', which has no A/AAAA record for it");
            return;
        }
        if (!cut.empty()) {
            throw DocumentError(doc_, path,
                                "the name server '" + target + "' is below the delegation '" + cut +
                                    "' and has no glue A/AAAA record in this zone");
        }
        if (apex) {
            warn(path, "the name server '" + target +
                           "' is inside the zone but has no A/AAAA record: resolvers that ask "
                           "gtmd for its address get none (only the parent's glue has it)");
            return;
        }
        throw DocumentError(doc_, path,
                            "the name server '" + target +
                                "' is inside the zone but has no A/AAAA record: the delegation "
                                "could not be followed through it");
    }

    // RFC 2181 §10.3 (MX), RFC 2782 (SRV): the target is a host name, not an alias.
    void check_service_target(size_t zi, const RecordData& r, const std::string& path) {
        (void)zi;
        const int tz = enclosing(r.target);
        if (tz < 0) {
            return;
        }
        const NameInfo* n = info(r.target);
        if (n != nullptr && n->cname) {
            throw DocumentError(doc_, path,
                                "the " + type_name(r.type) + " target '" + r.target +
                                    "' is a CNAME (RFC 2181 §10.3, RFC 2782)");
        }
        const size_t tzi = static_cast<size_t>(tz);
        if ((n == nullptr || !n->address) && !is_balancer(r.target) &&
            highest_cut(r.target, tzi).empty() && !wildcard_covers(r.target, tzi)) {
            warn(path, "the " + type_name(r.type) + " target '" + r.target +
                           "' has no A/AAAA record here");
        }
    }

    // True when a wildcard in zone `zi` answers for `name`, a name that does not exist.
    bool wildcard_covers(const std::string& name, size_t zi) const {
        if (exists(name)) {
            return false;
        }
        std::string_view n = name;
        while (n.size() > zones_[zi].name.size() && !exists(std::string(n))) {
            n = parent_name(n);
        }
        const std::string wild = n.empty() ? "*" : "*." + std::string(n);
        return names_.count(wild) != 0;
    }

    // The owner of the CNAME a resolver meets next when it looks up `target` here, or nullptr
    // when the chain leaves the CNAMEs (an address, other data, a referral, a name elsewhere).
    const std::string* cname_owner_for(const std::string& target) const {
        const int tz = enclosing(target);
        if (tz < 0) {
            return nullptr;
        }
        const size_t tzi = static_cast<size_t>(tz);
        if (!highest_cut(target, tzi).empty()) {
            return nullptr;
        }
        auto it = names_.find(target);
        if (it != names_.end()) {
            return it->second.cname ? &it->first : nullptr;
        }
        if (exists(target)) {
            return nullptr;  // an empty non-terminal or a balancer
        }
        std::string_view n = target;
        while (n.size() > zones_[tzi].name.size() && !exists(std::string(n))) {
            n = parent_name(n);
        }
        auto w = names_.find(n.empty() ? "*" : "*." + std::string(n));
        if (w != names_.end() && w->second.cname) {
            return &w->first;
        }
        return nullptr;
    }

    [[noreturn]] void fail_loop(const std::vector<std::string>& chain, const std::string& back) {
        auto start = std::find(chain.begin(), chain.end(), back);
        std::string text;
        for (auto it = start; it != chain.end(); ++it) {
            text += *it + " → ";
        }
        text += back;
        const NameInfo& last = names_.at(chain.back());
        throw DocumentError(doc_, record_path(last.zone, last.cname_record),
                            "CNAME loop: " + text + " (RFC 1034 §3.6.2: a chain must end)");
    }

    std::vector<Zone>& zones_;
    const std::string& doc_;
    std::vector<Warning>& warnings_;
    std::unordered_map<std::string, size_t> by_name_;
    std::vector<std::unordered_set<std::string>> cuts_;  // per zone: owners of NS below the apex
    std::unordered_map<std::string, NameInfo> names_;
    std::unordered_set<std::string> existing_;  // owners, balancers, apexes and the names between
    std::unordered_set<std::string> balancers_;
};

void check_address(const std::string& address, const std::string& path, const std::string& doc,
                   std::vector<Warning>& warnings) {
    std::string why = unusable_address(address);
    if (!why.empty()) {
        throw DocumentError(doc, path, "'" + address + "' cannot be an answer: " + why);
    }
    why = doubtful_address(address);
    if (!why.empty()) {
        warnings.push_back({path, "'" + address + "' is " + why, 0});
    }
}

void validate_pools(DesiredState& s, const std::string& doc, std::vector<Warning>& warnings) {
    unique_names(s.monitors, "monitors", doc);
    unique_names(s.pools, "pools", doc);
    std::unordered_set<std::string> monitors;
    for (const auto& m : s.monitors) {
        monitors.insert(m.name);
    }
    for (size_t pi = 0; pi < s.pools.size(); ++pi) {
        const Pool& p = s.pools[pi];
        const std::string pp = at("pools", pi);
        for (size_t mi = 0; mi < p.monitors.size(); ++mi) {
            if (monitors.count(p.monitors[mi]) == 0) {
                // `monitor: x` is `monitors: [x]`: a lone monitor is named as it is written.
                throw DocumentError(doc,
                                    p.monitors.size() == 1
                                        ? pp + ".monitor"
                                        : pp + ".monitors[" + std::to_string(mi) + "]",
                                    "no monitor named '" + p.monitors[mi] + "'");
            }
        }
        if (p.combine.mode == CombineMode::Quorum && p.combine.quorum > p.monitors.size()) {
            throw DocumentError(doc, pp + ".combine.quorum",
                                std::to_string(p.combine.quorum) + " is more than the pool's " +
                                    std::to_string(p.monitors.size()) + " monitors");
        }
        if (p.members.empty()) {
            throw DocumentError(doc, pp + ".members", "a pool needs members");
        }
        if (p.min_healthy > p.members.size()) {
            throw DocumentError(doc, pp + ".min_healthy",
                                std::to_string(p.min_healthy) + " is more than the pool's " +
                                    std::to_string(p.members.size()) + " members");
        }
        std::unordered_map<std::string, size_t> seen;
        for (size_t mi = 0; mi < p.members.size(); ++mi) {
            const std::string ap = pp + ".members[" + std::to_string(mi) + "].address";
            auto [it, fresh] = seen.emplace(p.members[mi].address, mi);
            if (!fresh) {
                throw DocumentError(doc, ap, "duplicate address '" + p.members[mi].address + "'");
            }
            check_address(p.members[mi].address, ap, doc, warnings);
        }
    }
}

void validate_balancers(DesiredState& s, ZoneData& zones, const std::string& doc,
                        std::vector<Warning>& warnings) {
    unique_names(s.balancers, "balancers", doc);
    std::unordered_map<std::string, const Pool*> pools;
    for (const auto& p : s.pools) {
        pools.emplace(p.name, &p);
    }
    for (size_t bi = 0; bi < s.balancers.size(); ++bi) {
        const Balancer& b = s.balancers[bi];
        const std::string bp = at("balancers", bi);
        const int zi = zones.enclosing(b.name);
        if (zi < 0) {
            throw DocumentError(doc, bp + ".name",
                                "'" + b.name + "' is not inside any zone served here");
        }
        const std::string cut = zones.highest_cut(b.name, static_cast<size_t>(zi));
        if (!cut.empty()) {
            throw DocumentError(doc, bp + ".name",
                                "'" + b.name + "' is at or below the delegation '" + cut + "'");
        }
        if (const NameInfo* n = zones.info(b.name)) {
            for (uint16_t t : {kTypeA, kTypeAaaa, kTypeCname}) {
                if (std::find(n->types.begin(), n->types.end(), t) == n->types.end()) {
                    continue;
                }
                const Zone& z = s.zones[n->zone];
                for (size_t ri = n->first_record; ri < z.parsed.size(); ++ri) {
                    if (z.parsed[ri].owner == b.name && z.parsed[ri].type == t) {
                        throw DocumentError(doc, bp + ".name",
                                            "'" + b.name + "' also has a static record '" +
                                                z.parsed[ri].text +
                                                "': its A/AAAA answers come from the balancer");
                    }
                }
            }
        }
        zones.add_balancer(b.name, static_cast<size_t>(zi));
        if (b.pools.empty()) {
            throw DocumentError(doc, bp + ".pools", "a balancer needs pools");
        }
        std::unordered_set<std::string> used;
        bool v4 = false;
        bool v6 = false;
        for (size_t i = 0; i < b.pools.size(); ++i) {
            const std::string p = bp + ".pools[" + std::to_string(i) + "].pool";
            auto pool = pools.find(b.pools[i].pool);
            if (pool == pools.end()) {
                throw DocumentError(doc, p, "no pool named '" + b.pools[i].pool + "'");
            }
            if (!used.insert(b.pools[i].pool).second) {
                throw DocumentError(doc, p, "pool '" + b.pools[i].pool + "' is listed twice");
            }
            for (const auto& m : pool->second->members) {
                (family_of(m.address) == Family::V4 ? v4 : v6) = true;
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
        std::unordered_set<std::string> fb;
        bool fb_v4 = false;
        bool fb_v6 = false;
        for (size_t i = 0; i < b.fallback.size(); ++i) {
            const std::string fp = bp + ".fallback[" + std::to_string(i) + "]";
            if (!fb.insert(b.fallback[i]).second) {
                throw DocumentError(doc, fp, "duplicate address '" + b.fallback[i] + "'");
            }
            check_address(b.fallback[i], fp, doc, warnings);
            const bool is_v4 = family_of(b.fallback[i]) == Family::V4;
            (is_v4 ? fb_v4 : fb_v6) = true;
            // Fallback answers stand in for the members of their own family only (dnsd
            // selection): without such members the address is never served.
            if (is_v4 ? !v4 : !v6) {
                throw DocumentError(doc, fp,
                                    "'" + b.fallback[i] +
                                        "' is never served: the balancer has no " +
                                        (is_v4 ? "IPv4" : "IPv6") +
                                        " member, and a fallback answers only for its own family");
            }
        }
        if (!v4) {
            warnings.push_back(
                {bp, "'" + b.name + "' has no IPv4 member: A queries get no address (NODATA)", 0});
        }
        if (b.when_all_down == WhenAllDown::Fallback) {
            if (v4 && !fb_v4) {
                warnings.push_back(
                    {bp + ".fallback",
                     "no IPv4 fallback address: A queries get no address when every tier is down",
                     0});
            }
            if (v6 && !fb_v6) {
                warnings.push_back({bp + ".fallback",
                                    "no IPv6 fallback address: AAAA queries get no address when "
                                    "every tier is down",
                                    0});
            }
        }
    }
}

}  // namespace

std::string to_string(const Warning& w, const std::string& document) {
    std::string s = document;
    if (w.line > 0) {
        s.append(":").append(std::to_string(w.line));
    }
    s.append(": ");
    if (!w.path.empty()) {
        s.append(w.path).append(": ");
    }
    s.append("warning: ").append(w.message);
    return s;
}

std::vector<Warning> validate(DesiredState& state, const std::string& document) {
    std::vector<Warning> warnings;
    ZoneData zones(state.zones, document, warnings);
    zones.check();
    validate_pools(state, document, warnings);
    validate_balancers(state, zones, document, warnings);
    zones.check_targets();
    zones.check_cname_loops();
    // In document order: zones, monitors, pools, balancers (paths sort that way within a list).
    std::stable_sort(warnings.begin(), warnings.end(), [](const Warning& a, const Warning& b) {
        auto rank = [](const std::string& p) {
            return p.rfind("zones", 0) == 0 ? 0 : p.rfind("pools", 0) == 0 ? 2 : 3;
        };
        return rank(a.path) < rank(b.path);
    });
    return warnings;
}

}  // namespace gtm::store
