// The desired state's resources: /config, zones (and their records), monitors, pools (and their
// members and members' admin states), balancers. Reads serialize the state being served; writes
// are edits handed to the core.
#include <algorithm>

#include "store/document.h"
#include "store/encode.h"
#include "store/names.h"
#include "web/api_call.h"

namespace gtm::web {

using nlohmann::json;

namespace {

template <typename T>
bool erase_named(std::vector<T>& items, const std::string& name) {
    auto it = std::find_if(items.begin(), items.end(), [&](const T& i) { return i.name == name; });
    if (it == items.end()) {
        return false;
    }
    items.erase(it);
    return true;
}

std::string canonical_or_400(const std::string& raw, const char* field) {
    std::string reason;
    const auto canonical = store::canonical_name(raw, &reason);
    if (!canonical) {
        throw ApiError{400, reason, field};
    }
    return *canonical;
}

}  // namespace

store::AdminState admin_body(Api::Call& c) {
    const json body = c.body();
    if (!body.is_object() || body.size() != 1 || !body.contains("admin") ||
        !body["admin"].is_string()) {
        throw ApiError{400, "expected {\"admin\": \"auto|up|drain|down\"}", "admin"};
    }
    const auto admin = store::admin_state_from(body["admin"].get<std::string>());
    if (!admin) {
        throw ApiError{
            400, "'" + body["admin"].get<std::string>() + "' is not one of: auto, up, drain, down",
            "admin"};
    }
    return *admin;
}

Response config_resource(Api::Call& c) {
    if (c.req.method == "GET") {
        const std::string* format = c.param("format");
        if (format != nullptr && *format != "json" && *format != "yaml") {
            throw ApiError{400, "must be json or yaml", "format"};
        }
        const auto current = c.core().current();
        const json doc = store::to_json(current->state);
        if (format != nullptr && *format == "yaml") {
            Response r;
            r.content_type = "application/yaml";
            r.body = store::to_yaml(doc);
            return c.read(std::move(r), current->revision);
        }
        return c.read(doc, current->revision);
    }
    const json body = c.body();
    store::DesiredState next = store::state_from_json(body, "request body");
    core::Actor who = c.actor(200);
    core::Core::ApplyOptions options;
    options.dry_run = c.flag("dry_run");
    options.prune = c.flag("prune");
    options.if_match = c.if_match;
    options.source = &body;  // members without "admin" keep theirs
    const core::ChangeResult r = c.core().apply(std::move(next), who, options);
    Response resp = json_response(200, {{"dry_run", options.dry_run},
                                        {"changes", r.changes},
                                        {"effects", r.effects},
                                        {"admin_states_kept", r.result["admin_states_kept"]},
                                        {"warnings", warnings_json(r.warnings)}});
    resp.headers.emplace_back("ETag", etag(r.revision));  // a dry run's: the state it read
    return resp;
}

Response collection_resource(Api::Call& c, const std::string& kind) {
    if (c.req.method == "GET") {
        const auto current = c.core().current();
        const store::DesiredState& state = current->state;
        json list = json::array();
        auto add = [&](const auto& items) {
            for (const auto& i : items) {
                list.push_back(store::to_json(i));
            }
        };
        if (kind == "zones") {
            add(state.zones);
        }
        if (kind == "monitors") {
            add(state.monitors);
        }
        if (kind == "pools") {
            add(state.pools);
        }
        if (kind == "balancers") {
            add(state.balancers);
        }
        return c.read(json{{kind, list}}, current->revision);
    }
    const json body = c.body();
    auto create = [](auto& items, auto item) {
        if (find_named(items, item.name) != nullptr) {
            throw ApiError{409, "'" + item.name + "' already exists", "name"};
        }
        json out = store::to_json(item);
        items.push_back(std::move(item));
        return out;
    };
    // Decoded before the change, so that a bad body costs the core nothing.
    if (kind == "zones") {
        auto z = store::zone_from_json(body, "request body");
        return c.write(201, [&](store::DesiredState& next, int&) { return create(next.zones, z); });
    }
    if (kind == "monitors") {
        auto m = store::monitor_from_json(body, "request body");
        return c.write(201,
                       [&](store::DesiredState& next, int&) { return create(next.monitors, m); });
    }
    if (kind == "pools") {
        auto p = store::pool_from_json(body, "request body");
        return c.write(201, [&](store::DesiredState& next, int&) { return create(next.pools, p); });
    }
    auto b = store::balancer_from_json(body, "request body");
    return c.write(201, [&](store::DesiredState& next, int&) { return create(next.balancers, b); });
}

Response item_resource(Api::Call& c, const std::string& kind, const std::string& raw_name) {
    const std::string name = canonical_or_400(raw_name, "name");
    auto handle = [&](auto items_of, auto decode) -> Response {
        if (c.req.method == "GET") {
            const auto current = c.core().current();
            const auto* found = find_named(items_of(current->state), name);
            if (found == nullptr) {
                throw ApiError{404, kind + "/" + name + " does not exist", ""};
            }
            return c.read(store::to_json(*found), current->revision);
        }
        if (c.req.method == "DELETE") {
            return c.write(200, [&](store::DesiredState& next, int&) -> json {
                if (!erase_named(items_of(next), name)) {
                    throw ApiError{404, kind + "/" + name + " does not exist", ""};
                }
                return {{"deleted", kind + "/" + name}};
            });
        }
        json body = c.body();
        if (body.is_object() && !body.contains("name")) {
            body["name"] = name;
        }
        auto item = decode(body, "request body", "");
        if (item.name != name) {
            throw ApiError{400, "the body names '" + item.name + "', the URL '" + name + "'",
                           "name"};
        }
        return c.write(200, [&](store::DesiredState& next, int& status) {
            auto& items = items_of(next);
            auto* found = find_named(items, name);
            json out = store::to_json(item);
            if (found == nullptr) {
                status = 201;
                items.push_back(item);
            } else {
                *found = item;
            }
            return out;
        });
    };
    if (kind == "zones") {
        return handle(
            [](auto& s) -> auto& { return s.zones; }, store::zone_from_json);
    }
    if (kind == "monitors") {
        return handle(
            [](auto& s) -> auto& { return s.monitors; }, store::monitor_from_json);
    }
    if (kind == "pools") {
        return handle(
            [](auto& s) -> auto& { return s.pools; }, store::pool_from_json);
    }
    return handle(
        [](auto& s) -> auto& { return s.balancers; }, store::balancer_from_json);
}

Response records_resource(Api::Call& c, const std::string& zone_name, const std::string* index) {
    const std::string zone = canonical_or_400(zone_name, "name");
    auto zone_in = [&](auto& state) -> auto& {
        auto* z = find_named(state.zones, zone);
        if (z == nullptr) {
            throw ApiError{404, "zones/" + zone + " does not exist", ""};
        }
        return *z;
    };
    if (c.req.method == "GET") {
        const auto current = c.core().current();
        return c.read(json{{"records", zone_in(current->state).records}}, current->revision);
    }
    if (c.req.method == "POST") {
        const json body = c.body();
        if (!body.is_object() || !body.contains("record") || !body["record"].is_string() ||
            body.size() != 1) {
            throw ApiError{400, "expected {\"record\": \"<zone-file line>\"}", "record"};
        }
        const std::string record = body["record"].get<std::string>();
        return c.write(201, [&](store::DesiredState& next, int&) -> json {
            store::Zone& z = zone_in(next);
            z.records.push_back(record);
            return {{"records", z.records}};
        });
    }
    size_t i = 0;
    try {
        size_t used = 0;
        i = std::stoul(*index, &used);
        if (used != index->size()) {
            throw std::invalid_argument("index");
        }
    } catch (const std::exception&) {
        throw ApiError{400, "record index must be a number", "index"};
    }
    return c.write(200, [&](store::DesiredState& next, int&) -> json {
        store::Zone& z = zone_in(next);
        if (i >= z.records.size()) {
            throw ApiError{404, "no record " + *index, ""};
        }
        z.records.erase(z.records.begin() + static_cast<long>(i));
        return {{"records", z.records}};
    });
}

Response members_resource(Api::Call& c, const std::string& raw_pool, const std::string* raw_address,
                          bool admin_only) {
    const std::string pool_name = canonical_or_400(raw_pool, "pool");
    auto members_of = [&](auto& state) -> auto& {
        auto* pool = find_named(state.pools, pool_name);
        if (pool == nullptr) {
            throw ApiError{404, "pools/" + pool_name + " does not exist", ""};
        }
        return pool->members;
    };
    if (raw_address == nullptr) {
        if (c.req.method == "GET") {
            const auto current = c.core().current();
            json list = json::array();
            for (const auto& m : members_of(current->state)) {
                list.push_back(store::to_json(m));
            }
            return c.read(json{{"members", list}}, current->revision);
        }
        const store::Member m = store::member_from_json(c.body(), "request body");
        return c.write(201, [&](store::DesiredState& next, int&) {
            auto& ms = members_of(next);
            for (const auto& x : ms) {
                if (x.address == m.address) {
                    throw ApiError{409, m.address + " is already a member", "address"};
                }
            }
            ms.push_back(m);
            return store::to_json(m);
        });
    }
    std::string reason;
    const auto address = store::canonical_address(*raw_address, &reason);
    if (!address) {
        throw ApiError{400, reason, "address"};
    }
    const std::string not_member = address->text + " is not a member of " + pool_name;
    auto member_in = [&](auto& ms) -> auto& {
        auto it = std::find_if(ms.begin(), ms.end(),
                               [&](const store::Member& m) { return m.address == address->text; });
        if (it == ms.end()) {
            throw ApiError{404, not_member, ""};
        }
        return *it;
    };
    if (admin_only) {
        const store::AdminState admin = admin_body(c);
        // The reply says what the change does to the answers (effects), so that a client can
        // warn before it leaves a balancer with no healthy member. The edit sets only this
        // member's admin state in the state current when the core applies it: whatever else
        // changed meanwhile stays (If-Match, when given, refuses a state changed since a read).
        core::Actor who = c.actor(200);
        const core::ChangeResult r = c.core().change(
            who,
            [&](store::DesiredState& next) {
                store::Member& m = member_in(members_of(next));
                m.admin = admin;
                return store::to_json(m);
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
    if (c.req.method == "GET") {
        const auto current = c.core().current();
        return c.read(store::to_json(member_in(members_of(current->state))), current->revision);
    }
    if (c.req.method == "DELETE") {
        return c.write(200, [&](store::DesiredState& next, int&) -> json {
            auto& ms = members_of(next);
            const store::Member& m = member_in(ms);
            ms.erase(ms.begin() + (&m - ms.data()));
            return {{"deleted", "pools/" + pool_name + "/members/" + address->text}};
        });
    }
    json body = c.body();
    if (body.is_object() && !body.contains("address")) {
        body["address"] = address->text;
    }
    const store::Member m = store::member_from_json(body, "request body");
    if (m.address != address->text) {
        throw ApiError{400, "the body names " + m.address + ", the URL " + address->text,
                       "address"};
    }
    return c.write(200, [&](store::DesiredState& next, int& status) {
        auto& ms = members_of(next);
        auto it = std::find_if(ms.begin(), ms.end(),
                               [&](const store::Member& x) { return x.address == m.address; });
        if (it == ms.end()) {
            status = 201;
            ms.push_back(m);
        } else {
            *it = m;
        }
        return store::to_json(m);
    });
}

}  // namespace gtm::web
