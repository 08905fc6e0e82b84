// compile(): DesiredState + TargetTable -> Snapshot. Runs on the control thread; allocation and
// exceptions are fine here, none of it is on the query path.
#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>

#include "dnsd/selection.h"
#include "dnsd/snapshot.h"
#include "dnsd/wire.h"
#include "store/names.h"

namespace gtm::dns {

namespace {

constexpr uint32_t kFnvSeed = 0x811c9dc5u;
constexpr uint32_t kFnvPrime = 16777619u;

void put16(std::vector<uint8_t>& v, uint16_t x) {
    v.push_back(static_cast<uint8_t>(x >> 8));
    v.push_back(static_cast<uint8_t>(x));
}

void put32(std::vector<uint8_t>& v, uint32_t x) {
    put16(v, static_cast<uint16_t>(x >> 16));
    put16(v, static_cast<uint16_t>(x));
}

void put_body(std::vector<uint8_t>& v, uint16_t type, uint32_t ttl, const uint8_t* rdata,
              size_t rdlen) {
    put16(v, type);
    put16(v, kClassIn);
    put32(v, ttl);
    put16(v, static_cast<uint16_t>(rdlen));
    v.insert(v.end(), rdata, rdata + rdlen);
}

std::vector<uint8_t> soa_body(const store::Zone& z, uint32_t ttl, uint32_t serial) {
    std::vector<uint8_t> rdata;
    for (const auto& n : {z.soa.mname, z.soa.rname}) {
        std::string w = store::name_to_wire(n);
        rdata.insert(rdata.end(), w.begin(), w.end());
    }
    put32(rdata, z.soa.serial.value_or(serial));
    put32(rdata, z.soa.refresh_s);
    put32(rdata, z.soa.retry_s);
    put32(rdata, z.soa.expire_s);
    put32(rdata, z.soa.minimum_s);
    std::vector<uint8_t> body;
    put_body(body, kTypeSoa, ttl, rdata.data(), rdata.size());
    return body;
}

}  // namespace

uint32_t suffix_hashes(const uint8_t* wire, const uint8_t* label_offsets, size_t label_count,
                       uint32_t* hashes_out) noexcept {
    uint32_t h = kFnvSeed;
    hashes_out[label_count] = h;
    for (size_t k = label_count; k-- > 0;) {
        const uint8_t* label = wire + label_offsets[k];
        const size_t len = static_cast<size_t>(label[0]) + 1;
        for (size_t i = 0; i < len; ++i) {
            h = (h ^ label[i]) * kFnvPrime;
        }
        hashes_out[k] = h;
    }
    return h;
}

uint32_t name_hash(const uint8_t* wire, size_t len) noexcept {
    uint8_t offsets[kMaxLabels];
    size_t count = 0;
    size_t pos = 0;
    while (pos < len && wire[pos] != 0 && count < kMaxLabels) {
        offsets[count++] = static_cast<uint8_t>(pos);
        pos += static_cast<size_t>(wire[pos]) + 1;
    }
    uint32_t hashes[kMaxLabels + 1];
    return suffix_hashes(wire, offsets, count, hashes);
}

const Node* Snapshot::find(const uint8_t* wire, size_t len, uint32_t hash) const noexcept {
    const NameTable& names = *names_;
    if (names.table.empty()) {
        return nullptr;
    }
    for (uint32_t i = hash & names.mask;; i = (i + 1) & names.mask) {
        const NameTable::Slot& s = names.table[i];
        if (s.index == 0) {
            return nullptr;
        }
        if (s.hash == hash) {
            const Node& n = names.nodes[s.index - 1];
            if (n.wire.size() == len && std::memcmp(n.wire.data(), wire, len) == 0) {
                return &n;
            }
        }
    }
}

// Builds one Snapshot. A class so that it can fill Snapshot's private members.
class Compiler {
  public:
    explicit Compiler(const CompileInput& in)
        : in_(in), snap_(std::make_shared<Snapshot>()), names_(std::make_shared<NameTable>()) {
        snap_->generation_ = in.generation;
    }

    std::shared_ptr<const Snapshot> run() {
        const store::DesiredState& s = *in_.state;
        for (const auto& z : s.zones) {
            add_zone(z);
        }
        for (const auto& b : s.balancers) {
            add_balancer(b);
        }
        link();
        build_table();
        snap_->names_ = std::move(names_);
        return snap_;
    }

    static std::shared_ptr<const Balancer> balancer(const store::Balancer& b,
                                                    const CompileInput& in) {
        auto out = std::make_shared<Balancer>();
        out->name = b.name;
        out->max_answers = b.max_answers;
        compute_answers(b, in, *out);
        if (in.worker_slots > 0) {
            const size_t n = out->v4.candidates.size() + out->v6.candidates.size();
            out->slots = in.worker_slots;
            out->stride = (n + 7) / 8 * 8;  // a cache line of counters, at least
            out->answered.reset(new std::atomic<uint64_t>[out->slots * out->stride]());
        }
        return out;
    }

  private:
    Node& node(const std::string& canonical, const Zone* zone) {
        auto it = by_name_.find(canonical);
        if (it != by_name_.end()) {
            return *it->second;
        }
        Node& n = names_->nodes.emplace_back();
        n.wire = store::name_to_wire(canonical);
        n.hash = name_hash(reinterpret_cast<const uint8_t*>(n.wire.data()), n.wire.size());
        n.zone = zone;
        by_name_.emplace(canonical, &n);
        // Empty non-terminals: every name between this one and the apex exists (RFC 4592 §2.2.2).
        if (canonical != zone->name) {
            node(std::string(store::parent_name(canonical)), zone);
        }
        return n;
    }

    RRset& rrset(Node& n, uint16_t type) {
        for (auto& r : n.rrsets) {
            if (r.type == type) {
                return r;
            }
        }
        RRset& r = n.rrsets.emplace_back();
        r.type = type;
        return r;
    }

    void add_rr(Node& n, uint16_t type, uint32_t ttl, const uint8_t* rdata, size_t rdlen,
                const std::string& target) {
        RRset& r = rrset(n, type);
        put_body(r.bodies, type, ttl, rdata, rdlen);
        ++r.count;
        if (!target.empty()) {
            targets_[{&n, type}].push_back(target);
        }
    }

    void add_zone(const store::Zone& z) {
        Zone& zone = names_->zones.emplace_back();
        zone.name = z.name;
        zone.wire_len = static_cast<uint16_t>(store::name_to_wire(z.name).size());
        Node& apex = node(z.name, &zone);
        zone.apex = &apex;
        zone.negative_ttl_s = std::min(z.soa.ttl_s, z.soa.minimum_s);
        zone.soa_answer = soa_body(z, z.soa.ttl_s, in_.default_serial);
        zone.soa_negative = soa_body(z, zone.negative_ttl_s, in_.default_serial);
        RRset& soa = rrset(apex, kTypeSoa);
        soa.bodies = zone.soa_answer;
        soa.count = 1;
        for (const auto& ns : z.ns) {
            std::string w = store::name_to_wire(ns);
            add_rr(apex, kTypeNs, z.ttl_s, reinterpret_cast<const uint8_t*>(w.data()), w.size(),
                   ns);
        }
        for (const auto& r : z.parsed) {
            add_rr(node(r.owner, &zone), r.type, r.ttl_s, r.rdata.data(), r.rdata.size(), r.target);
        }
        zone_of_.emplace(z.name, &zone);
    }

    void add_balancer(const store::Balancer& b) {
        // validate() put the name inside a zone; the longest enclosing one owns it.
        const Zone* zone = nullptr;
        for (const auto& [name, z] : zone_of_) {
            if (store::in_zone(b.name, name) &&
                (zone == nullptr || name.size() > zone->name.size())) {
                zone = z;
            }
        }
        if (zone == nullptr) {
            throw std::invalid_argument("balancer outside every zone: " + b.name);
        }
        node(b.name, zone).balancer = static_cast<int32_t>(snap_->balancers_.size());
        snap_->balancers_.push_back(balancer(b, in_));
    }

    void link() {
        for (auto& [name, n] : by_name_) {
            // The delegation closest to the apex wins; validate() allows nothing but glue below it.
            for (std::string_view a = name; a.size() > n->zone->name.size();
                 a = store::parent_name(a)) {
                auto it = by_name_.find(std::string(a));
                if (it != by_name_.end() && it->second->find(kTypeNs) != nullptr) {
                    n->cut = it->second;
                }
            }
            auto wc = by_name_.find(name.empty() ? "*" : "*." + name);
            if (wc != by_name_.end()) {
                n->wildcard = wc->second;
            }
            std::sort(n->rrsets.begin(), n->rrsets.end(),
                      [](const RRset& a, const RRset& b) { return a.type < b.type; });
        }
        // Additional-section processing for NS, MX and SRV targets inside the same zone.
        for (auto& [name, n] : by_name_) {
            for (auto& r : n->rrsets) {
                auto it = targets_.find({n, r.type});
                if (it == targets_.end()) {
                    continue;
                }
                std::set<const Node*> seen;
                for (const auto& t : it->second) {
                    auto target = by_name_.find(t);
                    if (target == by_name_.end() || target->second->zone != n->zone) {
                        continue;
                    }
                    const Node* tn = target->second;
                    if ((tn->find(kTypeA) != nullptr || tn->find(kTypeAaaa) != nullptr) &&
                        seen.insert(tn).second) {
                        r.additional.push_back(tn);
                    }
                }
            }
        }
    }

    void build_table() {
        NameTable& t = *names_;
        size_t size = 16;
        while (size < t.nodes.size() * 2) {
            size *= 2;
        }
        t.table.assign(size, NameTable::Slot{0, 0});
        t.mask = static_cast<uint32_t>(size - 1);
        for (size_t i = 0; i < t.nodes.size(); ++i) {
            const Node& n = t.nodes[i];
            uint32_t slot = n.hash & t.mask;
            while (t.table[slot].index != 0) {
                slot = (slot + 1) & t.mask;
            }
            t.table[slot] = {n.hash, static_cast<uint32_t>(i + 1)};
        }
    }

    const CompileInput& in_;
    std::shared_ptr<Snapshot> snap_;
    std::shared_ptr<NameTable> names_;
    std::map<std::string, Node*> by_name_;
    std::map<std::string, const Zone*> zone_of_;
    std::map<std::pair<const Node*, uint16_t>, std::vector<std::string>> targets_;
};

std::shared_ptr<const Snapshot> compile(const CompileInput& in) {
    assert(in.state != nullptr && in.targets != nullptr);
    return Compiler(in).run();
}

std::shared_ptr<const Snapshot> recompile_balancers(const Snapshot& prev, const CompileInput& in,
                                                    const std::vector<size_t>& which) {
    auto next = std::make_shared<Snapshot>();
    next->names_ = prev.names_;
    next->balancers_ = prev.balancers_;
    next->generation_ = in.generation;
    for (size_t i : which) {
        // The caller passes the state prev was compiled from: same balancers, same order.
        assert(i < next->balancers_.size() &&
               in.state->balancers[i].name == next->balancers_[i]->name);
        next->balancers_[i] = Compiler::balancer(in.state->balancers[i], in);
    }
    return next;
}

}  // namespace gtm::dns
