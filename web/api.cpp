#include "web/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
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

// Printable ASCII. Names are ASCII (an IDN travels as its A-label, xn--...), and so is every
// parameter this API takes: anything else in a path or a query is refused with 400.
bool printable_ascii(unsigned char c) { return c > 0x20 && c < 0x7f; }

// Percent-decodes `s`; nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) {
            return std::nullopt;
        }
        const int hi = hex_value(s[i + 1]);
        const int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

}  // namespace

void parse_target(Api::Call& c) {
    const std::string& target = c.req.target;
    auto problem = [&](std::string what, std::string field) {
        if (!c.target_error) {
            c.target_error = ApiError{400, std::move(what), std::move(field)};
        }
    };
    const size_t q = target.find('?');
    c.path = target.substr(0, q);
    for (unsigned char ch : c.path) {
        if (!printable_ascii(ch)) {
            problem(
                "the path holds a byte that is not printable ASCII; names are ASCII (send an "
                "IDN as its A-label, xn--...) and other bytes are percent-encoded",
                "path");
            break;
        }
    }
    static const std::string kPrefix = "/api/v1/";
    if (c.path.compare(0, kPrefix.size(), kPrefix) == 0) {
        for (size_t start = kPrefix.size(); start < c.path.size();) {
            size_t slash = c.path.find('/', start);
            if (slash == std::string::npos) {
                slash = c.path.size();
            }
            const std::string_view raw = std::string_view(c.path).substr(start, slash - start);
            auto segment = url_decode(raw);
            if (!segment) {
                problem("bad percent-encoding in the path", "path");
                segment = std::string(raw);
            }
            if (!std::all_of(segment->begin(), segment->end(), [](char ch) {
                    return printable_ascii(static_cast<unsigned char>(ch));
                })) {
                problem("names are ASCII: send an IDN as its A-label (xn--...)", "path");
            }
            c.segments.push_back(std::move(*segment));
            start = slash + 1;
        }
    }
    if (q == std::string::npos) {
        return;
    }
    const std::string_view qs = std::string_view(target).substr(q + 1);
    size_t start = 0;
    while (start <= qs.size()) {
        size_t amp = qs.find('&', start);
        if (amp == std::string_view::npos) {
            amp = qs.size();
        }
        const std::string_view item = qs.substr(start, amp - start);
        start = amp + 1;
        if (item.empty()) {
            continue;
        }
        const size_t eq = item.find('=');
        auto key = url_decode(item.substr(0, eq));
        if (!key) {
            problem("bad percent-encoding in a parameter name", std::string(item.substr(0, eq)));
            continue;
        }
        auto value = url_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
        const auto ascii = [](const std::string& x) {
            return std::all_of(x.begin(), x.end(), [](char ch) {
                return printable_ascii(static_cast<unsigned char>(ch));
            });
        };
        if (key->empty() || !ascii(*key)) {
            problem("a parameter name that is empty or not printable ASCII", "query");
            continue;
        }
        if (c.query.count(*key) != 0) {
            problem("given twice", *key);
            continue;
        }
        if (!value) {
            problem("bad percent-encoding", *key);
            value = std::string();
        } else if (eq == std::string_view::npos || value->empty()) {
            problem("needs a value: " + *key + "=...", *key);
        } else if (!ascii(*value)) {
            problem("must be printable ASCII (names: send an IDN as its A-label, xn--...)", *key);
        }
        c.query[*key] = std::move(*value);
    }
}

namespace {

// If-Match: "*" (any revision) or a list of strong ETags ("42"). Returns the revision the write
// must apply to: the current one when the list names it, else the first (stale: 412); nullopt
// for "*". Anything else is 400: a malformed precondition is never taken for "none".
std::optional<uint64_t> parse_if_match(const std::string& header, uint64_t current) {
    const ApiError malformed{
        400, "If-Match takes \"*\" or ETags as GET answers them, in quotes: \"42\"", "If-Match"};
    std::vector<uint64_t> tags;
    size_t i = 0;
    auto skip_space = [&] {
        while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) {
            ++i;
        }
    };
    skip_space();
    if (header.compare(i, 1, "*") == 0) {
        ++i;
        skip_space();
        if (i != header.size()) {
            throw malformed;
        }
        return std::nullopt;
    }
    while (true) {
        skip_space();
        if (header.compare(i, 2, "W/") == 0) {
            throw ApiError{400,
                           "a weak ETag never matches If-Match (RFC 9110 13.1.1): send the ETag "
                           "GET answered, e.g. \"42\"",
                           "If-Match"};
        }
        if (i >= header.size() || header[i] != '"') {
            throw malformed;
        }
        const size_t close = header.find('"', i + 1);
        if (close == std::string::npos) {
            throw malformed;
        }
        const std::string digits = header.substr(i + 1, close - i - 1);
        if (digits.empty() || digits.size() > 19 ||
            !std::all_of(digits.begin(), digits.end(),
                         [](char ch) { return ch >= '0' && ch <= '9'; })) {
            throw malformed;
        }
        tags.push_back(std::stoull(digits));
        i = close + 1;
        skip_space();
        if (i == header.size()) {
            break;
        }
        if (header[i] != ',') {
            throw malformed;
        }
        ++i;
    }
    for (uint64_t t : tags) {
        if (t == current) {
            return t;
        }
    }
    return tags.front();
}

// An audit entry's action and object: the path as received, with any byte that is not
// printable ASCII percent-encoded (a refused request's path may hold anything).
std::string printable(std::string_view s) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char ch : s) {
        if (printable_ascii(ch)) {
            out.push_back(static_cast<char>(ch));
        } else {
            out.push_back('%');
            out.push_back(digits[ch >> 4]);
            out.push_back(digits[ch & 0xf]);
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
    r.body = body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

Response error_response(const ApiError& e) {
    json body = {{"error", e.error}};
    if (!e.field.empty()) {
        body["field"] = e.field;
    }
    Response r = json_response(e.status, body);
    r.headers = e.headers;
    return r;
}

std::string etag(uint64_t revision) { return "\"" + std::to_string(revision) + "\""; }

std::string valid_utf8(std::string_view text, size_t max_bytes) {
    static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    out.reserve(std::min(text.size(), max_bytes));
    size_t i = 0;
    while (i < text.size()) {
        const auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
        const unsigned char lead = b(0);
        size_t n = 0;  // length of a valid sequence at i; 0: invalid
        if (lead < 0x80) {
            n = 1;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            n = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            n = 3;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            n = 4;
        }
        if (n > 1) {
            if (i + n > text.size()) {
                n = 0;
            } else {
                for (size_t k = 1; k < n; ++k) {
                    if ((b(k) & 0xC0) != 0x80) {
                        n = 0;
                        break;
                    }
                }
            }
            // Overlong forms, surrogates and code points over U+10FFFF (RFC 3629 section 4).
            if (n == 3 && ((lead == 0xE0 && b(1) < 0xA0) || (lead == 0xED && b(1) > 0x9F))) {
                n = 0;
            }
            if (n == 4 && ((lead == 0xF0 && b(1) < 0x90) || (lead == 0xF4 && b(1) > 0x8F))) {
                n = 0;
            }
        }
        const std::string_view piece = n == 0 ? std::string_view(kReplacement) : text.substr(i, n);
        if (out.size() + piece.size() > max_bytes) {
            break;
        }
        out.append(piece);
        i += n == 0 ? 1 : n;
    }
    return out;
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

void Api::Call::params(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : query) {
        if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) {
            continue;
        }
        std::string takes;
        for (std::string_view a : allowed) {
            takes += (takes.empty() ? "" : ", ") + std::string(a);
        }
        throw ApiError{400,
                       "unknown query parameter '" + k + "'; " +
                           (takes.empty() ? "this path takes none" : "this path takes: " + takes),
                       k};
    }
}

void Api::Call::no_etag(const char* what) const {
    if (if_match_given) {
        throw ApiError{400, std::string(what) + " carry no ETag: If-Match does not apply",
                       "If-Match"};
    }
}

const std::string* Api::Call::param(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? nullptr : &it->second;
}

bool Api::Call::flag(const std::string& k) const {
    const std::string* v = param(k);
    if (v == nullptr || *v == "false" || *v == "0") {
        return false;
    }
    if (*v == "true" || *v == "1") {
        return true;
    }
    throw ApiError{400, "must be true or false (or 1 or 0), in lower case", k};
}

int64_t Api::Call::number_param(const std::string& k, int64_t def, int64_t lo, int64_t hi) const {
    const std::string* v = param(k);
    if (v == nullptr) {
        return def;
    }
    const std::string digits = !v->empty() && (*v)[0] == '-' ? v->substr(1) : *v;
    try {
        // Digits only: no sign but '-', no spaces, no hex, no exponent.
        if (digits.empty() || !std::all_of(digits.begin(), digits.end(),
                                           [](char ch) { return ch >= '0' && ch <= '9'; })) {
            throw std::invalid_argument(k);
        }
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

Response Api::Call::read(Response r, uint64_t revision) const {
    if (if_match && *if_match != revision) {
        throw ApiError{412,
                       "the state is at revision " + std::to_string(revision) + ", not " +
                           std::to_string(*if_match),
                       "If-Match",
                       {{"ETag", etag(revision)}}};
    }
    r.headers.emplace_back("ETag", etag(revision));
    return r;
}

Response Api::Call::write(int status, const std::function<json(store::DesiredState&, int&)>& edit) {
    core::Actor a = actor(status);
    const core::ChangeResult r = core().change(
        a, [&](store::DesiredState& next) { return edit(next, a.status); }, false, if_match);
    json body = r.result;
    if (!r.warnings.empty() && body.is_object()) {
        body["warnings"] = warnings_json(r.warnings);  // valid, but probably not what was meant
    }
    Response resp = json_response(a.status, body);
    resp.headers.emplace_back("ETag", etag(r.revision));
    return resp;
}

json warnings_json(const std::vector<store::Warning>& warnings) {
    json out = json::array();
    for (const auto& w : warnings) {
        out.push_back({{"field", w.path}, {"message", w.message}});
    }
    return out;
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
    Response resp = page ? std::move(*page) : answer(r, now_ms);
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
        "config", "health", "events",   "audit", "status",    "explain",     "openapi.json",
        "tokens", "zones",  "monitors", "pools", "balancers", "alertmanager"};
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

Response Api::answer(const Request& r, int64_t now_ms) {
    // HEAD is GET without the body (the HTTP server drops it): routed and answered as GET.
    const bool head = r.method == "HEAD";
    Request as_get;
    if (head) {
        as_get = r;
        as_get.method = "GET";
    }
    Call c(head ? as_get : r, deps_, now_ms);
    c.head = head;
    c.mutating = c.req.method != "GET";
    try {
        return handle_call(c);
    } catch (const std::exception& e) {
        // Not expected (every error has its answer in handle_call): still an answer, and the
        // refused write audited.
        spdlog::error("{} {}: {}", printable(r.method), printable(c.path), e.what());
        const Response resp = error_response({500, "internal error", ""});
        audit_rejected(c, resp, false);
        return resp;
    }
}

void Api::audit_rejected(const Call& c, const Response& resp, bool store_unwritable) {
    if (!c.mutating) {
        return;
    }
    const std::string action = printable(c.req.method) + " " + printable(c.path);
    if (store_unwritable) {
        // The store is locked or full: writing the audit entry would wait or fail the same way.
        // The log keeps the trace instead (never the token's secret).
        spdlog::warn("{} by '{}' from {}: {} not audited, the store cannot write", action,
                     c.who.name, c.req.source, resp.status);
        return;
    }
    if (deps_.metrics != nullptr) {
        deps_.metrics->audit_entry(false);
    }
    store::AuditEntry a;
    a.at_ms = c.now_ms;
    a.token = c.who.name;
    a.source = c.req.source;
    a.action = action;
    a.object = printable(c.path.substr(std::min<size_t>(c.path.size(), 8)));  // after /api/v1/
    // Cut on a character boundary: a cut inside one would store invalid UTF-8.
    a.result = "rejected: " + valid_utf8(resp.body, 1000);
    a.status = resp.status;
    try {
        deps_.core->store().append_audit(a);
    } catch (const std::exception& e) {
        spdlog::warn("{} by '{}' from {}: {} not audited: {}", action, c.who.name, c.req.source,
                     resp.status, e.what());
    }
}

Response Api::handle_call(Call& c) {
    const Request& r = c.req;
    parse_target(c);
    if (c.path == "/healthz" || c.path == "/readyz") {
        try {
            if (r.method != "GET") {
                throw ApiError{
                    405, "method " + r.method + " not allowed here", "", {{"Allow", "GET, HEAD"}}};
            }
            if (c.target_error) {
                throw *c.target_error;
            }
            c.params({});
        } catch (const ApiError& e) {
            return error_response(e);
        }
        if (c.path == "/healthz") {
            return json_response(200, {{"status", "ok"}});
        }
        const bool ready = !deps_.ready || deps_.ready();
        return json_response(ready ? 200 : 503, {{"ready", ready}});
    }
    if (c.query.count("token") != 0 || c.query.count("access_token") != 0) {
        const Response resp = error_response(
            {400, "tokens are not accepted in URLs: send 'Authorization: Bearer <token>'",
             "token"});
        audit_rejected(c, resp, false);
        return resp;
    }
    static const std::string kPrefix = "/api/v1";
    if (c.path.compare(0, kPrefix.size(), kPrefix) != 0 ||
        (c.path.size() > kPrefix.size() && c.path[kPrefix.size()] != '/')) {
        return error_response({404, "no such path", ""});
    }

    // The token first: a valid one is never refused for the failures of others behind the
    // same address; only requests without one are limited (429) and counted.
    auto id = auth_.check(r.authorization);
    if (!id) {
        Response resp;
        if (limiter_.blocked(r.source, c.now_ms)) {
            resp = error_response({429, "too many failed authentications from " + r.source, ""});
            resp.headers.emplace_back("Retry-After",
                                      std::to_string(limiter_.retry_after_s(r.source, c.now_ms)));
        } else {
            limiter_.failed(r.source, c.now_ms);
            resp = error_response(
                {401, r.authorization.empty() ? "missing bearer token" : "unknown token", ""});
            resp.headers.emplace_back("WWW-Authenticate", "Bearer");
        }
        audit_rejected(c, resp, false);
        return resp;
    }
    c.who = *id;
    if (r.header_only) {
        Response go_on;
        go_on.status = 100;
        return go_on;
    }

    Response resp;
    bool store_unwritable = false;
    try {
        if (r.body_too_large) {
            throw ApiError{413, "body over the limit", ""};
        }
        if (c.target_error) {
            throw *c.target_error;
        }
        if (r.if_match) {
            c.if_match_given = true;
            c.if_match = parse_if_match(*r.if_match, c.core().current()->revision);
        }
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
                resp = error_response({412, e.what(), "If-Match", {{"ETag", etag(e.revision())}}});
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
            // Busy (locked), full, read-only or broken: it cannot take an audit entry either.
            store_unwritable = true;
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
        audit_rejected(c, resp, store_unwritable);
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
    // 405 with Allow (HEAD wherever GET is) unless the method is one of `allowed`.
    auto method = [&](std::initializer_list<const char*> allowed) {
        std::string allow;
        for (const char* a : allowed) {
            if (m == a) {
                return;
            }
            allow += (allow.empty() ? "" : ", ") + std::string(a);
            if (std::string_view(a) == "GET") {
                allow += ", HEAD";
            }
        }
        throw ApiError{405,
                       "method " + (c.head ? std::string("HEAD") : m) + " not allowed here",
                       "",
                       {{"Allow", allow}}};
    };
    if (s.empty()) {
        throw ApiError{404, "see /api/v1/openapi.json", ""};
    }
    const std::string& top = s[0];
    if (top == "openapi.json" && s.size() == 1) {
        method({"GET"});
        c.params({});
        c.no_etag("the OpenAPI document does");
        return json_response(200, openapi_document());
    }
    if (top == "config" && s.size() == 1) {
        method({"GET", "PUT"});
        need(m == "GET" ? Role::Viewer : Role::Admin);
        if (m == "GET") {
            c.params({"format"});
        } else {
            c.params({"dry_run", "prune"});
        }
        return config_resource(c);
    }
    if (top == "health" && s.size() == 1) {
        method({"GET"});
        c.params({"pool"});
        c.no_etag("views");
        return health_view(c);
    }
    if (top == "events" && s.size() == 1) {
        method({"GET"});
        c.params({"after", "limit", "type"});
        c.no_etag("views");
        return events_view(c);
    }
    if (top == "audit" && s.size() == 1) {
        method({"GET"});
        c.params({"after", "limit"});
        c.no_etag("views");
        return audit_view(c);
    }
    if (top == "status" && s.size() == 1) {
        method({"GET"});
        c.params({});
        c.no_etag("views");
        return status_view(c);
    }
    if (top == "explain" && s.size() == 1) {
        method({"GET"});
        c.params({"name", "type", "client"});
        c.no_etag("views");
        return explain_view(c);
    }
    if (top == "whoami" && s.size() == 1) {
        method({"GET"});
        c.params({});
        c.no_etag("views");
        return whoami_view(c);
    }
    if (top == "alertmanager" && s.size() == 1) {
        method({"GET", "POST"});
        // Alertmanager's word marks members failing: the operator's role, like a drain.
        need(m == "GET" ? Role::Viewer : Role::Operator);
        c.params({});
        c.no_etag("alerts");
        return alertmanager_resource(c);
    }
    if (top == "tokens" && s.size() <= 2) {
        need(Role::Admin);
        method(s.size() == 1 ? std::initializer_list<const char*>{"GET", "POST"}
                             : std::initializer_list<const char*>{"DELETE"});
        c.params({});
        c.no_etag("tokens");
        return tokens_resource(c, s.size() == 2 ? &s[1] : nullptr, auth_);
    }
    if (top == "zones" || top == "monitors" || top == "pools" || top == "balancers") {
        if (s.size() == 1) {
            method({"GET", "POST"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            c.params({});
            return collection_resource(c, top);
        }
        if (s.size() == 2) {
            method({"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            c.params({});
            return item_resource(c, top, s[1]);
        }
        if (top == "zones" && s[2] == "records" && s.size() <= 4) {
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            c.params({});
            return records_resource(c, s[1], s.size() == 4 ? &s[3] : nullptr);
        }
        if (top == "pools" && s[2] == "admin" && s.size() == 3) {
            method({"PUT"});
            need(Role::Operator);  // every member's admin state at once: drain a region
            c.params({"dry_run"});
            return pool_admin_resource(c, s[1]);
        }
        if (top == "pools" && s[2] == "members" && s.size() <= 5) {
            if (s.size() == 5) {
                if (s[4] != "admin") {
                    throw ApiError{404, "no such path", ""};
                }
                method({"PUT"});
                need(Role::Operator);  // admin state: the operator's job
                c.params({"dry_run"});
                return members_resource(c, s[1], &s[3], true);
            }
            method(s.size() == 3 ? std::initializer_list<const char*>{"GET", "POST"}
                                 : std::initializer_list<const char*>{"GET", "PUT", "DELETE"});
            need(m == "GET" ? Role::Viewer : Role::Admin);
            c.params({});
            return members_resource(c, s[1], s.size() == 4 ? &s[3] : nullptr, false);
        }
    }
    throw ApiError{404, "no such path", ""};
}

}  // namespace gtm::web
