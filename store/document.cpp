#include "store/document.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "store/names.h"
#include "store/validate.h"

namespace gtm::store {

using nlohmann::json;

namespace {

// Where each value of a YAML document came from, by path: its line, and for plain scalars read
// as numbers or booleans, the text as written (so `address: 127.1` is reported as written).
struct Origins {
    std::unordered_map<std::string, int> line;
    std::unordered_map<std::string, std::string> plain;
};

std::string child_path(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

// YAML 1.2 core schema for plain scalars; quoted scalars are always strings.
json plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
        return nullptr;
    }
    if (s == "true" || s == "True" || s == "TRUE") {
        return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return false;
    }
    if (s == ".nan" || s == ".NaN" || s == ".NAN") {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (s == ".inf" || s == "+.inf" || s == ".Inf") {
        return std::numeric_limits<double>::infinity();
    }
    if (s == "-.inf" || s == "-.Inf") {
        return -std::numeric_limits<double>::infinity();
    }
    const char* b = s.data();
    const char* e = s.data() + s.size();
    const char* digits = (*b == '-' || *b == '+') ? b + 1 : b;
    if (digits != e && std::all_of(digits, e, [](char c) { return c >= '0' && c <= '9'; })) {
        int64_t v = 0;
        auto r = std::from_chars(*b == '+' ? b + 1 : b, e, v);
        if (r.ec == std::errc() && r.ptr == e) {
            return v;
        }
        return std::stod(s);  // out of int64 range: still a number, rejected by range checks
    }
    // A float: digits with one dot and/or an exponent, nothing else.
    bool has_digit = false;
    int dots = 0;
    size_t i = (*b == '-' || *b == '+') ? 1 : 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            has_digit = true;
        } else if (c == '.') {
            ++dots;
        } else {
            break;
        }
    }
    if (has_digit && dots <= 1 && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < s.size() && (s[j] == '-' || s[j] == '+')) {
            ++j;
        }
        bool exp_digits = j < s.size();
        for (; j < s.size(); ++j) {
            if (s[j] < '0' || s[j] > '9') {
                exp_digits = false;
            }
        }
        if (exp_digits) {
            return std::stod(s);
        }
    } else if (has_digit && dots == 1 && i == s.size()) {
        return std::stod(s);
    }
    return s;
}

json yaml_to_json(const YAML::Node& node, const std::string& path, Origins& origins,
                  const std::string& document) {
    origins.line[path] = node.Mark().line + 1;
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return nullptr;
        case YAML::NodeType::Scalar: {
            if (node.Tag() == "!") {
                return node.Scalar();  // quoted: a string
            }
            json v = plain_scalar(node.Scalar());
            if (!v.is_string()) {
                origins.plain[path] = node.Scalar();
            }
            return v;
        }
        case YAML::NodeType::Sequence: {
            json arr = json::array();
            size_t i = 0;
            for (const auto& item : node) {
                arr.push_back(yaml_to_json(item, index_path(path, i), origins, document));
                ++i;
            }
            return arr;
        }
        case YAML::NodeType::Map: {
            json obj = json::object();
            for (const auto& kv : node) {
                if (!kv.first.IsScalar()) {
                    throw DocumentError(document, path, "keys must be plain strings",
                                        kv.first.Mark().line + 1);
                }
                const std::string key = kv.first.Scalar();
                const std::string p = child_path(path, key);
                if (obj.contains(key)) {
                    throw DocumentError(document, p, "duplicate key", kv.first.Mark().line + 1);
                }
                obj[key] = yaml_to_json(kv.second, p, origins, document);
            }
            return obj;
        }
    }
    return nullptr;
}

}  // namespace

// Rejects duplicate keys in JSON objects, which nlohmann would silently overwrite.
json parse_json(std::string_view text, const std::string& document) {
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
        (void)depth;
        switch (event) {
            case json::parse_event_t::object_start:
                keys.emplace_back();
                break;
            case json::parse_event_t::object_end:
                keys.pop_back();
                break;
            case json::parse_event_t::key:
                if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
                    duplicate.empty()) {
                    duplicate = parsed.get<std::string>();
                }
                break;
            default:
                break;
        }
        return true;
    };
    json j;
    try {
        j = json::parse(text.begin(), text.end(), cb);
    } catch (const json::exception& e) {
        throw DocumentError(document, "", std::string("malformed JSON: ") + e.what());
    }
    if (!duplicate.empty()) {
        throw DocumentError(document, "", "duplicate key '" + duplicate + "' in an object");
    }
    return j;
}

namespace {

// Reads typed fields out of a JSON value, naming the path of every problem.
class Decoder {
  public:
    Decoder(const std::string& document, const Origins& origins)
        : document_(document), origins_(origins) {}

    [[noreturn]] void fail(const std::string& path, const std::string& reason) const {
        throw DocumentError(document_, path, reason, line_of(path));
    }

    int line_of(const std::string& path) const {
        auto it = origins_.line.find(path);
        return it == origins_.line.end() ? 0 : it->second;
    }

    // Checks `j` is an object holding only `allowed` keys and all of `required`.
    void object(const json& j, const std::string& path, std::initializer_list<const char*> allowed,
                std::initializer_list<const char*> required = {}) const {
        if (!j.is_object()) {
            fail(path, "must be a mapping, got " + type_of(j));
        }
        for (const auto& [k, v] : j.items()) {
            bool ok = false;
            for (const char* a : allowed) {
                ok = ok || k == a;
            }
            if (!ok) {
                std::string list;
                for (const char* a : allowed) {
                    list += std::string(list.empty() ? "" : ", ") + a;
                }
                fail(child_path(path, k), "unknown key (expected one of: " + list + ")");
            }
        }
        for (const char* r : required) {
            if (!j.contains(r)) {
                fail(child_path(path, r), "is required");
            }
        }
    }

    const json* find(const json& obj, const char* key) const {
        auto it = obj.find(key);
        return it == obj.end() ? nullptr : &*it;
    }

    std::string string(const json& v, const std::string& path) const {
        if (v.is_string()) {
            return v.get<std::string>();
        }
        auto it = origins_.plain.find(path);
        if (it != origins_.plain.end() && !v.is_null()) {
            return it->second;
        }
        fail(path, "must be a string, got " + type_of(v));
    }

    uint64_t integer(const json& v, const std::string& path, uint64_t lo, uint64_t hi) const {
        std::string range = " between " + std::to_string(lo) + " and " + std::to_string(hi);
        if (v.is_number_unsigned()) {
            uint64_t x = v.get<uint64_t>();
            if (x < lo || x > hi) {
                fail(path, std::to_string(x) + " is out of range: must be" + range);
            }
            return x;
        }
        if (v.is_number_integer()) {
            int64_t x = v.get<int64_t>();
            if (x < 0 || static_cast<uint64_t>(x) < lo || static_cast<uint64_t>(x) > hi) {
                fail(path, std::to_string(x) + " is out of range: must be" + range);
            }
            return static_cast<uint64_t>(x);
        }
        if (v.is_number_float()) {
            double d = v.get<double>();
            if (std::isfinite(d) && d == std::floor(d)) {
                fail(path, "must be an integer" + range + ", got " + number_text(v, path));
            }
            fail(path, "must be an integer" + range + ", got " + number_text(v, path));
        }
        fail(path, "must be an integer" + range + ", got " + type_of(v));
    }

    bool boolean(const json& v, const std::string& path) const {
        if (!v.is_boolean()) {
            fail(path, "must be true or false, got " + type_of(v));
        }
        return v.get<bool>();
    }

    std::string name(const json& v, const std::string& path) const {
        std::string text = string(v, path);
        std::string reason;
        auto n = canonical_name(text, &reason);
        if (!n) {
            fail(path, reason);
        }
        return *n;
    }

    Address address(const json& v, const std::string& path) const {
        std::string reason;
        auto a = canonical_address(string(v, path), &reason);
        if (!a) {
            fail(path, reason);
        }
        return *a;
    }

    uint32_t duration_ms(const json& v, const std::string& path, uint64_t lo_ms,
                         uint64_t hi_ms) const {
        std::optional<uint64_t> ms;
        if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
            ms = v.get<uint64_t>() * 1000;
        } else if (v.is_string()) {
            ms = parse_duration_ms(v.get<std::string>());
        }
        if (!ms) {
            fail(path, "must be a duration like 500ms, 5s or 2m, got " +
                           (v.is_string() ? "'" + v.get<std::string>() + "'" : type_of(v)));
        }
        if (*ms < lo_ms || *ms > hi_ms) {
            fail(path, "must be between " + format_ms(lo_ms) + " and " + format_ms(hi_ms));
        }
        return static_cast<uint32_t>(*ms);
    }

    template <typename F>
    void each(const json& v, const std::string& path, F&& f) const {
        if (!v.is_array()) {
            fail(path, "must be a list, got " + type_of(v));
        }
        for (size_t i = 0; i < v.size(); ++i) {
            f(v[i], index_path(path, i));
        }
    }

  private:
    static std::string format_ms(uint64_t ms) {
        if (ms % 1000 == 0) {
            return std::to_string(ms / 1000) + "s";
        }
        return std::to_string(ms) + "ms";
    }

    std::string number_text(const json& v, const std::string& path) const {
        auto it = origins_.plain.find(path);
        if (it != origins_.plain.end()) {
            return it->second;
        }
        return v.dump();
    }

    static std::string type_of(const json& v) {
        switch (v.type()) {
            case json::value_t::null:
                return "null";
            case json::value_t::boolean:
                return "a boolean";
            case json::value_t::string:
                return "a string";
            case json::value_t::array:
                return "a list";
            case json::value_t::object:
                return "a mapping";
            default:
                return "a number";
        }
    }

    const std::string& document_;
    const Origins& origins_;
};

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

Monitor decode_monitor(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path,
             {"name", "type", "port", "path", "host", "method", "headers", "expect_status",
              "expect_body", "tls_verify", "ca_file", "interval", "timeout", "fall", "rise",
              "hold_down"},
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
    } else {
        d.fail(child_path(path, "type"), "'" + type + "' is not one of: http, https, tcp");
    }
    const bool web = m.type != MonitorType::Tcp;
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
    d.object(mj, mp, {"address", "weight", "admin"}, {"address"});
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
    return m;
}

Pool decode_pool(const Decoder& d, const json& j, const std::string& path) {
    d.object(j, path, {"name", "monitor", "min_healthy", "slow_start", "members"},
             {"name", "members"});
    Pool p;
    p.name = d.name(j["name"], child_path(path, "name"));
    if (auto* v = d.find(j, "monitor")) {
        p.monitor = d.name(*v, child_path(path, "monitor"));
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

namespace {
const Origins kNoOrigins;
}  // namespace

Zone zone_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_zone(Decoder(document, kNoOrigins), j, path);
}
Monitor monitor_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_monitor(Decoder(document, kNoOrigins), j, path);
}
Pool pool_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_pool(Decoder(document, kNoOrigins), j, path);
}
Member member_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_member(Decoder(document, kNoOrigins), j, path);
}
Balancer balancer_from_json(const json& j, const std::string& document, const std::string& path) {
    return decode_balancer(Decoder(document, kNoOrigins), j, path);
}
DesiredState state_from_json(const json& root, const std::string& document) {
    DesiredState state = decode(root, Decoder(document, kNoOrigins));
    validate(state, document);
    return state;
}

std::optional<uint64_t> parse_duration_ms(std::string_view text) {
    uint64_t n = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), n);
    if (r.ec != std::errc() || r.ptr == text.data()) {
        return std::nullopt;
    }
    std::string_view unit(r.ptr, static_cast<size_t>(text.data() + text.size() - r.ptr));
    uint64_t mult = 0;
    if (unit == "ms") {
        mult = 1;
    } else if (unit == "s" || unit.empty()) {
        mult = 1000;
    } else if (unit == "m") {
        mult = 60000;
    } else if (unit == "h") {
        mult = 3600000;
    } else {
        return std::nullopt;
    }
    if (n > std::numeric_limits<uint64_t>::max() / mult) {
        return std::nullopt;
    }
    return n * mult;
}

DesiredState parse_document(std::string_view text, const std::string& document) {
    Origins origins;
    json root;
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '{') {
        root = parse_json(text, document);
    } else {
        YAML::Node node;
        try {
            node = YAML::Load(std::string(text));
        } catch (const YAML::Exception& e) {
            throw DocumentError(document, "", "malformed YAML: " + e.msg, e.mark.line + 1);
        }
        if (!node.IsDefined() || node.IsNull()) {
            root = json::object();  // an empty document: nothing served
        } else {
            root = yaml_to_json(node, "", origins, document);
        }
    }
    Decoder d(document, origins);
    DesiredState state = decode(root, d);
    try {
        validate(state, document);
    } catch (const DocumentError& e) {
        throw DocumentError(document, e.path(), e.reason(), d.line_of(e.path()));
    }
    return state;
}

DesiredState load_document(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw DocumentError(path, "", std::string("cannot read: ") + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        throw DocumentError(path, "", "read error");
    }
    return parse_document(ss.str(), path);
}

}  // namespace gtm::store
