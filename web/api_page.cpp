// Two endpoints the web page needs: who the token is (to show or hide its action controls), and
// a pool's admin state set on every member at once (drain a region in one change, with one
// dry run that says what it does to the answers).
#include "store/document.h"
#include "store/encode.h"
#include "store/names.h"
#include "web/api_call.h"

namespace gtm::web {

using nlohmann::json;

Response whoami_view(Api::Call& c) {
    return json_response(200, {{"name", c.who.name}, {"role", to_string(c.who.role)}});
}

Response pool_admin_resource(Api::Call& c, const std::string& raw_pool) {
    std::string reason;
    const auto pool_name = store::canonical_name(raw_pool, &reason);
    if (!pool_name) {
        throw ApiError{400, reason, "pool"};
    }
    const store::AdminState admin = admin_body(c);
    core::Actor who = c.actor(200);
    const core::ChangeResult r = c.core().change(
        who,
        [&](store::DesiredState& next) {
            store::Pool* pool = find_named(next.pools, *pool_name);
            if (pool == nullptr) {
                throw ApiError{404, "pools/" + *pool_name + " does not exist", ""};
            }
            json members = json::array();
            size_t changed = 0;
            for (auto& m : pool->members) {
                changed += m.admin != admin ? 1 : 0;
                m.admin = admin;
                members.push_back(store::to_json(m));
            }
            return json{{"pool", *pool_name},
                        {"admin", store::to_string(admin)},
                        {"changed", changed},
                        {"members", members}};
        },
        c.flag("dry_run"), c.if_match);
    json out = r.result;
    out["dry_run"] = r.dry_run;
    out["effects"] = r.effects;
    out["warnings"] = warnings_json(r.warnings);
    Response resp = json_response(200, out);
    resp.headers.emplace_back("ETag", etag(r.revision));
    return resp;
}

}  // namespace gtm::web
