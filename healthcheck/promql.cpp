#include "healthcheck/promql.h"

#include <curl/curl.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

namespace gtm::health {

using nlohmann::json;

std::optional<std::string> expand_template(const std::string& tmpl, const std::string& address,
                                           const std::string& pool, const std::string& monitor,
                                           const std::map<std::string, std::string>& labels,
                                           std::string* missing) {
    std::string out;
    size_t at = 0;
    for (;;) {
        const size_t open = tmpl.find("{{", at);
        if (open == std::string::npos) {
            out.append(tmpl, at, std::string::npos);
            return out;
        }
        const size_t close = tmpl.find("}}", open + 2);
        if (close == std::string::npos) {
            out.append(tmpl, at, std::string::npos);  // validate() refuses an unclosed one
            return out;
        }
        out.append(tmpl, at, open - at);
        const std::string name = tmpl.substr(open + 2, close - open - 2);
        if (name == "address") {
            out += address;
        } else if (name == "pool") {
            out += pool;
        } else if (name == "monitor") {
            out += monitor;
        } else if (auto l = labels.find(name); l != labels.end()) {
            out += l->second;
        } else {
            if (missing != nullptr) {
                *missing = name;
            }
            return std::nullopt;
        }
        at = close + 2;
    }
}

std::string promql_query_url(const store::Monitor& m) {
    const std::string query = expand_template(m.query, "", "", m.name, {}).value_or(m.query);
    std::unique_ptr<char, decltype(&curl_free)> enc(
        curl_easy_escape(nullptr, query.c_str(), static_cast<int>(query.size())), &curl_free);
    std::string base = m.url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    return base + "/api/v1/query?query=" + (enc ? enc.get() : "");
}

QueryOutcome parse_query_response(const std::string& body, long http_status,
                                  const std::string& match_label) {
    QueryOutcome out;
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        out.error = "HTTP " + std::to_string(http_status) + ": not Prometheus's JSON answer";
        return out;
    }
    if (j.value("status", "") != "success") {
        out.error = "HTTP " + std::to_string(http_status) + ": " + j.value("errorType", "error") +
                    ": " + j.value("error", "");
        return out;
    }
    const json* data = j.contains("data") ? &j["data"] : nullptr;
    if (data == nullptr || !data->is_object() || data->value("resultType", "") != "vector" ||
        !data->contains("result") || !(*data)["result"].is_array()) {
        out.error = "the query must return an instant vector (one series per member)";
        return out;
    }
    for (const auto& series : (*data)["result"]) {
        if (!series.is_object() || !series.contains("metric") || !series.contains("value")) {
            continue;
        }
        const json& metric = series["metric"];
        const json& value = series["value"];
        if (!metric.is_object() || !metric.contains(match_label) ||
            !metric[match_label].is_string() || !value.is_array() || value.size() != 2 ||
            !value[1].is_string()) {
            continue;  // a series without the label names no member
        }
        const std::string& text = value[1].get_ref<const std::string&>();
        double v = NAN;
        if (text == "NaN") {
            v = NAN;
        } else if (text == "+Inf") {
            v = INFINITY;
        } else if (text == "-Inf") {
            v = -INFINITY;
        } else {
            char* end = nullptr;
            v = std::strtod(text.c_str(), &end);
            if (end == text.c_str()) {
                continue;
            }
        }
        out.values[metric[match_label].get<std::string>()] = v;
    }
    out.ok = true;
    return out;
}

bool fails(store::Comparison op, double threshold, double value) {
    if (std::isnan(value)) {
        return false;  // promql_result() never asks: NaN is no data
    }
    switch (op) {
        case store::Comparison::Gt:
            return value > threshold;
        case store::Comparison::Ge:
            return value >= threshold;
        case store::Comparison::Lt:
            return value < threshold;
        case store::Comparison::Le:
            return value <= threshold;
        case store::Comparison::Eq:
            return value == threshold;
        case store::Comparison::Ne:
            return value != threshold;
    }
    return false;
}

std::optional<ProbeResult> promql_result(const store::Monitor& m, const std::string& match_value,
                                         const QueryOutcome& outcome) {
    ProbeResult r;
    auto it = outcome.values.find(match_value);
    // NaN is no data too: an error ratio over a window without requests is 0/0. Read as a
    // pass, a region taken out for its errors would lose its traffic and come back failing.
    if (it == outcome.values.end() || std::isnan(it->second)) {
        const std::string what =
            it == outcome.values.end()
                ? "no series with " + m.match_label + "=\"" + match_value + "\""
                : "NaN for " + m.match_label + "=\"" + match_value + "\" (0/0: no traffic)";
        switch (m.no_data) {
            case store::NoData::Unknown:
                return std::nullopt;
            case store::NoData::Up:
                r.detail = what + " (no_data: up)";
                return r;
            case store::NoData::Down:
                r.reason = Reason::NoData;
                r.detail = what;
                return r;
        }
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", it->second);
    char thr[64];
    std::snprintf(thr, sizeof thr, "%g", m.fail_threshold);
    if (fails(m.fail_op, m.fail_threshold, it->second)) {
        r.reason = Reason::Threshold;
        r.detail = std::string(buf) + " " + store::to_string(m.fail_op) + " " + thr;
    } else {
        r.detail = std::string(buf);
    }
    return r;
}

}  // namespace gtm::health
