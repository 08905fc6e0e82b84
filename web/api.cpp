#include "web/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "store/document.h"
#include "store/encode.h"
#include "store/names.h"
#include "store/validate.h"
#include "web/openapi.h"

namespace gtm::web {

using nlohmann::json;

namespace {

constexpr size_t kMaxDepth = 64;  // JSON nesting; documents need 5

// An error the API answers with: status, message and the field at fault.
struct ApiError {
    int status;
    std::string error;
    std::string field;
};

Response json_response(int status, const json& body) {
    Response r;
    r.status = status;
    r.body = body.dump(2) + "\n";
    return r;
}

Response error_response(const ApiError& e) {
    json body = {{"error", e.error}};
    if (!e.field.empty()) {
        body["field"] = e.field;
    }
    return json_response(e.status, body);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string url_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// Rejects deep nesting before the parser sees it.
bool too_deep(const std::string& body) {
    size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : body) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxDepth) {
                return true;
            }
        } else if (c == '}' || c == ']') {
            depth = depth > 0 ? depth - 1 : 0;
        }
    }
    return false;
}

template <typename T>
T* find_named(std::vector<T>& items, const std::string& name) {
    for (auto& i : items) {
        if (i.name == name) {
            return &i;
        }
    }
    return nullptr;
}

template <typename T>
bool erase_named(std::vector<T>& items, const std::string& name) {
    auto it = std::find_if(items.begin(), items.end(), [&](const T& i) { return i.name == name; });
    if (it == items.end()) {
        return false;
    }
    items.erase(it);
    return true;
}

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

json result_json(const health::ProbeResult& r) {
    return {{"started_ms", r.started_ms},
            {"ok", r.ok()},
            {"reason", health::to_string(r.reason)},
            {"http_status", r.http_status},
            {"latency_ms", r.latency_ms},
            {"detail", r.detail}};
}

const char* to_string(dns::ServeMode m) {
    switch (m) {
        case dns::ServeMode::Normal:
            return "normal";
        case dns::ServeMode::Degraded:
            return "degraded";
        case dns::ServeMode::FailOpen:
            return "fail_open";
        case dns::ServeMode::Fallback:
            return "fallback";
        case dns::ServeMode::FailClosed:
            return "fail_closed";
        case dns::ServeMode::NoMembers:
            return "no_members";
    }
    return "?";
}

json table_json(const dns::AnswerTable& t) {
    json members = json::array();
    for (const auto& c : t.candidates) {
        members.push_back(
            {{"pool", c.pool}, {"address", c.address}, {"share", c.weight / t.total_weight}});
    }
    return {{"mode", to_string(t.mode)},
            {"serving_priority", t.serving_priority},
            {"ttl", t.ttl_s},
            {"answers", members}};
}

}  // namespace

struct Api::Call {
    const Request& req;
    int64_t now_ms;
    std::string path;
    std::map<std::string, std::string> query;
    std::vector<std::string> segments;  // after /api/v1
    Identity who{"", Role::Viewer};
    bool mutating = false;

    json body() const {
        if (too_deep(req.body)) {
            throw ApiError{400, "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels",
                           ""};
        }
        try {
            return store::parse_json(req.body, "request body");
        } catch (const store::DocumentError& e) {
            throw ApiError{400, e.reason(), ""};
        }
    }
    const std::string* param(const std::string& k) const {
        auto it = query.find(k);
        return it == query.end() ? nullptr : &it->second;
    }
    int64_t number_param(const std::string& k, int64_t def, int64_t lo, int64_t hi) const {
        const std::string* v = param(k);
        if (v == nullptr) {
            return def;
        }
        try {
            size_t used = 0;
            const long long x = std::stoll(*v, &used);
            if (used != v->size() || x < lo || x > hi) {
                throw std::out_of_range(k);
            }
            return x;
        } catch (const std::exception&) {
            throw ApiError{
                400,
                "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi),
                k};
        }
    }
};

void canonicalize(store::DesiredState& s) {
    sort_named(s.zones);
    sort_named(s.monitors);
    sort_named(s.pools);
    sort_named(s.balancers);
}

Api::Api(ApiDeps deps, store::DesiredState initial)
    : deps_(std::move(deps)), state_(std::move(initial)) {
    canonicalize(state_);
    reload_tokens();
}

void Api::reload_tokens() { auth_.load(deps_.store->tokens()); }

void Api::apply_document(const store::DesiredState& doc, const std::string& who, int64_t now_ms) {
    store::DesiredState next = doc;
    canonicalize(next);
    store::validate(next, who);
    store::AuditEntry a;
    a.at_ms = now_ms;
    a.token = who;
    a.source = "local";
    a.action = "apply " + who;
    a.object = "config";
    a.after = diff(state_, next).dump();
    a.result = "ok";
    a.status = 200;
    deps_.store->save_state(state_, next, a);
    deps_.publish(next);
    state_ = std::move(next);
}

Response Api::handle(const Request& r, int64_t now_ms) {
    Call c{r, now_ms, "", {}, {}, {"", Role::Viewer}, false};
    const size_t q = r.target.find('?');
    c.path = r.target.substr(0, q);
    if (q != std::string::npos) {
        std::string qs = r.target.substr(q + 1);
        size_t start = 0;
        while (start <= qs.size()) {
            size_t amp = qs.find('&', start);
            if (amp == std::string::npos) {
                amp = qs.size();
            }
            std::string kv = qs.substr(start, amp - start);
            if (!kv.empty()) {
                size_t eq = kv.find('=');
                c.query[url_decode(kv.substr(0, eq))] =
                    eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
            }
            start = amp + 1;
        }
    }
    c.mutating = r.method != "GET" && r.method != "HEAD";

    if (c.path == "/healthz") {
        return json_response(200, {{"status", "ok"}});
    }
    if (c.path == "/readyz") {
        const bool ready = !deps_.ready || deps_.ready();
        return json_response(ready ? 200 : 503, {{"ready", ready}});
    }
    if (c.query.count("token") != 0 || c.query.count("access_token") != 0) {
        return error_response(
            {400, "tokens are not accepted in URLs: send 'Authorization: Bearer <token>'",
             "token"});
    }
    static const std::string kPrefix = "/api/v1";
    if (c.path.compare(0, kPrefix.size(), kPrefix) != 0 ||
        (c.path.size() > kPrefix.size() && c.path[kPrefix.size()] != '/')) {
        return error_response({404, "no such path", ""});
    }
    for (size_t start = kPrefix.size() + 1; start < c.path.size();) {
        size_t slash = c.path.find('/', start);
        if (slash == std::string::npos) {
            slash = c.path.size();
        }
        c.segments.push_back(url_decode(c.path.substr(start, slash - start)));
        start = slash + 1;
    }

    auto audit_rejected = [&](const Response& resp) {
        if (!c.mutating) {
            return;
        }
        if (resp.status == 503 || resp.status == 507) {
            // The store is locked or full: writing the audit entry would wait or fail the same
            // way. The log keeps the trace instead (never the token's secret).
            spdlog::warn("{} {} by '{}' from {}: {} not audited, the store cannot write", r.method,
                         c.path, c.who.name, r.source, resp.status);
            return;
        }
        store::AuditEntry a;
        a.at_ms = now_ms;
        a.token = c.who.name;
        a.source = r.source;
        a.action = r.method + " " + c.path;
        a.object = c.path.substr(std::min(c.path.size(), kPrefix.size() + 1));
        a.result = "rejected: " + resp.body.substr(0, 1000);
        a.status = resp.status;
        try {
            deps_.store->append_audit(a);
        } catch (const store::StoreError&) {
            // The store cannot take it (full, locked): the response says why already.
        }
    };

    if (limiter_.blocked(r.source, now_ms)) {
        Response resp =
            error_response({429, "too many failed authentications from " + r.source, ""});
        resp.headers.emplace_back("Retry-After",
                                  std::to_string(limiter_.retry_after_s(r.source, now_ms)));
        return resp;
    }
    auto id = auth_.check(r.authorization);
    if (!id) {
        limiter_.failed(r.source, now_ms);
        Response resp = error_response(
            {401, r.authorization.empty() ? "missing bearer token" : "unknown token", ""});
        resp.headers.emplace_back("WWW-Authenticate", "Bearer");
        audit_rejected(resp);
        return resp;
    }
    c.who = *id;

    Response resp;
    if (r.body_too_large) {
        resp = error_response({413, "body over the limit", ""});
        audit_rejected(resp);
        return resp;
    }
    try {
        if (c.mutating && !r.body.empty()) {
            const std::string& ct = r.content_type;
            if (ct.compare(0, 16, "application/json") != 0) {
                throw ApiError{415, "writes take application/json", "Content-Type"};
            }
        }
        resp = route(c);
    } catch (const ApiError& e) {
        resp = error_response(e);
    } catch (const store::DocumentError& e) {
        resp = error_response({422, e.reason(), e.path()});
    } catch (const store::StoreError& e) {
        resp = error_response({e.kind() == store::StoreError::Kind::Full ? 507 : 503,
                               std::string("the store cannot take the change: ") + e.what(), ""});
        if (e.kind() != store::StoreError::Kind::Full) {
            resp.headers.emplace_back("Retry-After", "1");
        }
    } catch (const std::exception& e) {
        resp = error_response({500, e.what(), ""});
    }
    if (resp.status >= 400) {
        audit_rejected(resp);
    }
    return resp;
}

Response Api::route(Call& c) {
    const auto& s = c.segments;
    const std::string& m = c.req.method;
    auto need = [&](Role r) {
        if (c.who.role < r) {
            throw ApiError{403,
                           std::string("needs the ") + to_string(r) + " role; '" + c.who.name +
                               "' is " + to_string(c.who.role),
                           ""};
        }
    };
    auto method = [&](std::initializer_list<const char*> allowed) {
        for (const char* a : allowed) {
            if (m == a) {
                return;
            }
        }
        throw ApiError{405, "method " + m + " not allowed here", ""};
    };
    if (s.empty()) {
        throw ApiError{404, "see /api/v1/openapi.json", ""};
    }
    const std::string& top = s[0];
    if (top == "openapi.json" && s.size() == 1) {
        method({"GET"});
        return json_response(200, openapi_document());
    }
    if (top == "config" && s.size() == 1) {
        method({"GET", "PUT"});
        need(m == "GET" ? Role::Viewer : Role::Admin);
        return config(c);
    }
    if (top == "health" && s.size() == 1) {
        method({"GET"});
        return health(c);
    }
    if (top == "events" && s.size() == 1) {
        method({"GET"});
        return events(c);
    }
    if (top == "audit" && s.size() == 1) {
        method({"GET"});
        return audit(c);
    }
    if (top == "status" && s.size() == 1) {
        method({"GET"});
        return status(c);
    }
    if (top == "explain" && s.size() == 1) {
        method({"GET"});
        return explain(c);
    }
    if (top == "tokens" && s.size() <= 2) {
        need(Role::Admin);
        method(s.size() == 1 ? std::initializer_list<const char*>{"GET", "POST"}
                             : std::initializer_list<const char*>{"DELETE"});
        return tokens(c, s.size() == 2 ? &s[1] : nullptr);
    }
    if (top == "zones" || top == "monitors" || top == "pools" || top == "balancers") {
        if (s.size() == 1) {
            method({"GET", "POST"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return collection(c, top);
        }
        if (s.size() == 2) {
            method({"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return item(c, top, s[1]);
        }
        if (top == "zones" && s[2] == "records" && s.size() <= 4) {
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return records(c, s[1], s.size() == 4 ? &s[3] : nullptr);
        }
        if (top == "pools" && s[2] == "members" && s.size() <= 5) {
            if (s.size() == 5) {
                if (s[4] != "admin") {
                    throw ApiError{404, "no such path", ""};
                }
                method({"PUT"});
                need(Role::Operator);  // admin state: the operator's job
                return members(c, s[1], &s[3], true);
            }
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return members(c, s[1], s.size() == 4 ? &s[3] : nullptr, false);
        }
    }
    throw ApiError{404, "no such path", ""};
}

Response Api::commit(Call& c, store::DesiredState next, int status, json result) {
    canonicalize(next);
    store::validate(next, "request");
    store::AuditEntry a;
    a.at_ms = c.now_ms;
    a.token = c.who.name;
    a.source = c.req.source;
    a.action = c.req.method + " " + c.path;
    a.object = c.path.substr(8);
    json before = json::array();
    json after = json::array();
    for (const auto& ch : diff(state_, next)) {
        if (ch.contains("before")) {
            before.push_back({{"kind", ch["kind"]}, {"name", ch["name"]}, {"value", ch["before"]}});
        }
        if (ch.contains("after")) {
            after.push_back({{"kind", ch["kind"]}, {"name", ch["name"]}, {"value", ch["after"]}});
        }
    }
    a.before = before.dump();
    a.after = after.dump();
    a.result = "ok";
    a.status = status;
    deps_.store->save_state(state_, next, a);  // durable before anything is answered
    deps_.publish(next);                       // and live in the DNS answers
    state_ = std::move(next);
    return json_response(status, result);
}

Response Api::config(Call& c) {
    if (c.req.method == "GET") {
        const json doc = store::to_json(state_);
        const std::string* format = c.param("format");
        if (format != nullptr && *format == "yaml") {
            Response r;
            r.content_type = "application/yaml";
            r.body = store::to_yaml(doc);
            return r;
        }
        return json_response(200, doc);
    }
    store::DesiredState next = store::state_from_json(c.body(), "request body");
    canonicalize(next);
    const json changes = diff(state_, next);
    const std::string* dry = c.param("dry_run");
    if (dry != nullptr && (*dry == "true" || *dry == "1")) {
        return json_response(200, {{"dry_run", true}, {"changes", changes}});
    }
    return commit(c, std::move(next), 200, {{"dry_run", false}, {"changes", changes}});
}

Response Api::collection(Call& c, const std::string& kind) {
    if (c.req.method == "GET") {
        json list = json::array();
        auto add = [&](const auto& items) {
            for (const auto& i : items) {
                list.push_back(store::to_json(i));
            }
        };
        if (kind == "zones") {
            add(state_.zones);
        }
        if (kind == "monitors") {
            add(state_.monitors);
        }
        if (kind == "pools") {
            add(state_.pools);
        }
        if (kind == "balancers") {
            add(state_.balancers);
        }
        return json_response(200, {{kind, list}});
    }
    const json body = c.body();
    store::DesiredState next = state_;
    auto create = [&](auto& items, auto item) {
        if (find_named(items, item.name) != nullptr) {
            throw ApiError{409, "'" + item.name + "' already exists", "name"};
        }
        json out = store::to_json(item);
        items.push_back(std::move(item));
        return out;
    };
    json out;
    if (kind == "zones") {
        out = create(next.zones, store::zone_from_json(body, "request body"));
    }
    if (kind == "monitors") {
        out = create(next.monitors, store::monitor_from_json(body, "request body"));
    }
    if (kind == "pools") {
        out = create(next.pools, store::pool_from_json(body, "request body"));
    }
    if (kind == "balancers") {
        out = create(next.balancers, store::balancer_from_json(body, "request body"));
    }
    return commit(c, std::move(next), 201, out);
}

Response Api::item(Call& c, const std::string& kind, const std::string& raw_name) {
    std::string reason;
    const auto canonical = store::canonical_name(raw_name, &reason);
    if (!canonical) {
        throw ApiError{400, reason, "name"};
    }
    const std::string& name = *canonical;
    store::DesiredState next = state_;
    auto handle = [&](auto& items, auto decode) -> Response {
        auto* found = find_named(items, name);
        if (c.req.method == "GET") {
            if (found == nullptr) {
                throw ApiError{404, kind + "/" + name + " does not exist", ""};
            }
            return json_response(200, store::to_json(*found));
        }
        if (c.req.method == "DELETE") {
            if (found == nullptr) {
                throw ApiError{404, kind + "/" + name + " does not exist", ""};
            }
            erase_named(items, name);
            return commit(c, std::move(next), 200, {{"deleted", kind + "/" + name}});
        }
        json body = c.body();
        if (body.is_object() && !body.contains("name")) {
            body["name"] = name;
        }
        auto item = decode(body, "request body", "");
        if (item.name != name) {
            throw ApiError{400, "the body names '" + item.name + "', the URL '" + name + "'",
                           "name"};
        }
        const bool created = found == nullptr;
        json out = store::to_json(item);
        if (created) {
            items.push_back(std::move(item));
        } else {
            *found = std::move(item);
        }
        return commit(c, std::move(next), created ? 201 : 200, out);
    };
    if (kind == "zones") {
        return handle(next.zones, store::zone_from_json);
    }
    if (kind == "monitors") {
        return handle(next.monitors, store::monitor_from_json);
    }
    if (kind == "pools") {
        return handle(next.pools, store::pool_from_json);
    }
    return handle(next.balancers, store::balancer_from_json);
}

Response Api::records(Call& c, const std::string& zone_name, const std::string* index) {
    std::string reason;
    const auto canonical = store::canonical_name(zone_name, &reason);
    if (!canonical) {
        throw ApiError{400, reason, "name"};
    }
    store::DesiredState next = state_;
    store::Zone* z = find_named(next.zones, *canonical);
    if (z == nullptr) {
        throw ApiError{404, "zones/" + *canonical + " does not exist", ""};
    }
    if (c.req.method == "GET") {
        return json_response(200, {{"records", z->records}});
    }
    if (c.req.method == "POST") {
        const json body = c.body();
        if (!body.is_object() || !body.contains("record") || !body["record"].is_string() ||
            body.size() != 1) {
            throw ApiError{400, "expected {\"record\": \"<zone-file line>\"}", "record"};
        }
        z->records.push_back(body["record"].get<std::string>());
        return commit(c, std::move(next), 201, {{"records", z->records}});
    }
    size_t i = 0;
    try {
        size_t used = 0;
        i = std::stoul(*index, &used);
        if (used != index->size()) {
            throw std::invalid_argument("index");
        }
    } catch (const std::exception&) {
        throw ApiError{400, "record index must be a number", "index"};
    }
    if (i >= z->records.size()) {
        throw ApiError{404, "no record " + *index, ""};
    }
    z->records.erase(z->records.begin() + static_cast<long>(i));
    return commit(c, std::move(next), 200, {{"records", z->records}});
}

Response Api::members(Call& c, const std::string& raw_pool, const std::string* raw_address,
                      bool admin_only) {
    std::string reason;
    const auto canonical_pool = store::canonical_name(raw_pool, &reason);
    if (!canonical_pool) {
        throw ApiError{400, reason, "pool"};
    }
    const std::string& pool_name = *canonical_pool;
    store::DesiredState next = state_;
    store::Pool* pool = find_named(next.pools, pool_name);
    if (pool == nullptr) {
        throw ApiError{404, "pools/" + pool_name + " does not exist", ""};
    }
    auto& ms = pool->members;
    if (raw_address == nullptr) {
        if (c.req.method == "GET") {
            json list = json::array();
            for (const auto& m : ms) {
                list.push_back(store::to_json(m));
            }
            return json_response(200, {{"members", list}});
        }
        store::Member m = store::member_from_json(c.body(), "request body");
        for (const auto& x : ms) {
            if (x.address == m.address) {
                throw ApiError{409, m.address + " is already a member", "address"};
            }
        }
        json out = store::to_json(m);
        ms.push_back(std::move(m));
        return commit(c, std::move(next), 201, out);
    }
    const auto address = store::canonical_address(*raw_address, &reason);
    if (!address) {
        throw ApiError{400, reason, "address"};
    }
    auto it = std::find_if(ms.begin(), ms.end(),
                           [&](const store::Member& m) { return m.address == address->text; });
    if (admin_only) {
        if (it == ms.end()) {
            throw ApiError{404, address->text + " is not a member of " + pool_name, ""};
        }
        const json body = c.body();
        if (!body.is_object() || body.size() != 1 || !body.contains("admin") ||
            !body["admin"].is_string()) {
            throw ApiError{400, "expected {\"admin\": \"auto|up|drain|down\"}", "admin"};
        }
        auto a = store::admin_state_from(body["admin"].get<std::string>());
        if (!a) {
            throw ApiError{
                400,
                "'" + body["admin"].get<std::string>() + "' is not one of: auto, up, drain, down",
                "admin"};
        }
        it->admin = *a;
        return commit(c, std::move(next), 200, store::to_json(*it));
    }
    if (c.req.method == "GET") {
        if (it == ms.end()) {
            throw ApiError{404, address->text + " is not a member of " + pool_name, ""};
        }
        return json_response(200, store::to_json(*it));
    }
    if (c.req.method == "DELETE") {
        if (it == ms.end()) {
            throw ApiError{404, address->text + " is not a member of " + pool_name, ""};
        }
        ms.erase(it);
        return commit(c, std::move(next), 200,
                      {{"deleted", "pools/" + pool_name + "/members/" + address->text}});
    }
    json body = c.body();
    if (body.is_object() && !body.contains("address")) {
        body["address"] = address->text;
    }
    store::Member m = store::member_from_json(body, "request body");
    if (m.address != address->text) {
        throw ApiError{400, "the body names " + m.address + ", the URL " + address->text,
                       "address"};
    }
    json out = store::to_json(m);
    const bool created = it == ms.end();
    if (created) {
        ms.push_back(std::move(m));
    } else {
        *it = std::move(m);
    }
    return commit(c, std::move(next), created ? 201 : 200, out);
}

Response Api::tokens(Call& c, const std::string* name) {
    store::AuditEntry a;
    a.at_ms = c.now_ms;
    a.token = c.who.name;
    a.source = c.req.source;
    a.action = c.req.method + " " + c.path;
    a.result = "ok";
    if (c.req.method == "GET") {
        json list = json::array();
        for (const auto& t : deps_.store->tokens()) {
            list.push_back({{"name", t.name}, {"role", t.role}, {"created_ms", t.created_ms}});
        }
        return json_response(200, {{"tokens", list}});
    }
    if (c.req.method == "POST") {
        const json body = c.body();
        if (!body.is_object()) {
            throw ApiError{400, "expected {\"name\": ..., \"role\": ...}", ""};
        }
        for (const auto& [k, v] : body.items()) {
            if (k != "name" && k != "role") {
                throw ApiError{400, "unknown key", k};
            }
        }
        if (!body.contains("name") || !body["name"].is_string()) {
            throw ApiError{400, "must be a string", "name"};
        }
        if (!body.contains("role") || !body["role"].is_string() ||
            !role_from(body["role"].get<std::string>())) {
            throw ApiError{400, "must be one of: viewer, operator, admin", "role"};
        }
        const std::string tname = body["name"].get<std::string>();
        if (tname.empty() || tname.size() > 64 ||
            !std::all_of(tname.begin(), tname.end(), [](unsigned char ch) {
                return std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.';
            })) {
            throw ApiError{400, "1-64 letters, digits, '-', '_' or '.'", "name"};
        }
        if (deps_.store->token(tname)) {
            throw ApiError{409, "a token named '" + tname + "' exists", "name"};
        }
        const std::string secret = new_secret();
        a.object = "tokens/" + tname;
        a.after = json{{"name", tname}, {"role", body["role"]}}.dump();  // never the secret
        a.status = 201;
        deps_.store->add_token(
            {tname, body["role"].get<std::string>(), hash_secret(secret), c.now_ms}, a);
        reload_tokens();
        return json_response(201, {{"name", tname}, {"role", body["role"]}, {"token", secret}});
    }
    const auto all = deps_.store->tokens();
    auto target = std::find_if(all.begin(), all.end(),
                               [&](const store::Token& t) { return t.name == *name; });
    if (target == all.end()) {
        throw ApiError{404, "no token named '" + *name + "'", ""};
    }
    const auto admins = std::count_if(all.begin(), all.end(),
                                      [](const store::Token& t) { return t.role == "admin"; });
    if (target->role == "admin" && admins == 1) {
        throw ApiError{409, "'" + *name + "' is the last admin token; create another admin first",
                       ""};
    }
    a.object = "tokens/" + *name;
    a.before = json{{"name", target->name}, {"role", target->role}}.dump();
    a.status = 200;
    deps_.store->remove_token(*name, a);
    reload_tokens();
    return json_response(200, {{"deleted", "tokens/" + *name}});
}

Response Api::health(Call& c) {
    const std::string* pool = c.param("pool");
    json targets = json::array();
    const auto statuses = deps_.health ? deps_.health() : std::vector<health::TargetStatus>{};
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
        targets.push_back({{"monitor", t.monitor},
                           {"address", t.address},
                           {"pools", t.pools},
                           {"verdict", health::to_string(t.verdict)},
                           {"raw_verdict", health::to_string(t.raw)},
                           {"last_change_ms", t.last_change_ms},
                           {"recent", recent}});
    }
    return json_response(200,
                         {{"isolated", deps_.isolated && deps_.isolated()}, {"targets", targets}});
}

Response Api::events(Call& c) {
    const int64_t after = c.number_param("after", 0, 0, INT64_MAX);
    const int64_t limit = c.number_param("limit", 100, 1, 1000);
    json list = json::array();
    for (const auto& e : deps_.store->events(after, static_cast<size_t>(limit))) {
        list.push_back({{"id", e.id},
                        {"at_ms", e.at_ms},
                        {"monitor", e.monitor},
                        {"address", e.address},
                        {"pools", e.pools},
                        {"from", e.from},
                        {"to", e.to},
                        {"reason", e.reason},
                        {"detail", e.detail},
                        {"http_status", e.http_status},
                        {"latency_ms", e.latency_ms}});
    }
    return json_response(200, {{"events", list}});
}

Response Api::audit(Call& c) {
    const int64_t after = c.number_param("after", 0, 0, INT64_MAX);
    const int64_t limit = c.number_param("limit", 100, 1, 1000);
    json list = json::array();
    for (const auto& a : deps_.store->audit(after, static_cast<size_t>(limit))) {
        list.push_back(
            {{"id", a.id},
             {"at_ms", a.at_ms},
             {"token", a.token},
             {"source", a.source},
             {"action", a.action},
             {"object", a.object},
             {"before", a.before.empty() ? json() : json::parse(a.before, nullptr, false)},
             {"after", a.after.empty() ? json() : json::parse(a.after, nullptr, false)},
             {"result", a.result},
             {"status", a.status}});
    }
    return json_response(200, {{"audit", list}});
}

Response Api::status(Call&) {
    json balancers = json::array();
    if (deps_.snapshots != nullptr) {
        auto snap = deps_.snapshots->get();
        if (snap) {
            for (const auto& b : snap->balancers()) {
                balancers.push_back(
                    {{"name", b->name}, {"A", table_json(b->v4)}, {"AAAA", table_json(b->v6)}});
            }
        }
    }
    return json_response(
        200, {{"balancers", balancers}, {"isolated", deps_.isolated && deps_.isolated()}});
}

Response Api::explain(Call& c) {
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
    const store::Balancer* b = nullptr;
    size_t index = 0;
    for (size_t i = 0; i < state_.balancers.size(); ++i) {
        if (state_.balancers[i].name == *name) {
            b = &state_.balancers[i];
            index = i;
        }
    }
    if (b == nullptr) {
        throw ApiError{404, "'" + *name + "' is not a balancer", "name"};
    }
    std::map<std::pair<std::string, std::string>, const health::TargetStatus*> by_member;
    const auto all = deps_.health ? deps_.health() : std::vector<health::TargetStatus>{};
    const std::vector<health::TargetStatus> statuses =
        all.value_or(std::vector<health::TargetStatus>{});
    for (const auto& t : statuses) {
        for (const auto& p : t.pools) {
            by_member[{p, t.address}] = &t;
        }
    }
    auto snap = deps_.snapshots != nullptr ? deps_.snapshots->get() : nullptr;
    const dns::AnswerTable* table = nullptr;
    if (snap && index < snap->balancers().size() && snap->balancers()[index]->name == *name) {
        table = type == "A" ? &snap->balancers()[index]->v4 : &snap->balancers()[index]->v6;
    }
    std::map<std::pair<std::string, std::string>, double> share;
    if (table != nullptr) {
        for (const auto& cand : table->candidates) {
            share[{cand.pool, cand.address}] = cand.weight / table->total_weight;
        }
    }
    const bool v4 = type == "A";
    std::map<uint32_t, json> tiers;
    for (const auto& bp : b->pools) {
        const store::Pool* pool = nullptr;
        for (const auto& p : state_.pools) {
            if (p.name == bp.pool) {
                pool = &p;
            }
        }
        if (pool == nullptr) {
            continue;
        }
        json members = json::array();
        size_t eligible = 0;
        size_t family = 0;
        for (const auto& m : pool->members) {
            if ((m.address.find(':') == std::string::npos) != v4) {
                continue;
            }
            ++family;
            auto st = by_member.find({pool->name, m.address});
            const health::Verdict verdict =
                st != by_member.end() ? st->second->verdict : health::Verdict::Unknown;
            std::string why;
            bool ok = false;
            switch (m.admin) {
                case store::AdminState::Up:
                    ok = true;
                    why = "admin up: served whatever its probes say";
                    break;
                case store::AdminState::Drain:
                    why = "admin drain: no new answers";
                    break;
                case store::AdminState::Down:
                    why = "admin down: never served";
                    break;
                case store::AdminState::Auto:
                    ok = verdict != health::Verdict::Down;
                    why = verdict == health::Verdict::Unknown
                              ? "verdict unknown (served until probes decide)"
                              : std::string("verdict ") + health::to_string(verdict);
                    break;
            }
            eligible += ok ? 1 : 0;
            json mj = {
                {"address", m.address},
                {"weight", m.weight},
                {"admin", store::to_string(m.admin)},
                {"verdict", health::to_string(verdict)},
                {"eligible", ok},
                {"why", why},
                {"share",
                 share.count({pool->name, m.address}) ? share[{pool->name, m.address}] : 0.0}};
            if (st != by_member.end() && !st->second->recent.empty()) {
                mj["last_result"] = result_json(st->second->recent.back());
            }
            members.push_back(mj);
        }
        const size_t needed = std::min<size_t>(pool->min_healthy, family);
        json pj = {{"pool", pool->name},
                   {"weight", bp.weight},
                   {"min_healthy", pool->min_healthy},
                   {"eligible", eligible},
                   {"up", family > 0 && eligible > 0 && eligible >= needed},
                   {"members", members}};
        auto& tier = tiers[bp.priority];
        if (tier.is_null()) {
            tier = {{"priority", bp.priority}, {"pools", json::array()}};
        }
        tier["pools"].push_back(pj);
    }
    json tier_list = json::array();
    for (auto& [p, t] : tiers) {
        tier_list.push_back(t);
    }
    json out = {{"name", *name},
                {"type", type},
                {"when_all_down", store::to_string(b->when_all_down)},
                {"tiers", tier_list}};
    if (const std::string* client = c.param("client")) {
        out["client"] = *client;
        out["client_note"] = "answers do not depend on the client address (no geo or subnet rules)";
    }
    if (table != nullptr) {
        out["mode"] = to_string(table->mode);
        out["serving_priority"] = table->serving_priority;
        out["ttl"] = table->ttl_s;
        out["answers"] = table_json(*table)["answers"];
        out["max_answers"] = b->max_answers;
    }
    return json_response(200, out);
}

}  // namespace gtm::web
