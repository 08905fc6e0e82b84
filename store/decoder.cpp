#include "store/decoder.h"

#include <cassert>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

namespace gtm::store {

using nlohmann::json;

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

namespace {

const Origins kNoOrigins;

// Digits and one of the units parse_duration_ms knows: a duration in form, whatever its size.
bool valid_duration_syntax(std::string_view text) {
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    const std::string_view unit = text.substr(digits);
    return digits > 0 &&
           (unit.empty() || unit == "ms" || unit == "s" || unit == "m" || unit == "h");
}

}  // namespace

Decoder::Decoder(std::string document) : document_(std::move(document)), origins_(kNoOrigins) {}

Decoder::Decoder(std::string document, const Origins& origins)
    : document_(std::move(document)), origins_(origins) {}

void Decoder::fail(const std::string& path, const std::string& reason) const {
    fail(path, reason, line_of(path));
}

void Decoder::fail(const std::string& path, const std::string& reason, int line) const {
    throw DocumentError(document_, path, reason, line);
}

int Decoder::line_of(const std::string& path) const {
    auto it = origins_.line.find(path);
    return it == origins_.line.end() ? 0 : it->second;
}

void Decoder::object(const json& j, const std::string& path,
                     std::initializer_list<const char*> allowed,
                     std::initializer_list<const char*> required) const {
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

const json* Decoder::find(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

std::string Decoder::string(const json& v, const std::string& path) const {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        // C APIs downstream (ldns, libcurl) would end the text at the NUL and drop the rest.
        if (s.find('\0') != std::string::npos) {
            fail(path, "contains a NUL character");
        }
        return s;
    }
    auto it = origins_.plain.find(path);
    if (it != origins_.plain.end() && !v.is_null()) {
        return it->second;
    }
    fail(path, "must be a string, got " + type_of(v));
}

uint64_t Decoder::integer(const json& v, const std::string& path, uint64_t lo, uint64_t hi) const {
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
        fail(path, "must be an integer" + range + ", got " + number_text(v, path));
    }
    fail(path, "must be an integer" + range + ", got " + type_of(v));
}

bool Decoder::boolean(const json& v, const std::string& path) const {
    if (!v.is_boolean()) {
        fail(path, "must be true or false, got " + type_of(v));
    }
    return v.get<bool>();
}

std::string Decoder::name(const json& v, const std::string& path) const {
    std::string text = string(v, path);
    std::string reason;
    auto n = canonical_name(text, &reason);
    if (!n) {
        fail(path, reason);
    }
    return *n;
}

Address Decoder::address(const json& v, const std::string& path) const {
    std::string reason;
    auto a = canonical_address(string(v, path), &reason);
    if (!a) {
        fail(path, reason);
    }
    return *a;
}

uint32_t Decoder::duration_ms(const json& v, const std::string& path, uint64_t lo_ms,
                              uint64_t hi_ms) const {
    // The result is a uint32_t of milliseconds: every caller's range fits (at most 49 days).
    assert(hi_ms <= std::numeric_limits<uint32_t>::max());
    const std::string range = "must be between " + format_ms(lo_ms) + " and " + format_ms(hi_ms);
    std::optional<uint64_t> ms;
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
        const uint64_t s = v.get<uint64_t>();
        if (s > std::numeric_limits<uint64_t>::max() / 1000) {
            fail(path, range + ", got " + number_text(v, path) + " seconds");
        }
        ms = s * 1000;
    } else if (v.is_string()) {
        const auto& text = v.get_ref<const std::string&>();
        ms = parse_duration_ms(text);
        if (!ms && valid_duration_syntax(text)) {
            fail(path, range + ", got '" + text + "'");  // well-formed, too large for 64 bits
        }
    }
    if (!ms) {
        fail(path, "must be a duration like 500ms, 5s or 2m, got " +
                       (v.is_string() ? "'" + v.get<std::string>() + "'" : type_of(v)));
    }
    if (*ms < lo_ms || *ms > hi_ms) {
        fail(path, range);
    }
    return static_cast<uint32_t>(*ms);
}

void Decoder::each(const json& v, const std::string& path,
                   const std::function<void(const json&, const std::string&)>& f) const {
    if (!v.is_array()) {
        fail(path, "must be a list, got " + type_of(v));
    }
    for (size_t i = 0; i < v.size(); ++i) {
        f(v[i], index_path(path, i));
    }
}

std::string Decoder::type_of(const json& v) {
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

std::string Decoder::format_ms(uint64_t ms) {
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

std::string Decoder::number_text(const json& v, const std::string& path) const {
    auto it = origins_.plain.find(path);
    if (it != origins_.plain.end()) {
        return it->second;
    }
    return v.dump();
}

}  // namespace gtm::store
