// The web page as served (assets, headers) and the two endpoints it needs (whoami, a pool's
// admin state), through Api::handle: no sockets, a store on a temp file.
#include "web/page.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "store/document.h"
#include "store/sqlite_store.h"
#include "web/api.h"
#include "web/auth.h"
#include "web/openapi.h"

using namespace gtm;
using nlohmann::json;

namespace {

const char* kDoc = R"(
zones:
  - name: a.test
    soa: {mname: ns.a.test, rname: h.a.test}
    ns: [ns.a.test]
pools:
  - name: eu
    members: [{address: 127.0.0.1}, {address: 127.0.0.2}]
  - name: us
    members: [{address: 127.0.0.3}]
balancers:
  - {name: app.a.test, max_answers: 4, pools: [{pool: eu, weight: 3}, {pool: us, weight: 1}]}
)";

struct Fixture {
    std::string dir;
    std::unique_ptr<store::SqliteStore> db;
    dns::SnapshotHolder holder;
    std::unique_ptr<core::Core> core;
    std::unique_ptr<web::Api> api;
    std::map<std::string, std::string> secret;  // token name (= its role) -> secret

    Fixture() {
        char tmpl[] = "/tmp/gtm-page-test-XXXXXX";
        dir = mkdtemp(tmpl);
        db = std::make_unique<store::SqliteStore>(dir + "/gtmd.db", 5000);
        for (const char* role : {"viewer", "operator", "admin"}) {
            secret[role] = web::new_secret();
            store::AuditEntry a;
            a.action = "test";
            db->add_token({role, role, web::hash_secret(secret[role]), 0}, a);
        }
        core = std::make_unique<core::Core>(*db, holder, core::CoreOptions{});
        core->load(0);
        core::Actor who;
        who.token = "test";
        who.document = "d";
        core->apply(store::parse_document(kDoc, "d"), who, {});
        web::ApiDeps deps;
        deps.core = core.get();
        deps.snapshots = &holder;
        api = std::make_unique<web::Api>(std::move(deps));
    }
    ~Fixture() {
        api.reset();
        core.reset();
        db.reset();
        std::filesystem::remove_all(dir);
    }

    web::Response call(const std::string& method, const std::string& target,
                       const std::string& role = "", const std::string& body = "") {
        web::Request r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.content_type = body.empty() ? "" : "application/json";
        r.authorization = role.empty() ? "" : "Bearer " + secret[role];
        r.source = "127.0.0.1";
        return api->handle(r, 1000);
    }

    store::AdminState admin_of(const std::string& pool, const std::string& address) {
        for (const auto& p : core->current()->state.pools) {
            for (const auto& m : p.members) {
                if (p.name == pool && m.address == address) {
                    return m.admin;
                }
            }
        }
        FAIL("no such member");
        return store::AdminState::Auto;
    }
};

std::string header(const web::Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) {
            return v;
        }
    }
    return "";
}

json body(const web::Response& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("the page is served at / without a token, with its CSP and no-sniff") {
    Fixture f;
    const auto r = f.call("GET", "/");
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(r.body.find("<!doctype html>") == 0);
    CHECK(r.body.find("/page/app.js") != std::string::npos);
    CHECK(header(r, "Content-Security-Policy") == web::kPageCsp);
    CHECK(header(r, "X-Content-Type-Options") == "nosniff");
    CHECK(header(r, "Referrer-Policy") == "no-referrer");
    // The CSP allows nothing inline and nothing from elsewhere.
    const std::string csp = web::kPageCsp;
    CHECK(csp.find("unsafe") == std::string::npos);
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(f.call("GET", "/?x=1").status == 200);
}

TEST_CASE("the page's assets carry their types and the CSP; unknown ones are 404") {
    Fixture f;
    const auto js = f.call("GET", "/page/app.js");
    CHECK(js.status == 200);
    CHECK(js.content_type == "text/javascript; charset=utf-8");
    CHECK(header(js, "Content-Security-Policy") == web::kPageCsp);
    CHECK(js.body.find("innerHTML") == std::string::npos);  // data never becomes markup
    CHECK(f.call("GET", "/page/app.css").content_type == "text/css; charset=utf-8");
    const auto missing = f.call("GET", "/page/nothing.js");
    CHECK(missing.status == 404);
    CHECK(header(missing, "Content-Security-Policy") == web::kPageCsp);
    CHECK(f.call("GET", "/page/../api/v1/status").status == 404);
    const auto post = f.call("POST", "/", "admin", "{}");
    CHECK(post.status == 405);
    CHECK(header(post, "Allow") == "GET, HEAD");
    // Other paths are still the API's.
    CHECK(f.call("GET", "/nothing").status == 404);
    CHECK(body(f.call("GET", "/nothing"))["error"] == "no such path");
}

TEST_CASE("whoami names the token and its role") {
    Fixture f;
    for (const char* role : {"viewer", "operator", "admin"}) {
        const auto r = f.call("GET", "/api/v1/whoami", role);
        CHECK(r.status == 200);
        CHECK(body(r) == json{{"name", role}, {"role", role}});
    }
    CHECK(f.call("GET", "/api/v1/whoami").status == 401);
    CHECK(f.call("PUT", "/api/v1/whoami", "admin", "{}").status == 405);
}

TEST_CASE("a pool's admin state: dry run says the effect and changes nothing; then all members") {
    Fixture f;
    const std::string drain = R"({"admin": "drain"})";
    CHECK(f.call("PUT", "/api/v1/pools/eu/admin", "viewer", drain).status == 403);

    const auto dry = f.call("PUT", "/api/v1/pools/eu/admin?dry_run=true", "operator", drain);
    REQUIRE(dry.status == 200);
    const json d = body(dry);
    CHECK(d["dry_run"] == true);
    CHECK(d["changed"] == 2);
    REQUIRE(d["effects"].size() == 1);
    const json& e = d["effects"][0];
    CHECK(e["balancer"] == "app.a.test");
    CHECK(e["healthy"] == 1);  // us keeps its one member
    CHECK(!e.contains("warning"));
    CHECK(e["after"]["answers"].size() == 1);
    CHECK(e["after"]["answers"][0]["pool"] == "us");
    CHECK(f.admin_of("eu", "127.0.0.1") == store::AdminState::Auto);

    const auto done = f.call("PUT", "/api/v1/pools/eu/admin", "operator", drain);
    REQUIRE(done.status == 200);
    CHECK(body(done)["dry_run"] == false);
    CHECK(f.admin_of("eu", "127.0.0.1") == store::AdminState::Drain);
    CHECK(f.admin_of("eu", "127.0.0.2") == store::AdminState::Drain);
    CHECK(f.admin_of("us", "127.0.0.3") == store::AdminState::Auto);

    // Draining the last pool too leaves the balancer with no healthy member: a warning.
    const auto last = f.call("PUT", "/api/v1/pools/us/admin?dry_run=true", "operator", drain);
    REQUIRE(last.status == 200);
    REQUIRE(body(last)["effects"].size() == 1);
    CHECK(body(last)["effects"][0]["healthy"] == 0);
    CHECK(body(last)["effects"][0].contains("warning"));

    CHECK(f.call("PUT", "/api/v1/pools/nope/admin", "operator", drain).status == 404);
    CHECK(f.call("PUT", "/api/v1/pools/eu/admin", "operator", R"({"admin": "off"})").status == 400);
    CHECK(
        f.call("PUT", "/api/v1/pools/eu/admin", "operator", R"({"admin": "up", "x": 1})").status ==
        400);
}

TEST_CASE("route_of names the page's and the new endpoints' templates") {
    CHECK(web::Api::route_of("/") == "/");
    CHECK(web::Api::route_of("/page/app.js") == "/page/{asset}");
    CHECK(web::Api::route_of("/api/v1/whoami") == "/api/v1/whoami");
    CHECK(web::Api::route_of("/api/v1/pools/eu/admin") == "/api/v1/pools/{pool}/admin");
}

TEST_CASE("the OpenAPI document names every operation, once, and every one has a 4xx") {
    const json& doc = web::openapi_document();
    REQUIRE(doc["servers"].size() == 1);
    CHECK(doc["servers"][0]["url"] == "/");
    std::set<std::string> ids;
    size_t operations = 0;
    for (const auto& [path, item] : doc["paths"].items()) {
        for (const auto& [method, op] : item.items()) {
            if (method == "parameters") {
                continue;
            }
            ++operations;
            CAPTURE(method + " " + path);
            REQUIRE(op.contains("operationId"));
            const std::string id = op["operationId"].get<std::string>();
            CHECK(id.find(' ') == std::string::npos);  // no "unnamed ..." fallback
            CHECK(ids.insert(id).second);
            bool has_4xx = false;
            for (const auto& [code, r] : op["responses"].items()) {
                has_4xx = has_4xx || code[0] == '4';
            }
            CHECK(has_4xx);
        }
    }
    CHECK(operations == 46);  // 42, whoami, a pool's admin state, the alertmanager GET and POST
}
