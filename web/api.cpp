#include "web/api.h"

#include <spdlog/spdlog.h>

#include <set>
#include <string_view>

#include "store/document.h"
#include "web/api_call.h"
#include "web/metrics.h"
#include "web/openapi.h"
#include "web/page.h"

namespace gtm::web {

using nlohmann::json;

namespace {

constexpr size_t kMaxDepth = 64;  // JSON nesting; documents need 5

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

}  // namespace

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

json Api::Call::body() const {
    if (too_deep(req.body)) {
        throw ApiError{400, "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels", ""};
    }
    try {
        return store::parse_json(req.body, "request body");
    } catch (const store::DocumentError& e) {
        throw ApiError{400, e.reason(), ""};
    }
}

const std::string* Api::Call::param(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? nullptr : &it->second;
}

int64_t Api::Call::number_param(const std::string& k, int64_t def, int64_t lo, int64_t hi) const {
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
            400, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi),
            k};
    }
}

core::Actor Api::Call::actor(int status) const {
    core::Actor a;
    a.token = who.name;
    a.source = req.source;
    a.action = req.method + " " + path;
    a.object = path.substr(std::min<size_t>(path.size(), 8));  // after "/api/v1/"
    a.document = "request";
    a.status = status;
    return a;
}

Response Api::Call::write(int status, const std::function<json(store::DesiredState&, int&)>& edit) {
    core::Actor a = actor(status);
    const core::ChangeResult r =
        core().change(a, [&](store::DesiredState& next) { return edit(next, a.status); });
    return json_response(a.status, r.result);
}

Api::Api(ApiDeps deps) : deps_(std::move(deps)) { reload_tokens(); }

void Api::reload_tokens() { auth_.load(deps_.core->store().tokens()); }

Response Api::handle(const Request& r, int64_t now_ms) {
    const std::string path = r.target.substr(0, r.target.find('?'));
    if (path == "/metrics") {
        if (deps_.metrics == nullptr) {
            return error_response({404, "metrics are off (metrics: false in gtmd.yaml)", ""});
        }
        if (r.method != "GET" && r.method != "HEAD") {
            Response resp = error_response({405, "method " + r.method + " not allowed here", ""});
            resp.headers.emplace_back("Allow", "GET, HEAD");
            return resp;
        }
        Response resp;
        resp.content_type = Metrics::kContentType;
        resp.body = deps_.metrics->scrape();
        return resp;
    }
    std::optional<Response> page = page_response(r);  // "/" and "/page/...": the web page
    Response resp = page ? std::move(*page) : respond(r, now_ms);
    if (deps_.metrics != nullptr) {
        deps_.metrics->api_request(r.method, route_of(path), resp.status);
        if (r.method != "GET" && r.method != "HEAD" && resp.status < 400 &&
            path.rfind("/api/v1/", 0) == 0) {
            deps_.metrics->audit_entry(true);
        }
    }
    return resp;
}

std::string Api::route_of(const std::string& path) {
    static const std::string kPrefix = "/api/v1";
    if (path == "/healthz" || path == "/readyz" || path == "/") {
        return path;
    }
    if (path.rfind("/page/", 0) == 0) {
        return "/page/{asset}";
    }
    if (path.rfind(kPrefix + "/", 0) != 0) {
        return "other";
    }
    if (path == kPrefix + "/whoami") {
        return path;
    }
    std::vector<std::string> s;
    for (size_t start = kPrefix.size() + 1; start < path.size();) {
        size_t slash = path.find('/', start);
        if (slash == std::string::npos) {
            slash = path.size();
        }
        s.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    if (s.empty()) {
        return kPrefix;
    }
    static const std::set<std::string> kSingle = {
        "config",       "health", "events", "audit",    "status", "explain",
        "openapi.json", "tokens", "zones",  "monitors", "pools",  "balancers"};
    if (kSingle.count(s[0]) == 0) {
        return "other";
    }
    std::string out = kPrefix + "/" + s[0];
    if (s.size() == 1) {
        return out;
    }
    const std::string singular = s[0] == "tokens"     ? "name"
                                 : s[0] == "zones"    ? "zone"
                                 : s[0] == "pools"    ? "pool"
                                 : s[0] == "monitors" ? "monitor"
                                                      : "balancer";
    out += "/{" + singular + "}";
    if (s.size() == 2) {
        return out;
    }
    if (s[0] == "zones" && s[2] == "records" && s.size() <= 4) {
        return out + "/records" + (s.size() == 4 ? "/{index}" : "");
    }
    if (s[0] == "pools" && s[2] == "admin" && s.size() == 3) {
        return out + "/admin";
    }
    if (s[0] == "pools" && s[2] == "members" && s.size() <= 5) {
        out += "/members";
        if (s.size() >= 4) {
            out += "/{address}";
        }
        if (s.size() == 5) {
            out += s[4] == "admin" ? "/admin" : "/other";
        }
        return out;
    }
    return "other";
}

Response Api::respond(const Request& r, int64_t now_ms) {
    Call c{r, deps_, now_ms, "", {}, {}, {"", Role::Viewer}, false};
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
        if (deps_.metrics != nullptr) {
            deps_.metrics->audit_entry(false);
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
            deps_.core->store().append_audit(a);
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
    } catch (const core::ChangeError& e) {
        switch (e.kind()) {
            case core::ChangeError::Kind::Stale:
                resp = error_response({412, e.what(), "If-Match"});
                break;
            case core::ChangeError::Kind::Unavailable:
                resp = error_response({503, e.what(), ""});
                resp.headers.emplace_back("Retry-After", "1");
                break;
            case core::ChangeError::Kind::Unservable:
                resp = error_response({500, e.what(), ""});
                break;
            case core::ChangeError::Kind::Empty:
                resp = error_response({422, e.what(), "zones"});
                break;
        }
    } catch (const store::StoreError& e) {
        if (deps_.metrics != nullptr) {
            deps_.metrics->store_error(e.kind());
        }
        if (e.kind() == store::StoreError::Kind::Conflict) {
            resp =
                error_response({409, std::string("the state changed meanwhile: ") + e.what(), ""});
        } else {
            resp =
                error_response({e.kind() == store::StoreError::Kind::Full ? 507 : 503,
                                std::string("the store cannot take the change: ") + e.what(), ""});
            if (e.kind() != store::StoreError::Kind::Full) {
                resp.headers.emplace_back("Retry-After", "1");
            }
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
        return config_resource(c);
    }
    if (top == "health" && s.size() == 1) {
        method({"GET"});
        return health_view(c);
    }
    if (top == "events" && s.size() == 1) {
        method({"GET"});
        return events_view(c);
    }
    if (top == "audit" && s.size() == 1) {
        method({"GET"});
        return audit_view(c);
    }
    if (top == "status" && s.size() == 1) {
        method({"GET"});
        return status_view(c);
    }
    if (top == "explain" && s.size() == 1) {
        method({"GET"});
        return explain_view(c);
    }
    if (top == "whoami" && s.size() == 1) {
        method({"GET"});
        return whoami_view(c);
    }
    if (top == "tokens" && s.size() <= 2) {
        need(Role::Admin);
        method(s.size() == 1 ? std::initializer_list<const char*>{"GET", "POST"}
                             : std::initializer_list<const char*>{"DELETE"});
        return tokens_resource(c, s.size() == 2 ? &s[1] : nullptr, auth_);
    }
    if (top == "zones" || top == "monitors" || top == "pools" || top == "balancers") {
        if (s.size() == 1) {
            method({"GET", "POST"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return collection_resource(c, top);
        }
        if (s.size() == 2) {
            method({"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return item_resource(c, top, s[1]);
        }
        if (top == "zones" && s[2] == "records" && s.size() <= 4) {
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return records_resource(c, s[1], s.size() == 4 ? &s[3] : nullptr);
        }
        if (top == "pools" && s[2] == "admin" && s.size() == 3) {
            method({"PUT"});
            need(Role::Operator);  // every member's admin state at once: drain a region
            return pool_admin_resource(c, s[1]);
        }
        if (top == "pools" && s[2] == "members" && s.size() <= 5) {
            if (s.size() == 5) {
                if (s[4] != "admin") {
                    throw ApiError{404, "no such path", ""};
                }
                method({"PUT"});
                need(Role::Operator);  // admin state: the operator's job
                return members_resource(c, s[1], &s[3], true);
            }
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            return members_resource(c, s[1], s.size() == 4 ? &s[3] : nullptr, false);
        }
    }
    throw ApiError{404, "no such path", ""};
}

}  // namespace gtm::web
