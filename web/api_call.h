// Inside the API: one request being handled, the error it may end in, and the handlers the
// router calls. Not for use outside web/api*.cpp.
#pragma once

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/validate.h"
#include "web/api.h"

namespace gtm::web {

// An error the API answers with: status, message, the field at fault, and headers the answer
// needs (Allow on a 405, ETag on a 412).
struct ApiError {
    ApiError(int status, std::string error, std::string field = "",
             std::vector<std::pair<std::string, std::string>> headers = {})
        : status(status),
          error(std::move(error)),
          field(std::move(field)),
          headers(std::move(headers)) {}
    int status;
    std::string error;
    std::string field;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Serialized with invalid UTF-8 replaced (U+FFFD): whatever bytes a request or the store holds,
// an answer is always valid JSON.
Response json_response(int status, const nlohmann::json& body);
Response error_response(const ApiError& e);
// `"42"`: the strong ETag of a revision of the desired state.
std::string etag(uint64_t revision);
// validate()'s warnings as the API shows them: [{"field": path, "message": ...}].
nlohmann::json warnings_json(const std::vector<store::Warning>& warnings);
// At most `max_bytes` of valid UTF-8: invalid sequences replaced, cut on a character boundary.
std::string valid_utf8(std::string_view text, size_t max_bytes = std::string_view::npos);

struct Api::Call {
    Call(const Request& req, const ApiDeps& deps, int64_t now_ms)
        : req(req), deps(deps), now_ms(now_ms) {}

    const Request& req;  // HEAD arrives here as GET (head says so)
    const ApiDeps& deps;
    int64_t now_ms;
    std::string path;                          // as received (percent-encoded)
    std::map<std::string, std::string> query;  // decoded
    std::vector<std::string> segments;         // after /api/v1, decoded
    // The first thing wrong with the target (bad encoding, a byte that is not printable ASCII,
    // a parameter without a value or given twice): answered with 400 once authenticated.
    std::optional<ApiError> target_error;
    Identity who{"", Role::Viewer};
    bool mutating = false;
    bool head = false;
    bool if_match_given = false;
    std::optional<uint64_t> if_match;  // nullopt: absent or "*"

    core::Core& core() const { return *deps.core; }
    // The request body as JSON (400 when it is not).
    nlohmann::json body() const;
    // 400 naming the first query parameter this route does not take.
    void params(std::initializer_list<std::string_view> allowed) const;
    // 400 when If-Match was sent to what has no ETag (tokens, views).
    void no_etag(const char* what) const;
    const std::string* param(const std::string& k) const;
    // A boolean parameter: true or 1, false or 0 (absent: false); anything else is 400.
    bool flag(const std::string& k) const;
    int64_t number_param(const std::string& k, int64_t def, int64_t lo, int64_t hi) const;
    // Who is changing what, for the core's audit entry.
    core::Actor actor(int status) const;
    // A read of the desired state at `revision`: its ETag, and 412 when If-Match names another.
    Response read(Response r, uint64_t revision) const;
    Response read(const nlohmann::json& body, uint64_t revision) const {
        return read(json_response(200, body), revision);
    }
    // A change through the core (If-Match passed on); answers `status` with what the edit
    // returned and the new ETag. The edit may set `status` (e.g. 201 when it created what a PUT
    // names).
    Response write(int status,
                   const std::function<nlohmann::json(store::DesiredState&, int&)>& edit);
};

// The path and query of `c.req.target`, decoded into c.path, c.segments and c.query. The first
// problem is kept in c.target_error (answered once the caller is authenticated, so that a
// refused write is audited with its token); everything that could be read is filled in, so
// that a token in the URL is still recognized. (Declared here for its fuzz target.)
void parse_target(Api::Call& c);

template <typename T>
T* find_named(std::vector<T>& items, const std::string& name) {
    for (auto& i : items) {
        if (i.name == name) {
            return &i;
        }
    }
    return nullptr;
}

template <typename T>
const T* find_named(const std::vector<T>& items, const std::string& name) {
    for (const auto& i : items) {
        if (i.name == name) {
            return &i;
        }
    }
    return nullptr;
}

// api_resources.cpp
// The body of both admin-state endpoints, {"admin": "auto|up|drain|down"}; 400 otherwise.
store::AdminState admin_body(Api::Call& c);
Response config_resource(Api::Call& c);
Response collection_resource(Api::Call& c, const std::string& kind);
Response item_resource(Api::Call& c, const std::string& kind, const std::string& name);
Response records_resource(Api::Call& c, const std::string& zone, const std::string* index);
Response members_resource(Api::Call& c, const std::string& pool, const std::string* address,
                          bool admin_only);
// api_alerts.cpp
Response alertmanager_resource(Api::Call& c);
// api_tokens.cpp
Response tokens_resource(Api::Call& c, const std::string* name, Authenticator& auth);
// api_views.cpp
Response health_view(Api::Call& c);
Response events_view(Api::Call& c);
Response audit_view(Api::Call& c);
Response status_view(Api::Call& c);
Response explain_view(Api::Call& c);
// api_page.cpp
Response whoami_view(Api::Call& c);
Response pool_admin_resource(Api::Call& c, const std::string& pool);

}  // namespace gtm::web
