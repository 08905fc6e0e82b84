#include "store/document.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "store/decoder.h"
#include "store/reader.h"
#include "store/validate.h"

namespace gtm::store {

using nlohmann::json;

namespace {

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*.
bool label_name_ok(const std::string& s) {
    return !s.empty() && s.size() <= 100 &&
           (std::isalpha(static_cast<unsigned char>(s[0])) != 0 || s[0] == '_') &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
           });
}

Soa decode_soa(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path, {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"},
             {"mname", "rname"});
    Soa soa;
    soa.mname = d.name(j["mname"], child_path(path, "mname"));
    soa.rname = d.name(j["rname"], child_path(path, "rname"));
    constexpr uint64_t kMax32 = 0xffffffffu;
    constexpr uint64_t kMaxTtl = 0x7fffffffu;
    if (auto* v = d.find(j, "serial")) {
        soa.serial = d.integer(*v, child_path(path, "serial"), 0, kMax32);
    }
    if (auto* v = d.find(j, "refresh")) {
        soa.refresh_s = d.integer(*v, child_path(path, "refresh"), 1, kMaxTtl);
    }
    if (auto* v = d.find(j, "retry")) {
        soa.retry_s = d.integer(*v, child_path(path, "retry"), 1, kMaxTtl);
    }
    if (auto* v = d.find(j, "expire")) {
        soa.expire_s = d.integer(*v, child_path(path, "expire"), 1, kMaxTtl);
    }
    if (auto* v = d.find(j, "minimum")) {
        soa.minimum_s = d.integer(*v, child_path(path, "minimum"), 0, 86400);
    }
    if (auto* v = d.find(j, "ttl")) {
        soa.ttl_s = d.integer(*v, child_path(path, "ttl"), 0, kMaxTtl);
    }
    return soa;
}

Zone decode_zone(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path, {"name", "soa", "ns", "ttl", "records"}, {"name", "soa", "ns"});
    Zone z;
    z.name = d.name(j["name"], child_path(path, "name"));
    if (z.name.empty()) {
        d.fail(child_path(path, "name"), "the root zone cannot be served");
    }
    z.soa = decode_soa(d, j["soa"], child_path(path, "soa"));
    d.each(j["ns"], child_path(path, "ns"),
           [&](const json& v, const std::string& p) { z.ns.push_back(d.name(v, p)); });
    if (auto* v = d.find(j, "ttl")) {
        z.ttl_s = d.integer(*v, child_path(path, "ttl"), 0, 0x7fffffff);
    }
    if (auto* v = d.find(j, "records")) {
        d.each(*v, child_path(path, "records"),
               [&](const json& r, const std::string& p) { z.records.push_back(d.string(r, p)); });
    }
    return z;
}

StatusRange decode_status(const Decoder& d, const json& v, const std::string& path) {
    if (v.is_number()) {
        int code = static_cast<int>(d.integer(v, path, 100, 599));
        return {code, code};
    }
    std::string s = d.string(v, path);
    int from = 0;
    int to = 0;
    auto parse = [](std::string_view t, int& out) {
        auto r = std::from_chars(t.data(), t.data() + t.size(), out);
        return r.ec == std::errc() && r.ptr == t.data() + t.size();
    };
    size_t dash = s.find('-');
    bool ok = dash == std::string::npos ? parse(s, from) && (to = from, true)
                                        : parse(std::string_view(s).substr(0, dash), from) &&
                                              parse(std::string_view(s).substr(dash + 1), to);
    if (!ok || from < 100 || to > 599 || from > to) {
        d.fail(path, "'" + s + "' is not a status code or range like 200-399");
    }
    return {from, to};
}

// Placeholders: "{{name}}" with a name of letters, digits and '_'; nullopt when well formed,
// else the reason.
std::optional<std::string> bad_template(const std::string& t) {
    for (size_t at = t.find("{{"); at != std::string::npos; at = t.find("{{", at + 2)) {
        const size_t close = t.find("}}", at + 2);
        if (close == std::string::npos) {
            return "'{{' without '}}'";
        }
        const std::string name = t.substr(at + 2, close - at - 2);
        if (!label_name_ok(name)) {
            return "'{{" + name +
                   "}}' is not a placeholder: {{address}}, {{pool}}, {{monitor}} or "
                   "{{<member label>}}";
        }
    }
    return std::nullopt;
}

void decode_promql(const Decoder& d, const json& j, const std::string& path, Monitor& m) {
    const std::string up = child_path(path, "url");
    m.url = d.string(j["url"], up);
    if ((m.url.rfind("http://", 0) != 0 && m.url.rfind("https://", 0) != 0) ||
        m.url.find_first_of(" \r\n\t?#") != std::string::npos || m.url.size() < 10) {
        d.fail(up, "'" + m.url + "' is not Prometheus's base URL (http://host:port[/prefix])");
    }
    const std::string qp = child_path(path, "query");
    m.query = d.string(j["query"], qp);
    if (m.query.empty()) {
        d.fail(qp, "must not be empty");
    }
    if (auto bad = bad_template(m.query)) {
        d.fail(qp, *bad);
    }
    for (size_t at = m.query.find("{{"); at != std::string::npos; at = m.query.find("{{", at + 2)) {
        const std::string name = m.query.substr(at + 2, m.query.find("}}", at) - at - 2);
        if (name != "monitor") {
            d.fail(qp, "'{{" + name +
                           "}}': the query runs once per interval for every member (batched), so "
                           "only {{monitor}} expands in it; match members by match_label and "
                           "match_value");
        }
    }
    const std::string lp = child_path(path, "match_label");
    m.match_label = d.string(j["match_label"], lp);
    if (!label_name_ok(m.match_label)) {
        d.fail(lp, "'" + m.match_label + "' is not a Prometheus label name");
    }
    if (auto* v = d.find(j, "match_value")) {
        const std::string vp = child_path(path, "match_value");
        m.match_value = d.string(*v, vp);
        if (auto bad = bad_template(m.match_value)) {
            d.fail(vp, *bad);
        }
    }
    const std::string fp = child_path(path, "fail_if");
    const std::string cond = d.string(j["fail_if"], fp);
    size_t at = cond.find_first_not_of(' ');
    static const std::pair<const char*, Comparison> kOps[] = {
        {">=", Comparison::Ge}, {"<=", Comparison::Le}, {"==", Comparison::Eq},
        {"!=", Comparison::Ne}, {">", Comparison::Gt},  {"<", Comparison::Lt}};
    bool found = false;
    for (const auto& [text, op] : kOps) {
        if (at != std::string::npos && cond.compare(at, std::strlen(text), text) == 0) {
            m.fail_op = op;
            at += std::strlen(text);
            found = true;
            break;
        }
    }
    const std::string number = found ? cond.substr(at) : "";
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    const bool rest_blank = end != nullptr && end != number.c_str() &&
                            std::string(end).find_first_not_of(' ') == std::string::npos;
    if (!found || !rest_blank || !std::isfinite(value)) {
        d.fail(fp, "'" + cond + "' is not a comparison such as '> 0.05' (>, >=, <, <=, ==, !=)");
    }
    m.fail_threshold = value;
    if (auto* v = d.find(j, "no_data")) {
        const std::string np = child_path(path, "no_data");
        const std::string s = d.string(*v, np);
        if (s == "unknown") {
            m.no_data = NoData::Unknown;
        } else if (s == "up") {
            m.no_data = NoData::Up;
        } else if (s == "down") {
            m.no_data = NoData::Down;
        } else {
            d.fail(np, "'" + s + "' is not one of: unknown, up, down");
        }
    }
}

Monitor decode_monitor(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path,
             {"name",        "type",          "port",        "path",       "host",    "method",
              "headers",     "expect_status", "expect_body", "tls_verify", "ca_file", "interval",
              "timeout",     "fall",          "rise",        "hold_down",  "url",     "query",
              "match_label", "match_value",   "fail_if",     "no_data"},
             {"name", "type"});
    Monitor m;
    m.name = d.name(j["name"], child_path(path, "name"));
    std::string type = d.string(j["type"], child_path(path, "type"));
    if (type == "http") {
        m.type = MonitorType::Http;
        m.port = 80;
    } else if (type == "https") {
        m.type = MonitorType::Https;
        m.port = 443;
    } else if (type == "tcp") {
        m.type = MonitorType::Tcp;
        if (!j.contains("port")) {
            d.fail(child_path(path, "port"), "is required for tcp monitors");
        }
    } else if (type == "promql") {
        m.type = MonitorType::Promql;
        m.port = 0;
        for (const char* k : {"url", "query", "match_label", "fail_if"}) {
            if (!j.contains(k)) {
                d.fail(child_path(path, k), "is required for promql monitors");
            }
        }
        if (j.contains("port")) {
            d.fail(child_path(path, "port"), "does not apply to promql monitors (see url)");
        }
    } else {
        d.fail(child_path(path, "type"), "'" + type + "' is not one of: http, https, tcp, promql");
    }
    for (const char* k : {"url", "query", "match_label", "match_value", "fail_if", "no_data"}) {
        if (m.type != MonitorType::Promql && j.contains(k)) {
            d.fail(child_path(path, k), "only applies to promql monitors");
        }
    }
    if (m.type == MonitorType::Promql) {
        decode_promql(d, j, path, m);
    }
    const bool web = m.type == MonitorType::Http || m.type == MonitorType::Https;
    for (const char* k : {"path", "host", "method", "headers", "expect_status", "expect_body"}) {
        if (!web && j.contains(k)) {
            d.fail(child_path(path, k), "only applies to http and https");
        }
    }
    for (const char* k : {"tls_verify", "ca_file"}) {
        if (m.type != MonitorType::Https && j.contains(k)) {
            d.fail(child_path(path, k), "only applies to https monitors");
        }
    }
    if (auto* v = d.find(j, "port")) {
        m.port = static_cast<uint16_t>(d.integer(*v, child_path(path, "port"), 1, 65535));
    }
    if (auto* v = d.find(j, "path")) {
        m.path = d.string(*v, child_path(path, "path"));
        if (m.path.empty() || m.path[0] != '/' ||
            m.path.find_first_of(" \r\n\t") != std::string::npos) {
            d.fail(child_path(path, "path"), "must start with '/' and contain no whitespace");
        }
    }
    if (auto* v = d.find(j, "host")) {
        m.host = d.name(*v, child_path(path, "host"));
    }
    if (auto* v = d.find(j, "method")) {
        m.method = d.string(*v, child_path(path, "method"));
        if (m.method != "GET" && m.method != "HEAD" && m.method != "POST" &&
            m.method != "OPTIONS") {
            d.fail(child_path(path, "method"),
                   "'" + m.method + "' is not one of: GET, HEAD, POST, OPTIONS");
        }
    }
    if (auto* v = d.find(j, "headers")) {
        const std::string hp = child_path(path, "headers");
        if (!v->is_object()) {
            d.fail(hp, "must be a mapping of header names to values");
        }
        for (const auto& [k, hv] : v->items()) {
            const std::string p = child_path(hp, k);
            bool token = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char c) {
                return std::isalnum(c) != 0 || c == '-' || c == '_';
            });
            if (!token) {
                d.fail(p, "is not a valid header name");
            }
            std::string value = d.string(hv, p);
            if (value.find_first_of("\r\n") != std::string::npos) {
                d.fail(p, "must be one line");
            }
            m.headers[k] = value;
        }
    }
    if (auto* v = d.find(j, "expect_status")) {
        m.expect_status.clear();
        d.each(*v, child_path(path, "expect_status"), [&](const json& s, const std::string& p) {
            m.expect_status.push_back(decode_status(d, s, p));
        });
        if (m.expect_status.empty()) {
            d.fail(child_path(path, "expect_status"), "must not be empty");
        }
    }
    if (auto* v = d.find(j, "expect_body")) {
        m.expect_body = d.string(*v, child_path(path, "expect_body"));
    }
    if (auto* v = d.find(j, "tls_verify")) {
        m.tls_verify = d.boolean(*v, child_path(path, "tls_verify"));
    }
    if (auto* v = d.find(j, "ca_file")) {
        m.ca_file = d.string(*v, child_path(path, "ca_file"));
    }
    if (auto* v = d.find(j, "interval")) {
        m.interval_ms = d.duration_ms(*v, child_path(path, "interval"), 200, 3600000);
    }
    if (auto* v = d.find(j, "timeout")) {
        m.timeout_ms = d.duration_ms(*v, child_path(path, "timeout"), 50, 60000);
    }
    if (auto* v = d.find(j, "fall")) {
        m.fall = static_cast<uint32_t>(d.integer(*v, child_path(path, "fall"), 1, 100));
    }
    if (auto* v = d.find(j, "rise")) {
        m.rise = static_cast<uint32_t>(d.integer(*v, child_path(path, "rise"), 1, 100));
    }
    if (auto* v = d.find(j, "hold_down")) {
        m.hold_down_ms = d.duration_ms(*v, child_path(path, "hold_down"), 0, 3600000);
    }
    if (m.timeout_ms > m.interval_ms) {
        d.fail(child_path(path, "timeout"), "must not be longer than the interval");
    }
    return m;
}

Member decode_member(const Decoder& d, const json& mj, const std::string& mp) {
    d.object(mj, mp, {"address", "weight", "admin", "labels"}, {"address"});
    Member m;
    m.address = d.address(mj["address"], child_path(mp, "address")).text;
    if (auto* v = d.find(mj, "weight")) {
        m.weight = static_cast<uint32_t>(d.integer(*v, child_path(mp, "weight"), 0, 255));
    }
    if (auto* v = d.find(mj, "admin")) {
        std::string s = d.string(*v, child_path(mp, "admin"));
        auto a = admin_state_from(s);
        if (!a) {
            d.fail(child_path(mp, "admin"), "'" + s + "' is not one of: auto, up, drain, down");
        }
        m.admin = *a;
    }
    if (auto* v = d.find(mj, "labels")) {
        const std::string lp = child_path(mp, "labels");
        if (!v->is_object()) {
            d.fail(lp, "must be a mapping of label names to values");
        }
        for (const auto& [k, lv] : v->items()) {
            const std::string p = child_path(lp, k);
            if (!label_name_ok(k)) {
                d.fail(p, "'" + k + "' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
            if (k == "address" || k == "pool" || k == "monitor") {
                d.fail(p, "is a placeholder of its own ({{" + k + "}})");
            }
            std::string value = d.string(lv, p);
            if (value.size() > 256 || value.find_first_of("\r\n") != std::string::npos) {
                d.fail(p, "must be one line of at most 256 bytes");
            }
            m.labels[k] = std::move(value);
        }
        if (m.labels.size() > 32) {
            d.fail(lp, "at most 32 labels");
        }
    }
    return m;
}

Pool decode_pool(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path,
             {"name", "monitor", "monitors", "combine", "min_healthy", "slow_start", "members"},
             {"name", "members"});
    Pool p;
    p.name = d.name(j["name"], child_path(path, "name"));
    const json* one = d.find(j, "monitor");
    const json* many = d.find(j, "monitors");
    if (one != nullptr && many != nullptr) {
        d.fail(child_path(path, "monitors"), "give monitor or monitors, not both");
    }
    if (one != nullptr) {
        p.monitors.push_back(d.name(*one, child_path(path, "monitor")));
    }
    if (many != nullptr) {
        d.each(*many, child_path(path, "monitors"), [&](const json& v, const std::string& mp) {
            std::string name = d.name(v, mp);
            if (std::find(p.monitors.begin(), p.monitors.end(), name) != p.monitors.end()) {
                d.fail(mp, "duplicate monitor '" + name + "'");
            }
            p.monitors.push_back(std::move(name));
        });
    }
    if (auto* v = d.find(j, "combine")) {
        const std::string cp = child_path(path, "combine");
        if (v->is_object()) {
            d.object(*v, cp, {"quorum"}, {"quorum"});
            p.combine.mode = CombineMode::Quorum;
            p.combine.quorum =
                static_cast<uint32_t>(d.integer((*v)["quorum"], child_path(cp, "quorum"), 1, 64));
        } else {
            const std::string s = d.string(*v, cp);
            if (s == "all") {
                p.combine.mode = CombineMode::All;
            } else if (s == "any") {
                p.combine.mode = CombineMode::Any;
            } else {
                d.fail(cp, "'" + s + "' is not one of: all, any, {quorum: N}");
            }
        }
    }
    if (auto* v = d.find(j, "min_healthy")) {
        p.min_healthy =
            static_cast<uint32_t>(d.integer(*v, child_path(path, "min_healthy"), 1, 10000));
    }
    if (auto* v = d.find(j, "slow_start")) {
        p.slow_start_ms = d.duration_ms(*v, child_path(path, "slow_start"), 0, 3600000);
    }
    d.each(j["members"], child_path(path, "members"), [&](const json& mj, const std::string& mp) {
        p.members.push_back(decode_member(d, mj, mp));
    });
    return p;
}

Balancer decode_balancer(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path,
             {"name", "ttl", "degraded_ttl", "max_answers", "when_all_down", "fallback", "pools"},
             {"name", "pools"});
    Balancer b;
    b.name = d.name(j["name"], child_path(path, "name"));
    if (auto* v = d.find(j, "ttl")) {
        b.ttl_s = static_cast<uint32_t>(d.integer(*v, child_path(path, "ttl"), 0, 86400));
    }
    if (auto* v = d.find(j, "degraded_ttl")) {
        b.degraded_ttl_s =
            static_cast<uint32_t>(d.integer(*v, child_path(path, "degraded_ttl"), 0, 86400));
    }
    if (auto* v = d.find(j, "max_answers")) {
        b.max_answers =
            static_cast<uint32_t>(d.integer(*v, child_path(path, "max_answers"), 1, 16));
    }
    if (auto* v = d.find(j, "when_all_down")) {
        std::string s = d.string(*v, child_path(path, "when_all_down"));
        if (s == "fail_open") {
            b.when_all_down = WhenAllDown::FailOpen;
        } else if (s == "fail_closed") {
            b.when_all_down = WhenAllDown::FailClosed;
        } else if (s == "fallback") {
            b.when_all_down = WhenAllDown::Fallback;
        } else {
            d.fail(child_path(path, "when_all_down"),
                   "'" + s + "' is not one of: fail_open, fail_closed, fallback");
        }
    }
    if (auto* v = d.find(j, "fallback")) {
        d.each(*v, child_path(path, "fallback"), [&](const json& a, const std::string& p) {
            b.fallback.push_back(d.address(a, p).text);
        });
    }
    d.each(j["pools"], child_path(path, "pools"), [&](const json& pj, const std::string& pp) {
        d.object(pj, pp, {"pool", "priority", "weight"}, {"pool"});
        BalancerPool bp;
        bp.pool = d.name(pj["pool"], child_path(pp, "pool"));
        if (auto* v = d.find(pj, "priority")) {
            bp.priority = static_cast<uint32_t>(d.integer(*v, child_path(pp, "priority"), 0, 1000));
        }
        if (auto* v = d.find(pj, "weight")) {
            bp.weight = static_cast<uint32_t>(d.integer(*v, child_path(pp, "weight"), 0, 255));
        }
        b.pools.push_back(std::move(bp));
    });
    return b;
}

DesiredState decode(const json& root, const Decoder& d) {
    d.object(root, "", {"zones", "monitors", "pools", "balancers"});
    DesiredState s;
    if (auto* v = d.find(root, "zones")) {
        d.each(*v, "zones", [&](const json& j, const std::string& p) {
            s.zones.push_back(decode_zone(d, j, p));
        });
    }
    if (auto* v = d.find(root, "monitors")) {
        d.each(*v, "monitors", [&](const json& j, const std::string& p) {
            s.monitors.push_back(decode_monitor(d, j, p));
        });
    }
    if (auto* v = d.find(root, "pools")) {
        d.each(*v, "pools", [&](const json& j, const std::string& p) {
            s.pools.push_back(decode_pool(d, j, p));
        });
    }
    if (auto* v = d.find(root, "balancers")) {
        d.each(*v, "balancers", [&](const json& j, const std::string& p) {
            s.balancers.push_back(decode_balancer(d, j, p));
        });
    }
    return s;
}

}  // namespace

Zone zone_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_zone(Decoder(document), j, path);
}
Monitor monitor_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_monitor(Decoder(document), j, path);
}
Pool pool_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_pool(Decoder(document), j, path);
}
Member member_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_member(Decoder(document), j, path);
}
Balancer balancer_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_balancer(Decoder(document), j, path);
}
DesiredState state_from_json(const json& root, const std::string& document) {
    DesiredState state = decode(root, Decoder(document));
    validate(state, document);
    return state;
}

namespace {

Document parse_whole(std::string_view text, const std::string& document) {
    Origins origins;
    Document out;
    out.source = parse_text(text, document, origins);
    Decoder d(document, origins);
    out.state = decode(out.source, d);
    try {
        out.warnings = validate(out.state, document);
    } catch (const DocumentError& e) {
        throw DocumentError(document, e.path(), e.reason(), d.line_of(e.path()));
    }
    for (auto& w : out.warnings) {
        w.line = d.line_of(w.path);
    }
    return out;
}

}  // namespace

DesiredState parse_document(std::string_view text, const std::string& document) {
    return parse_whole(text, document).state;
}

DesiredState load_document(const std::string& path) { return read_document(path).state; }

Document read_document(const std::string& path) { return parse_whole(read_file(path), path); }

Document decode_document(std::string_view text, const std::string& document) {
    return parse_whole(text, document);
}

}  // namespace gtm::store
