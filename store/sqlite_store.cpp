#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "store/document.h"
#include "store/encode.h"

namespace gtm::store {

using nlohmann::json;

namespace {

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

StoreError::Kind kind_of(int rc) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return StoreError::Kind::Busy;
        case SQLITE_FULL:
            return StoreError::Kind::Full;
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
            return StoreError::Kind::ReadOnly;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return StoreError::Kind::Corrupt;
        case SQLITE_CONSTRAINT:
            return StoreError::Kind::Constraint;
        case SQLITE_IOERR:
            // A full disk shows up as an I/O error on some writes (WAL, journal).
            return rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC ? StoreError::Kind::Full
                                                                        : StoreError::Kind::Other;
        default:
            return StoreError::Kind::Other;
    }
}

// Schema migrations: index i takes user_version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE zones (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE monitors (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE pools (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE members (
        pool TEXT NOT NULL REFERENCES pools(name) ON DELETE CASCADE,
        address TEXT NOT NULL,
        seq INTEGER NOT NULL,
        weight INTEGER NOT NULL CHECK (weight BETWEEN 0 AND 255),
        admin TEXT NOT NULL CHECK (admin IN ('auto', 'up', 'drain', 'down')),
        PRIMARY KEY (pool, address));
    CREATE TABLE balancers (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL, token TEXT NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL,
        object TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL, result TEXT NOT NULL,
        status INTEGER NOT NULL);
    CREATE INDEX audit_at ON audit (at_ms);
    CREATE TABLE health_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL, monitor TEXT NOT NULL, address TEXT NOT NULL, pools TEXT NOT NULL,
        from_verdict TEXT NOT NULL, to_verdict TEXT NOT NULL, reason TEXT NOT NULL,
        detail TEXT NOT NULL, http_status INTEGER NOT NULL, latency_ms INTEGER NOT NULL);
    CREATE INDEX health_events_at ON health_events (at_ms);
    CREATE TABLE verdicts (
        monitor TEXT NOT NULL, address TEXT NOT NULL, verdict TEXT NOT NULL,
        changed_ms INTEGER NOT NULL, PRIMARY KEY (monitor, address));
    )sql",
    // 1 -> 2: the state's revision (ETags, compare-and-swap); a saved state starts at 1.
    R"sql(
    INSERT INTO meta (key, value)
        SELECT 'revision', CASE WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'state_saved')
                                THEN '1' ELSE '0' END;
    )sql",
    // 2 -> 3: events of every type (tier, all_down, isolation, admin, config), not only
    // verdict changes.
    R"sql(
    ALTER TABLE health_events ADD COLUMN type TEXT NOT NULL DEFAULT 'verdict';
    ALTER TABLE health_events ADD COLUMN data TEXT NOT NULL DEFAULT '';
    ALTER TABLE health_events ADD COLUMN node TEXT NOT NULL DEFAULT '';
    )sql",
    // 3 -> 4: members' labels (a JSON object; promql monitors' templates).
    R"sql(
    ALTER TABLE members ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    )sql",
};

}  // namespace

struct SqliteStore::Impl {
    sqlite3* db = nullptr;
    std::map<std::string, Stmt> cache;

    // Also runs when Store's constructor throws (a corrupt or newer database).
    ~Impl() {
        cache.clear();
        if (db != nullptr) {
            sqlite3_close(db);
        }
    }

    [[noreturn]] void fail(int rc, const std::string& what) const {
        std::string msg = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        throw StoreError(kind_of(db != nullptr ? sqlite3_extended_errcode(db) : rc), msg);
    }

    void exec(const char* sql) {
        char* err = nullptr;
        const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            throw StoreError(kind_of(sqlite3_extended_errcode(db)), msg);
        }
    }

    sqlite3_stmt* prepare(const std::string& sql) {
        auto& s = cache[sql];
        if (!s) {
            sqlite3_stmt* raw = nullptr;
            const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
            if (rc != SQLITE_OK) {
                fail(rc, "prepare");
            }
            s.reset(raw);
        }
        sqlite3_reset(s.get());
        sqlite3_clear_bindings(s.get());
        return s.get();
    }

    // Binds the arguments in order and runs a statement that returns no rows.
    template <typename... Args>
    void run(const std::string& sql, const Args&... args) {
        sqlite3_stmt* s = prepare(sql);
        int i = 0;
        (bind(s, ++i, args), ...);
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            fail(rc, "write");
        }
    }

    static void bind(sqlite3_stmt* s, int i, const std::string& v) {
        sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    static void bind(sqlite3_stmt* s, int i, const char* v) {
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    }
    static void bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
    static void bind(sqlite3_stmt* s, int i, int v) { sqlite3_bind_int(s, i, v); }
    static void bind(sqlite3_stmt* s, int i, uint32_t v) { sqlite3_bind_int64(s, i, v); }
    static void bind(sqlite3_stmt* s, int i, size_t v) {
        sqlite3_bind_int64(s, i, static_cast<int64_t>(v));
    }

    static std::string text(sqlite3_stmt* s, int col) {
        const auto* p = sqlite3_column_text(s, col);
        return p != nullptr ? reinterpret_cast<const char*>(p) : "";
    }

    // One transaction; rolled back if `f` throws.
    template <typename F>
    void transaction(F&& f) {
        exec("BEGIN IMMEDIATE");  // takes the write lock now, waiting up to the busy timeout
        try {
            f();
            exec("COMMIT");
        } catch (...) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    void insert_audit(const AuditEntry& a) {
        run("INSERT INTO audit (at_ms, token, source, action, object, before, after, result, "
            "status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            a.at_ms, a.token, a.source, a.action, a.object, a.before, a.after, a.result, a.status);
    }

    // Upserts the rows of `table` (name, body) whose objects differ, deletes those that are
    // gone. Only what changed is serialized: a drain in a pool of 1,000 members writes one row.
    template <typename T, typename Same, typename Body>
    void sync_rows(const char* table, const std::vector<T>& before, const std::vector<T>& after,
                   Same same, Body body) {
        std::unordered_map<std::string_view, const T*> old;
        for (const auto& i : before) {
            old.emplace(i.name, &i);
        }
        for (const auto& i : after) {
            auto it = old.find(i.name);
            if (it == old.end() || !same(*it->second, i)) {
                run(std::string("INSERT INTO ") + table +
                        " (name, body) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET body = "
                        "excluded.body",
                    i.name, body(i));
            }
            if (it != old.end()) {
                old.erase(it);
            }
        }
        for (const auto& [name, item] : old) {
            run(std::string("DELETE FROM ") + table + " WHERE name = ?", item->name);
        }
    }
};

namespace {

template <typename T>
std::string body(const T& item) {
    return to_json(item).dump();
}

std::string pool_body(const Pool& p) {
    return pool_fields_to_json(p).dump();  // members have rows of their own: a drain writes one
}

bool same_pool_row(const Pool& a, const Pool& b) {
    return a.name == b.name && a.monitors == b.monitors && a.combine == b.combine &&
           a.min_healthy == b.min_healthy && a.slow_start_ms == b.slow_start_ms;
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, uint32_t busy_timeout_ms)
    : impl_(std::make_unique<Impl>()) {
    const int rc = sqlite3_open_v2(
        path.c_str(), &impl_->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = "cannot open " + path + ": " + sqlite3_errstr(rc);
        sqlite3_close(impl_->db);
        impl_->db = nullptr;
        throw StoreError(kind_of(rc), msg);
    }
    sqlite3_busy_timeout(impl_->db, static_cast<int>(busy_timeout_ms));
    impl_->exec("PRAGMA journal_mode=WAL");
    impl_->exec("PRAGMA synchronous=FULL");
    impl_->exec("PRAGMA foreign_keys=ON");
    const std::string integrity = integrity_check_locked();
    if (integrity != "ok") {
        throw StoreError(StoreError::Kind::Corrupt, path + ": integrity_check: " + integrity);
    }

    sqlite3_stmt* v = impl_->prepare("PRAGMA user_version");
    const int version = sqlite3_step(v) == SQLITE_ROW ? sqlite3_column_int(v, 0) : 0;
    sqlite3_reset(v);
    if (version > kSchemaVersion) {
        throw StoreError(StoreError::Kind::Other,
                         path + ": schema version " + std::to_string(version) +
                             " is newer than this gtmd (" + std::to_string(kSchemaVersion) + ")");
    }
    for (int i = version; i < kSchemaVersion; ++i) {
        impl_->transaction([&] {
            impl_->exec(kMigrations[i]);
            impl_->exec(("PRAGMA user_version = " + std::to_string(i + 1)).c_str());
        });
    }
}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::integrity_check() {
    std::lock_guard lock(mu_);
    return integrity_check_locked();
}

std::string SqliteStore::integrity_check_locked() {
    sqlite3_stmt* s = impl_->prepare("PRAGMA integrity_check");
    std::string out =
        sqlite3_step(s) == SQLITE_ROW ? Impl::text(s, 0) : "cannot run integrity_check";
    sqlite3_reset(s);
    return out;
}

bool SqliteStore::has_state() {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s = impl_->prepare("SELECT 1 FROM meta WHERE key = 'state_saved'");
    const bool yes = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return yes;
}

uint64_t SqliteStore::revision() {
    std::lock_guard lock(mu_);
    return revision_locked();
}

uint64_t SqliteStore::revision_locked() {
    sqlite3_stmt* s =
        impl_->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revision'");
    const int rc = sqlite3_step(s);
    const uint64_t rev = rc == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(s, 0)) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        impl_->fail(rc, "read");
    }
    return rev;
}

StoredState SqliteStore::load_state() {
    std::lock_guard lock(mu_);
    StoredState stored;
    // One read transaction: the rows and the revision of the same commit.
    impl_->exec("BEGIN");
    struct End {
        Impl& impl;
        ~End() { sqlite3_exec(impl.db, "COMMIT", nullptr, nullptr, nullptr); }
    } end{*impl_};
    stored.revision = revision_locked();
    DesiredState& state = stored.state;
    auto each = [&](const char* table, auto&& f) {
        sqlite3_stmt* s =
            impl_->prepare(std::string("SELECT name, body FROM ") + table + " ORDER BY name");
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            const std::string name = Impl::text(s, 0);
            f(json::parse(Impl::text(s, 1)), std::string(table) + "/" + name);
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            impl_->fail(rc, "read");
        }
    };
    const std::string doc = "database";
    each("zones", [&](const json& j, const std::string& p) {
        state.zones.push_back(zone_from_json(j, doc, p));
    });
    each("monitors", [&](const json& j, const std::string& p) {
        state.monitors.push_back(monitor_from_json(j, doc, p));
    });
    each("pools", [&](json j, const std::string& p) {
        j["members"] = json::array();
        state.pools.push_back(pool_from_json(j, doc, p));
    });
    each("balancers", [&](const json& j, const std::string& p) {
        state.balancers.push_back(balancer_from_json(j, doc, p));
    });
    std::map<std::string, Pool*> pools;
    for (auto& p : state.pools) {
        pools[p.name] = &p;
    }
    sqlite3_stmt* s = impl_->prepare(
        "SELECT pool, address, weight, admin, labels FROM members ORDER BY pool, seq");
    while (sqlite3_step(s) == SQLITE_ROW) {
        Member m;
        m.address = Impl::text(s, 1);
        m.weight = static_cast<uint32_t>(sqlite3_column_int(s, 2));
        m.admin = admin_state_from(Impl::text(s, 3)).value_or(AdminState::Auto);
        const json labels = json::parse(Impl::text(s, 4), nullptr, false);
        if (labels.is_object()) {
            for (const auto& [k, v] : labels.items()) {
                if (v.is_string()) {
                    m.labels[k] = v.get<std::string>();
                }
            }
        }
        auto it = pools.find(Impl::text(s, 0));
        if (it != pools.end()) {
            it->second->members.push_back(std::move(m));
        }
    }
    sqlite3_reset(s);
    return stored;
}

uint64_t SqliteStore::save_state(const DesiredState& before, const DesiredState& after,
                                 const AuditEntry& audit, uint64_t expected_revision) {
    std::lock_guard lock(mu_);
    uint64_t revision = 0;
    impl_->transaction([&] {
        const uint64_t stored = revision_locked();
        if (stored != expected_revision) {
            throw StoreError(StoreError::Kind::Conflict,
                             "the state changed meanwhile (revision " + std::to_string(stored) +
                                 ", expected " + std::to_string(expected_revision) + ")");
        }
        revision = stored + 1;
        const auto same = [](const auto& a, const auto& b) { return a == b; };
        const auto json_body = [](const auto& i) { return body(i); };
        impl_->sync_rows("zones", before.zones, after.zones, same, json_body);
        impl_->sync_rows("monitors", before.monitors, after.monitors, same, json_body);
        impl_->sync_rows("pools", before.pools, after.pools, same_pool_row, pool_body);
        std::map<std::pair<std::string, std::string>,
                 std::tuple<size_t, uint32_t, AdminState, std::map<std::string, std::string>>>
            old;
        for (const auto& p : before.pools) {
            for (size_t i = 0; i < p.members.size(); ++i) {
                old[{p.name, p.members[i].address}] = {i, p.members[i].weight, p.members[i].admin,
                                                       p.members[i].labels};
            }
        }
        for (const auto& p : after.pools) {
            for (size_t i = 0; i < p.members.size(); ++i) {
                const Member& m = p.members[i];
                auto it = old.find({p.name, m.address});
                const auto row = std::make_tuple(i, m.weight, m.admin, m.labels);
                if (it != old.end()) {
                    const bool same = it->second == row;
                    old.erase(it);
                    if (same) {
                        continue;
                    }
                }
                impl_->run(
                    "INSERT INTO members (pool, address, seq, weight, admin, labels) VALUES (?, ?, "
                    "?, ?, ?, ?) "
                    "ON CONFLICT(pool, address) DO UPDATE SET seq = excluded.seq, "
                    "weight = excluded.weight, admin = excluded.admin, labels = excluded.labels",
                    p.name, m.address, i, m.weight, to_string(m.admin), json(m.labels).dump());
            }
        }
        for (const auto& [key, row] : old) {
            impl_->run("DELETE FROM members WHERE pool = ? AND address = ?", key.first, key.second);
        }
        impl_->sync_rows("balancers", before.balancers, after.balancers, same, json_body);
        impl_->run("INSERT OR IGNORE INTO meta (key, value) VALUES ('state_saved', '1')");
        impl_->run("UPDATE meta SET value = ? WHERE key = 'revision'", std::to_string(revision));
        impl_->insert_audit(audit);
    });
    return revision;
}

void SqliteStore::append_audit(const AuditEntry& audit) {
    std::lock_guard lock(mu_);
    impl_->transaction([&] { impl_->insert_audit(audit); });
}

std::vector<AuditEntry> SqliteStore::audit(int64_t after_id, size_t limit) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s = impl_->prepare(
        "SELECT id, at_ms, token, source, action, object, before, after, result, status FROM audit "
        "WHERE id > ? ORDER BY id LIMIT ?");
    Impl::bind(s, 1, after_id);
    Impl::bind(s, 2, limit);
    std::vector<AuditEntry> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        AuditEntry a;
        a.id = sqlite3_column_int64(s, 0);
        a.at_ms = sqlite3_column_int64(s, 1);
        a.token = Impl::text(s, 2);
        a.source = Impl::text(s, 3);
        a.action = Impl::text(s, 4);
        a.object = Impl::text(s, 5);
        a.before = Impl::text(s, 6);
        a.after = Impl::text(s, 7);
        a.result = Impl::text(s, 8);
        a.status = sqlite3_column_int(s, 9);
        out.push_back(std::move(a));
    }
    sqlite3_reset(s);
    return out;
}

void SqliteStore::append_events(const std::vector<HealthEvent>& events) {
    std::lock_guard lock(mu_);
    if (events.empty()) {
        return;
    }
    impl_->transaction([&] {
        for (const auto& e : events) {
            impl_->run(
                "INSERT INTO health_events (at_ms, monitor, address, pools, from_verdict, "
                "to_verdict, reason, detail, http_status, latency_ms, type, data, node) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                e.at_ms, e.monitor, e.address, e.pools, e.from, e.to, e.reason, e.detail,
                e.http_status, e.latency_ms, e.type, e.data, e.node);
            if (e.type != "verdict") {
                continue;
            }
            impl_->run(
                "INSERT INTO verdicts (monitor, address, verdict, changed_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(monitor, address) DO UPDATE SET verdict = excluded.verdict, "
                "changed_ms = excluded.changed_ms",
                e.monitor, e.address, e.to, e.at_ms);
        }
    });
}

std::vector<HealthEvent> SqliteStore::events(int64_t after_id, size_t limit) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s = impl_->prepare(
        "SELECT id, at_ms, monitor, address, pools, from_verdict, to_verdict, reason, detail, "
        "http_status, latency_ms, type, data, node FROM health_events WHERE id > ? ORDER BY id "
        "LIMIT ?");
    Impl::bind(s, 1, after_id);
    Impl::bind(s, 2, limit);
    std::vector<HealthEvent> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        HealthEvent e;
        e.id = sqlite3_column_int64(s, 0);
        e.at_ms = sqlite3_column_int64(s, 1);
        e.monitor = Impl::text(s, 2);
        e.address = Impl::text(s, 3);
        e.pools = Impl::text(s, 4);
        e.from = Impl::text(s, 5);
        e.to = Impl::text(s, 6);
        e.reason = Impl::text(s, 7);
        e.detail = Impl::text(s, 8);
        e.http_status = sqlite3_column_int(s, 9);
        e.latency_ms = static_cast<uint32_t>(sqlite3_column_int64(s, 10));
        e.type = Impl::text(s, 11);
        e.data = Impl::text(s, 12);
        e.node = Impl::text(s, 13);
        out.push_back(std::move(e));
    }
    sqlite3_reset(s);
    return out;
}

std::vector<StoredVerdict> SqliteStore::verdicts() {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s = impl_->prepare("SELECT monitor, address, verdict, changed_ms FROM verdicts");
    std::vector<StoredVerdict> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        out.push_back(
            {Impl::text(s, 0), Impl::text(s, 1), Impl::text(s, 2), sqlite3_column_int64(s, 3)});
    }
    sqlite3_reset(s);
    return out;
}

std::vector<Token> SqliteStore::tokens() {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s =
        impl_->prepare("SELECT name, role, hash, created_ms FROM tokens ORDER BY name");
    std::vector<Token> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
        out.push_back(
            {Impl::text(s, 0), Impl::text(s, 1), Impl::text(s, 2), sqlite3_column_int64(s, 3)});
    }
    sqlite3_reset(s);
    return out;
}

std::optional<Token> SqliteStore::token(const std::string& name) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s =
        impl_->prepare("SELECT name, role, hash, created_ms FROM tokens WHERE name = ?");
    Impl::bind(s, 1, name);
    std::optional<Token> out;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out =
            Token{Impl::text(s, 0), Impl::text(s, 1), Impl::text(s, 2), sqlite3_column_int64(s, 3)};
    }
    sqlite3_reset(s);
    return out;
}

void SqliteStore::add_token(const Token& token, const AuditEntry& audit) {
    std::lock_guard lock(mu_);
    impl_->transaction([&] {
        impl_->run("INSERT INTO tokens (name, role, hash, created_ms) VALUES (?, ?, ?, ?)",
                   token.name, token.role, token.hash, token.created_ms);
        impl_->insert_audit(audit);
    });
}

bool SqliteStore::remove_token(const std::string& name, const AuditEntry& audit) {
    std::lock_guard lock(mu_);
    bool removed = false;
    impl_->transaction([&] {
        impl_->run("DELETE FROM tokens WHERE name = ?", name);
        removed = sqlite3_changes(impl_->db) > 0;
        impl_->insert_audit(audit);
    });
    return removed;
}

std::optional<std::string> SqliteStore::setting(const std::string& key) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* s = impl_->prepare("SELECT value FROM meta WHERE key = ?");
    Impl::bind(s, 1, "setting:" + key);
    std::optional<std::string> out;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out = Impl::text(s, 0);
    }
    sqlite3_reset(s);
    return out;
}

void SqliteStore::set_setting(const std::string& key, const std::string& value) {
    std::lock_guard lock(mu_);
    impl_->transaction([&] {
        impl_->run(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
            "excluded.value",
            "setting:" + key, value);
    });
}

void SqliteStore::prune(const Retention& r, int64_t now_ms) {
    std::lock_guard lock(mu_);
    constexpr int64_t kDay = 86400000;
    impl_->transaction([&] {
        impl_->run("DELETE FROM health_events WHERE at_ms < ?", now_ms - r.events_days * kDay);
        impl_->run("DELETE FROM audit WHERE at_ms < ?", now_ms - r.audit_days * kDay);
    });
}

}  // namespace gtm::store
