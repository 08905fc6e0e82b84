// Webhooks: every event (store/store.h Event) delivered to each configured receiver as JSON,
// signed with HMAC-SHA256, at least once and in order, from a durable cursor in the store.
//
// One thread per webhook. It reads the events after its cursor, POSTs each one that passes its
// filter, and moves the cursor (kept in the store, so a restart loses nothing) only once the
// receiver answered 2xx; a failure is retried — the same event, never a later one — with a
// back-off from 1 s doubling to 60 s, so that a receiver down for long is neither flooded nor
// forgotten. The at-least-once window: an event delivered just before gtmd died, its cursor not
// yet saved, is delivered again. Nothing here blocks the prober, the DNS path or the API.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace gtm::web {

struct WebhookConfig {
    std::string name;
    std::string url;
    std::set<std::string> events;  // types delivered; empty: every type
    std::string secret;            // HMAC-SHA256 key of X-Gtm-Signature; empty: unsigned
    uint32_t timeout_ms = 5000;
};

// Per webhook, for /metrics.
struct WebhookStats {
    std::string name;
    std::map<std::string, uint64_t>
        deliveries;            // by result: ok, http_error, connect_error, timeout
    uint64_t queue_depth = 0;  // events read and not yet delivered
    int64_t last_success_unix_ms = 0;
};

// The JSON body of one event (also its `text`, a line chat tools show) and its signature.
std::string webhook_body(const store::Event& e);
std::string hmac_sha256_hex(const std::string& key, const std::string& message);

class Webhooks {
  public:
    // `node`: this node (cluster mode: only the events this node recorded are its to deliver).
    Webhooks(store::Store& store, std::vector<WebhookConfig> hooks, std::string node = "");
    ~Webhooks();
    Webhooks(const Webhooks&) = delete;
    Webhooks& operator=(const Webhooks&) = delete;

    void start();
    void stop();
    // New events were written: look now rather than at the next poll.
    void wake();

    std::vector<WebhookStats> stats() const;

  private:
    struct Hook;
    void run(Hook& h);
    bool deliver(Hook& h, const store::Event& e);
    bool wait(std::chrono::milliseconds d);  // false: stopping

    store::Store& store_;
    std::string node_;
    std::vector<std::unique_ptr<Hook>> hooks_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    uint64_t wakes_ = 0;
};

}  // namespace gtm::web
