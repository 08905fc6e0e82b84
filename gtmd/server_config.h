// The server settings of gtmd (--config gtmd.yaml), merged with the command line. Everything is
// optional; the command line wins over the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dnsd/responder.h"
#include "dnsd/rrl.h"
#include "dnsd/tcp_server.h"
#include "healthcheck/prober.h"

namespace gtm::dns {

// Cluster mode (etcd): empty `etcd` is the embedded default (sqlite, one node).
struct ClusterConfig {
    std::vector<std::string> etcd;       // client URLs of the etcd members
    std::string prefix = "gtm/";         // several clusters may share one etcd
    uint32_t lease_ttl_ms = 10000;       // a dead node's votes vanish this long after it stops
    uint32_t quorum = 0;                 // vantages that must see a member fail; 0: a majority
    uint32_t fallback_after_ms = 30000;  // etcd unreachable this long: judge alone (logged)
    std::string ca_file, cert_file, key_file;  // client TLS to etcd
    std::string user, password;                // etcd authentication
    bool enabled() const { return !etcd.empty(); }
};

struct WebhookSettings {
    std::string name;
    std::string url;
    std::vector<std::string> events;  // empty: every type
    std::string secret;
    uint32_t timeout_ms = 5000;
};

// Alertmanager as a health input (POST /api/v1/alertmanager).
struct AlertmanagerConfig {
    std::string pool_label = "gtm_pool";
    std::string member_label = "gtm_member";
    uint32_t grace_ms = 10 * 60 * 1000;  // after endsAt (else receipt) a firing alert expires
};

struct ServerConfig {
    std::vector<std::string> dns_listen;  // empty: 127.0.0.1:5300
    std::string http_listen;              // empty: 127.0.0.1:8053
    std::string data_dir = "./data";
    std::string apply;        // desired-state document applied at start and SIGHUP
    bool prune = false;       // --prune: an --apply document without zones may delete everything
    std::string import_from;  // --import-from DB: copy a standalone node's state into the cluster
    std::string ports_file;
    unsigned workers = 0;  // 0: one per core
    std::string log_level = "info";
    std::string log_format = "text";  // text | json (one object per line, for log shippers)
    bool metrics = true;              // /metrics, and the DNS path's per-worker counting behind it
    uint32_t isolation_hold_ms = 60000;  // how long the prober distrusts a mass failure
    uint32_t max_probes_in_flight = health::kDefaultMaxProbesInFlight;  // sockets probing at once
    // Where this node's probes leave from (its vantage), one per family; empty: the kernel's
    // choice.
    std::string source_v4;
    std::string source_v6;
    std::string node_name;  // unique in a cluster; empty: the host name
    ClusterConfig cluster;
    std::vector<WebhookSettings> webhooks;
    AlertmanagerConfig alertmanager;
    std::string tls_cert;  // HTTPS for the API when both are set
    std::string tls_key;
    uint32_t body_limit = 1 << 20;    // REST bodies over this get 413
    uint32_t busy_timeout_ms = 5000;  // API writes wait this long for a locked database
    uint32_t events_days = 30;        // retention of health events
    uint32_t audit_days = 365;        // retention of the audit log
    ResponderConfig responder;
    TcpConfig tcp;
    RrlConfig rrl;  // dns.rrl: response rate limiting over UDP (off by default)
};

// Reads `path` into `cfg` with the desired-state document's reader and decoder (store/reader.h,
// store/decoder.h): YAML (or JSON when it starts with '{'), unknown keys rejected, numbers and
// durations range-checked. Keys absent from the file leave `cfg` as it was. Throws
// store::DocumentError (a std::runtime_error), "gtmd.yaml:7: health.isolation_hold: reason".
void load_server_config(const std::string& path, ServerConfig& cfg);

// The same for text already read; `file` names it in errors.
void parse_server_config(std::string_view text, const std::string& file, ServerConfig& cfg);

}  // namespace gtm::dns
