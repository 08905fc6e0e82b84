#include "web/alertmanager.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "store/errors.h"
#include "store/names.h"

namespace gtm::web {

using nlohmann::json;

namespace {

constexpr const char* kDoc = "request body";

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
    throw store::DocumentError(kDoc, path, reason);
}

const std::string& string_at(const json& obj, const std::string& key, const std::string& path) {
    const auto it = obj.find(key);
    if (it == obj.end()) {
        fail(path, "is required");
    }
    if (!it->is_string()) {
        fail(path, "must be a string");
    }
    return it->get_ref<const std::string&>();
}

// 64-bit FNV-1a over the sorted label set: the identity of an alert that came without
// Alertmanager's fingerprint (Alertmanager's own is a hash of the label set too).
std::string fingerprint_of(const json& labels) {
    uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s) {
            h = (h ^ c) * 0x100000001b3ull;
        }
        h = (h ^ 0xff) * 0x100000001b3ull;
    };
    for (const auto& [k, v] : labels.items()) {  // nlohmann's object keeps keys sorted
        mix(k);
        mix(v.get_ref<const std::string&>());
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace

std::optional<int64_t> parse_rfc3339_ms(std::string_view t) {
    auto digits = [&](size_t at, size_t n, int& out) {
        if (at + n > t.size()) {
            return false;
        }
        out = 0;
        for (size_t i = at; i < at + n; ++i) {
            if (t[i] < '0' || t[i] > '9') {
                return false;
            }
            out = out * 10 + (t[i] - '0');
        }
        return true;
    };
    int year, mon, day, hour, min, sec;
    if (!digits(0, 4, year) || t.size() < 20 || t[4] != '-' || !digits(5, 2, mon) || t[7] != '-' ||
        !digits(8, 2, day) || (t[10] != 'T' && t[10] != 't') || !digits(11, 2, hour) ||
        t[13] != ':' || !digits(14, 2, min) || t[16] != ':' || !digits(17, 2, sec)) {
        return std::nullopt;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return std::nullopt;
    }
    size_t at = 19;
    int64_t frac_ms = 0;
    if (at < t.size() && t[at] == '.') {
        ++at;
        const size_t start = at;
        int64_t scale = 100;
        while (at < t.size() && t[at] >= '0' && t[at] <= '9') {
            frac_ms += (t[at] - '0') * scale;
            scale /= 10;
            ++at;
        }
        if (at == start) {
            return std::nullopt;
        }
    }
    int64_t offset_s = 0;
    if (at < t.size() && (t[at] == 'Z' || t[at] == 'z')) {
        ++at;
    } else if (at < t.size() && (t[at] == '+' || t[at] == '-')) {
        int oh, om;
        if (!digits(at + 1, 2, oh) || at + 3 >= t.size() || t[at + 3] != ':' ||
            !digits(at + 4, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_s = (t[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != t.size()) {
        return std::nullopt;
    }
    // Days from the civil date (Howard Hinnant's algorithm): no time zone, no year 1 trouble.
    const int y = year - (mon <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
    const int64_t s = days * 86400 + hour * 3600 + min * 60 + sec - offset_s;
    return s * 1000 + frac_ms;
}

DecodedAlerts decode_alertmanager(const json& body, const AlertmanagerSettings& settings,
                                  int64_t now_unix_ms, int64_t now_mono_ms) {
    if (!body.is_object()) {
        fail("", "must be Alertmanager's webhook payload (a JSON object)");
    }
    const std::string& version = string_at(body, "version", "version");
    if (version != "4") {
        fail("version", "'" + version +
                            "' is not supported: Alertmanager's webhook payload "
                            "version 4 is");
    }
    const auto alerts = body.find("alerts");
    if (alerts == body.end()) {
        fail("alerts", "is required");
    }
    if (!alerts->is_array()) {
        fail("alerts", "must be a list");
    }
    DecodedAlerts out;
    for (size_t i = 0; i < alerts->size(); ++i) {
        const json& a = (*alerts)[i];
        const std::string path = "alerts[" + std::to_string(i) + "]";
        if (!a.is_object()) {
            fail(path, "must be an object");
        }
        const std::string& status = string_at(a, "status", path + ".status");
        if (status != "firing" && status != "resolved") {
            fail(path + ".status", "'" + status + "' is not one of: firing, resolved");
        }
        const auto labels = a.find("labels");
        if (labels == a.end()) {
            fail(path + ".labels", "is required");
        }
        if (!labels->is_object()) {
            fail(path + ".labels", "must be an object");
        }
        for (const auto& [k, v] : labels->items()) {
            if (!v.is_string()) {
                fail(path + ".labels." + k, "must be a string");
            }
        }
        const std::string& name = string_at(*labels, "alertname", path + ".labels.alertname");
        if (name.empty() || name.size() > 200) {
            fail(path + ".labels.alertname", "must be 1-200 characters");
        }
        int64_t ends_ms = 0;
        bool has_end = false;
        if (const auto e = a.find("endsAt"); e != a.end()) {
            if (!e->is_string()) {
                fail(path + ".endsAt", "must be an RFC 3339 time");
            }
            const auto t = parse_rfc3339_ms(e->get_ref<const std::string&>());
            if (!t) {
                fail(path + ".endsAt", "'" + e->get<std::string>() + "' is not an RFC 3339 time");
            }
            // Alertmanager sends firing alerts with endsAt 0001-01-01T00:00:00Z: no end known.
            has_end = *t > 0;
            ends_ms = *t;
        }
        std::string fingerprint;
        if (const auto f = a.find("fingerprint"); f != a.end()) {
            if (!f->is_string() || f->get_ref<const std::string&>().empty()) {
                fail(path + ".fingerprint", "must be a non-empty string");
            }
            fingerprint = f->get<std::string>();
        } else {
            fingerprint = fingerprint_of(*labels);
        }
        health::AlertNotice n;
        n.name = name;
        n.fingerprint = fingerprint;
        n.firing = status == "firing";
        if (const auto p = labels->find(settings.pool_label); p != labels->end()) {
            std::string reason;
            const auto canonical = store::canonical_name(p->get_ref<const std::string&>(), &reason);
            if (!canonical) {
                fail(path + ".labels." + settings.pool_label, reason);
            }
            n.pool = *canonical;
        }
        if (const auto m = labels->find(settings.member_label); m != labels->end()) {
            std::string reason;
            const auto addr = store::canonical_address(m->get_ref<const std::string&>(), &reason);
            if (!addr) {
                fail(path + ".labels." + settings.member_label, reason);
            }
            n.member = addr->text;
        }
        if (n.pool.empty() && n.member.empty()) {
            ++out.ignored;  // an alert of the group that is not about gtmd's members
            continue;
        }
        const int64_t base_ms = has_end ? ends_ms : now_unix_ms;
        n.expires_ms = now_mono_ms + (base_ms - now_unix_ms) + settings.grace_ms;
        out.notices.push_back(std::move(n));
    }
    return out;
}

}  // namespace gtm::web
