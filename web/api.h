// The REST API under /api/v1: a pure function from request to response (the HTTP server in
// http_server.cpp only moves bytes), plus /healthz and /readyz.
//
// It routes, authenticates and serializes; every change goes through the control-plane core
// (core/core.h), which validates, saves, publishes and audits it. Called on the web thread.
//
// Files: api.cpp (parsing, authentication, routing, errors), api_resources.cpp (the desired
// state: config, zones, monitors, pools, members, balancers), api_tokens.cpp, api_views.cpp
// (health, events, audit, status, explain).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/core.h"
#include "dnsd/snapshot.h"
#include "healthcheck/prober.h"
#include "web/alertmanager.h"
#include "web/auth.h"

namespace gtm::web {

struct Request {
    std::string method;  // "GET", "PUT", ...
    std::string target;  // path and query, as received
    std::string content_type;
    std::string authorization;
    // The If-Match header (several joined with ", "); nullopt when the request had none.
    std::optional<std::string> if_match;
    std::string body;
    std::string source;           // client address
    bool body_too_large = false;  // the server refused the body before reading it: answer 413
    // The header alone, before the server reads the body: answered (and final) only when the
    // request is refused before its body matters (no valid token, no such path); else 100, and
    // the whole request follows. An unauthenticated client never makes the server wait for a
    // body.
    bool header_only = false;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiDeps {
    core::Core* core = nullptr;
    // Every target's state; nullopt when the prober does not answer (503).
    std::function<std::optional<std::vector<health::TargetStatus>>()> health;
    std::function<bool()> isolated;
    std::function<bool()> ready;
    const dns::SnapshotHolder* snapshots = nullptr;
    class Metrics* metrics = nullptr;   // /metrics, and what the API counts; null: off
    AlertmanagerSettings alertmanager;  // POST /api/v1/alertmanager: labels and grace
};

class Api {
  public:
    explicit Api(ApiDeps deps);

    // Never throws: whatever the request, an answer (and, for a refused write, an audit entry
    // when the store can take one).
    Response handle(const Request& r, int64_t now_ms);
    // The path template of a request, for metrics: "/api/v1/pools/{pool}/members/{address}".
    static std::string route_of(const std::string& path);

    // Reads the tokens again from the store.
    void reload_tokens();

    struct Call;  // one request being handled (api_call.h)

  private:
    Response answer(const Request& r, int64_t now_ms);
    Response handle_call(Call& c);
    Response route(Call& c);
    // Records a refused write (any status >= 400) in the audit log, unless the store said it
    // cannot write (`store_unwritable`: busy or full), when the log keeps the trace instead.
    void audit_rejected(const Call& c, const Response& resp, bool store_unwritable);

    ApiDeps deps_;
    Authenticator auth_;
    FailureLimiter limiter_;
};

}  // namespace gtm::web
