// Domain names and addresses as the model keeps them: names absolute, in canonical lower case
// without the trailing dot; addresses in the canonical text form of inet_ntop.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gtm::store {

inline constexpr size_t kMaxNameWire = 255;  // RFC 1035 §2.3.4
inline constexpr size_t kMaxLabel = 63;

// Checks a name written in text ("Bookinfo.gtm.example.com." or without the dot) and returns
// its canonical form, or nullopt with `reason` set. Labels are letters, digits, '-', '_', and
// '*' alone as the leftmost label. The root is "".
std::optional<std::string> canonical_name(std::string_view text, std::string* reason);

// The uncompressed wire form of a canonical name.
std::string name_to_wire(std::string_view canonical);

// True when `name` is `zone` or below it (both canonical).
bool in_zone(std::string_view name, std::string_view zone);

// The parent of a canonical name ("a.b" -> "b", "b" -> "", "" -> "").
std::string_view parent_name(std::string_view name);

enum class Family { V4, V6 };

// The family of a canonical address (an IPv6 address has a ':', an IPv4 one never does).
inline Family family_of(std::string_view address) {
    return address.find(':') == std::string_view::npos ? Family::V4 : Family::V6;
}

struct Address {
    std::string text;  // canonical
    Family family;
};

// Parses an IPv4 or IPv6 address. IPv4 must be in the canonical dotted-quad form: "127.1",
// "0177.0.0.1" and " 127.0.0.1" are rejected, as resolvers and operators would misread them.
std::optional<Address> canonical_address(std::string_view text, std::string* reason);

// Why a canonical address cannot be a member or fallback address (no client could use it as the
// answer to its query), or "" when it can: 0.0.0.0/8, 255.255.255.255 and the rest of 240/4,
// multicast (224/4, ff00::/8), "::", IPv4-mapped IPv6 (::ffff:0:0/96), link-local IPv6
// (fe80::/10, meaningless without an interface). Loopback is allowed: the tests and the demo use
// it.
std::string unusable_address(std::string_view canonical);

// Why a canonical address is doubtful as an answer although it can be served, or "": the
// documentation ranges (RFC 5737, RFC 3849), IPv4 link-local (169.254/16) and IPv4-compatible
// IPv6 (::/96 but "::" and "::1").
std::string doubtful_address(std::string_view canonical);

}  // namespace gtm::store
