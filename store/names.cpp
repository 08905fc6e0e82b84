#include "store/names.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstdint>

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

namespace {

struct Bytes {
    bool v6 = false;
    uint8_t b[16] = {};
};

Bytes address_bytes(std::string_view canonical) {
    Bytes out;
    const std::string s(canonical);
    out.v6 = family_of(canonical) == Family::V6;
    inet_pton(out.v6 ? AF_INET6 : AF_INET, s.c_str(), out.b);
    return out;
}

bool all_zero(const uint8_t* b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string unusable_address(std::string_view canonical) {
    const Bytes a = address_bytes(canonical);
    const uint8_t* b = a.b;
    if (!a.v6) {
        if (b[0] == 0) {
            return "0.0.0.0/8 is 'this network' (RFC 1122): no client can reach it";
        }
        if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) {
            return "255.255.255.255 is the broadcast address";
        }
        if (b[0] >= 224 && b[0] <= 239) {
            return "224.0.0.0/4 is multicast";
        }
        if (b[0] >= 240) {
            return "240.0.0.0/4 is reserved (RFC 1112): no client can reach it";
        }
        return "";
    }
    if (b[0] == 0xff) {
        return "ff00::/8 is multicast";
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
        return "fe80::/10 is link-local: it means nothing without the client's interface";
    }
    if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) {
        return "::ffff:0:0/96 is IPv4-mapped: put the IPv4 address in an A answer instead";
    }
    if (all_zero(b, 16)) {
        return ":: is the unspecified address";
    }
    return "";
}

std::string doubtful_address(std::string_view canonical) {
    const Bytes a = address_bytes(canonical);
    const uint8_t* b = a.b;
    if (!a.v6) {
        if ((b[0] == 192 && b[1] == 0 && b[2] == 2) || (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
            (b[0] == 203 && b[1] == 0 && b[2] == 113)) {
            return "a documentation address (RFC 5737)";
        }
        if (b[0] == 169 && b[1] == 254) {
            return "a link-local address (169.254.0.0/16): clients elsewhere cannot reach it";
        }
        return "";
    }
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) {
        return "a documentation address (RFC 3849)";
    }
    // Kept as a warning: test rigs write "::2" for "some IPv6 address".
    if (all_zero(b, 12) && !(all_zero(b, 15) && b[15] == 1)) {
        return "IPv4-compatible IPv6 (::/96), deprecated by RFC 4291 §2.5.5.1: nothing routes it";
    }
    return "";
}

}  // namespace gtm::store
