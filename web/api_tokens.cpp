// API tokens: list, create (the secret is shown once, only its hash is stored), revoke. Stored
// with their audit entry in one store transaction; not part of the desired state.
#include <algorithm>
#include <cctype>

#include "web/api_call.h"

namespace gtm::web {

using nlohmann::json;

Response tokens_resource(Api::Call& c, const std::string* name, Authenticator& auth) {
    store::Store& store = c.core().store();
    store::AuditEntry a;
    a.at_ms = c.now_ms;
    a.token = c.who.name;
    a.source = c.req.source;
    a.action = c.req.method + " " + c.path;
    a.result = "ok";
    if (c.req.method == "GET") {
        json list = json::array();
        for (const auto& t : store.tokens()) {
            list.push_back({{"name", t.name}, {"role", t.role}, {"created_ms", t.created_ms}});
        }
        return json_response(200, {{"tokens", list}});
    }
    if (c.req.method == "POST") {
        const json body = c.body();
        if (!body.is_object()) {
            throw ApiError{400, "expected {\"name\": ..., \"role\": ...}", ""};
        }
        for (const auto& [k, v] : body.items()) {
            if (k != "name" && k != "role") {
                throw ApiError{400, "unknown key", k};
            }
        }
        if (!body.contains("name") || !body["name"].is_string()) {
            throw ApiError{400, "must be a string", "name"};
        }
        if (!body.contains("role") || !body["role"].is_string() ||
            !role_from(body["role"].get<std::string>())) {
            throw ApiError{400, "must be one of: viewer, operator, admin", "role"};
        }
        const std::string tname = body["name"].get<std::string>();
        if (tname.empty() || tname.size() > 64 ||
            !std::all_of(tname.begin(), tname.end(), [](unsigned char ch) {
                return std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.';
            })) {
            throw ApiError{400, "1-64 letters, digits, '-', '_' or '.'", "name"};
        }
        if (store.token(tname)) {
            throw ApiError{409, "a token named '" + tname + "' exists", "name"};
        }
        const std::string secret = new_secret();
        a.object = "tokens/" + tname;
        a.after = json{{"name", tname}, {"role", body["role"]}}.dump();  // never the secret
        a.status = 201;
        store.add_token({tname, body["role"].get<std::string>(), hash_secret(secret), c.now_ms}, a);
        auth.load(store.tokens());
        return json_response(201, {{"name", tname}, {"role", body["role"]}, {"token", secret}});
    }
    const auto all = store.tokens();
    auto target = std::find_if(all.begin(), all.end(),
                               [&](const store::Token& t) { return t.name == *name; });
    if (target == all.end()) {
        throw ApiError{404, "no token named '" + *name + "'", ""};
    }
    const auto admins = std::count_if(all.begin(), all.end(),
                                      [](const store::Token& t) { return t.role == "admin"; });
    if (target->role == "admin" && admins == 1) {
        throw ApiError{409, "'" + *name + "' is the last admin token; create another admin first",
                       ""};
    }
    a.object = "tokens/" + *name;
    a.before = json{{"name", target->name}, {"role", target->role}}.dump();
    a.status = 200;
    store.remove_token(*name, a);
    auth.load(store.tokens());
    return json_response(200, {{"deleted", "tokens/" + *name}});
}

}  // namespace gtm::web
