// gtmctl: a thin command-line client of gtmd's REST API.
//
//   gtmctl [--server URL] [--token TOKEN | --token-file FILE] COMMAND ...
//
// `gtmctl open` prints a link that opens the web page signed in.
//
// The server and token also come from GTM_SERVER and GTM_TOKEN. Exit codes scripts can trust:
//   0 done, 1 usage error, 2 refused (4xx from the server, or a local file that does not
//   validate), 3 unavailable (5xx, or no connection).
#include <curl/curl.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/document.h"
#include "store/encode.h"

namespace {

using nlohmann::json;

constexpr int kOk = 0;
constexpr int kUsage = 1;
constexpr int kRefused = 2;
constexpr int kUnavailable = 3;

struct Client {
    std::string server;
    std::string token;
    std::string cacert;

    struct Reply {
        long status = 0;
        std::string body;
        std::string etag;   // the ETag header: the desired state's revision, in quotes
        std::string error;  // transport error
    };

    static size_t collect(char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
    }

    static size_t header(char* data, size_t size, size_t n, void* out) {
        const std::string line(data, size * n);
        static const std::string kName = "etag:";
        if (line.size() > kName.size() &&
            std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
                return a == std::tolower(static_cast<unsigned char>(b));
            })) {
            std::string value = line.substr(kName.size());
            const auto first = value.find_first_not_of(" \t");
            const auto last = value.find_last_not_of(" \t\r\n");
            *static_cast<std::string*>(out) =
                first == std::string::npos ? "" : value.substr(first, last - first + 1);
        }
        return size * n;
    }

    // `if_match`: an ETag ("42") the change must apply onto (412 otherwise); empty: none.
    Reply call(const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& if_match = "") const {
        Reply r;
        CURL* c = curl_easy_init();
        const std::string url = server + path;
        curl_slist* headers = nullptr;
        const std::string auth = "Authorization: Bearer " + token;
        headers = curl_slist_append(headers, auth.c_str());
        headers = curl_slist_append(headers, "Accept: application/json");
        if (!body.empty()) {
            headers = curl_slist_append(headers, "Content-Type: application/json");
        }
        headers = curl_slist_append(headers, "Expect:");
        const std::string precondition = "If-Match: " + if_match;
        if (!if_match.empty()) {
            headers = curl_slist_append(headers, precondition.c_str());
        }
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Client::collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Client::header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.etag);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        if (!cacert.empty()) {
            curl_easy_setopt(c, CURLOPT_CAINFO, cacert.c_str());
        }
        if (!body.empty() || method == "PUT" || method == "POST") {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        }
        const CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
            r.error = curl_easy_strerror(rc);
        } else {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        return r;
    }
};

// Prints the server's error and returns the exit code a reply deserves.
int outcome(const Client::Reply& r) {
    if (!r.error.empty()) {
        std::cerr << "gtmctl: cannot reach the server: " << r.error << "\n";
        return kUnavailable;
    }
    if (r.status >= 200 && r.status < 300) {
        return kOk;
    }
    std::string message = r.body;
    try {
        json j = json::parse(r.body);
        message = j.value("error", r.body);
        if (j.contains("field")) {
            message = j["field"].get<std::string>() + ": " + message;
        }
    } catch (const json::exception&) {
    }
    std::cerr << "gtmctl: " << r.status << ": " << message;
    if (message.empty() || message.back() != '\n') {
        std::cerr << "\n";
    }
    return r.status >= 500 ? kUnavailable : kRefused;
}

json body_of(const Client::Reply& r) {
    try {
        return json::parse(r.body);
    } catch (const json::exception&) {
        return json();
    }
}

std::string share(double s) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%5.1f%%", s * 100);
    return buf;
}

int status(const Client& c) {
    auto r = c.call("GET", "/api/v1/status");
    if (int code = outcome(r)) {
        return code;
    }
    json j = body_of(r);
    if (j.value("isolated", false)) {
        std::cout << "WARNING: the prober is isolated (suspects its own network)\n";
    }
    for (const auto& b : j["balancers"]) {
        for (const char* family : {"A", "AAAA"}) {
            const json& t = b[family];
            if (t["mode"] == "no_members") {
                continue;
            }
            std::cout << b["name"].get<std::string>() << " " << family << ": "
                      << t["mode"].get<std::string>() << ", tier " << t["serving_priority"]
                      << ", ttl " << t["ttl"] << "s\n";
            for (const auto& a : t["answers"]) {
                std::cout << "  " << share(a["share"].get<double>()) << "  "
                          << a["address"].get<std::string>() << "  ("
                          << a["pool"].get<std::string>() << ")\n";
            }
            if (t["answers"].empty()) {
                std::cout << "  (no addresses: NODATA)\n";
            }
        }
    }
    return kOk;
}

int explain(const Client& c, const std::string& name, const std::string& type) {
    auto r = c.call("GET", "/api/v1/explain?name=" + name + "&type=" + type);
    if (int code = outcome(r)) {
        return code;
    }
    json j = body_of(r);
    std::cout << j["name"].get<std::string>() << " " << j["type"].get<std::string>() << ": mode "
              << j.value("mode", "?") << ", serving tier " << j.value("serving_priority", 0)
              << ", ttl " << j.value("ttl", 0) << "s, when_all_down "
              << j["when_all_down"].get<std::string>() << "\n";
    for (const auto& tier : j["tiers"]) {
        std::cout << "tier " << tier["priority"] << "\n";
        for (const auto& p : tier["pools"]) {
            std::cout << "  pool " << p["pool"].get<std::string>() << " weight " << p["weight"]
                      << ": " << (p["up"].get<bool>() ? "up" : "DOWN") << " (" << p["eligible"]
                      << " eligible, min_healthy " << p["min_healthy"] << ")\n";
            for (const auto& m : p["members"]) {
                std::cout << "    " << (m["eligible"].get<bool>() ? "+" : "-") << " "
                          << m["address"].get<std::string>() << " weight " << m["weight"] << " "
                          << share(m["share"].get<double>()) << "  " << m["why"].get<std::string>();
                if (m.contains("monitors") && m["monitors"].size() > 1) {
                    // Several monitors: each one's verdict, the one that decided marked '*'.
                    std::cout << "; " << m.value("combine", "all") << " of";
                    for (const auto& mon : m["monitors"]) {
                        std::cout << " " << mon["monitor"].get<std::string>() << "="
                                  << mon["verdict"].get<std::string>()
                                  << (mon["decided"].get<bool>() ? "*" : "");
                    }
                }
                if (m.contains("last_result")) {
                    const json& lr = m["last_result"];
                    std::cout << "; last probe " << lr["reason"].get<std::string>() << " in "
                              << lr["latency_ms"] << " ms";
                }
                std::cout << "\n";
            }
        }
    }
    return kOk;
}

// Prints what an admin change does to the answers (the server's "effects"); returns true when
// it leaves some balancer with no healthy member.
bool print_effects(const json& effects) {
    bool harmful = false;
    for (const auto& e : effects) {
        const json& after = e["after"];
        std::cout << "  " << e["balancer"].get<std::string>() << " " << e["type"].get<std::string>()
                  << ": " << after["mode"].get<std::string>() << ", " << e["healthy"].get<size_t>()
                  << " healthy member(s) served";
        std::string answers;
        for (const auto& a : after["answers"]) {
            answers += (answers.empty() ? "" : ", ") + a["address"].get<std::string>();
        }
        std::cout << (answers.empty() ? " (no answer)" : " (" + answers + ")") << "\n";
        if (e.contains("warning")) {
            std::cout << "  warning: " << e["warning"].get<std::string>() << "\n";
            harmful = true;
        }
    }
    return harmful;
}

// Sets a member's admin state. A change that would leave a balancer with no healthy member
// (answering fail-open on dead addresses, NODATA or the fallback) is shown and refused unless
// `force`: the server's dry run says what it would do, and the change is sent with the dry run's
// ETag as If-Match, so that it applies only onto the state the dry run judged (if that changed
// meanwhile, the check is made again).
int set_admin(const Client& c, const std::string& pool, const std::string& address,
              const std::string& state, bool force) {
    const std::string path = "/api/v1/pools/" + pool + "/members/" + address + "/admin";
    const std::string body = json{{"admin", state}}.dump();
    const bool check = !force && state != "auto" && state != "up";
    Client::Reply r;
    for (int attempt = 0;; ++attempt) {
        std::string judged;  // the revision the dry run judged
        if (check) {
            auto dry = c.call("PUT", path + "?dry_run=true", body);
            if (int code = outcome(dry)) {
                return code;
            }
            judged = dry.etag;
            const json effects = body_of(dry)["effects"];
            std::ostringstream shown;
            auto* old = std::cout.rdbuf(shown.rdbuf());
            const bool harmful = print_effects(effects);
            std::cout.rdbuf(old);
            if (harmful) {
                std::cerr << "gtmctl: " << pool << " " << address << ": admin " << state
                          << " would leave a balancer with no healthy member:\n"
                          << shown.str()
                          << "gtmctl: nothing changed; run again with --force to do it\n";
                return kRefused;
            }
        }
        r = c.call("PUT", path, body, judged);
        if (r.status != 412 || judged.empty() || attempt == 4) {
            break;
        }
    }
    if (int code = outcome(r)) {
        return code;
    }
    std::cout << pool << " " << address << ": admin " << state << "\n";
    print_effects(body_of(r)["effects"]);
    return kOk;
}

// `if_match`: a revision (as `gtmctl export` reports it) the document must apply onto; empty:
// any.
int apply(const Client& c, const std::string& file, bool dry_run, const std::string& if_match) {
    gtm::store::DesiredState state;
    try {
        // Validated here first: errors and warnings name the file, line and path.
        gtm::store::Document doc = gtm::store::read_document(file);
        for (const auto& w : doc.warnings) {
            std::cerr << "gtmctl: " << gtm::store::to_string(w, file) << "\n";
        }
        state = std::move(doc.state);
    } catch (const gtm::store::DocumentError& e) {
        std::cerr << "gtmctl: " << e.what() << "\n";
        return kRefused;
    }
    auto r =
        c.call("PUT", std::string("/api/v1/config") + (dry_run ? "?dry_run=true" : ""),
               gtm::store::to_json(state).dump(), if_match.empty() ? "" : "\"" + if_match + "\"");
    if (int code = outcome(r)) {
        return code;
    }
    json j = body_of(r);
    const json& changes = j["changes"];
    if (changes.empty()) {
        std::cout << "no changes\n";
    }
    for (const auto& ch : changes) {
        const std::string op = ch["op"].get<std::string>();
        std::cout << (op == "add"      ? "+ "
                      : op == "remove" ? "- "
                                       : "~ ")
                  << ch["kind"].get<std::string>() << "/" << ch["name"].get<std::string>() << "\n";
    }
    if (dry_run) {
        std::cout << "(dry run: nothing applied)\n";
    }
    return kOk;
}

// `revision`: say on stderr which revision of the state was read (export).
int simple_get(const Client& c, const std::string& path, bool raw, bool revision = false) {
    auto r = c.call("GET", path);
    if (int code = outcome(r)) {
        return code;
    }
    if (revision && r.etag.size() > 2) {
        const std::string rev = r.etag.substr(1, r.etag.size() - 2);
        std::cerr << "gtmctl: revision " << rev << " (apply --if-match " << rev
                  << " applies only onto it)\n";
    }
    if (raw) {
        std::cout << r.body;
    } else {
        std::cout << body_of(r).dump(2) << "\n";
    }
    return kOk;
}

// Unix milliseconds as local ISO 8601 time with the offset: 2026-12-01T21:04:05.123+0000.
std::string local_time(int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char date[32];
    char zone[8];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    std::strftime(zone, sizeof zone, "%z", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03d", static_cast<int>(unix_ms % 1000));
    return std::string(date) + ms + zone;
}

int events(const Client& c, long after, long limit, bool raw_json, const std::string& type) {
    auto r = c.call("GET", "/api/v1/events?after=" + std::to_string(after) + "&limit=" +
                               std::to_string(limit) + (type.empty() ? "" : "&type=" + type));
    if (int code = outcome(r)) {
        return code;
    }
    const json body = body_of(r);  // a named value: iterating a temporary's member dangles
    if (raw_json) {
        std::cout << body.dump(2) << "\n";  // at_ms stays the number
        return kOk;
    }
    for (const auto& e : body["events"]) {
        std::cout << e["id"] << "  " << local_time(e["at_ms"].get<int64_t>()) << "  ";
        const std::string type = e.value("type", "verdict");
        if (type == "verdict") {
            std::cout << e["monitor"].get<std::string>() << " " << e["address"].get<std::string>()
                      << " [" << e["pools"].get<std::string>() << "] "
                      << e["from"].get<std::string>() << " -> " << e["to"].get<std::string>()
                      << " (" << e["reason"].get<std::string>()
                      << (e["detail"].get<std::string>().empty() ? "" : ": ")
                      << e["detail"].get<std::string>() << ")\n";
            continue;
        }
        // Other types: the type, then its fields as key=value.
        std::cout << type;
        for (const auto& [k, v] : e.items()) {
            if (k != "id" && k != "at_ms" && k != "type") {
                std::cout << " " << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump());
            }
        }
        std::cout << "\n";
    }
    return kOk;
}

// A token percent-encoded for a URL fragment: only unreserved characters stay as they are.
std::string fragment_escape(const std::string& s) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out.push_back(static_cast<char>(ch));
        } else {
            out += '%';
            out.push_back(kHex[ch >> 4]);
            out.push_back(kHex[ch & 15]);
        }
    }
    return out;
}

// Prints a link to the web page that signs it in: the token rides in the URL fragment, which
// the browser never sends (no server or proxy log sees it); the page moves it to the tab's
// session storage and clears it from the address bar. The token is checked first.
int open_page(const Client& c) {
    if (c.token.empty()) {
        std::cerr << "gtmctl: open needs a token (--token, --token-file or GTM_TOKEN)\n";
        return kUsage;
    }
    auto r = c.call("GET", "/api/v1/whoami");
    if (int code = outcome(r)) {
        return code;
    }
    const json who = body_of(r);
    std::cout << c.server << "/#token=" << fragment_escape(c.token) << "\n";
    std::cerr << "gtmctl: the link signs the page in as '" << who.value("name", "?") << "' ("
              << who.value("role", "?") << "); keep it as secret as the token\n";
    return kOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"gtmctl: manage gtmd through its REST API"};
    app.require_subcommand(1);
    Client client;
    std::string token_file;
    app.add_option("--server", client.server,
                   "API base URL (GTM_SERVER; default http://127.0.0.1:8053)");
    app.add_option("--token", client.token, "bearer token (GTM_TOKEN)");
    app.add_option("--token-file", token_file, "read the bearer token from this file");
    app.add_option("--cacert", client.cacert, "CA file for an https server");

    auto* st = app.add_subcommand("status", "every balancer's serving tier and answers");
    std::string name, type = "A", pool, address, state, file, format = "yaml", role;
    bool dry_run = false;
    long after = 0, limit = 100;
    auto* ex = app.add_subcommand("explain", "why a balancer answers what it answers");
    ex->add_option("name", name, "balancer name")->required();
    ex->add_option("--type", type, "A or AAAA");
    auto* drain = app.add_subcommand("drain", "stop new answers to a member (it stays probed)");
    auto* undrain =
        app.add_subcommand("undrain", "serve a member again (admin auto, through slow start)");
    auto* admin = app.add_subcommand("admin", "set a member's admin state");
    bool force = false;
    for (auto* s : {drain, undrain, admin}) {
        s->add_option("pool", pool, "pool")->required();
        s->add_option("address", address, "member address")->required();
    }
    for (auto* s : {drain, admin}) {
        s->add_flag("--force", force,
                    "do it even when it leaves a balancer with no healthy member");
    }
    admin->add_option("state", state, "auto, up, drain or down")->required();
    auto* ap = app.add_subcommand("apply", "apply a desired-state document (YAML or JSON)");
    ap->add_option("-f,--file", file, "the document")->required();
    ap->add_flag("--dry-run", dry_run, "show the changes, apply nothing");
    std::string if_match;
    ap->add_option("--if-match", if_match,
                   "apply only onto this revision (gtmctl export prints it); else 412, exit 2")
        ->check([](const std::string& v) {
            const bool digits = !v.empty() && v.size() <= 19 &&
                                std::all_of(v.begin(), v.end(),
                                            [](unsigned char ch) { return std::isdigit(ch) != 0; });
            return digits ? std::string() : std::string("a revision: digits, as export prints it");
        });
    auto* exp = app.add_subcommand("export", "print the desired state");
    exp->add_option("--format", format, "yaml or json");
    auto* ev = app.add_subcommand("events", "health events (verdict changes)");
    ev->add_option("--after", after, "events after this id");
    ev->add_option("--limit", limit, "at most this many");
    bool events_json = false;
    ev->add_flag("--json", events_json, "the API's JSON (times as unix milliseconds)");
    std::string event_type;
    ev->add_option("--type", event_type,
                   "only events of this type: verdict, tier, all_down, isolation, admin, config");
    auto* hl = app.add_subcommand("health", "verdicts and recent probe results");
    hl->add_option("--pool", pool, "only this pool");
    auto* tok = app.add_subcommand("token", "API tokens");
    tok->require_subcommand(1);
    auto* tc = tok->add_subcommand("create", "create a token; prints its secret once");
    tc->add_option("name", name, "token name")->required();
    tc->add_option("--role", role, "viewer, operator or admin")->required();
    auto* tr = tok->add_subcommand("revoke", "revoke a token");
    tr->add_option("name", name, "token name")->required();
    auto* tl = tok->add_subcommand("list", "token names and roles");
    auto* op = app.add_subcommand(
        "open",
        "print a link that opens the web page signed in with this token (in the URL "
        "fragment, which no server or proxy log sees)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kOk : kUsage;
    }
    if (client.server.empty()) {
        const char* env = std::getenv("GTM_SERVER");
        client.server = env != nullptr ? env : "http://127.0.0.1:8053";
    }
    while (!client.server.empty() && client.server.back() == '/') {
        client.server.pop_back();
    }
    if (!token_file.empty()) {
        std::ifstream in(token_file);
        if (!(in >> client.token)) {
            std::cerr << "gtmctl: cannot read a token from " << token_file << "\n";
            return kUsage;
        }
    }
    if (client.token.empty()) {
        const char* env = std::getenv("GTM_TOKEN");
        if (env != nullptr) {
            client.token = env;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = kOk;
    if (st->parsed()) {
        code = status(client);
    }
    if (ex->parsed()) {
        code = explain(client, name, type);
    }
    if (drain->parsed()) {
        code = set_admin(client, pool, address, "drain", force);
    }
    if (undrain->parsed()) {
        code = set_admin(client, pool, address, "auto", force);
    }
    if (admin->parsed()) {
        code = set_admin(client, pool, address, state, force);
    }
    if (ap->parsed()) {
        code = apply(client, file, dry_run, if_match);
    }
    if (exp->parsed()) {
        if (format != "yaml" && format != "json") {
            std::cerr << "gtmctl: --format is yaml or json\n";
            code = kUsage;
        } else {
            code = simple_get(
                client, "/api/v1/config" + std::string(format == "yaml" ? "?format=yaml" : ""),
                format == "yaml", true);
        }
    }
    if (ev->parsed()) {
        code = events(client, after, limit, events_json, event_type);
    }
    if (hl->parsed()) {
        code = simple_get(client, "/api/v1/health" + (pool.empty() ? "" : "?pool=" + pool), false);
    }
    if (tc->parsed()) {
        auto r = client.call("POST", "/api/v1/tokens", json{{"name", name}, {"role", role}}.dump());
        code = outcome(r);
        if (code == kOk) {
            std::cout << body_of(r)["token"].get<std::string>() << "\n";
        }
    }
    if (tr->parsed()) {
        code = outcome(client.call("DELETE", "/api/v1/tokens/" + name));
        if (code == kOk) {
            std::cout << "revoked " << name << "\n";
        }
    }
    if (tl->parsed()) {
        code = simple_get(client, "/api/v1/tokens", false);
    }
    if (op->parsed()) {
        code = open_page(client);
    }
    curl_global_cleanup();
    return code;
}
