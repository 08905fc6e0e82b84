#include "web/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace gtm::web {

namespace {

std::string hex(const unsigned char* data, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 0xf]);
    }
    return out;
}

constexpr size_t kMaxAddresses = 10000;  // bounds the limiter's memory under a scan

}  // namespace

const char* to_string(Role r) {
    switch (r) {
        case Role::Viewer:
            return "viewer";
        case Role::Operator:
            return "operator";
        case Role::Admin:
            return "admin";
    }
    return "?";
}

std::optional<Role> role_from(const std::string& s) {
    for (Role r : {Role::Viewer, Role::Operator, Role::Admin}) {
        if (s == to_string(r)) {
            return r;
        }
    }
    return std::nullopt;
}

std::string new_secret() {
    unsigned char bytes[20];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        throw std::runtime_error("no randomness for a token");
    }
    return "gtm_" + hex(bytes, sizeof bytes);
}

std::string hash_secret(const std::string& secret) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(secret.data(), secret.size(), digest, &len, EVP_sha256(), nullptr);
    return hex(digest, len);
}

void Authenticator::load(const std::vector<store::Token>& tokens) {
    known_.clear();
    for (const auto& t : tokens) {
        if (auto r = role_from(t.role)) {
            known_.push_back({t.name, *r, t.hash});
        }
    }
}

std::optional<Identity> Authenticator::check(const std::string& header) const {
    static const std::string kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
        return std::nullopt;
    }
    const std::string presented = hash_secret(header.substr(kBearer.size()));
    std::optional<Identity> found;
    for (const auto& k : known_) {
        // Every known hash is compared, each in constant time.
        if (k.hash.size() == presented.size() &&
            CRYPTO_memcmp(k.hash.data(), presented.data(), presented.size()) == 0) {
            found = Identity{k.name, k.role};
        }
    }
    return found;
}

bool FailureLimiter::blocked(const std::string& address, int64_t now_ms) {
    auto it = entries_.find(address);
    if (it == entries_.end()) {
        return false;
    }
    if (now_ms - it->second.window_start_ms >= window_ms_) {
        entries_.erase(it);
        return false;
    }
    return it->second.failures >= max_;
}

void FailureLimiter::failed(const std::string& address, int64_t now_ms) {
    if (entries_.size() >= kMaxAddresses) {
        for (auto it = entries_.begin(); it != entries_.end();) {
            it = now_ms - it->second.window_start_ms >= window_ms_ ? entries_.erase(it)
                                                                   : std::next(it);
        }
        if (entries_.size() >= kMaxAddresses) {
            entries_.erase(entries_.begin());
        }
    }
    Entry& e = entries_[address];
    if (e.failures == 0 || now_ms - e.window_start_ms >= window_ms_) {
        e = Entry{now_ms, 0};
    }
    ++e.failures;
}

uint32_t FailureLimiter::retry_after_s(const std::string& address, int64_t now_ms) const {
    auto it = entries_.find(address);
    if (it == entries_.end()) {
        return 0;
    }
    const int64_t left = it->second.window_start_ms + window_ms_ - now_ms;
    return left <= 0 ? 0 : static_cast<uint32_t>((left + 999) / 1000);
}

}  // namespace gtm::web
