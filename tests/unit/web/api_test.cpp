// The REST API as a function from request to response: no sockets, a store on a temp file.
#include "web/api.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "store/document.h"
#include "store/sqlite_store.h"
#include "web/auth.h"

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
balancers:
  - {name: app.a.test, pools: [{pool: eu}]}
)";

struct Fixture {
    std::string dir;
    std::unique_ptr<store::SqliteStore> db;
    dns::SnapshotHolder holder;
    std::unique_ptr<core::Core> core;
    uint64_t generation0 = 0;
    std::unique_ptr<web::Api> api;
    std::map<std::string, std::string> secret;  // role -> token secret

    explicit Fixture(uint32_t busy_ms = 5000) {
        char tmpl[] = "/tmp/gtm-api-test-XXXXXX";
        dir = mkdtemp(tmpl);
        db = std::make_unique<store::SqliteStore>(dir + "/gtmd.db", busy_ms);
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
        generation0 = holder.generation();
    }
    ~Fixture() {
        api.reset();
        core.reset();
        db.reset();
        std::filesystem::remove_all(dir);
    }

    web::Response call(const std::string& method, const std::string& target,
                       const std::string& role = "admin", const std::string& body = "",
                       const std::string& content_type = "application/json",
                       const std::string& source = "127.0.0.1") {
        web::Request r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.content_type = body.empty() ? "" : content_type;
        r.authorization =
            role.empty() ? "" : "Bearer " + (secret.count(role) ? secret[role] : role);
        r.source = source;
        return api->handle(r, 1000);
    }
    // Snapshots published since the fixture was set up.
    uint64_t published() const { return holder.generation() - generation0; }
    const store::DesiredState& state() { return core->current()->state; }
    json last_audit() {
        auto all = db->audit(0, 1000);
        REQUIRE(!all.empty());
        return json{{"action", all.back().action},
                    {"result", all.back().result},
                    {"status", all.back().status},
                    {"token", all.back().token}};
    }
};

json body(const web::Response& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("health endpoints need no token; the API does") {
    Fixture f;
    CHECK(f.call("GET", "/healthz", "").status == 200);
    CHECK(f.call("GET", "/readyz", "").status == 200);
    auto r = f.call("GET", "/api/v1/pools", "");
    CHECK(r.status == 401);
    CHECK(body(r)["error"] == "missing bearer token");
    CHECK(f.call("GET", "/api/v1/pools", "gtm_0000").status == 401);
    CHECK(f.call("GET", "/api/v1/pools", "viewer").status == 200);
}

TEST_CASE("a token in the URL is refused, whatever else is right") {
    Fixture f;
    auto r = f.call("GET", "/api/v1/pools?token=" + f.secret["admin"], "admin");
    CHECK(r.status == 400);
    CHECK(body(r)["field"] == "token");
    CHECK(f.call("GET", "/api/v1/pools?access_token=x", "admin").status == 400);
}

TEST_CASE("repeated failures from one address get 429, others are unaffected") {
    Fixture f;
    for (int i = 0; i < 10; ++i) {
        CHECK(f.call("GET", "/api/v1/pools", "bad", "", "", "127.0.0.7").status == 401);
    }
    auto r = f.call("GET", "/api/v1/pools", "admin", "", "", "127.0.0.7");
    CHECK(r.status == 429);
    CHECK(r.headers.size() == 1);
    CHECK(f.call("GET", "/api/v1/pools", "admin", "", "", "127.0.0.8").status == 200);
}

TEST_CASE("roles: viewer reads, operator also drains, admin changes everything") {
    Fixture f;
    const std::string drain = R"({"admin": "drain"})";
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "viewer", drain).status == 403);
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator", drain).status ==
          200);
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "admin", R"({"admin": "auto"})")
              .status == 200);
    CHECK(f.call("DELETE", "/api/v1/balancers/app.a.test", "operator").status == 403);
    CHECK(f.call("GET", "/api/v1/tokens", "operator").status == 403);
    CHECK(f.call("GET", "/api/v1/tokens", "admin").status == 200);
    CHECK(f.call("GET", "/api/v1/config", "viewer").status == 200);
    CHECK(f.call("PUT", "/api/v1/config", "operator", "{}").status == 403);
    // A forbidden write is audited as rejected.
    CHECK(f.last_audit()["status"] == 403);
    CHECK(f.last_audit()["token"] == "operator");
}

TEST_CASE("a change is saved, audited and published before the answer") {
    Fixture f;
    auto r = f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator",
                    R"({"admin": "drain"})");
    REQUIRE(r.status == 200);
    REQUIRE(f.published() == 1);
    CHECK(f.state().pools[0].members[0].admin == store::AdminState::Drain);
    CHECK(f.db->load_state().state.pools[0].members[0].admin == store::AdminState::Drain);
    CHECK(f.last_audit()["result"] == "ok");
    CHECK(f.last_audit()["action"] == "PUT /api/v1/pools/eu/members/127.0.0.1/admin");
}

TEST_CASE("a bad body changes nothing and names the field") {
    Fixture f;
    struct Bad {
        const char* body;
        int status;
        const char* field;
    };
    for (const Bad& b : {Bad{R"({"address": "127.1"})", 422, "address"},
                         Bad{R"({"address": "127.0.0.3", "weight": -1})", 422, "weight"},
                         Bad{R"({"address": "127.0.0.3", "weight": 1.5})", 422, "weight"},
                         Bad{R"({"address": "127.0.0.3", "weight": "10"})", 422, "weight"},
                         Bad{R"({"address": "127.0.0.3", "weight": 2147483648})", 422, "weight"},
                         Bad{R"({"address": "127.0.0.3", "weight": null})", 422, "weight"},
                         Bad{R"({"address": "127.0.0.3", "wieght": 1})", 422, "wieght"},
                         Bad{R"({"address": "127.0.0.3", "weight": NaN})", 400, ""},
                         Bad{R"({"address": "127.0.0.1"})", 409, "address"}}) {
        CAPTURE(b.body);
        auto r = f.call("POST", "/api/v1/pools/eu/members", "admin", b.body);
        CHECK(r.status == b.status);
        if (*b.field != '\0') {
            CHECK(body(r)["field"] == b.field);
        }
        CHECK(f.last_audit()["status"] == b.status);
    }
    CHECK(f.published() == 0);
    CHECK(f.db->load_state().state.pools[0].members.size() == 2);
}

TEST_CASE("a change that breaks the whole state is refused: deleting a pool a balancer uses") {
    Fixture f;
    auto r = f.call("DELETE", "/api/v1/pools/eu", "admin");
    CHECK(r.status == 422);
    CHECK(body(r)["field"] == "balancers[0].pools[0].pool");
    CHECK(f.published() == 0);
}

TEST_CASE("writes need application/json, shallow JSON, known paths and methods") {
    Fixture f;
    CHECK(f.call("POST", "/api/v1/pools/eu/members", "admin", "address: x", "text/yaml").status ==
          415);
    std::string deep(10000, '[');
    deep += std::string(10000, ']');
    auto r = f.call("PUT", "/api/v1/config", "admin", deep);
    CHECK(r.status == 400);
    CHECK(f.call("GET", "/api/v1/nothing", "admin").status == 404);
    CHECK(f.call("PATCH", "/api/v1/pools/eu", "admin", "{}").status == 405);
    CHECK(f.call("GET", "/other", "admin").status == 404);
}

TEST_CASE("config: dry run shows the diff and changes nothing; apply changes it") {
    Fixture f;
    json doc = json::parse(f.call("GET", "/api/v1/config", "viewer").body);
    doc["pools"][0]["members"][0]["weight"] = 5;
    auto dry = f.call("PUT", "/api/v1/config?dry_run=true", "admin", doc.dump());
    REQUIRE(dry.status == 200);
    CHECK(body(dry)["changes"].size() == 1);
    CHECK(body(dry)["changes"][0]["name"] == "eu");
    CHECK(f.published() == 0);
    auto real = f.call("PUT", "/api/v1/config", "admin", doc.dump());
    CHECK(real.status == 200);
    CHECK(f.published() == 1);
    // Export then apply gives no change at all.
    auto again =
        f.call("PUT", "/api/v1/config", "admin", f.call("GET", "/api/v1/config", "viewer").body);
    CHECK(body(again)["changes"].empty());
    CHECK(f.call("GET", "/api/v1/config?format=yaml", "viewer").content_type == "application/yaml");
}

TEST_CASE("tokens: created once with the secret shown once, the last admin cannot go") {
    Fixture f;
    auto r = f.call("POST", "/api/v1/tokens", "admin", R"({"name": "ci", "role": "viewer"})");
    REQUIRE(r.status == 201);
    const std::string secret = body(r)["token"];
    f.secret["ci"] = secret;
    CHECK(f.call("GET", "/api/v1/pools", "ci").status == 200);
    CHECK(f.call("GET", "/api/v1/tokens", "admin").body.find(secret) == std::string::npos);
    CHECK(f.db->audit(0, 100).back().after.find(secret) == std::string::npos);
    CHECK(f.call("DELETE", "/api/v1/tokens/ci", "admin").status == 200);
    CHECK(f.call("GET", "/api/v1/pools", "ci").status == 401);
    CHECK(f.call("DELETE", "/api/v1/tokens/admin", "admin").status == 409);
    CHECK(f.call("POST", "/api/v1/tokens", "admin", R"({"name": "x", "role": "root"})").status ==
          400);
}

TEST_CASE("a locked database answers 503 with Retry-After and applies nothing") {
    Fixture f(200);
    sqlite3* other = nullptr;
    sqlite3_open((f.dir + "/gtmd.db").c_str(), &other);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    auto r = f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator",
                    R"({"admin": "drain"})");
    CHECK(r.status == 503);
    bool retry_after = false;
    for (const auto& [k, v] : r.headers) {
        retry_after |= k == "Retry-After";
    }
    CHECK(retry_after);
    CHECK(f.published() == 0);
    CHECK(f.state().pools[0].members[0].admin == store::AdminState::Auto);
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator",
                 R"({"admin": "drain"})")
              .status == 200);
}

TEST_CASE("explain names each member's eligibility and why") {
    Fixture f;
    f.call("PUT", "/api/v1/pools/eu/members/127.0.0.2/admin", "operator", R"({"admin": "drain"})");
    auto r = f.call("GET", "/api/v1/explain?name=APP.a.test&type=A", "viewer");
    REQUIRE(r.status == 200);
    const json j = body(r);
    const json& members = j["tiers"][0]["pools"][0]["members"];
    CHECK(members[0]["eligible"] == true);
    CHECK(members[1]["eligible"] == false);
    CHECK(members[1]["why"] == "admin drain: no new answers");
    CHECK(f.call("GET", "/api/v1/explain?name=nope.a.test", "viewer").status == 404);
    CHECK(f.call("GET", "/api/v1/explain?name=app.a.test&type=MX", "viewer").status == 400);
}

// --- Issue 10: strict parameters, ETags, refusals audited, UTF-8, bounded pages -------------

TEST_CASE("audit pages end at 1,000 entries or about 1 MiB and say where the next begins") {
    Fixture f;
    const int64_t since = f.db->audit(0, 1000).back().id;
    for (int i = 0; i < 40; ++i) {
        store::AuditEntry a;
        a.at_ms = i;
        a.action = "PUT /api/v1/config";
        a.before = "\"" + std::string(100000, 'b') + "\"";
        a.after = "[]";
        a.result = "ok";
        a.status = 200;
        f.db->append_audit(a);
    }
    std::vector<int64_t> ids;
    int64_t after = since;
    int pages = 0;
    for (;;) {
        auto r = f.call("GET", "/api/v1/audit?limit=1000&after=" + std::to_string(after), "viewer");
        REQUIRE(r.status == 200);
        CHECK(r.body.size() <= (1u << 20) + 110000);
        const json page = body(r);
        ++pages;
        for (const auto& e : page["audit"]) {
            ids.push_back(e["id"]);
        }
        if (!page["more"].get<bool>()) {
            CHECK(page["next_after"] == (ids.empty() ? after : ids.back()));
            break;
        }
        CHECK(page["next_after"] == ids.back());
        after = page["next_after"];
    }
    CHECK(pages >= 4);
    REQUIRE(ids.size() == 40);
    for (size_t i = 0; i < ids.size(); ++i) {
        CHECK(ids[i] == since + 1 + static_cast<int64_t>(i));
    }
    // Counted pages: exactly `limit` entries, and `more` when there are more.
    const json two = body(f.call("GET", "/api/v1/audit?limit=2", "viewer"));
    CHECK(two["audit"].size() == 2);
    CHECK(two["more"] == true);
    const json rest =
        body(f.call("GET", "/api/v1/audit?limit=1&after=" + std::to_string(ids.back()), "viewer"));
    CHECK(rest["audit"].empty());
    CHECK(rest["more"] == false);
    CHECK(rest["next_after"] == ids.back());
}
