// Inside the API: one request being handled, the error it may end in, and the handlers the
// router calls. Not for use outside web/api*.cpp.
#pragma once

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "web/api.h"

namespace gtm::web {

// An error the API answers with: status, message and the field at fault.
struct ApiError {
    int status;
    std::string error;
    std::string field;
};

Response json_response(int status, const nlohmann::json& body);
Response error_response(const ApiError& e);

struct Api::Call {
    const Request& req;
    const ApiDeps& deps;
    int64_t now_ms;
    std::string path;
    std::map<std::string, std::string> query;
    std::vector<std::string> segments;  // after /api/v1
    Identity who{"", Role::Viewer};
    bool mutating = false;

    core::Core& core() const { return *deps.core; }
    // The request body as JSON (400 when it is not).
    nlohmann::json body() const;
    const std::string* param(const std::string& k) const;
    int64_t number_param(const std::string& k, int64_t def, int64_t lo, int64_t hi) const;
    // Who is changing what, for the core's audit entry.
    core::Actor actor(int status) const;
    // A change through the core; answers `status` with what the edit returned. The edit may
    // set `status` (e.g. 201 when it created what a PUT names).
    Response write(int status,
                   const std::function<nlohmann::json(store::DesiredState&, int&)>& edit);
};

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
Response config_resource(Api::Call& c);
Response collection_resource(Api::Call& c, const std::string& kind);
Response item_resource(Api::Call& c, const std::string& kind, const std::string& name);
Response records_resource(Api::Call& c, const std::string& zone, const std::string* index);
Response members_resource(Api::Call& c, const std::string& pool, const std::string* address,
                          bool admin_only);
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
