// The sqlite store on a temporary file: schema, round trips, diff saves, tokens, events, audit.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "store/document.h"
#include "store/encode.h"
#include "store/sqlite_store.h"

using namespace gtm::store;

namespace {

struct TempDb {
    std::string path;
    TempDb() {
        char tmpl[] = "/tmp/gtm-db-test-XXXXXX";
        path = std::string(mkdtemp(tmpl)) + "/gtmd.db";
    }
    ~TempDb() { std::filesystem::remove_all(std::filesystem::path(path).parent_path()); }
};

const char* kDoc = R"(
zones:
  - name: s.test
    soa: {mname: ns.s.test, rname: h.s.test}
    ns: [ns.s.test]
    records: ["ns 300 A 127.0.0.53", "www 300 CNAME app"]
monitors:
  - {name: web, type: http, interval: 1s, timeout: 500ms, hold_down: 5s}
pools:
  - name: eu
    monitor: web
    slow_start: 30s
    members: [{address: 127.0.0.1, weight: 10, labels: {cluster: hz}}, {address: 127.0.0.2, admin: drain}]
balancers:
  - {name: app.s.test, when_all_down: fallback, fallback: [127.0.0.9], pools: [{pool: eu, weight: 7}]}
)";

int64_t count_rows(const std::string& path, const char* table) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, (std::string("SELECT count(*) FROM ") + table).c_str(), -1, &s, nullptr);
    sqlite3_step(s);
    const int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

AuditEntry audit(const std::string& action) {
    AuditEntry a;
    a.at_ms = 1000;
    a.token = "test";
    a.source = "127.0.0.1";
    a.action = action;
    a.object = "config";
    a.result = "ok";
    a.status = 200;
    return a;
}

}  // namespace

TEST_CASE("a new database is created at the current schema, in WAL mode, and is ok") {
    TempDb t;
    SqliteStore s(t.path);
    CHECK_FALSE(s.has_state());
    CHECK(s.integrity_check() == "ok");
    CHECK(s.load_state().state.zones.empty());
    sqlite3* db = nullptr;
    sqlite3_open(t.path.c_str(), &db);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
    sqlite3_step(st);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
    sqlite3_step(st);
    CHECK(sqlite3_column_int(st, 0) == SqliteStore::kSchemaVersion);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST_CASE("a saved state loads back equal, with its audit entry") {
    TempDb t;
    const DesiredState doc = parse_document(kDoc, "d");
    {
        SqliteStore s(t.path);
        s.save_state({}, doc, audit("apply"), s.revision());
    }
    SqliteStore s(t.path);
    CHECK(s.has_state());
    const DesiredState back = s.load_state().state;
    CHECK(to_json(back) == to_json(doc));
    REQUIRE(s.audit(0, 10).size() == 1);
    CHECK(s.audit(0, 10)[0].action == "apply");
}

TEST_CASE("a drain writes one member row; unchanged rows are not touched") {
    TempDb t;
    SqliteStore s(t.path);
    const DesiredState doc = parse_document(kDoc, "d");
    s.save_state({}, doc, audit("apply"), s.revision());
    // Count the row writes with triggers the test adds.
    sqlite3* db = nullptr;
    sqlite3_open(t.path.c_str(), &db);
    sqlite3_exec(
        db,
        "CREATE TABLE writes (t TEXT);"
        "CREATE TRIGGER m_u AFTER UPDATE ON members BEGIN INSERT INTO writes VALUES ('members'); "
        "END;"
        "CREATE TRIGGER m_i AFTER INSERT ON members BEGIN INSERT INTO writes VALUES ('members'); "
        "END;"
        "CREATE TRIGGER p_u AFTER UPDATE ON pools BEGIN INSERT INTO writes VALUES ('pools'); END;"
        "CREATE TRIGGER z_u AFTER UPDATE ON zones BEGIN INSERT INTO writes VALUES ('zones'); END;",
        nullptr, nullptr, nullptr);
    sqlite3_close(db);
    DesiredState drained = doc;
    drained.pools[0].members[0].admin = AdminState::Drain;
    s.save_state(doc, drained, audit("drain"), s.revision());
    CHECK(s.load_state().state.pools[0].members[0].admin == AdminState::Drain);
    CHECK(count_rows(t.path, "writes") == 1);
    CHECK(count_rows(t.path, "members") == 2);
    CHECK(count_rows(t.path, "audit") == 2);
}

TEST_CASE("a change of a member's labels alone is saved (schema 4: members.labels)") {
    TempDb t;
    SqliteStore s(t.path);
    const DesiredState doc = parse_document(kDoc, "d");
    s.save_state({}, doc, audit("apply"), s.revision());
    DesiredState relabelled = doc;
    relabelled.pools[0].members[0].labels["cluster"] = "fr";
    relabelled.pools[0].members[1].labels["zone"] = "b";
    s.save_state(doc, relabelled, audit("labels"), s.revision());
    const DesiredState back = s.load_state().state;
    CHECK(back.pools[0].members[0].labels.at("cluster") == "fr");
    CHECK(back.pools[0].members[1].labels.at("zone") == "b");
}

TEST_CASE("removing a pool removes its member rows") {
    TempDb t;
    SqliteStore s(t.path);
    const DesiredState doc = parse_document(kDoc, "d");
    s.save_state({}, doc, audit("apply"), s.revision());
    s.save_state(doc, DesiredState{}, audit("clear"), s.revision());
    CHECK(count_rows(t.path, "pools") == 0);
    CHECK(count_rows(t.path, "members") == 0);
    CHECK(s.has_state());  // an empty state saved is still a state
    CHECK(s.load_state().state.zones.empty());
}

TEST_CASE("a failed save changes nothing, not even the audit log") {
    TempDb t;
    SqliteStore s(t.path);
    const DesiredState doc = parse_document(kDoc, "d");
    s.save_state({}, doc, audit("apply"), s.revision());
    DesiredState bad = doc;
    bad.pools[0].members[0].weight = 999;  // violates the CHECK constraint of the members table
    CHECK_THROWS_AS(s.save_state(doc, bad, audit("bad"), s.revision()), StoreError);
    CHECK(s.load_state().state.pools[0].members[0].weight == 10);
    CHECK(s.audit(0, 10).size() == 1);
}

TEST_CASE("tokens are stored by hash and removed with an audit entry") {
    TempDb t;
    SqliteStore s(t.path);
    s.add_token({"ci", "viewer", "abc123", 5}, audit("token create"));
    REQUIRE(s.token("ci"));
    CHECK(s.token("ci")->hash == "abc123");
    CHECK_THROWS_AS(s.add_token({"ci", "admin", "x", 6}, audit("dup")), StoreError);
    CHECK_THROWS_AS(s.add_token({"bad", "root", "x", 6}, audit("role")), StoreError);
    CHECK(s.remove_token("ci", audit("revoke")));
    CHECK_FALSE(s.token("ci"));
    CHECK_FALSE(s.remove_token("ci", audit("revoke again")));
    CHECK(s.audit(0, 10).size() == 3);
}

TEST_CASE("events keep the last verdict per target and are pruned by retention") {
    TempDb t;
    SqliteStore s(t.path);
    HealthEvent e;
    e.at_ms = 1000;
    e.monitor = "web";
    e.address = "127.0.0.1";
    e.pools = "eu";
    e.from = "unknown";
    e.to = "up";
    e.reason = "ok";
    HealthEvent e2 = e;
    e2.at_ms = 200000000000;
    e2.from = "up";
    e2.to = "down";
    e2.reason = "connect_refused";
    s.append_events({e, e2});
    CHECK(s.events(0, 10).size() == 2);
    CHECK(s.events(1, 10).size() == 1);
    REQUIRE(s.verdicts().size() == 1);
    CHECK(s.verdicts()[0].verdict == "down");
    s.prune({30, 365}, 200000000000 + 86400000);
    CHECK(s.events(0, 10).size() == 1);  // the old one is gone
}

TEST_CASE("a database from a newer gtmd is refused") {
    TempDb t;
    { SqliteStore s(t.path); }
    sqlite3* db = nullptr;
    sqlite3_open(t.path.c_str(), &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    CHECK_THROWS_AS(SqliteStore(t.path), StoreError);
}

TEST_CASE("a file that is not a database is refused with a clear error") {
    TempDb t;
    std::filesystem::create_directories(std::filesystem::path(t.path).parent_path());
    FILE* f = std::fopen(t.path.c_str(), "w");
    std::fputs("this is not sqlite, just text long enough to have a header of sorts.....", f);
    std::fclose(f);
    try {
        SqliteStore s(t.path);
        FAIL("opened a text file");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Corrupt);
    }
}

TEST_CASE("every saved change moves the revision; a writer behind it saves nothing") {
    TempDb t;
    SqliteStore s(t.path);
    CHECK(s.revision() == 0);
    const DesiredState doc = parse_document(kDoc, "d");
    CHECK(s.save_state({}, doc, audit("apply"), 0) == 1);
    CHECK(s.load_state().revision == 1);
    DesiredState drained = doc;
    drained.pools[0].members[0].admin = AdminState::Drain;
    try {
        s.save_state(doc, drained, audit("stale"), 0);
        FAIL("a stale revision was saved");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Conflict);
    }
    CHECK(s.revision() == 1);
    CHECK(s.load_state().state.pools[0].members[0].admin == AdminState::Auto);
    CHECK(s.audit(0, 100).size() == 1);  // the refused write left no audit entry either
}
