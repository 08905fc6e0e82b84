// API tokens: generated secrets, stored only as SHA-256, compared in constant time; roles; and
// the limit on failed attempts per client address.
//
// Used on the web thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace gtm::web {

enum class Role : uint8_t { Viewer = 0, Operator = 1, Admin = 2 };
const char* to_string(Role r);
std::optional<Role> role_from(const std::string& s);

// A new secret: "gtm_" and 40 hex characters from the OS's random source.
std::string new_secret();
// Hex SHA-256 of a secret; the only form a token is stored in.
std::string hash_secret(const std::string& secret);

struct Identity {
    std::string name;
    Role role;
};

class Authenticator {
  public:
    // Replaces the known tokens (after a token was created or revoked).
    void load(const std::vector<store::Token>& tokens);

    // The token presented as "Authorization: Bearer <secret>", checked against every known
    // hash with a constant-time comparison.
    std::optional<Identity> check(const std::string& authorization_header) const;

  private:
    struct Known {
        std::string name;
        Role role;
        std::string hash;
    };
    std::vector<Known> known_;
};

// Counts failed authentications per client address. After `max_failures` within `window_ms`
// the address is refused with 429 until the window has passed — only for requests without a
// valid token: the API checks the token first, so that failures from an address (a NAT, a
// proxy, an attacker beside the operator) never lock out a valid token behind it.
class FailureLimiter {
  public:
    FailureLimiter(uint32_t max_failures = 10, uint32_t window_ms = 60000)
        : max_(max_failures), window_ms_(window_ms) {}

    bool blocked(const std::string& address, int64_t now_ms);
    void failed(const std::string& address, int64_t now_ms);
    // Seconds until `address` may try again.
    uint32_t retry_after_s(const std::string& address, int64_t now_ms) const;

  private:
    struct Entry {
        int64_t window_start_ms = 0;
        uint32_t failures = 0;
    };
    uint32_t max_;
    uint32_t window_ms_;
    std::map<std::string, Entry> entries_;
};

}  // namespace gtm::web
