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

    explicit Fixture(uint32_t busy_ms = 5000, const std::string& fail_compile_of = "") {
        char tmpl[] = "/tmp/gtm-api-test-XXXXXX";
        dir = mkdtemp(tmpl);
        db = std::make_unique<store::SqliteStore>(dir + "/gtmd.db", busy_ms);
        for (const char* role : {"viewer", "operator", "admin"}) {
            secret[role] = web::new_secret();
            store::AuditEntry a;
            a.action = "test";
            db->add_token({role, role, web::hash_secret(secret[role]), 0}, a);
        }
        core::CoreOptions options;
        options.fail_compile_of = fail_compile_of;
        core = std::make_unique<core::Core>(*db, holder, options);
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
    // A request with If-Match.
    web::Response call_if(const std::string& method, const std::string& target,
                          const std::string& if_match, const std::string& body = "",
                          const std::string& role = "admin") {
        web::Request r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.content_type = body.empty() ? "" : "application/json";
        r.authorization = "Bearer " + secret[role];
        r.if_match = if_match;
        r.source = "127.0.0.1";
        return api->handle(r, 1000);
    }
    uint64_t revision() { return core->current()->revision; }
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

std::string header(const web::Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) {
            return v;
        }
    }
    return "";
}

std::string tag(uint64_t revision) { return "\"" + std::to_string(revision) + "\""; }

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

TEST_CASE("repeated failures from one address get 429; a valid token from it never does") {
    Fixture f;
    for (int i = 0; i < 10; ++i) {
        CHECK(f.call("GET", "/api/v1/pools", "bad", "", "", "127.0.0.7").status == 401);
    }
    auto r = f.call("GET", "/api/v1/pools", "bad", "", "", "127.0.0.7");
    CHECK(r.status == 429);
    CHECK(header(r, "Retry-After") == "60");
    CHECK(f.call("GET", "/api/v1/pools", "", "", "", "127.0.0.7").status == 429);
    // The operator behind the same address gets in: only failed attempts are limited.
    CHECK(f.call("GET", "/api/v1/pools", "admin", "", "", "127.0.0.7").status == 200);
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator",
                 R"({"admin": "drain"})", "application/json", "127.0.0.7")
              .status == 200);
    // A refused write from it is audited as 429, and changes nothing.
    CHECK(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "bad", R"({"admin": "auto"})",
                 "application/json", "127.0.0.7")
              .status == 429);
    CHECK(f.last_audit()["status"] == 429);
    CHECK(f.state().pools[0].members[0].admin == store::AdminState::Drain);
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

TEST_CASE("a misspelt dry run is refused with 400 naming the parameter, and applies nothing") {
    Fixture f;
    const std::string adm = "/api/v1/pools/eu/members/127.0.0.1/admin";
    json doc = body(f.call("GET", "/api/v1/config", "viewer"));
    doc["pools"][0]["members"][0]["weight"] = 5;
    const auto audited = f.db->audit(0, 1000).size();
    struct Case {
        const char* query;
        const char* field;
    };
    const Case cases[] = {{"dry_run=True", "dry_run"},    {"dry_run=yes", "dry_run"},
                          {"dry_run", "dry_run"},         {"dry_run=", "dry_run"},
                          {"dryrun=true", "dryrun"},      {"DRY_RUN=1", "DRY_RUN"},
                          {"dry-run=true", "dry-run"},    {"dry_run=true&dry_run=true", "dry_run"},
                          {"dry_run=%74rue%", "dry_run"}, {"dry_run=%zz", "dry_run"}};
    for (const Case& k : cases) {
        CAPTURE(k.query);
        auto r = f.call("PUT", "/api/v1/config?" + std::string(k.query), "admin", doc.dump());
        CHECK(r.status == 400);
        CHECK(body(r)["field"] == k.field);
        r = f.call("PUT", adm + "?" + k.query, "operator", R"({"admin": "drain"})");
        CHECK(r.status == 400);
        CHECK(body(r)["field"] == k.field);
    }
    CHECK(f.published() == 0);
    CHECK(f.db->audit(0, 1000).size() == audited + 2 * std::size(cases));
    CHECK(f.last_audit()["status"] == 400);
    // The spellings that are meant: true and 1 dry-run, false and 0 apply.
    CHECK(body(f.call("PUT", adm + "?dry_run=1", "operator", R"({"admin": "drain"})"))["dry_run"] ==
          true);
    CHECK(body(f.call("PUT", adm + "?dry_run=%74rue", "operator",
                      R"({"admin": "drain"})"))["dry_run"] == true);
    CHECK(f.published() == 0);
    CHECK(body(f.call("PUT", adm + "?dry_run=false", "operator",
                      R"({"admin": "drain"})"))["dry_run"] == false);
    CHECK(f.published() == 1);
    CHECK(f.call("PUT", "/api/v1/config?dry_run=0&prune=false", "admin", doc.dump()).status == 200);
    CHECK(f.published() == 2);
}

TEST_CASE("every route takes only its own query parameters, once, with a value") {
    Fixture f;
    struct Case {
        const char* target;
        const char* field;
    };
    for (const Case& k :
         {Case{"/api/v1/status?verbose=1", "verbose"}, Case{"/api/v1/pools?limit=5", "limit"},
          Case{"/api/v1/pools/eu?format=yaml", "format"},
          Case{"/api/v1/config?format=xml", "format"},
          Case{"/api/v1/config?dry_run=true", "dry_run"},  // a GET takes no dry run
          Case{"/api/v1/openapi.json?x=1", "x"}, Case{"/api/v1/audit?limit=+5", "limit"},
          Case{"/api/v1/audit?limit=%205", "limit"}, Case{"/api/v1/audit?limit=0x10", "limit"},
          Case{"/api/v1/audit?after=1e3", "after"}, Case{"/api/v1/events?after=1&after=2", "after"},
          Case{"/api/v1/health?pool", "pool"},
          Case{"/api/v1/explain?name=app.a.test&typo=A", "typo"}, Case{"/healthz?x=1", "x"}}) {
        CAPTURE(k.target);
        auto r = f.call("GET", k.target, "viewer");
        CHECK(r.status == 400);
        CHECK(body(r)["field"] == k.field);
    }
    CHECK(f.call("GET", "/api/v1/audit?limit=5&after=0", "viewer").status == 200);
    CHECK(f.call("GET", "/api/v1/config?format=json", "viewer").status == 200);
    CHECK(
        f.call("GET", "/api/v1/explain?name=app.a.test&type=A&client=127.0.0.9", "viewer").status ==
        200);
}

TEST_CASE("reads carry the state's revision as a strong ETag; writes answer with the new one") {
    Fixture f;
    const std::string t = tag(f.revision());
    for (const char* target :
         {"/api/v1/config", "/api/v1/config?format=yaml", "/api/v1/pools", "/api/v1/pools/eu",
          "/api/v1/pools/eu/members", "/api/v1/pools/eu/members/127.0.0.1", "/api/v1/zones/a.test",
          "/api/v1/zones/a.test/records", "/api/v1/balancers/app.a.test", "/api/v1/monitors"}) {
        CAPTURE(target);
        auto r = f.call("GET", target, "viewer");
        CHECK(r.status == 200);
        CHECK(header(r, "ETag") == t);
    }
    auto r = f.call("PUT", "/api/v1/pools/eu/members/127.0.0.2", "admin", R"({"weight": 9})");
    REQUIRE(r.status == 200);
    CHECK(header(r, "ETag") == tag(f.revision()));
    CHECK(header(r, "ETag") != t);
    r = f.call("PUT", "/api/v1/pools/eu/members/127.0.0.2/admin", "operator",
               R"({"admin": "drain"})");
    CHECK(header(r, "ETag") == tag(f.revision()));
    json doc = body(f.call("GET", "/api/v1/config", "viewer"));
    r = f.call("PUT", "/api/v1/config?dry_run=true", "admin", doc.dump());
    CHECK(header(r, "ETag") == tag(f.revision()));
}

TEST_CASE("If-Match: a stale ETag is 412 and applies nothing; malformed is 400; * matches any") {
    Fixture f;
    const std::string stale = tag(f.revision());
    REQUIRE(
        f.call_if("PUT", "/api/v1/pools/eu/members/127.0.0.2", stale, R"({"weight": 9})").status ==
        200);
    const std::string current = tag(f.revision());
    const uint64_t published = f.published();
    struct Write {
        const char* method;
        const char* target;
        const char* body;
    };
    const Write writes[] = {
        {"PUT", "/api/v1/pools/eu/members/127.0.0.2", R"({"weight": 3})"},
        {"PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", R"({"admin": "drain"})"},
        {"DELETE", "/api/v1/pools/eu/members/127.0.0.2", ""},
        {"POST", "/api/v1/zones/a.test/records", R"({"record": "x 300 A 127.0.0.5"})"},
        {"PUT", "/api/v1/config", nullptr},
    };
    const std::string doc = f.call("GET", "/api/v1/config", "viewer").body;
    for (const Write& w : writes) {
        CAPTURE(w.target);
        auto r = f.call_if(w.method, w.target, stale, w.body == nullptr ? doc : w.body);
        CHECK(r.status == 412);
        CHECK(body(r)["field"] == "If-Match");
        CHECK(header(r, "ETag") == current);
        CHECK(f.last_audit()["status"] == 412);
    }
    // A read with a stale If-Match is refused too.
    CHECK(f.call_if("GET", "/api/v1/pools/eu", stale).status == 412);
    CHECK(f.published() == published);
    for (const std::string& bad : std::vector<std::string>{
             "", "abc", std::to_string(f.revision()), "W/" + current, "\"\"", "\"1", "\"-1\"",
             "\"1x\"", current + ",", "\"99999999999999999999\"", "*, " + current}) {
        CAPTURE(bad);
        auto r = f.call_if("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", bad,
                           R"({"admin": "drain"})");
        CHECK(r.status == 400);
        CHECK(body(r)["field"] == "If-Match");
    }
    CHECK(f.published() == published);
    CHECK(f.call_if("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "*", R"({"admin": "drain"})")
              .status == 200);
    CHECK(f.call_if("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin",
                    stale + ", " + tag(f.revision()), R"({"admin": "auto"})")
              .status == 200);
    CHECK(f.call_if("PUT", "/api/v1/config", tag(f.revision()), doc).status == 200);
    // Tokens and views have no ETag: If-Match there is a mistake, not a precondition to drop.
    CHECK(
        f.call_if("POST", "/api/v1/tokens", tag(f.revision()), R"({"name": "x", "role": "viewer"})")
            .status == 400);
    CHECK(f.call_if("GET", "/api/v1/audit", tag(f.revision())).status == 400);
}

TEST_CASE("the admin-state endpoint changes only the member it names, in the current state") {
    Fixture f;
    const std::string before = tag(f.revision());
    REQUIRE(
        f.call("PUT", "/api/v1/pools/eu/members/127.0.0.2", "admin", R"({"weight": 42})").status ==
        200);
    // A drain without If-Match, from a client that read before the weight change: keeps it.
    REQUIRE(f.call("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", "operator",
                   R"({"admin": "drain"})")
                .status == 200);
    CHECK(f.state().pools[0].members[1].weight == 42);
    CHECK(f.state().pools[0].members[0].admin == store::AdminState::Drain);
    // With the stale ETag: refused.
    CHECK(f.call_if("PUT", "/api/v1/pools/eu/members/127.0.0.1/admin", before,
                    R"({"admin": "auto"})", "operator")
              .status == 412);
    CHECK(f.state().pools[0].members[0].admin == store::AdminState::Drain);
}

TEST_CASE("HEAD is answered as GET; a 405 says in Allow what is allowed") {
    Fixture f;
    auto get = f.call("GET", "/api/v1/pools/eu", "viewer");
    auto head = f.call("HEAD", "/api/v1/pools/eu", "viewer");
    CHECK(head.status == 200);
    CHECK(head.body == get.body);  // the HTTP server sends its length, not the body
    CHECK(header(head, "ETag") == header(get, "ETag"));
    CHECK(f.call("HEAD", "/healthz", "").status == 200);
    CHECK(f.call("HEAD", "/api/v1/pools/nowhere", "viewer").status == 404);
    struct Case {
        const char* method;
        const char* target;
        const char* allow;
    };
    for (const Case& k :
         {Case{"DELETE", "/api/v1/config", "GET, HEAD, PUT"},
          Case{"PATCH", "/api/v1/pools/eu", "GET, HEAD, PUT, DELETE"},
          Case{"POST", "/api/v1/pools/eu/members/127.0.0.1", "GET, HEAD, PUT, DELETE"},
          Case{"GET", "/api/v1/pools/eu/members/127.0.0.1/admin", "PUT"},
          Case{"HEAD", "/api/v1/pools/eu/members/127.0.0.1/admin", "PUT"},
          Case{"POST", "/api/v1/audit", "GET, HEAD"}, Case{"PUT", "/healthz", "GET, HEAD"}}) {
        CAPTURE(k.target);
        CAPTURE(k.method);
        auto r = f.call(k.method, k.target, "admin", "{}");
        CHECK(r.status == 405);
        CHECK(header(r, "Allow") == k.allow);
    }
}

TEST_CASE("every refused write is audited: 401, 403, 413, 415, 429, 500") {
    Fixture f(5000, "broken.a.test");
    const std::string adm = "/api/v1/pools/eu/members/127.0.0.1/admin";
    const std::string drain = R"({"admin": "drain"})";
    CHECK(f.call("PUT", adm, "", drain, "application/json", "127.0.0.9").status == 401);
    CHECK(f.last_audit()["status"] == 401);
    CHECK(f.call("PUT", adm, "viewer", drain).status == 403);
    CHECK(f.last_audit()["status"] == 403);
    web::Request big;
    big.method = "PUT";
    big.target = "/api/v1/config";
    big.authorization = "Bearer " + f.secret["admin"];
    big.body_too_large = true;
    CHECK(f.api->handle(big, 1000).status == 413);
    CHECK(f.last_audit()["status"] == 413);
    CHECK(f.call("PUT", adm, "admin", "admin: drain", "text/yaml").status == 415);
    CHECK(f.last_audit()["status"] == 415);
    for (int i = 0; i < 9; ++i) {
        f.call("GET", "/api/v1/pools", "bad", "", "", "127.0.0.9");
    }
    CHECK(f.call("DELETE", "/api/v1/pools/eu", "bad", "", "", "127.0.0.9").status == 429);
    CHECK(f.last_audit()["status"] == 429);
    CHECK(f.last_audit()["action"] == "DELETE /api/v1/pools/eu");
    CHECK(f.call("POST", "/api/v1/balancers", "admin",
                 R"({"name": "broken.a.test", "pools": [{"pool": "eu"}]})")
              .status == 500);
    CHECK(f.last_audit()["status"] == 500);
    CHECK(f.call("PUT", "/api/v1/pools?token=x", "admin", "{}").status == 400);
    CHECK(f.last_audit()["status"] == 400);
    CHECK(f.published() == 0);
}

TEST_CASE("a request's header alone is refused without a valid token, else answered 100") {
    Fixture f;
    web::Request r;
    r.method = "PUT";
    r.target = "/api/v1/pools/eu/members/127.0.0.1/admin";
    r.content_type = "application/json";
    r.source = "127.0.0.5";
    r.header_only = true;
    CHECK(f.api->handle(r, 1000).status == 401);
    CHECK(f.last_audit()["status"] == 401);
    r.authorization = "Bearer " + f.secret["viewer"];
    CHECK(f.api->handle(r, 1000).status == 100);  // the role is checked with the body
    r.target = "/api/v1/pools?token=x";
    CHECK(f.api->handle(r, 1000).status == 400);
    CHECK(f.published() == 0);
}

TEST_CASE("a rejected body cut at byte 1000 of its audit entry stays valid UTF-8") {
    Fixture f;
    const std::string adm = "/api/v1/pools/eu/members/127.0.0.1/admin";
    for (int pad = 0; pad < 4; ++pad) {
        for (const char* ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
            std::string value(static_cast<size_t>(pad), 'a');
            for (int i = 0; i < 600; ++i) {
                value += ch;
            }
            auto r = f.call("PUT", adm, "admin", json{{"admin", value}}.dump());
            CHECK(r.status == 400);
            const std::string result = f.db->audit(0, 1000).back().result;
            CHECK(result.size() <= 1010);
            CHECK_NOTHROW(json(result).dump());  // throws on invalid UTF-8
        }
    }
    auto r = f.call("GET", "/api/v1/audit?limit=1000", "viewer");
    CHECK(r.status == 200);
    CHECK_NOTHROW(json::parse(r.body));
}

TEST_CASE("bytes in the store that are not UTF-8 never break the audit or events pages") {
    Fixture f;
    store::AuditEntry a;
    a.at_ms = 1;
    a.token = "x\xFF";
    a.action = "PUT /api/v1/\xC3";
    a.before = "{\"k\": \"\xE2\x82\"}";
    a.after = "not json \xF0";
    a.result = "rejected: \xC3\x28";
    a.status = 400;
    f.db->append_audit(a);
    store::HealthEvent e;
    e.at_ms = 1;
    e.monitor = "m";
    e.address = "127.0.0.1";
    e.detail = "body \xFF\xFE";
    f.db->append_events({e});
    for (const char* target : {"/api/v1/audit?limit=1000", "/api/v1/events"}) {
        CAPTURE(target);
        auto r = f.call("GET", target, "viewer");
        CHECK(r.status == 200);
        CHECK_NOTHROW(json::parse(r.body));
    }
    const json last = body(f.call("GET", "/api/v1/audit?limit=1000", "viewer"))["audit"].back();
    CHECK(last["after"] == "not json \xEF\xBF\xBD");
    CHECK(last["result"] == "rejected: \xEF\xBF\xBD(");
}

TEST_CASE("a path or query that is not ASCII is 400, and a write with one is audited") {
    Fixture f;
    struct Case {
        const char* method;
        const char* target;
    };
    for (const Case& k :
         {Case{"PUT", "/api/v1/pools/b%C3%BCcher"}, Case{"DELETE", "/api/v1/zones/%FF.test"},
          Case{"PUT",
               "/api/v1/pools/b\xC3\xBC"
               "cher"},
          Case{"DELETE", "/api/v1/pools/\xFF"},
          Case{"PUT", "/api/v1/pools/eu/members/127.0.0.%D9%A1"},
          Case{"PUT", "/api/v1/pools/eu/members/127.0.0.1/admin?dry_run=tr%C3%BCe"},
          Case{"PUT", "/api/v1/pools/eu%00"}, Case{"PUT", "/api/v1/pools/e%u"}}) {
        CAPTURE(k.target);
        auto r = f.call(k.method, k.target, "admin", R"({"members": [{"address": "127.0.0.9"}]})");
        CHECK(r.status == 400);
        CHECK_NOTHROW(json::parse(r.body));
        const json a = f.last_audit();
        CHECK(a["status"] == 400);
        CHECK_NOTHROW(a.dump());
    }
    for (const char* target :
         {"/api/v1/explain?name=b%C3%BCcher.a.test", "/api/v1/explain?name=app.a.test&client=%FF",
          "/api/v1/pools/%E2%82%AC", "/api/v1/pools?\xFF=1"}) {
        CAPTURE(target);
        auto r = f.call("GET", target, "viewer");
        CHECK(r.status == 400);
        CHECK_NOTHROW(json::parse(r.body));
    }
    CHECK(f.published() == 0);
}

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

TEST_CASE("whatever the request, handle answers without throwing") {
    Fixture f;
    const std::string junk[] = {"",
                                "\xFF",
                                "%",
                                "?",
                                "/api/v1/%",
                                "/api/v1/?&&=&",
                                "/api/v1/pools/?a=%",
                                std::string("/api/v1/pools\0x", 15),
                                "/api/v1/pools/" + std::string(5000, 'a'),
                                "/api/v1/explain?name=" + std::string(300, '.')};
    for (const std::string& target : junk) {
        for (const char* method : {"GET", "PUT", "HEAD", "\xFF", ""}) {
            web::Request r;
            r.method = method;
            r.target = target;
            r.body = "{\"\xFF\": 1}";
            r.content_type = "application/json";
            r.authorization = "Bearer " + f.secret["admin"];
            r.if_match = "\xFF";
            r.source = "127.0.0.1";
            web::Response resp;
            CHECK_NOTHROW(resp = f.api->handle(r, 1000));
            CHECK(resp.status >= 400);
            CHECK_NOTHROW(json::parse(resp.body));
        }
    }
    CHECK(f.call("GET", "/api/v1/audit?limit=1000", "viewer").status == 200);
}
