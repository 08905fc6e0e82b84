#include "web/webhooks.h"

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "store/encode.h"

namespace gtm::web {

using nlohmann::json;

namespace {

constexpr size_t kBatch = 100;
constexpr int64_t kBackoffMaxMs = 60000;

std::string iso_utc(int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
    return std::string(buf) + ms;
}

std::string text_of(const store::Event& e, const json& fields) {
    const std::string at = e.node.empty() ? "gtmd" : "gtmd " + e.node;
    if (e.type == "verdict") {
        return at + ": " + e.monitor + " " + e.address + " [" + e.pools + "] " + e.from + " -> " +
               e.to + " (" + e.reason + (e.detail.empty() ? "" : ": " + e.detail) + ")";
    }
    std::string text;
    for (const auto& [k, v] : fields.items()) {
        if (k != "id" && k != "at_ms" && k != "at" && k != "type" && k != "node") {
            text += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
    return at + ": " + e.type + text;
}

}  // namespace

std::string webhook_body(const store::Event& e) {
    json body = store::to_json(e);  // what GET /api/v1/events lists
    body["at"] = iso_utc(e.at_ms);
    body["text"] = text_of(e, body);  // what Slack-like receivers show
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
    static const char* const kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kDigits[mac[i] >> 4]);
        out.push_back(kDigits[mac[i] & 15]);
    }
    return out;
}

struct Webhooks::Hook {
    WebhookConfig config;
    std::thread thread;
    mutable std::mutex mu;
    WebhookStats stats;
};

Webhooks::Webhooks(store::Store& store, std::vector<WebhookConfig> hooks, std::string node)
    : store_(store), node_(std::move(node)) {
    for (auto& c : hooks) {
        auto h = std::make_unique<Hook>();
        h->stats.name = c.name;
        for (const char* r : {"ok", "http_error", "connect_error", "timeout"}) {
            h->stats.deliveries[r] = 0;
        }
        h->config = std::move(c);
        hooks_.push_back(std::move(h));
    }
}

Webhooks::~Webhooks() { stop(); }

void Webhooks::start() {
    for (auto& h : hooks_) {
        h->thread = std::thread([this, hook = h.get()] { run(*hook); });
    }
}

void Webhooks::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& h : hooks_) {
        if (h->thread.joinable()) {
            h->thread.join();
        }
    }
}

void Webhooks::wake() {
    {
        std::lock_guard lock(mu_);
        ++wakes_;
    }
    cv_.notify_all();
}

bool Webhooks::wait(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    const uint64_t seen = wakes_;
    cv_.wait_for(lock, d, [&] { return stopping_ || wakes_ != seen; });
    return !stopping_;
}

std::vector<WebhookStats> Webhooks::stats() const {
    std::vector<WebhookStats> out;
    for (const auto& h : hooks_) {
        std::lock_guard lock(h->mu);
        out.push_back(h->stats);
    }
    return out;
}

void Webhooks::run(Hook& h) {
    const std::string cursor_key = "webhook:" + h.config.name;
    int64_t cursor = -1;
    int64_t backoff_ms = 0;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            if (stopping_) {
                return;
            }
        }
        try {
            if (cursor < 0) {
                // The durable cursor; a webhook configured for the first time starts at the
                // newest event (it is told what happens from now on, not the whole history).
                if (auto saved = store_.setting(cursor_key)) {
                    cursor = std::stoll(*saved);
                } else {
                    int64_t last = 0;
                    for (auto page = store_.events(0, 1000); !page.empty();
                         page = store_.events(last, 1000)) {
                        last = page.back().id;
                    }
                    cursor = last;
                    store_.set_setting(cursor_key, std::to_string(cursor));
                }
            }
            const auto batch = store_.events(cursor, kBatch);
            {
                std::lock_guard lock(h.mu);
                h.stats.queue_depth = batch.size();
            }
            if (batch.empty()) {
                if (!wait(std::chrono::seconds(1))) {
                    return;
                }
                continue;
            }
            for (const auto& e : batch) {
                const bool mine = node_.empty() || e.node.empty() || e.node == node_;
                const bool wanted = h.config.events.empty() || h.config.events.count(e.type) != 0;
                if (mine && wanted) {
                    while (!deliver(h, e)) {
                        backoff_ms =
                            std::min(kBackoffMaxMs, backoff_ms == 0 ? 1000 : backoff_ms * 2);
                        if (!wait(std::chrono::milliseconds(backoff_ms))) {
                            return;
                        }
                    }
                    backoff_ms = 0;
                }
                cursor = e.id;
                store_.set_setting(cursor_key, std::to_string(cursor));
                std::lock_guard lock(h.mu);
                h.stats.queue_depth = h.stats.queue_depth > 0 ? h.stats.queue_depth - 1 : 0;
            }
        } catch (const std::exception& ex) {
            // The store cannot be read or written now: try again shortly.
            spdlog::warn("webhook {}: {}", h.config.name, ex.what());
            if (!wait(std::chrono::seconds(1))) {
                return;
            }
        }
    }
}

bool Webhooks::deliver(Hook& h, const store::Event& e) {
    const std::string body = webhook_body(e);
    CURL* c = curl_easy_init();
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Gtm-Event: " + e.type).c_str());
    headers = curl_slist_append(headers, ("X-Gtm-Delivery: " + std::to_string(e.id)).c_str());
    if (!h.config.secret.empty()) {
        headers = curl_slist_append(
            headers, ("X-Gtm-Signature: sha256=" + hmac_sha256_hex(h.config.secret, body)).c_str());
    }
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, h.config.url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(h.config.timeout_ms));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(h.config.timeout_ms));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gtmd-webhook/0.1");
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    const char* result = "ok";
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        result = "timeout";
    } else if (rc != CURLE_OK) {
        result = "connect_error";
    } else if (status < 200 || status >= 300) {
        result = "http_error";
    }
    std::lock_guard lock(h.mu);
    ++h.stats.deliveries[result];
    if (std::string(result) == "ok") {
        h.stats.last_success_unix_ms = unix_ms();
        return true;
    }
    return false;
}

}  // namespace gtm::web
