// libFuzzer target for the REST API's request path: Api::handle() with any method, target,
// headers and body, against a real core on a sqlite store in a temporary directory (on tmpfs
// when there is one). An input is text:
//
//   METHOD TARGET
//   Header: value          Authorization (admin, operator, viewer or none: a token of that
//   ...                    role or no header; else sent as written; default admin),
//                          Content-Type, If-Match, Source, Too-Large (any value: the server
//                          refused the body from its header)
//   <empty line>
//   body
//
// Besides the sanitizers it checks what every answer keeps: handle() does not throw; a status
// between 200 and 599; a JSON answer is valid JSON in valid UTF-8; a 405 says Allow; a resource
// read answers with an ETag; and the audit log stays readable (GET /api/v1/audit after every
// input answers 200).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/core.h"
#include "store/document.h"
#include "store/sqlite_store.h"
#include "web/api.h"
#include "web/auth.h"

namespace {

using nlohmann::json;

const char* kDoc = R"(
zones:
  - name: a.test
    soa: {mname: ns.a.test, rname: h.a.test}
    ns: [ns.a.test]
    records: ["ns 300 A 127.0.0.53", "www 300 A 127.0.0.80"]
monitors:
  - {name: m, type: tcp, port: 1, interval: 1h}
pools:
  - name: eu
    monitor: m
    members: [{address: 127.0.0.1}, {address: 127.0.0.2, weight: 7}, {address: "::1"}]
balancers:
  - {name: app.a.test, pools: [{pool: eu}]}
)";

// Inputs between resets of the state to kDoc, so that what inputs create stays small.
constexpr int kResetEvery = 200;

struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<gtm::store::SqliteStore> db;
    gtm::dns::SnapshotHolder holder;
    std::unique_ptr<gtm::core::Core> core;
    std::unique_ptr<gtm::web::Api> api;
    std::map<std::string, std::string> secret;  // role -> token secret
    int inputs = 0;
    int64_t audit_seen = 0;  // the audit log is read from here after each input

    Fixture() {
        const std::filesystem::path base =
            std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        std::string tmpl = (base / "gtm-fuzz-api-XXXXXX").string();
        dir = mkdtemp(tmpl.data());
        db = std::make_unique<gtm::store::SqliteStore>((dir / "gtmd.db").string(), 100);
        for (const char* role : {"viewer", "operator", "admin"}) {
            secret[role] = gtm::web::new_secret();
            gtm::store::AuditEntry a;
            a.action = "fuzz";
            db->add_token({role, role, gtm::web::hash_secret(secret[role]), 0}, a);
        }
        core = std::make_unique<gtm::core::Core>(*db, holder, gtm::core::CoreOptions{});
        core->load(0);
        reset();
        gtm::web::ApiDeps deps;
        deps.core = core.get();
        deps.snapshots = &holder;
        api = std::make_unique<gtm::web::Api>(std::move(deps));
    }
    ~Fixture() {
        api.reset();
        core.reset();
        db.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }

    void reset() {
        gtm::core::Actor who;
        who.token = "fuzz";
        who.document = "fuzz";
        gtm::core::Core::ApplyOptions options;
        options.prune = true;
        core->apply(gtm::store::parse_document(kDoc, "fuzz"), who, options);
    }
};

std::string_view next_line(std::string_view& in) {
    const size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

gtm::web::Request decode(std::string_view in, Fixture& f) {
    gtm::web::Request r;
    std::string_view first = next_line(in);
    const size_t space = first.find(' ');
    r.method = std::string(first.substr(0, space));
    r.target = space == std::string_view::npos ? "" : std::string(first.substr(space + 1));
    r.authorization = "Bearer " + f.secret["admin"];
    r.source = "127.0.0.1";
    while (!in.empty()) {
        const std::string_view line = next_line(in);
        if (line.empty()) {
            break;
        }
        const size_t colon = line.find(':');
        const std::string_view name = line.substr(0, colon);
        std::string value(colon == std::string_view::npos ? "" : line.substr(colon + 1));
        if (!value.empty() && value[0] == ' ') {
            value.erase(0, 1);
        }
        if (name == "Authorization") {
            if (value == "none") {
                r.authorization.clear();
            } else if (f.secret.count(value) != 0) {
                r.authorization = "Bearer " + f.secret[value];
            } else {
                r.authorization = value;
            }
        } else if (name == "Content-Type") {
            r.content_type = value;
        } else if (name == "If-Match") {
            r.if_match = r.if_match ? *r.if_match + ", " + value : value;
        } else if (name == "Source") {
            r.source = value;
        } else if (name == "Too-Large") {
            r.body_too_large = true;
        }
    }
    r.body = std::string(in);
    return r;
}

bool has_header(const gtm::web::Response& r, const char* name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name && !v.empty()) {
            return true;
        }
    }
    return false;
}

// Invariants of every answer; abort() on a broken one.
void check(const gtm::web::Request& req, const gtm::web::Response& r) {
    if (r.status < 200 || r.status > 599) {
        std::abort();
    }
    if (r.content_type == "application/json" && !json::accept(r.body)) {
        std::abort();  // not JSON, or not UTF-8
    }
    if (r.status == 405 && !has_header(r, "Allow")) {
        std::abort();
    }
    static const std::string kState[] = {"/api/v1/config", "/api/v1/zones", "/api/v1/monitors",
                                         "/api/v1/pools", "/api/v1/balancers"};
    if ((req.method == "GET" || req.method == "HEAD") && r.status == 200) {
        for (const auto& s : kState) {
            if (req.target.rfind(s, 0) == 0 && !has_header(r, "ETag")) {
                std::abort();
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture f;
    if (++f.inputs % kResetEvery == 0) {
        f.reset();
    }
    const gtm::web::Request req =
        decode(std::string_view(reinterpret_cast<const char*>(data), size), f);
    const int64_t now_ms = 1'700'000'000'000 + f.inputs;
    gtm::web::Response r;
    try {
        r = f.api->handle(req, now_ms);
    } catch (...) {
        std::abort();  // handle() answers everything
    }
    check(req, r);
    // Whatever the input wrote to the audit log can be read back.
    gtm::web::Request audit;
    audit.method = "GET";
    audit.target = "/api/v1/audit?limit=1000&after=" + std::to_string(f.audit_seen);
    audit.authorization = "Bearer " + f.secret["viewer"];
    audit.source = "127.0.0.2";
    const gtm::web::Response page = f.api->handle(audit, now_ms);
    if (page.status != 200) {
        std::abort();
    }
    check(audit, page);
    f.audit_seen = json::parse(page.body)["next_after"].get<int64_t>();
    return 0;
}
