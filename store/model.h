// The desired state of gtmd: zones, monitors, pools and balancers, as operators write them in the
// desired-state document (YAML or JSON) and, later, through the REST API.
//
// Plain values: built by the document decoder (document.h), checked by validate() (validate.h),
// read by dnsd's snapshot compiler and by the prober. No I/O, no threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gtm::store {

// A record of a zone, as parsed from zone-file syntax by validate(). Names are absolute, in
// canonical lower case without the trailing dot ("www.gtm.example.com"; "" is the root).
struct RecordData {
    std::string owner;
    uint16_t type = 0;
    uint32_t ttl_s = 0;
    std::vector<uint8_t> rdata;  // uncompressed wire form
    std::string target;          // CNAME/NS/MX/SRV/DNAME target name, canonical; else empty
    std::string text;            // the record as written, for errors and export

    bool operator==(const RecordData&) const = default;
};

struct Soa {
    std::string mname;
    std::string rname;               // an e-mail written as a name: hostmaster.example.com
    std::optional<uint32_t> serial;  // unset: the time the document was loaded
    uint32_t refresh_s = 3600;
    uint32_t retry_s = 600;
    uint32_t expire_s = 604800;
    uint32_t minimum_s = 30;  // RFC 2308: the negative-caching TTL
    uint32_t ttl_s = 3600;

    bool operator==(const Soa&) const = default;
};

struct Zone {
    std::string name;  // canonical
    Soa soa;
    std::vector<std::string> ns;       // canonical names of the apex NS set
    uint32_t ttl_s = 3600;             // TTL of the apex NS set and of records written without one
    std::vector<std::string> records;  // zone-file syntax, relative to the zone
    std::vector<RecordData> parsed;    // filled by validate()

    bool operator==(const Zone&) const = default;
};

enum class MonitorType { Http, Https, Tcp, Promql };

// A promql monitor's failing condition: `fail_if: "> 0.05"`.
enum class Comparison { Gt, Ge, Lt, Le, Eq, Ne };
// What a member without a series in a promql monitor's answer is.
enum class NoData { Unknown, Up, Down };

struct StatusRange {
    int from = 200;
    int to = 399;

    bool operator==(const StatusRange&) const = default;
};

struct Monitor {
    std::string name;
    MonitorType type = MonitorType::Http;
    uint16_t port = 80;
    std::string path = "/";
    std::string host;  // Host header and SNI; empty: the member address
    std::string method = "GET";
    std::map<std::string, std::string> headers;
    std::vector<StatusRange> expect_status{{200, 399}};
    std::string expect_body;  // substring of the first 64 KiB; empty: not checked
    bool tls_verify = true;
    std::string ca_file;
    uint32_t interval_ms = 5000;
    uint32_t timeout_ms = 2000;
    uint32_t fall = 2;
    uint32_t rise = 3;
    uint32_t hold_down_ms = 60000;  // a member that went down stays out at least this long
    // promql (healthcheck/promql.h): one instant query per interval for every member.
    std::string url;                          // Prometheus's base URL, e.g. http://127.0.0.1:9090
    std::string query;                        // {{monitor}} expanded; one series per member
    std::string match_label;                  // the label of a series that names its member
    std::string match_value = "{{address}}";  // what it equals for a member
    Comparison fail_op = Comparison::Gt;
    double fail_threshold = 0;
    NoData no_data = NoData::Unknown;

    bool operator==(const Monitor&) const = default;
};

enum class AdminState { Auto, Up, Drain, Down };

struct Member {
    std::string address;    // canonical text form (inet_ntop)
    uint32_t weight = 100;  // 0-255; 0: served only when no non-zero member is eligible
    AdminState admin = AdminState::Auto;
    // Free-form labels for promql monitors' templates ({{name}}): region, cluster, ...
    std::map<std::string, std::string> labels;

    bool operator==(const Member&) const = default;
};

// How a pool combines several monitors (healthcheck/combine.h): up only when every monitor
// passes (all, the default), when one does (any), or when N do (quorum).
enum class CombineMode { All, Any, Quorum };

struct Combine {
    CombineMode mode = CombineMode::All;
    uint32_t quorum = 0;  // for Quorum: 1..monitors

    bool operator==(const Combine&) const = default;
};

struct Pool {
    std::string name;
    // Empty: no health checks, members stay unknown (served). The document's `monitor: x` is
    // `monitors: [x]`.
    std::vector<std::string> monitors;
    Combine combine;
    uint32_t min_healthy = 1;
    uint32_t slow_start_ms = 0;
    std::vector<Member> members;

    bool operator==(const Pool&) const = default;
};

enum class WhenAllDown { FailOpen, FailClosed, Fallback };

struct BalancerPool {
    std::string pool;
    uint32_t priority = 1;  // lower serves first
    uint32_t weight = 100;  // 0-255

    bool operator==(const BalancerPool&) const = default;
};

struct Balancer {
    std::string name;  // canonical; inside one of the zones
    uint32_t ttl_s = 30;
    uint32_t degraded_ttl_s = 5;
    uint32_t max_answers = 1;
    WhenAllDown when_all_down = WhenAllDown::FailOpen;
    std::vector<std::string> fallback;  // addresses, canonical; for when_all_down: fallback
    std::vector<BalancerPool> pools;

    bool operator==(const Balancer&) const = default;
};

struct DesiredState {
    std::vector<Zone> zones;
    std::vector<Monitor> monitors;
    std::vector<Pool> pools;
    std::vector<Balancer> balancers;

    bool operator==(const DesiredState&) const = default;
};

const char* to_string(MonitorType t);
const char* to_string(Comparison c);
const char* to_string(NoData n);
const char* to_string(AdminState s);
const char* to_string(WhenAllDown w);
std::string to_string(const Combine& c);  // "all", "any", "quorum 2"
std::optional<AdminState> admin_state_from(std::string_view s);

}  // namespace gtm::store
