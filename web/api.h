// The REST API under /api/v1: a pure function from request to response (the HTTP server in
// http_server.cpp only moves bytes), plus /healthz and /readyz.
//
// Owned by the web thread. It holds the authoritative copy of the desired state: every change is
// validated as a whole, written to the store with its audit entry in one transaction, and made
// live in the DNS answers (publish) before the response leaves.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "dnsd/snapshot.h"
#include "healthcheck/prober.h"
#include "store/db.h"
#include "store/model.h"
#include "web/auth.h"

namespace gtm::web {

struct Request {
    std::string method;  // "GET", "PUT", ...
    std::string target;  // path and query, as received
    std::string content_type;
    std::string authorization;
    std::string body;
    std::string source;           // client address
    bool body_too_large = false;  // the server refused the body before reading it: answer 413
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiDeps {
    store::Store* store = nullptr;
    // Makes a state live: compiled, published to the DNS workers and given to the prober. Returns
    // once the DNS answers reflect it.
    std::function<void(const store::DesiredState&)> publish;
    // Every target's state; nullopt when the prober does not answer (503).
    std::function<std::optional<std::vector<health::TargetStatus>>()> health;
    std::function<bool()> isolated;
    std::function<bool()> ready;
    const dns::SnapshotHolder* snapshots = nullptr;
};

class Api {
  public:
    Api(ApiDeps deps, store::DesiredState initial);

    Response handle(const Request& r, int64_t now_ms);

    // Applies a whole document from outside the API (--apply at start, SIGHUP), audited under
    // `who`. Throws store::DocumentError or store::StoreError; nothing is applied then.
    void apply_document(const store::DesiredState& doc, const std::string& who, int64_t now_ms);

    // Reads the tokens again from the store.
    void reload_tokens();

    const store::DesiredState& state() const { return state_; }

    struct Call;  // one request being handled

  private:
    Response route(Call& c);
    Response commit(Call& c, store::DesiredState next, int status, nlohmann::json result);

    Response config(Call& c);
    Response collection(Call& c, const std::string& kind);
    Response item(Call& c, const std::string& kind, const std::string& name);
    Response records(Call& c, const std::string& zone, const std::string* index);
    Response members(Call& c, const std::string& pool, const std::string* address, bool admin_only);
    Response tokens(Call& c, const std::string* name);
    Response health(Call& c);
    Response events(Call& c);
    Response audit(Call& c);
    Response status(Call& c);
    Response explain(Call& c);

    ApiDeps deps_;
    store::DesiredState state_;
    Authenticator auth_;
    FailureLimiter limiter_;
};

// Sorts the top-level lists by name: the order the store returns them in, so that the state in
// memory and the state after a restart compare equal.
void canonicalize(store::DesiredState& s);

}  // namespace gtm::web
