#include "store/encode.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>

namespace gtm::store {

using nlohmann::json;

std::string format_duration(uint64_t ms) {
    if (ms != 0 && ms % 3600000 == 0) {
        return std::to_string(ms / 3600000) + "h";
    }
    if (ms != 0 && ms % 60000 == 0) {
        return std::to_string(ms / 60000) + "m";
    }
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

json to_json(const Zone& z) {
    json soa = {{"mname", z.soa.mname},   {"rname", z.soa.rname},     {"refresh", z.soa.refresh_s},
                {"retry", z.soa.retry_s}, {"expire", z.soa.expire_s}, {"minimum", z.soa.minimum_s},
                {"ttl", z.soa.ttl_s}};
    if (z.soa.serial) {
        soa["serial"] = *z.soa.serial;
    }
    return {{"name", z.name}, {"soa", soa}, {"ns", z.ns}, {"ttl", z.ttl_s}, {"records", z.records}};
}

json to_json(const Monitor& m) {
    json j = {{"name", m.name}, {"type", to_string(m.type)}, {"port", m.port}};
    if (m.type == MonitorType::Http || m.type == MonitorType::Https) {
        json status = json::array();
        for (const auto& r : m.expect_status) {
            status.push_back(r.from == r.to ? std::to_string(r.from)
                                            : std::to_string(r.from) + "-" + std::to_string(r.to));
        }
        j["path"] = m.path;
        if (!m.host.empty()) {
            j["host"] = m.host;
        }
        j["method"] = m.method;
        j["headers"] = m.headers;
        j["expect_status"] = status;
        if (!m.expect_body.empty()) {
            j["expect_body"] = m.expect_body;
        }
    }
    if (m.type == MonitorType::Promql) {
        j.erase("port");
        // The shortest text that reads back as the same double: "0.1", not 0.10000000000000001.
        char threshold[64];
        for (int digits = 6; digits <= 17; ++digits) {
            std::snprintf(threshold, sizeof threshold, "%.*g", digits, m.fail_threshold);
            if (std::strtod(threshold, nullptr) == m.fail_threshold) {
                break;
            }
        }
        j["url"] = m.url;
        j["query"] = m.query;
        j["match_label"] = m.match_label;
        j["match_value"] = m.match_value;
        j["fail_if"] = std::string(to_string(m.fail_op)) + " " + threshold;
        j["no_data"] = to_string(m.no_data);
    }
    if (m.type == MonitorType::Https) {
        j["tls_verify"] = m.tls_verify;
        if (!m.ca_file.empty()) {
            j["ca_file"] = m.ca_file;
        }
    }
    j["interval"] = format_duration(m.interval_ms);
    j["timeout"] = format_duration(m.timeout_ms);
    j["fall"] = m.fall;
    j["rise"] = m.rise;
    j["hold_down"] = format_duration(m.hold_down_ms);
    return j;
}

json to_json(const Member& m) {
    json j = {{"address", m.address}, {"weight", m.weight}, {"admin", to_string(m.admin)}};
    if (!m.labels.empty()) {
        j["labels"] = m.labels;
    }
    return j;
}

json pool_fields_to_json(const Pool& p) {
    json j = {{"name", p.name}};
    // One monitor is written as it is most often read: `monitor: x`.
    if (p.monitors.size() == 1) {
        j["monitor"] = p.monitors.front();
    } else if (p.monitors.size() > 1) {
        j["monitors"] = p.monitors;
    }
    if (p.combine.mode == CombineMode::Any) {
        j["combine"] = "any";
    } else if (p.combine.mode == CombineMode::Quorum) {
        j["combine"] = {{"quorum", p.combine.quorum}};
    }
    j["min_healthy"] = p.min_healthy;
    j["slow_start"] = format_duration(p.slow_start_ms);
    return j;
}

json to_json(const Pool& p) {
    json j = pool_fields_to_json(p);
    j["members"] = json::array();
    for (const auto& m : p.members) {
        j["members"].push_back(to_json(m));
    }
    return j;
}

json to_json(const Balancer& b) {
    json pools = json::array();
    for (const auto& bp : b.pools) {
        pools.push_back({{"pool", bp.pool}, {"priority", bp.priority}, {"weight", bp.weight}});
    }
    json j = {{"name", b.name},
              {"ttl", b.ttl_s},
              {"degraded_ttl", b.degraded_ttl_s},
              {"max_answers", b.max_answers},
              {"when_all_down", to_string(b.when_all_down)}};
    if (!b.fallback.empty()) {
        j["fallback"] = b.fallback;
    }
    j["pools"] = pools;
    return j;
}

json to_json(const DesiredState& s) {
    json out = json::object();
    auto list = [](const auto& items) {
        json a = json::array();
        for (const auto& i : items) {
            a.push_back(to_json(i));
        }
        return a;
    };
    out["zones"] = list(s.zones);
    out["monitors"] = list(s.monitors);
    out["pools"] = list(s.pools);
    out["balancers"] = list(s.balancers);
    return out;
}

namespace {

void emit(YAML::Emitter& e, const json& j) {
    switch (j.type()) {
        case json::value_t::object:
            e << YAML::BeginMap;
            for (const auto& [k, v] : j.items()) {
                e << YAML::Key << k << YAML::Value;
                emit(e, v);
            }
            e << YAML::EndMap;
            break;
        case json::value_t::array:
            e << YAML::BeginSeq;
            for (const auto& v : j) {
                emit(e, v);
            }
            e << YAML::EndSeq;
            break;
        case json::value_t::string:
            // Quoted, so that "10", "true" or "127.1" read back as the strings they are.
            e << YAML::DoubleQuoted << j.get<std::string>();
            break;
        case json::value_t::boolean:
            e << j.get<bool>();
            break;
        case json::value_t::number_unsigned:
            e << j.get<uint64_t>();
            break;
        case json::value_t::number_integer:
            e << j.get<int64_t>();
            break;
        case json::value_t::number_float:
            e << j.get<double>();
            break;
        default:
            e << YAML::Null;
            break;
    }
}

}  // namespace

std::string to_yaml(const json& document) {
    YAML::Emitter e;
    emit(e, document);
    return std::string(e.c_str()) + "\n";
}

json to_json(const Event& e) {
    json out = {{"id", e.id}, {"at_ms", e.at_ms}, {"type", e.type}};
    if (!e.node.empty()) {
        out["node"] = e.node;
    }
    if (e.type == "verdict") {
        out.update({{"monitor", e.monitor},
                    {"address", e.address},
                    {"pools", e.pools},
                    {"from", e.from},
                    {"to", e.to},
                    {"reason", e.reason},
                    {"detail", e.detail},
                    {"http_status", e.http_status},
                    {"latency_ms", e.latency_ms}});
    } else if (const json data = json::parse(e.data, nullptr, false); data.is_object()) {
        out.update(data);
    }
    return out;
}

json to_json(const Vote& v) {
    return {{"node", v.node},
            {"verdict", v.verdict},
            {"suspect", v.suspect},
            {"at_ms", v.at_unix_ms},
            {"reason", v.reason},
            {"detail", v.detail},
            {"http_status", v.http_status},
            {"latency_ms", v.latency_ms}};
}

std::optional<Vote> vote_from_json(const json& j) {
    if (!j.is_object()) {
        return std::nullopt;
    }
    Vote v;
    v.node = j.value("node", "");
    v.verdict = j.value("verdict", "unknown");
    v.suspect = j.value("suspect", false);
    v.at_unix_ms = j.value("at_ms", int64_t{0});
    v.reason = j.value("reason", "");
    v.detail = j.value("detail", "");
    v.http_status = j.value("http_status", 0);
    v.latency_ms = j.value("latency_ms", 0u);
    return v;
}

}  // namespace gtm::store
