// Read-only views: probe health, events, the audit log, the served state of every balancer, and
// explain — which serializes the decisions the selection code wrote with the answer table, so
// that what it says is what is served.
#include <algorithm>
#include <climits>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "store/encode.h"
#include "store/names.h"
#include "web/api_call.h"

namespace gtm::web {

using nlohmann::json;

namespace {

// Probe times are on the monotonic clock (started_ms); at_ms is the same moment in unix ms,
// for people and pages.
int64_t wall_ms(int64_t monotonic) {
    return monotonic == 0 ? 0 : unix_ms() - (monotonic_ms() - monotonic);
}

json result_json(const health::ProbeResult& r) {
    return {{"started_ms", r.started_ms},
            {"at_ms", wall_ms(r.started_ms)},
            {"ok", r.ok()},
            {"reason", health::to_string(r.reason)},
            {"http_status", r.http_status},
            {"latency_ms", r.latency_ms},
            {"detail", r.detail}};
}

json table_json(const dns::AnswerTable& t) {
    json members = json::array();
    for (const auto& c : t.candidates) {
        members.push_back(
            {{"pool", c.pool}, {"address", c.address}, {"share", c.weight / t.total_weight}});
    }
    return {{"mode", dns::to_string(t.mode)},
            {"serving_priority", t.serving_priority},
            {"ttl", t.ttl_s},
            {"answers", members}};
}

// Cluster mode: each vantage's vote, as Route 53 shows each checker's report.
json vantages_json(const std::vector<store::Vote>& votes) {
    json out = json::array();
    for (const auto& v : votes) {
        out.push_back(store::to_json(v));
    }
    return out;
}

// Why a member is where it is, in words.
std::string why(const dns::MemberDecision& m, const dns::AnswerTable& t) {
    switch (m.status) {
        case dns::MemberStatus::Serving:
            if (t.mode == dns::ServeMode::FailOpen) {
                return "served: every tier is down and when_all_down is fail_open";
            }
            if (m.admin == store::AdminState::Up) {
                return "served: admin up, whatever its probes say";
            }
            if (m.verdict == health::Verdict::Unknown) {
                return "served: verdict unknown (served until probes decide)";
            }
            return m.slow_start < 1.0 ? "served, ramping up (slow start)" : "served";
        case dns::MemberStatus::Avoided:
            return "avoided: suspect (a failed probe not yet confirmed, or back up but held out by "
                   "hold_down) while its tier has members above suspicion";
        case dns::MemberStatus::Backup:
            return "weight 0: a backup, served only when no member with a weight is eligible";
        case dns::MemberStatus::PoolWeightZero:
            return "its pool has weight 0: served only when no pool with a weight is up";
        case dns::MemberStatus::PoolDown:
            return "eligible, but its pool has fewer eligible members than min_healthy";
        case dns::MemberStatus::TierIdle:
            return "eligible; priority " + std::to_string(m.priority) +
                   " does not serve while priority " + std::to_string(t.serving_priority) + " does";
        case dns::MemberStatus::AdminDrain:
            return "admin drain: no new answers";
        case dns::MemberStatus::AdminDown:
            return "admin down: never served";
        case dns::MemberStatus::VerdictDown:
            return m.alert != nullptr
                       ? std::string("verdict down; alert: ") + m.alert + " fires too"
                       : "verdict down";
        case dns::MemberStatus::AlertDown:
            return std::string("alert: ") + m.alert +
                   " (from Alertmanager) marks it failing while it fires";
    }
    return "?";
}

}  // namespace

Response health_view(Api::Call& c) {
    const std::string* pool = c.param("pool");
    json targets = json::array();
    const auto statuses = c.deps.health ? c.deps.health() : std::vector<health::TargetStatus>{};
    if (!statuses) {
        throw ApiError{503, "the prober did not answer in time (overloaded?)", ""};
    }
    for (const auto& t : *statuses) {
        if (pool != nullptr && std::find(t.pools.begin(), t.pools.end(), *pool) == t.pools.end()) {
            continue;
        }
        json recent = json::array();
        for (const auto& r : t.recent) {
            recent.push_back(result_json(r));
        }
        const auto votes = c.core().votes_of(health::target_key(t.monitor, t.address));
        json target = {{"monitor", t.monitor},
                       {"address", t.address},
                       {"pools", t.pools},
                       {"verdict", health::to_string(t.state.verdict)},
                       {"suspect", t.state.suspect},
                       {"held", t.state.held},
                       {"pending", t.pending},
                       {"raw_verdict", health::to_string(t.raw)},
                       {"last_change_ms", t.last_change_ms},
                       {"last_change_at_ms", wall_ms(t.last_change_ms)},
                       {"evidence", result_json(t.state.evidence)},
                       {"recent", recent}};
        if (!votes.empty()) {
            target["vantages"] = vantages_json(votes);
        }
        targets.push_back(std::move(target));
    }
    json out = {{"isolated", c.deps.isolated && c.deps.isolated()}, {"targets", targets}};
    const core::CoreStats stats = c.core().stats();
    if (stats.cluster) {
        out["cluster"] = {{"node", stats.node},
                          {"live_nodes", stats.live_nodes},
                          {"link_up", stats.link_up},
                          {"judging_alone", stats.fallback}};
    }
    return json_response(200, out);
}

namespace {

// A page of the audit log or the events: at most `limit` entries (1-1000) and about
// kPageBytes, read from the store kBatch rows at a time, so that neither the answer nor the
// memory behind it grows with what a caller asks for. The reply says where the next page
// starts: {"<key>": [...], "next_after": <the last id in it, or after>, "more": bool}.
constexpr size_t kPageBytes = 1 << 20;
constexpr size_t kBatch = 16;

template <typename Entry>
Response page(Api::Call& c, const char* key,
              const std::function<std::vector<Entry>(int64_t, size_t)>& fetch,
              const std::function<json(const Entry&)>& to_json,
              const std::function<bool(const Entry&)>& keep = nullptr) {
    const int64_t after = c.number_param("after", 0, 0, INT64_MAX);
    const auto limit = static_cast<size_t>(c.number_param("limit", 100, 1, 1000));
    std::string items;
    size_t count = 0;
    int64_t last = after;
    bool more = false;
    while (!more) {
        // One row beyond the limit says whether there is more.
        const size_t want = std::min(kBatch, limit - count + 1);
        const std::vector<Entry> batch = fetch(last, want);
        for (const Entry& e : batch) {
            if (keep && !keep(e)) {
                last = e.id;  // read past, not served
                continue;
            }
            if (count == limit) {
                more = true;
                break;
            }
            // Bytes from the store as they are: invalid UTF-8 is replaced, never an error.
            std::string text = to_json(e).dump(-1, ' ', false, json::error_handler_t::replace);
            if (count > 0 && items.size() + text.size() > kPageBytes) {
                more = true;  // the next page starts with it (one entry is always served)
                break;
            }
            items += (count == 0 ? "\n" : ",\n") + text;
            ++count;
            last = e.id;
        }
        if (batch.size() < want) {
            break;
        }
    }
    Response r;
    r.body = std::string("{\"") + key + "\": [" + items +
             "\n], \"next_after\": " + std::to_string(last) +
             ", \"more\": " + (more ? "true" : "false") + "}\n";
    return r;
}

// An audit entry's before/after: JSON as stored; text that does not parse is served as a string.
json stored_json(const std::string& text) {
    if (text.empty()) {
        return json();
    }
    json j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json(text) : j;
}

}  // namespace

Response events_view(Api::Call& c) {
    store::Store& store = c.core().store();
    const std::string* type =
        c.param("type");  // verdict, tier, all_down, isolation, admin, config, alert
    return page<store::Event>(
        c, "events",
        [&](int64_t after, size_t n) {
            // A page of one type: the others are read past (their ids still move the cursor).
            std::vector<store::Event> out;
            for (auto& e : store.events(after, n)) {
                if (type == nullptr || e.type == *type) {
                    out.push_back(std::move(e));
                } else {
                    store::Event skipped;
                    skipped.id = e.id;
                    skipped.type.clear();
                    out.push_back(std::move(skipped));
                }
            }
            return out;
        },
        [](const store::Event& e) { return store::to_json(e); },
        [](const store::Event& e) { return !e.type.empty(); });
}

Response audit_view(Api::Call& c) {
    store::Store& store = c.core().store();
    return page<store::AuditEntry>(
        c, "audit", [&](int64_t after, size_t n) { return store.audit(after, n); },
        [](const store::AuditEntry& a) {
            return json{{"id", a.id},
                        {"at_ms", a.at_ms},
                        {"token", a.token},
                        {"source", a.source},
                        {"action", a.action},
                        {"object", a.object},
                        {"before", stored_json(a.before)},
                        {"after", stored_json(a.after)},
                        {"result", a.result},
                        {"status", a.status}};
        });
}

Response status_view(Api::Call& c) {
    json balancers = json::array();
    if (c.deps.snapshots != nullptr) {
        auto snap = c.deps.snapshots->get();
        if (snap) {
            for (const auto& b : snap->balancers()) {
                balancers.push_back(
                    {{"name", b->name}, {"A", table_json(b->v4)}, {"AAAA", table_json(b->v6)}});
            }
        }
    }
    return json_response(
        200, {{"balancers", balancers}, {"isolated", c.deps.isolated && c.deps.isolated()}});
}

Response explain_view(Api::Call& c) {
    const std::string* raw = c.param("name");
    if (raw == nullptr) {
        throw ApiError{400, "is required", "name"};
    }
    std::string reason;
    const auto name = store::canonical_name(*raw, &reason);
    if (!name) {
        throw ApiError{400, reason, "name"};
    }
    const std::string* type_param = c.param("type");
    const std::string type = type_param == nullptr ? "A" : *type_param;
    if (type != "A" && type != "AAAA") {
        throw ApiError{400, "must be A or AAAA", "type"};
    }
    const auto ex = c.core().explain(*name, type == "AAAA");
    if (!ex) {
        throw ApiError{404, "'" + *name + "' is not a balancer", "name"};
    }
    const dns::AnswerTable& t = *ex->table;
    // The latest probe of each member, beside the decision's evidence.
    std::map<std::pair<std::string, std::string>, health::ProbeResult> latest;
    if (c.deps.health) {
        if (const auto statuses = c.deps.health()) {
            for (const auto& s : *statuses) {
                if (!s.recent.empty()) {
                    for (const auto& p : s.pools) {
                        latest[{p, s.address}] = s.recent.back();
                    }
                }
            }
        }
    }
    std::map<uint32_t, json> tiers;
    for (const auto& p : t.pools) {
        json members = json::array();
        for (const auto& m : t.members) {
            if (m.pool != p.pool) {
                continue;
            }
            json mj = {{"address", m.address},
                       {"weight", m.weight},
                       {"admin", store::to_string(m.admin)},
                       {"verdict", health::to_string(m.verdict)},
                       {"suspect", m.suspect},
                       {"held", m.held},
                       {"eligible", m.eligible},
                       {"status", dns::to_string(m.status)},
                       {"why", why(m, t)},
                       {"slow_start", m.slow_start},
                       {"effective_weight", m.weight * m.slow_start},
                       {"share", m.share}};
            // Each monitor's decision, and which one decided (the selection code's choice).
            auto d = ex->decisions.find({m.pool, m.address});
            if (d != ex->decisions.end() && !d->second.empty()) {
                const auto& list = d->second;
                json monitors = json::array();
                const core::Explanation::MonitorDecision* decider = &list.front();
                for (const auto& md : list) {
                    const bool decided = m.decided_by != nullptr && md.monitor == m.decided_by;
                    if (decided) {
                        decider = &md;
                    }
                    json mon = {{"monitor", md.monitor},
                                {"verdict", health::to_string(md.state.verdict)},
                                {"suspect", md.state.suspect},
                                {"held", md.state.held},
                                {"reason", health::to_string(md.state.evidence.reason)},
                                {"decided", decided}};
                    if (md.state.verdict != health::Verdict::Unknown) {
                        mon["evidence"] = result_json(md.state.evidence);
                    }
                    if (!md.vantages.empty()) {
                        mon["vantages"] = vantages_json(md.vantages);
                    }
                    monitors.push_back(std::move(mon));
                }
                mj["monitors"] = std::move(monitors);
                if (auto c = ex->combine_of_pool.find(m.pool); c != ex->combine_of_pool.end()) {
                    mj["combine"] = store::to_string(c->second);
                }
                mj["decided_by"] = m.decided_by != nullptr ? json(m.decided_by) : json(nullptr);
                if (decider->state.verdict != health::Verdict::Unknown) {
                    mj["evidence"] = result_json(decider->state.evidence);
                    mj["reason"] = health::to_string(decider->state.evidence.reason);
                }
                if (list.size() == 1 && !decider->vantages.empty()) {
                    mj["vantages"] = vantages_json(decider->vantages);  // cluster: who sees what
                }
            }
            if (m.alert != nullptr) {
                mj["alert"] = m.alert;
                mj["reason"] = std::string("alert: ") + m.alert;
            }
            if (auto l = latest.find({m.pool, m.address}); l != latest.end()) {
                mj["last_result"] = result_json(l->second);
            }
            members.push_back(std::move(mj));
        }
        json& tier = tiers[p.priority];
        if (tier.is_null()) {
            tier = {{"priority", p.priority}, {"pools", json::array()}};
        }
        tier["pools"].push_back({{"pool", p.pool},
                                 {"weight", p.weight},
                                 {"min_healthy", p.min_healthy},
                                 {"members_of_family", p.members},
                                 {"eligible", p.eligible},
                                 {"up", p.up},
                                 {"share", p.share},
                                 {"members", std::move(members)}});
    }
    json tier_list = json::array();
    for (auto& [p, tier] : tiers) {
        tier_list.push_back(std::move(tier));
    }
    const json table = table_json(t);
    json out = {{"name", *name},
                {"type", type},
                {"generation", ex->snapshot->generation()},
                {"when_all_down", store::to_string(ex->config.when_all_down)},
                {"max_answers", ex->config.max_answers},
                {"mode", table["mode"]},
                {"serving_priority", t.serving_priority},
                {"ttl", t.ttl_s},
                {"answers", table["answers"]},
                {"tiers", std::move(tier_list)}};
    if (const std::string* client = c.param("client")) {
        out["client"] = *client;
        out["client_note"] = "answers do not depend on the client address (no geo or subnet rules)";
    }
    return json_response(200, out);
}

}  // namespace gtm::web
