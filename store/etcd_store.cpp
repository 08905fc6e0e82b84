#include "store/etcd_store.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "store/document.h"
#include "store/encode.h"

namespace gtm::store {

using nlohmann::json;
namespace e = etcd;

namespace {

std::string hex(const std::string& bytes) {
    static const char* const kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

std::string unhex(const std::string& text) {
    std::string out;
    for (size_t i = 0; i + 1 < text.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    return out;
}

json audit_json(const AuditEntry& a) {
    return {{"at_ms", a.at_ms},   {"token", a.token},   {"source", a.source},
            {"action", a.action}, {"object", a.object}, {"before", a.before},
            {"after", a.after},   {"result", a.result}, {"status", a.status}};
}

AuditEntry audit_of(const e::KeyValue& kv) {
    const json j = json::parse(kv.value, nullptr, false);
    AuditEntry a;
    a.id = kv.create_revision;
    if (j.is_object()) {
        a.at_ms = j.value("at_ms", int64_t{0});
        a.token = j.value("token", "");
        a.source = j.value("source", "");
        a.action = j.value("action", "");
        a.object = j.value("object", "");
        a.before = j.value("before", "");
        a.after = j.value("after", "");
        a.result = j.value("result", "");
        a.status = j.value("status", 0);
    }
    return a;
}

json event_json(const HealthEvent& ev) {
    return {{"at_ms", ev.at_ms},          {"monitor", ev.monitor}, {"address", ev.address},
            {"pools", ev.pools},          {"from", ev.from},       {"to", ev.to},
            {"reason", ev.reason},        {"detail", ev.detail},   {"http_status", ev.http_status},
            {"latency_ms", ev.latency_ms}};
}

HealthEvent event_of(const e::KeyValue& kv) {
    const json j = json::parse(kv.value, nullptr, false);
    HealthEvent ev;
    ev.id = kv.create_revision;
    if (j.is_object()) {
        ev.at_ms = j.value("at_ms", int64_t{0});
        ev.monitor = j.value("monitor", "");
        ev.address = j.value("address", "");
        ev.pools = j.value("pools", "");
        ev.from = j.value("from", "");
        ev.to = j.value("to", "");
        ev.reason = j.value("reason", "");
        ev.detail = j.value("detail", "");
        ev.http_status = j.value("http_status", 0);
        ev.latency_ms = j.value("latency_ms", 0u);
        ev.type = j.value("type", "verdict");
        ev.data = j.value("data", "");
        ev.node = j.value("node", "");
    }
    return ev;
}

json token_json(const Token& t) {
    return {{"name", t.name}, {"role", t.role}, {"hash", t.hash}, {"created_ms", t.created_ms}};
}

Token token_of(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    Token t;
    if (j.is_object()) {
        t.name = j.value("name", "");
        t.role = j.value("role", "");
        t.hash = j.value("hash", "");
        t.created_ms = j.value("created_ms", int64_t{0});
    }
    return t;
}

}  // namespace

void EtcdStore::rethrow(const etcd::EtcdError& err, const std::string& what) {
    switch (err.kind()) {
        case e::EtcdError::Kind::Unavailable:
            throw StoreError(StoreError::Kind::Busy, what + ": etcd unavailable: " + err.what());
        case e::EtcdError::Kind::Auth:
            throw StoreError(StoreError::Kind::ReadOnly, what + ": etcd refused: " + err.what());
        case e::EtcdError::Kind::NoSpace:  // the API answers 507: retrying cannot help
            throw StoreError(StoreError::Kind::Full, what + ": etcd has no room: " + err.what());
        default:
            throw StoreError(StoreError::Kind::Other, what + ": " + err.what());
    }
}

EtcdStore::EtcdStore(EtcdStoreOptions options)
    : options_(std::move(options)), client_(options_.client) {
    try {
        grant_lease();
        client_.put(key("nodes/" + options_.node),
                    json{{"node", options_.node}, {"started_ms", unix_ms()}}.dump(), lease_);
        const auto all = client_.range(key(""), e::prefix_end(options_.prefix));
        resync(all);
        e::Watch::Callbacks cb;
        cb.on_events = [this](const std::vector<e::Event>& ev, int64_t rev) { follow(ev, rev); };
        cb.on_resync = [this](const e::Client::Range& r) { resync(r); };
        cb.on_state = [this](bool up) {
            std::function<void(bool)> f;
            {
                std::lock_guard lock(mu_);
                f = on_link_;
            }
            if (f) {
                f(up);
            }
        };
        watch_ = std::make_unique<e::Watch>(options_.client, key(""),
                                            e::prefix_end(options_.prefix), all.revision + 1, cb);
    } catch (const e::EtcdError& err) {
        rethrow(err, "cluster store");
    }
    lease_thread_ = std::thread([this] { lease_loop(); });
}

EtcdStore::~EtcdStore() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    lease_cv_.notify_all();
    if (lease_thread_.joinable()) {
        lease_thread_.join();
    }
    watch_.reset();
    try {
        client_.lease_revoke(lease_);  // our votes and presence go at once, not a TTL later
    } catch (const e::EtcdError&) {
    }
}

void EtcdStore::grant_lease() {
    lease_ = client_.lease_grant(std::max<int64_t>(2, options_.lease_ttl_ms / 1000));
}

// Keeps the lease alive (every TTL/3), writes this node's votes as they come, and on a lost
// lease grants a new one and writes presence and every vote again.
constexpr size_t kVotesPerTxn = 128;

void EtcdStore::lease_loop() {
    const auto every =
        std::chrono::milliseconds(std::max<uint32_t>(500, options_.lease_ttl_ms / 3));
    auto next_keepalive = std::chrono::steady_clock::now() + every;
    std::unique_lock lock(mu_);
    while (!stopping_) {
        lease_cv_.wait_until(lock, next_keepalive, [&] { return stopping_ || !to_write_.empty(); });
        if (stopping_) {
            return;
        }
        auto pending = std::exchange(to_write_, {});
        std::vector<std::pair<std::string, std::optional<Vote>>> batch(
            std::make_move_iterator(pending.begin()), std::make_move_iterator(pending.end()));
        writing_ = batch.size();
        const int64_t lease = lease_;
        lock.unlock();
        bool lost = false;
        size_t done = 0;
        try {
            // Up to kVotesPerTxn votes per transaction (etcd's --max-txn-ops defaults to 128),
            // and the keepalive on its own schedule between them: 10,000 votes after a restart
            // take ~80 round trips, and never starve the lease they are written on.
            while (done < batch.size()) {
                const size_t end = std::min(batch.size(), done + kVotesPerTxn);
                std::vector<e::Op> ops;
                ops.reserve(end - done);
                for (size_t i = done; i < end; ++i) {
                    const auto& [target, vote] = batch[i];
                    const std::string k = key("votes/" + hex(target) + "/" + options_.node);
                    ops.push_back(vote ? e::Op::put(k, to_json(*vote).dump(), lease)
                                       : e::Op::del(k));
                }
                client_.txn({}, ops);
                done = end;
                if (std::chrono::steady_clock::now() >= next_keepalive) {
                    lost = client_.lease_keepalive(lease) == 0;
                    next_keepalive = std::chrono::steady_clock::now() + every;
                    if (lost) {
                        break;  // the rest is written again with every vote on the new lease
                    }
                }
            }
            if (!lost && std::chrono::steady_clock::now() >= next_keepalive) {
                lost = client_.lease_keepalive(lease) == 0;
                next_keepalive = std::chrono::steady_clock::now() + every;
            }
        } catch (const e::EtcdError& err) {
            // Not written: kept for the next round (unless a newer vote replaced it meanwhile).
            lock.lock();
            for (size_t i = done; i < batch.size(); ++i) {
                to_write_.emplace(batch[i].first, std::move(batch[i].second));
            }
            writing_ = 0;
            lock.unlock();
            if (err.kind() == e::EtcdError::Kind::NotFound) {
                lost = true;
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
        if (lost) {
            try {
                grant_lease();
                client_.put(key("nodes/" + options_.node),
                            json{{"node", options_.node}, {"started_ms", unix_ms()}}.dump(),
                            lease_);
                std::map<std::string, Vote> mine;
                {
                    std::lock_guard relock(mu_);
                    mine = mine_;
                }
                std::vector<e::Op> ops;
                for (const auto& [target, vote] : mine) {
                    ops.push_back(e::Op::put(key("votes/" + hex(target) + "/" + options_.node),
                                             to_json(vote).dump(), lease_));
                    if (ops.size() == kVotesPerTxn) {
                        client_.txn({}, std::exchange(ops, {}));
                    }
                }
                if (!ops.empty()) {
                    client_.txn({}, ops);
                }
                std::fprintf(stderr, "gtmd: cluster: a new lease, %zu votes written again\n",
                             mine.size());
            } catch (const e::EtcdError&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
        lock.lock();
        writing_ = 0;
        lease_cv_.notify_all();
    }
}

void EtcdStore::publish_vote(const std::string& target, const Vote& vote) {
    {
        std::lock_guard lock(mu_);
        to_write_[target] = vote;
        mine_[target] = vote;
    }
    lease_cv_.notify_all();
}

void EtcdStore::withdraw_vote(const std::string& target) {
    {
        std::lock_guard lock(mu_);
        to_write_[target] = std::nullopt;
        mine_.erase(target);
    }
    lease_cv_.notify_all();
}

bool EtcdStore::flush_votes(uint32_t max_wait_ms) {
    std::unique_lock lock(mu_);
    return lease_cv_.wait_for(lock, std::chrono::milliseconds(max_wait_ms),
                              [&] { return to_write_.empty() && writing_ == 0; });
}

void EtcdStore::on_votes(VotesChanged callback) {
    std::lock_guard lock(mu_);
    on_votes_ = std::move(callback);
}

void EtcdStore::on_link(std::function<void(bool)> callback) {
    std::lock_guard lock(mu_);
    on_link_ = std::move(callback);
}

void EtcdStore::set_change_listener(std::function<void()> listener) {
    std::lock_guard lock(mu_);
    on_change_ = std::move(listener);
}

std::vector<std::string> EtcdStore::live_nodes() const {
    std::lock_guard lock(mu_);
    return {nodes_.begin(), nodes_.end()};
}

// One key of the prefix changed (value null: deleted).
void EtcdStore::apply_kv(const std::string& k, const std::string* value,
                         std::set<std::string>& touched_targets) {
    if (k.compare(0, options_.prefix.size(), options_.prefix) != 0) {
        return;
    }
    const std::string rest = k.substr(options_.prefix.size());
    if (rest.rfind("nodes/", 0) == 0) {
        const std::string n = rest.substr(6);
        if (value != nullptr) {
            nodes_.insert(n);
        } else {
            nodes_.erase(n);
        }
    } else if (rest.rfind("votes/", 0) == 0) {
        const size_t slash = rest.find('/', 6);
        if (slash == std::string::npos) {
            return;
        }
        const std::string target = unhex(rest.substr(6, slash - 6));
        const std::string n = rest.substr(slash + 1);
        if (value != nullptr) {
            if (auto v = vote_from_json(json::parse(*value, nullptr, false))) {
                votes_[target][n] = *v;
            }
        } else {
            auto it = votes_.find(target);
            if (it != votes_.end()) {
                it->second.erase(n);
                if (it->second.empty()) {
                    votes_.erase(it);
                }
            }
        }
        touched_targets.insert(target);
    }
}

void EtcdStore::notify_targets(const std::set<std::string>& targets) {
    VotesChanged f;
    std::vector<std::pair<std::string, std::vector<Vote>>> changes;
    {
        std::lock_guard lock(mu_);
        f = on_votes_;
        for (const auto& t : targets) {
            std::vector<Vote> votes;
            if (auto it = votes_.find(t); it != votes_.end()) {
                for (const auto& [n, v] : it->second) {
                    if (nodes_.count(n) != 0) {  // a live node's
                        votes.push_back(v);
                    }
                }
            }
            changes.emplace_back(t, std::move(votes));
        }
    }
    if (f) {
        for (auto& [t, votes] : changes) {
            f(t, std::move(votes));
        }
    }
}

void EtcdStore::follow(const std::vector<e::Event>& events, int64_t) {
    std::set<std::string> touched;
    bool state_changed = false;
    std::function<void()> on_change;
    {
        std::lock_guard lock(mu_);
        const size_t nodes_before = nodes_.size();
        for (const auto& ev : events) {
            if (ev.kv.key == key("state")) {
                state_revision_ = ev.type == e::Event::Type::Put ? ev.kv.mod_revision : 0;
                state_changed = true;
                continue;
            }
            apply_kv(ev.kv.key, ev.type == e::Event::Type::Put ? &ev.kv.value : nullptr, touched);
        }
        if (nodes_.size() != nodes_before) {
            for (const auto& [t, votes] : votes_) {
                touched.insert(t);  // a node came or went: every tally may change
            }
        }
        on_change = on_change_;
    }
    notify_targets(touched);
    if (state_changed && on_change) {
        on_change();
    }
}

void EtcdStore::resync(const e::Client::Range& all) {
    std::set<std::string> touched;
    std::function<void()> on_change;
    {
        std::lock_guard lock(mu_);
        for (const auto& [t, votes] : votes_) {
            touched.insert(t);  // those that vanished are told so
        }
        votes_.clear();
        nodes_.clear();
        state_revision_ = 0;
        for (const auto& kv : all.kvs) {
            if (kv.key == key("state")) {
                state_revision_ = kv.mod_revision;
                continue;
            }
            apply_kv(kv.key, &kv.value, touched);
        }
        on_change = on_change_;
    }
    notify_targets(touched);
    if (on_change) {
        on_change();
    }
}

// ---- Store ----

bool EtcdStore::has_state() { return revision() != 0; }

uint64_t EtcdStore::revision() {
    std::lock_guard lock(mu_);
    return static_cast<uint64_t>(state_revision_);
}

StoredState EtcdStore::load_state() {
    try {
        const auto r = client_.range(key("state"));
        StoredState out;
        if (r.kvs.empty()) {
            return out;
        }
        out.revision = static_cast<uint64_t>(r.kvs[0].mod_revision);
        out.state = state_from_json(json::parse(r.kvs[0].value), "the cluster store");
        return out;
    } catch (const e::EtcdError& err) {
        rethrow(err, "read the state");
    } catch (const json::exception& err) {
        throw StoreError(StoreError::Kind::Corrupt, std::string("the stored state: ") + err.what());
    }
}

std::string EtcdStore::log_key(const char* kind) {
    char t[32];
    std::snprintf(t, sizeof t, "%013lld", static_cast<long long>(unix_ms()));
    return key(std::string(kind) + "/" + t + "-" + options_.node + "-" + std::to_string(++seq_));
}

uint64_t EtcdStore::save_state(const DesiredState&, const DesiredState& after,
                               const AuditEntry& audit, uint64_t expected_revision) {
    const std::string doc = to_json(after).dump();
    bool turn = false;
    {
        std::lock_guard lock(mu_);
        turn = turn_;
    }
    std::vector<e::Compare> compare{
        expected_revision == 0 ? e::Compare::absent(key("state"))
                               : e::Compare::mod(key("state"), e::Compare::Result::Equal,
                                                 static_cast<int64_t>(expected_revision)),
        // Nobody else holds the write turn (claim_turn).
        turn ? e::Compare::value_is(key("turn"), e::Compare::Result::Equal, options_.node)
             : e::Compare::absent(key("turn"))};
    std::vector<e::Op> success{e::Op::put(key("state"), doc),
                               e::Op::put(log_key("audit"), audit_json(audit).dump())};
    if (turn) {
        success.push_back(e::Op::del(key("turn")));
    }
    try {
        const e::TxnResult r =
            client_.txn(compare, success,
                        {e::Op::get(key("state"), "", e::RangeOptions{.keys_only = true}),
                         e::Op::get(key("turn"))});
        if (!r.succeeded) {
            const auto kvs = [&](size_t i) {
                return i < r.responses.size() ? r.responses[i].kvs : std::vector<e::KeyValue>{};
            };
            const auto state = kvs(0);
            const auto holder = kvs(1);
            const int64_t now = state.empty() ? 0 : state[0].mod_revision;
            throw StoreError(StoreError::Kind::Conflict,
                             now != static_cast<int64_t>(expected_revision) || holder.empty()
                                 ? "the state changed meanwhile (revision " + std::to_string(now) +
                                       ", expected " + std::to_string(expected_revision) + ")"
                                 : "node '" + holder[0].value + "' holds the write turn");
        }
        {
            std::lock_guard lock(mu_);
            state_revision_ = std::max<int64_t>(state_revision_, r.revision);
            turn_ = false;
        }
        return static_cast<uint64_t>(r.revision);
    } catch (const e::EtcdError& err) {
        rethrow(err, "save the state");
    }
}

void EtcdStore::claim_turn() {
    int64_t lease = 0;
    {
        std::lock_guard lock(mu_);
        if (turn_) {
            return;
        }
        lease = lease_;  // the turn goes with this node if it dies
    }
    try {
        const e::TxnResult r = client_.txn({e::Compare::absent(key("turn"))},
                                           {e::Op::put(key("turn"), options_.node, lease)}, {});
        std::lock_guard lock(mu_);
        turn_ = r.succeeded;
    } catch (const e::EtcdError&) {
        // Not claimed: the write goes on as any other (and says why if it fails).
    }
}

void EtcdStore::end_write() noexcept {
    {
        std::lock_guard lock(mu_);
        if (!turn_) {
            return;
        }
        turn_ = false;
    }
    try {  // not saved (the change failed): hand the turn back
        client_.txn({e::Compare::value_is(key("turn"), e::Compare::Result::Equal, options_.node)},
                    {e::Op::del(key("turn"))}, {});
    } catch (const std::exception&) {
        // etcd unreachable: the turn ends with this node's lease (lease_ttl).
    }
}

void EtcdStore::append_audit(const AuditEntry& audit) {
    try {
        client_.put(log_key("audit"), audit_json(audit).dump());
    } catch (const e::EtcdError& err) {
        rethrow(err, "append to the audit log");
    }
}

std::vector<etcd::KeyValue> EtcdStore::log_after(const char* kind, int64_t after_id, size_t limit) {
    e::RangeOptions o;
    o.min_create_revision = after_id + 1;  // ids are create revisions: ascending, unique
    o.sort_target = e::RangeOptions::SortTarget::Create;
    o.sort_order = e::RangeOptions::SortOrder::Ascend;
    o.limit = static_cast<int64_t>(limit);
    const std::string p = key(std::string(kind) + "/");
    try {
        return client_.range(p, e::prefix_end(p), o).kvs;
    } catch (const e::EtcdError& err) {
        rethrow(err, std::string("read ") + kind);
    }
}

std::vector<AuditEntry> EtcdStore::audit(int64_t after_id, size_t limit) {
    std::vector<AuditEntry> out;
    for (const auto& kv : log_after("audit", after_id, limit)) {
        out.push_back(audit_of(kv));
    }
    return out;
}

void EtcdStore::append_events(const std::vector<HealthEvent>& events) {
    if (events.empty()) {
        return;
    }
    try {
        std::vector<e::Op> ops;
        for (const auto& ev : events) {
            ops.push_back(e::Op::put(log_key("events"), event_json(ev).dump()));
            if (ev.type != "verdict") {
                continue;
            }
            StoredVerdict v{ev.monitor, ev.address, ev.to, ev.at_ms};
            ops.push_back(e::Op::put(
                key("verdicts/" + options_.node + "/" + hex(ev.monitor + '\0' + ev.address)),
                json{{"monitor", v.monitor},
                     {"address", v.address},
                     {"verdict", v.verdict},
                     {"changed_ms", v.changed_at_ms}}
                    .dump()));
        }
        // etcd takes at most 128 operations per txn (--max-txn-ops): in chunks, each atomic.
        for (size_t i = 0; i < ops.size(); i += 100) {
            client_.txn({}, std::vector<e::Op>(
                                ops.begin() + static_cast<long>(i),
                                ops.begin() + static_cast<long>(std::min(ops.size(), i + 100))));
        }
    } catch (const e::EtcdError& err) {
        rethrow(err, "write health events");
    }
}

std::vector<HealthEvent> EtcdStore::events(int64_t after_id, size_t limit) {
    std::vector<HealthEvent> out;
    for (const auto& kv : log_after("events", after_id, limit)) {
        out.push_back(event_of(kv));
    }
    return out;
}

std::vector<StoredVerdict> EtcdStore::verdicts() {
    try {
        const std::string p = key("verdicts/" + options_.node + "/");
        std::vector<StoredVerdict> out;
        for (const auto& kv : client_.range(p, e::prefix_end(p)).kvs) {
            const json j = json::parse(kv.value, nullptr, false);
            if (j.is_object()) {
                out.push_back({j.value("monitor", ""), j.value("address", ""),
                               j.value("verdict", ""), j.value("changed_ms", int64_t{0})});
            }
        }
        return out;
    } catch (const e::EtcdError& err) {
        rethrow(err, "read the last verdicts");
    }
}

std::vector<Token> EtcdStore::tokens() {
    try {
        std::vector<Token> out;
        for (const auto& kv : client_.range(key("tokens/"), e::prefix_end(key("tokens/"))).kvs) {
            out.push_back(token_of(kv.value));
        }
        return out;
    } catch (const e::EtcdError& err) {
        rethrow(err, "read the tokens");
    }
}

std::optional<Token> EtcdStore::token(const std::string& name) {
    try {
        const auto r = client_.range(key("tokens/" + name));
        if (r.kvs.empty()) {
            return std::nullopt;
        }
        return token_of(r.kvs[0].value);
    } catch (const e::EtcdError& err) {
        rethrow(err, "read a token");
    }
}

void EtcdStore::add_token(const Token& t, const AuditEntry& audit) {
    try {
        const e::TxnResult r =
            client_.txn({e::Compare::absent(key("tokens/" + t.name))},
                        {e::Op::put(key("tokens/" + t.name), token_json(t).dump()),
                         e::Op::put(log_key("audit"), audit_json(audit).dump())});
        if (!r.succeeded) {
            throw StoreError(StoreError::Kind::Constraint, "a token named '" + t.name + "' exists");
        }
    } catch (const e::EtcdError& err) {
        rethrow(err, "add a token");
    }
}

bool EtcdStore::remove_token(const std::string& name, const AuditEntry& audit) {
    try {
        const e::TxnResult r =
            client_.txn({}, {e::Op::del(key("tokens/" + name)),
                             e::Op::put(log_key("audit"), audit_json(audit).dump())});
        return !r.responses.empty() && r.responses[0].count > 0;
    } catch (const e::EtcdError& err) {
        rethrow(err, "remove a token");
    }
}

// A node's own settings (webhook cursors) live under its name; what `--apply` last applied
// ("applied") is the cluster's: a second node started with the same file must not apply it again
// over the changes made through the API since.
std::string EtcdStore::setting_key(const std::string& k) const {
    return key(k.rfind("applied", 0) == 0 ? "shared/" + k : "settings/" + options_.node + "/" + k);
}

std::optional<std::string> EtcdStore::setting(const std::string& k) {
    try {
        const auto r = client_.range(setting_key(k));
        if (r.kvs.empty()) {
            return std::nullopt;
        }
        return r.kvs[0].value;
    } catch (const e::EtcdError& err) {
        rethrow(err, "read a setting");
    }
}

void EtcdStore::set_setting(const std::string& k, const std::string& value) {
    try {
        client_.put(setting_key(k), value);
    } catch (const e::EtcdError& err) {
        rethrow(err, "write a setting");
    }
}

void EtcdStore::prune(const Retention& r, int64_t now_ms) {
    constexpr int64_t kDay = 86400000;
    try {
        for (const auto& [kind, days] :
             {std::pair{"events/", r.events_days}, std::pair{"audit/", r.audit_days}}) {
            char cutoff[32];
            std::snprintf(cutoff, sizeof cutoff, "%013lld",
                          static_cast<long long>(now_ms - days * kDay));
            client_.delete_range(key(kind), key(std::string(kind) + cutoff));
        }
    } catch (const e::EtcdError& err) {
        rethrow(err, "prune");
    }
}

std::string EtcdStore::integrity_check() {
    try {
        return client_.has_leader() ? "ok" : "etcd has no leader";
    } catch (const e::EtcdError& err) {
        return err.what();
    }
}

}  // namespace gtm::store
