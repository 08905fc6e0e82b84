#include "web/openapi.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace gtm::web {

using nlohmann::json;

namespace {

json ref(const char* schema) { return {{"$ref", std::string("#/components/schemas/") + schema}}; }

json body(const json& schema) {
    return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json ok(const char* description, const json& schema = json()) {
    json r = {{"description", description}};
    if (!schema.is_null()) {
        r["content"] = {{"application/json", {{"schema", schema}}}};
    }
    return r;
}

json errors() {
    json e = {{"content", {{"application/json", {{"schema", ref("Error")}}}}}};
    json out;
    for (const auto& [code, what] : std::vector<std::pair<const char*, const char*>>{
             {"400",
              "malformed request: the JSON body; a query parameter this path does not take, "
              "given twice, without a value or malformed (booleans are true/false or 1/0); a "
              "malformed If-Match; a name, path or query that is not ASCII (IDNs as A-labels)"},
             {"401", "missing or unknown token"},
             {"403", "the token's role is not enough"},
             {"404", "no such object"},
             {"405", "method not allowed here; Allow lists the methods that are"},
             {"409", "conflicts with what exists"},
             {"413", "body over the limit"},
             {"415", "writes take application/json"},
             {"422", "the change would make the state invalid; nothing was applied"},
             {"429",
              "too many failed authentications from this address (only requests without a "
              "valid token are refused)"},
             {"500", "internal error, or a state that cannot be compiled; nothing was applied"},
             {"503", "the store is busy (locked); retry after Retry-After"},
             {"507", "the store is out of space; nothing was applied"}}) {
        json r = e;
        r["description"] = what;
        out[code] = r;
    }
    return out;
}

json op(const char* summary, const char* role, json responses, json request = json()) {
    json o = {{"summary", summary},
              {"x-role", role},
              {"security", json::array({{{"bearer", json::array()}}})}};
    json rs = errors();
    for (auto& [k, v] : responses.items()) {
        rs[k] = v;
    }
    o["responses"] = rs;
    if (!request.is_null()) {
        o["requestBody"] = request;
    }
    return o;
}

// The one 4xx every path can answer, before routing: the HTTP server's header limit.
json too_large_header() {
    return {{"description", "request header over 16 KiB"},
            {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

json path_param(const char* name, const char* what) {
    return {{"name", name},
            {"in", "path"},
            {"required", true},
            {"description", what},
            {"schema", {{"type", "string"}}}};
}

json query_param(const char* name, const char* what, const char* type = "string",
                 const json& values = json()) {
    json schema = {{"type", type}};
    if (!values.is_null()) {
        schema["enum"] = values;
    }
    return {{"name", name},
            {"in", "query"},
            {"required", false},
            {"description", what},
            {"schema", schema}};
}

const char* const kStateKinds[] = {"zones", "monitors", "pools", "balancers"};

json crud(const char* kind, const char* schema) {
    const std::string one = std::string("/api/v1/") + kind + "/{name}";
    json out;
    out[std::string("/api/v1/") + kind] = {
        {"get", op("list", "viewer", {{"200", ok("the list", {{"type", "object"}})}})},
        {"post", op("create", "admin", {{"201", ok("created", ref(schema))}}, body(ref(schema)))}};
    out[one] = {
        {"parameters", json::array({path_param("name", "the object's name")})},
        {"get", op("read", "viewer", {{"200", ok("the object", ref(schema))}})},
        {"put", op("create or replace", "admin",
                   {{"200", ok("replaced", ref(schema))}, {"201", ok("created", ref(schema))}},
                   body(ref(schema)))},
        {"delete", op("delete", "admin", {{"200", ok("deleted")}})}};
    return out;
}

// Every operation's operationId, which generated clients name their methods after. A new
// operation needs a line here (a unit test checks that none is missing).
const std::map<std::string, std::string>& operation_ids() {
    static const std::map<std::string, std::string> ids = [] {
        std::map<std::string, std::string> m = {
            {"get /api/v1/zones/{name}/records", "listZoneRecords"},
            {"post /api/v1/zones/{name}/records", "addZoneRecord"},
            {"delete /api/v1/zones/{name}/records/{index}", "deleteZoneRecord"},
            {"get /api/v1/pools/{name}/members", "listPoolMembers"},
            {"post /api/v1/pools/{name}/members", "addPoolMember"},
            {"get /api/v1/pools/{name}/members/{address}", "getPoolMember"},
            {"put /api/v1/pools/{name}/members/{address}", "putPoolMember"},
            {"delete /api/v1/pools/{name}/members/{address}", "deletePoolMember"},
            {"put /api/v1/pools/{name}/members/{address}/admin", "setMemberAdminState"},
            {"put /api/v1/pools/{name}/admin", "setPoolAdminState"},
            {"get /api/v1/config", "exportConfig"},
            {"put /api/v1/config", "applyConfig"},
            {"get /api/v1/health", "getHealth"},
            {"get /api/v1/events", "listEvents"},
            {"get /api/v1/audit", "listAudit"},
            {"get /api/v1/status", "getStatus"},
            {"get /api/v1/explain", "explain"},
            {"get /api/v1/whoami", "whoami"},
            {"get /api/v1/alertmanager", "listAlerts"},
            {"post /api/v1/alertmanager", "receiveAlerts"},
            {"get /api/v1/tokens", "listTokens"},
            {"post /api/v1/tokens", "createToken"},
            {"delete /api/v1/tokens/{name}", "revokeToken"},
            {"get /api/v1/openapi.json", "getOpenApi"},
            {"get /healthz", "healthz"},
            {"get /readyz", "readyz"}};
        for (const auto& [kinds, all, one] :
             std::vector<std::tuple<std::string, std::string, std::string>>{
                 {"zones", "Zones", "Zone"},
                 {"monitors", "Monitors", "Monitor"},
                 {"pools", "Pools", "Pool"},
                 {"balancers", "Balancers", "Balancer"}}) {
            m["get /api/v1/" + kinds] = "list" + all;
            m["post /api/v1/" + kinds] = "create" + one;
            m["get /api/v1/" + kinds + "/{name}"] = "get" + one;
            m["put /api/v1/" + kinds + "/{name}"] = "put" + one;
            m["delete /api/v1/" + kinds + "/{name}"] = "delete" + one;
        }
        return m;
    }();
    return ids;
}

json build() {
    json paths = json::object();
    paths.update(crud("zones", "Zone"));
    paths.update(crud("monitors", "Monitor"));
    paths.update(crud("pools", "Pool"));
    paths.update(crud("balancers", "Balancer"));
    paths["/api/v1/zones/{name}/records"] = {
        {"parameters", json::array({path_param("name", "zone")})},
        {"get", op("the zone's records", "viewer", {{"200", ok("records")}})},
        {"post", op("add a record (zone-file syntax)", "admin", {{"201", ok("records")}},
                    body({{"type", "object"},
                          {"properties", {{"record", {{"type", "string"}}}}},
                          {"required", {"record"}}}))}};
    paths["/api/v1/zones/{name}/records/{index}"] = {
        {"parameters", json::array({path_param("name", "zone"),
                                    path_param("index", "position in the record list")})},
        {"delete", op("remove a record", "admin", {{"200", ok("records")}})}};
    paths["/api/v1/pools/{name}/members"] = {
        {"parameters", json::array({path_param("name", "pool")})},
        {"get", op("members", "viewer", {{"200", ok("members")}})},
        {"post",
         op("add a member", "admin", {{"201", ok("member", ref("Member"))}}, body(ref("Member")))}};
    paths["/api/v1/pools/{name}/members/{address}"] = {
        {"parameters",
         json::array({path_param("name", "pool"), path_param("address", "member address")})},
        {"get", op("a member", "viewer", {{"200", ok("member", ref("Member"))}})},
        {"put", op("create or replace a member", "admin", {{"200", ok("member", ref("Member"))}},
                   body(ref("Member")))},
        {"delete", op("remove a member", "admin", {{"200", ok("deleted")}})}};
    paths["/api/v1/pools/{name}/members/{address}/admin"] = {
        {"parameters",
         json::array({path_param("name", "pool"), path_param("address", "member address")})},
        {"put",
         op("set the admin state (drain, undrain)", "operator",
            {{"200", ok("the member and what the change does to the answers", ref("AdminChange"))}},
            body(ref("AdminState")))}};
    paths["/api/v1/pools/{name}/members/{address}/admin"]["put"]["parameters"] =
        json::array({query_param("dry_run", "true: say what it would do (effects), change nothing",
                                 "boolean")});
    paths["/api/v1/pools/{name}/admin"] = {
        {"parameters", json::array({path_param("name", "pool")})},
        {"put", op("set the admin state of every member of the pool (drain a region)", "operator",
                   {{"200", ok("the members and what the change does to the answers",
                               ref("AdminChange"))}},
                   body(ref("AdminState")))}};
    paths["/api/v1/pools/{name}/admin"]["put"]["parameters"] = json::array({query_param(
        "dry_run", "true: say what it would do (effects), change nothing", "boolean")});
    paths["/api/v1/config"] = {{"get", op("export the desired state", "viewer",
                                          {{"200", ok("document", ref("Document"))}})},
                               {"put", op("apply a whole desired-state document", "admin",
                                          {{"200", ok("the changes")}}, body(ref("Document")))}};
    paths["/api/v1/config"]["get"]["parameters"] = json::array(
        {query_param("format", "json (default) or yaml", "string", json::array({"json", "yaml"}))});
    paths["/api/v1/config"]["put"]["parameters"] = json::array(
        {query_param("dry_run", "true: return the diff, change nothing", "boolean"),
         query_param("prune", "true: a document without zones may delete every zone", "boolean")});
    paths["/api/v1/health"] = {{"get", op("verdicts with their recent probe results", "viewer",
                                          {{"200", ok("targets")}})}};
    paths["/api/v1/health"]["get"]["parameters"] =
        json::array({query_param("pool", "only this pool's members")});
    paths["/api/v1/events"] = {
        {"get", op("health events (verdict changes)", "viewer", {{"200", ok("events")}})}};
    paths["/api/v1/audit"] = {{"get", op("the audit log", "viewer", {{"200", ok("entries")}})}};
    for (const auto& [p, key] :
         {std::pair{"/api/v1/events", "events"}, std::pair{"/api/v1/audit", "audit"}}) {
        paths[p]["get"]["parameters"] = json::array(
            {query_param("after", "entries with a larger id", "integer"),
             query_param("limit",
                         "at most this many (1-1000, default 100); a page also ends at about "
                         "1 MiB: follow next_after while more is true",
                         "integer")});
        paths[p]["get"]["responses"]["200"] = ok(
            "a page",
            {{"type", "object"},
             {"properties",
              {{key, {{"type", "array"}, {"items", {{"type", "object"}}}}},
               {"next_after", {{"type", "integer"}, {"description", "after= of the next page"}}},
               {"more", {{"type", "boolean"}, {"description", "whether a next page holds more"}}}}},
             {"required", {key, "next_after", "more"}}});
    }
    paths["/api/v1/events"]["get"]["parameters"].push_back(
        query_param("type", "only this type: verdict, tier, all_down, isolation, admin, config"));
    paths["/api/v1/whoami"] = {
        {"get", op("the token's name and role", "viewer", {{"200", ok("who", ref("Whoami"))}})}};
    paths["/api/v1/status"] = {{"get", op("every balancer's serving tier and answers", "viewer",
                                          {{"200", ok("status")}})}};
    paths["/api/v1/explain"] = {{"get", op("why a balancer answers what it answers", "viewer",
                                           {{"200", ok("explanation")}})}};
    paths["/api/v1/explain"]["get"]["parameters"] =
        json::array({query_param("name", "the balancer name"), query_param("type", "A or AAAA"),
                     query_param("client", "client address (echoed)")});
    paths["/api/v1/alertmanager"] = {
        {"get", op("the alerts from Alertmanager firing now and the members each marks failing",
                   "viewer", {{"200", ok("alerts")}})},
        {"post",
         op("Alertmanager's webhook receiver (payload version 4): a firing alert labelled with a "
            "pool and/or member (gtm_pool, gtm_member by default: gtmd.yaml alertmanager) marks "
            "those members failing until it resolves or expires at endsAt (else receipt) + "
            "alertmanager.grace; served before the answer. 400 (field: the path) for a body "
            "Alertmanager would not send; nothing is applied then",
            "operator", {{"200", ok("what changed, and the alerts firing now")}},
            body({{"type", "object"},
                  {"required", {"version", "alerts"}},
                  {"properties",
                   {{"version", {{"type", "string"}, {"enum", {"4"}}}},
                    {"status", {{"type", "string"}}},
                    {"receiver", {{"type", "string"}}},
                    {"groupKey", {{"type", "string"}}},
                    {"alerts",
                     {{"type", "array"},
                      {"items",
                       {{"type", "object"},
                        {"required", {"status", "labels"}},
                        {"properties",
                         {{"status", {{"type", "string"}, {"enum", {"firing", "resolved"}}}},
                          {"labels",
                           {{"type", "object"},
                            {"required", {"alertname"}},
                            {"properties", {{"alertname", {{"type", "string"}}}}},
                            {"additionalProperties", {{"type", "string"}}}}},
                          {"startsAt", {{"type", "string"}, {"format", "date-time"}}},
                          {"endsAt", {{"type", "string"}, {"format", "date-time"}}},
                          {"fingerprint", {{"type", "string"}}}}}}}}}}}}))}};
    paths["/api/v1/tokens"] = {
        {"get", op("tokens (names and roles, never secrets)", "admin", {{"200", ok("tokens")}})},
        {"post",
         op("create a token; the secret is returned once", "admin", {{"201", ok("token")}},
            body(
                {{"type", "object"},
                 {"properties",
                  {{"name", {{"type", "string"}}},
                   {"role", {{"type", "string"}, {"enum", {"viewer", "operator", "admin"}}}}}}}))}};
    paths["/api/v1/tokens/{name}"] = {
        {"parameters", json::array({path_param("name", "token name")})},
        {"delete", op("revoke a token", "admin", {{"200", ok("deleted")}})}};
    paths["/api/v1/openapi.json"] = {
        {"get", op("this document", "viewer", {{"200", ok("OpenAPI 3")}})}};
    paths["/healthz"] = {{"get",
                          {{"summary", "liveness"},
                           {"security", json::array()},
                           {"responses", {{"200", ok("alive")}, {"431", too_large_header()}}}}}};
    paths["/readyz"] = {
        {"get",
         {{"summary", "readiness: serving DNS"},
          {"security", json::array()},
          {"responses",
           {{"200", ok("ready")}, {"431", too_large_header()}, {"503", ok("not yet")}}}}}};

    // The desired state's resources carry the state's revision as their ETag; writes take
    // If-Match (412 when stale) and answer with the new ETag.
    for (auto it = paths.begin(); it != paths.end(); ++it) {
        const std::string& path = it.key();
        json& item = it.value();
        const bool state =
            path == "/api/v1/config" ||
            std::any_of(std::begin(kStateKinds), std::end(kStateKinds), [&](const char* k) {
                return path.rfind(std::string("/api/v1/") + k, 0) == 0;
            });
        if (!state) {
            continue;
        }
        for (auto& [method, operation] : item.items()) {
            if (method == "parameters") {
                continue;
            }
            if (!operation.contains("parameters")) {
                operation["parameters"] = json::array();
            }
            operation["parameters"].push_back({{"$ref", "#/components/parameters/IfMatch"}});
            for (auto& [code, response] : operation["responses"].items()) {
                if (code[0] == '2') {
                    response["headers"] = {{"ETag", {{"$ref", "#/components/headers/ETag"}}}};
                }
            }
            operation["responses"]["412"] = {
                {"description", "If-Match names another revision; nothing was applied"},
                {"headers", {{"ETag", {{"$ref", "#/components/headers/ETag"}}}}},
                {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
        }
    }

    json obj = {{"type", "object"}};
    json schemas = {
        {"Error",
         {{"type", "object"},
          {"properties", {{"error", {{"type", "string"}}}, {"field", {{"type", "string"}}}}},
          {"required", {"error"}}}},
        {"Member",
         {{"type", "object"},
          {"properties",
           {{"address", {{"type", "string"}}},
            {"weight", {{"type", "integer"}, {"minimum", 0}, {"maximum", 255}}},
            {"admin", {{"type", "string"}, {"enum", {"auto", "up", "drain", "down"}}}},
            {"labels",
             {{"type", "object"},
              {"description", "for promql monitors' templates: {{name}}"},
              {"additionalProperties", {{"type", "string"}}}}}}},
          {"required", {"address"}},
          {"additionalProperties", false}}},
        {"AdminState",
         {{"type", "object"},
          {"properties",
           {{"admin", {{"type", "string"}, {"enum", {"auto", "up", "drain", "down"}}}}}},
          {"required", {"admin"}},
          {"additionalProperties", false}}},
        {"AdminChange",
         {{"type", "object"},
          {"description",
           "the member (or, for a pool, pool, admin, changed and members), whether it was a dry "
           "run, and the effects: every balancer whose answers change"},
          {"properties",
           {{"dry_run", {{"type", "boolean"}}},
            {"effects", {{"type", "array"}, {"items", ref("Effect")}}}}},
          {"required", {"dry_run", "effects"}}}},
        {"Effect",
         {{"type", "object"},
          {"properties",
           {{"balancer", {{"type", "string"}}},
            {"type", {{"type", "string"}, {"enum", {"A", "AAAA"}}}},
            {"before", {{"type", "object"}, {"nullable", true}}},
            {"after", {{"type", "object"}}},
            {"healthy", {{"type", "integer"}, {"description", "healthy members served after"}}},
            {"warning",
             {{"type", "string"}, {"description", "set when no healthy member is left"}}}}},
          {"required", {"balancer", "type", "after", "healthy"}}}},
        {"Whoami",
         {{"type", "object"},
          {"properties",
           {{"name", {{"type", "string"}}},
            {"role", {{"type", "string"}, {"enum", {"viewer", "operator", "admin"}}}}}},
          {"required", {"name", "role"}}}},
        {"Zone", obj},
        {"Monitor", obj},
        {"Pool", obj},
        {"Balancer", obj},
        {"Document",
         {{"type", "object"},
          {"properties",
           {{"zones", {{"type", "array"}, {"items", ref("Zone")}}},
            {"monitors", {{"type", "array"}, {"items", ref("Monitor")}}},
            {"pools", {{"type", "array"}, {"items", ref("Pool")}}},
            {"balancers", {{"type", "array"}, {"items", ref("Balancer")}}}}},
          {"additionalProperties", false}}}};
    schemas["Zone"]["description"] = "store/README.md: name, soa, ns, ttl, records";
    schemas["Monitor"]["description"] =
        "store/README.md: name, type, port, path, host, method, headers, expect_status, "
        "expect_body, tls_verify, ca_file, interval, timeout, fall, rise, hold_down; promql: "
        "url, query, match_label, match_value, fail_if, no_data";
    schemas["Pool"]["description"] =
        "store/README.md: name, monitor (or monitors, with combine: all | any | {quorum: N}), "
        "min_healthy, slow_start, members";
    schemas["Balancer"]["description"] =
        "store/README.md: name, ttl, degraded_ttl, max_answers, when_all_down, fallback, pools";
    for (auto& [path, item] : paths.items()) {
        for (auto& [method, operation] : item.items()) {
            if (method == "parameters") {
                continue;
            }
            auto id = operation_ids().find(method + " " + path);
            // A missing line still gets a unique id; the unit test asks for a real one.
            operation["operationId"] =
                id != operation_ids().end() ? id->second : "unnamed " + method + " " + path;
        }
    }
    return {{"openapi", "3.0.3"},
            {"info",
             {{"title", "gtmd admin API"},
              {"version", "1"},
              {"description",
               "Bearer tokens with roles viewer < operator < admin (x-role). Errors are JSON with "
               "the field at fault; nothing partial is ever applied. HEAD is answered wherever "
               "GET is (its headers, no body). The desired state's resources carry the state's "
               "revision as a strong ETag; writes take If-Match (\"*\" or ETags) and answer "
               "412 when it names another revision."}}},

            {"servers",
             json::array({{{"url", "/"},
                           {"description", "the gtmd that serves this document (same origin)"}}})},
            {"paths", paths},
            {"components",
             {{"schemas", schemas},
              {"parameters",
               {{"IfMatch",
                 {{"name", "If-Match"},
                  {"in", "header"},
                  {"required", false},
                  {"description",
                   "\"*\" or the ETag(s) of a read, in quotes: the change applies only onto "
                   "that revision (else 412). Weak or malformed tags: 400"},
                  {"schema", {{"type", "string"}}}}}}},
              {"headers",
               {{"ETag",
                 {{"description", "the desired state's revision, in quotes: \"42\""},
                  {"schema", {{"type", "string"}}}}}}},
              {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
}

}  // namespace

const json& openapi_document() {
    static const json doc = build();
    return doc;
}

}  // namespace gtm::web
