#include "store/names.h"

#include <arpa/inet.h>

#include <cctype>

namespace gtm::store {

namespace {

bool label_char_ok(unsigned char c) { return std::isalnum(c) != 0 || c == '-' || c == '_'; }

}  // namespace

std::optional<std::string> canonical_name(std::string_view text, std::string* reason) {
    auto fail = [&](std::string why) -> std::optional<std::string> {
        if (reason != nullptr) {
            *reason = std::move(why);
        }
        return std::nullopt;
    };
    if (text == ".") {
        return std::string();
    }
    if (text.empty()) {
        return fail("empty name");
    }
    if (text.back() == '.') {
        text.remove_suffix(1);
    }
    std::string out;
    out.reserve(text.size());
    size_t wire = 1;  // the root label
    size_t start = 0;
    bool first = true;
    while (start <= text.size()) {
        size_t dot = text.find('.', start);
        if (dot == std::string_view::npos) {
            dot = text.size();
        }
        std::string_view label = text.substr(start, dot - start);
        if (label.empty()) {
            return fail("empty label in '" + std::string(text) + "'");
        }
        if (label.size() > kMaxLabel) {
            return fail("label '" + std::string(label.substr(0, 20)) + "...' is " +
                        std::to_string(label.size()) + " bytes, over the limit of 63");
        }
        if (label == "*") {
            if (!first) {
                return fail("'*' is only allowed as the leftmost label");
            }
        } else {
            for (unsigned char c : label) {
                if (!label_char_ok(c)) {
                    return fail("invalid character '" + std::string(1, static_cast<char>(c)) +
                                "' in label '" + std::string(label) + "'");
                }
            }
        }
        wire += label.size() + 1;
        if (!out.empty()) {
            out.push_back('.');
        }
        for (unsigned char c : label) {
            out.push_back(static_cast<char>(std::tolower(c)));
        }
        first = false;
        start = dot + 1;
        if (dot == text.size()) {
            break;
        }
    }
    if (wire > kMaxNameWire) {
        return fail("name is " + std::to_string(wire) +
                    " bytes in wire form, over the limit of 255");
    }
    return out;
}

std::string name_to_wire(std::string_view canonical) {
    std::string wire;
    wire.reserve(canonical.size() + 2);
    size_t start = 0;
    while (start < canonical.size()) {
        size_t dot = canonical.find('.', start);
        if (dot == std::string_view::npos) {
            dot = canonical.size();
        }
        wire.push_back(static_cast<char>(dot - start));
        wire.append(canonical.substr(start, dot - start));
        start = dot + 1;
    }
    wire.push_back('\0');
    return wire;
}

bool in_zone(std::string_view name, std::string_view zone) {
    if (zone.empty()) {
        return true;
    }
    if (name.size() < zone.size()) {
        return false;
    }
    if (name.substr(name.size() - zone.size()) != zone) {
        return false;
    }
    return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

std::string_view parent_name(std::string_view name) {
    size_t dot = name.find('.');
    if (dot == std::string_view::npos) {
        return {};
    }
    return name.substr(dot + 1);
}

std::optional<Address> canonical_address(std::string_view text, std::string* reason) {
    std::string s(text);
    char buf[INET6_ADDRSTRLEN];
    if (s.find(':') == std::string::npos) {
        in_addr a4{};
        if (inet_pton(AF_INET, s.c_str(), &a4) != 1 ||
            inet_ntop(AF_INET, &a4, buf, sizeof buf) == nullptr || s != buf) {
            if (reason != nullptr) {
                *reason = "'" + s + "' is not an IPv4 address in canonical dotted-quad form";
            }
            return std::nullopt;
        }
        return Address{buf, Family::V4};
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, s.c_str(), &a6) != 1 ||
        inet_ntop(AF_INET6, &a6, buf, sizeof buf) == nullptr) {
        if (reason != nullptr) {
            *reason = "'" + s + "' is not an IPv6 address";
        }
        return std::nullopt;
    }
    return Address{buf, Family::V6};
}

}  // namespace gtm::store
