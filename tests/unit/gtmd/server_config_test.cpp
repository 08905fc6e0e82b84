// gtmd's server settings (gtmd.yaml): read by the desired-state document's reader and decoder,
// so every mistake is one line "file:line: key.path: reason".
#include "gtmd/server_config.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/errors.h"

using gtm::dns::load_server_config;
using gtm::dns::parse_server_config;
using gtm::dns::ServerConfig;
using gtm::store::DocumentError;

namespace {

ServerConfig parse(const std::string& text) {
    ServerConfig cfg;
    parse_server_config(text, "gtmd.yaml", cfg);
    return cfg;
}

// The whole error line for `text`, failing the test if there is none.
std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const DocumentError& e) {
        return e.what();
    }
    FAIL("no error for:\n" << text);
    return "";
}

}  // namespace

TEST_CASE("configs/gtmd.yaml holds every key with its default") {
    ServerConfig cfg;
    load_server_config(std::string(GTM_SOURCE_DIR) + "/configs/gtmd.yaml", cfg);
    const ServerConfig def;
    CHECK(cfg.dns_listen == std::vector<std::string>{"127.0.0.1:5300"});
    CHECK(cfg.http_listen == "127.0.0.1:8053");
    CHECK(cfg.workers == def.workers);
    CHECK(cfg.responder.udp_max_size == def.responder.udp_max_size);
    CHECK(cfg.tcp.idle_timeout_ms == def.tcp.idle_timeout_ms);
    CHECK(cfg.tcp.max_connections == def.tcp.max_connections);
    CHECK(cfg.tcp.read_timeout_ms == def.tcp.read_timeout_ms);
    CHECK(cfg.tcp.max_per_source == def.tcp.max_per_source);
    CHECK(cfg.rrl.enabled == def.rrl.enabled);
    CHECK_FALSE(cfg.rrl.enabled);  // off unless the operator turns it on
    CHECK(cfg.rrl.rate == def.rrl.rate);
    CHECK(cfg.rrl.slip == def.rrl.slip);
    CHECK(cfg.rrl.table_size == def.rrl.table_size);
    CHECK(cfg.rrl.ipv4_prefix == def.rrl.ipv4_prefix);
    CHECK(cfg.rrl.ipv6_prefix == def.rrl.ipv6_prefix);
    CHECK(cfg.rrl.exempt.empty());
    CHECK(cfg.responder.nsid.empty());
    CHECK(cfg.responder.version.empty());
    CHECK(cfg.responder.identity.empty());
    CHECK(cfg.isolation_hold_ms == def.isolation_hold_ms);
    CHECK(cfg.tls_cert.empty());
    CHECK(cfg.tls_key.empty());
    CHECK(cfg.body_limit == def.body_limit);
    CHECK(cfg.busy_timeout_ms == def.busy_timeout_ms);
    CHECK(cfg.events_days == def.events_days);
    CHECK(cfg.audit_days == def.audit_days);
    CHECK(cfg.data_dir == def.data_dir);
    CHECK(cfg.apply == "configs/demo.yaml");
    CHECK(cfg.log_level == def.log_level);
    CHECK(cfg.alertmanager.pool_label == def.alertmanager.pool_label);
    CHECK(cfg.alertmanager.member_label == def.alertmanager.member_label);
    CHECK(cfg.alertmanager.grace_ms == def.alertmanager.grace_ms);
}

TEST_CASE("alertmanager: label names and grace, each mistake named by its path") {
    const ServerConfig cfg =
        parse("alertmanager: {pool_label: region, member_label: gateway, grace: 90s}\n");
    CHECK(cfg.alertmanager.pool_label == "region");
    CHECK(cfg.alertmanager.member_label == "gateway");
    CHECK(cfg.alertmanager.grace_ms == 90000);
    CHECK(error_of("alertmanager: {pool_label: 'gtm-pool'}\n")
              .find("gtmd.yaml:1: alertmanager.pool_label: 'gtm-pool' is not a Prometheus label "
                    "name") != std::string::npos);
    CHECK(error_of("alertmanager: {member_label: gtm_pool}\n")
              .find("alertmanager.member_label: must differ from pool_label") != std::string::npos);
    CHECK(error_of("alertmanager: {grace: 2d}\n").find("alertmanager.grace") != std::string::npos);
    CHECK(error_of("alertmanager: {labels: x}\n").find("alertmanager") != std::string::npos);
}

TEST_CASE("configs/cluster/ns1..ns3.yaml: three nodes of one cluster, each its own vantage") {
    for (int n = 1; n <= 3; ++n) {
        ServerConfig cfg;
        load_server_config(
            std::string(GTM_SOURCE_DIR) + "/configs/cluster/ns" + std::to_string(n) + ".yaml", cfg);
        const ServerConfig def;
        CHECK(cfg.node_name == "ns" + std::to_string(n));
        CHECK(cfg.source_v4 == "127.0.1." + std::to_string(n));
        CHECK(cfg.dns_listen == std::vector<std::string>{"127.0.0.1:530" + std::to_string(n)});
        CHECK(cfg.http_listen == "127.0.0.1:" + std::to_string(8053 + n));
        REQUIRE(cfg.cluster.enabled());
        CHECK(cfg.cluster.etcd.size() == 3);
        CHECK(cfg.cluster.etcd.front() == "http://127.0.0.1:2379" + std::to_string(n));
        CHECK(cfg.cluster.prefix == def.cluster.prefix);
        CHECK(cfg.cluster.lease_ttl_ms == def.cluster.lease_ttl_ms);
        CHECK(cfg.cluster.quorum == 0);  // majority
        CHECK(cfg.cluster.fallback_after_ms == def.cluster.fallback_after_ms);
        CHECK(cfg.apply.empty());  // the state is in etcd (README: --apply on one node only)
    }
}

TEST_CASE("an empty file changes nothing and keys left out keep what was there") {
    ServerConfig cfg;
    cfg.data_dir = "/var/lib/gtmd";
    parse_server_config("", "gtmd.yaml", cfg);
    parse_server_config("# only a comment\n", "gtmd.yaml", cfg);
    parse_server_config("dns:\n  workers: 3\n", "gtmd.yaml", cfg);
    CHECK(cfg.data_dir == "/var/lib/gtmd");
    CHECK(cfg.workers == 3);
    CHECK(cfg.isolation_hold_ms == 60000);
}

TEST_CASE("values are decoded with their units") {
    ServerConfig cfg = parse(
        "dns:\n  listen: 127.0.0.1:53\n  tcp_idle_timeout: 500ms\n  nsid: node-1\n"
        "health: {isolation_hold: 5}\n"
        "http: {tls_cert: a.pem, tls_key: a.key, body_limit: 4096}\n"
        "store: {busy_timeout: 2m, events_retention_days: 2}\n"
        "log_level: debug\n");
    CHECK(cfg.dns_listen == std::vector<std::string>{"127.0.0.1:53"});
    CHECK(cfg.tcp.idle_timeout_ms == 500);
    CHECK(cfg.responder.nsid == "node-1");
    CHECK(cfg.isolation_hold_ms == 5000);  // a bare number is seconds
    CHECK(cfg.tls_cert == "a.pem");
    CHECK(cfg.body_limit == 4096);
    CHECK(cfg.busy_timeout_ms == 120000);
    CHECK(cfg.events_days == 2);
    CHECK(cfg.log_level == "debug");
    cfg = parse("dns:\n  listen: [\"127.0.0.1:53\", \"[::1]:53\"]\n");
    CHECK(cfg.dns_listen == std::vector<std::string>{"127.0.0.1:53", "[::1]:53"});
}

TEST_CASE("response rate limiting and the TCP limits are decoded") {
    ServerConfig cfg = parse(
        "dns:\n  tcp_read_timeout: 500ms\n  tcp_max_connections_per_source: 8\n"
        "  rrl:\n    enabled: true\n    rate: 100\n    slip: 3\n    table_size: 4096\n"
        "    ipv4_prefix: 32\n    ipv6_prefix: 64\n"
        "    exempt: [127.0.0.0/8, \"::1\", 2001:db8::/32]\n");
    CHECK(cfg.tcp.read_timeout_ms == 500);
    CHECK(cfg.tcp.max_per_source == 8);
    CHECK(cfg.rrl.enabled);
    CHECK(cfg.rrl.rate == 100);
    CHECK(cfg.rrl.slip == 3);
    CHECK(cfg.rrl.table_size == 4096);
    CHECK(cfg.rrl.ipv4_prefix == 32);
    CHECK(cfg.rrl.ipv6_prefix == 64);
    REQUIRE(cfg.rrl.exempt.size() == 3);
    CHECK(cfg.rrl.exempt[0].text == "127.0.0.0/8");
    CHECK(cfg.rrl.exempt[0].length == 8);
    CHECK(cfg.rrl.exempt[1].v6);
    CHECK(cfg.rrl.exempt[1].length == 128);
    CHECK(cfg.rrl.exempt[2].length == 32);
    CHECK(parse("dns: {rrl: {slip: 0}}\n").rrl.slip == 0);  // drop every limited answer
    CHECK(parse("dns: {tcp_max_connections_per_source: 0}\n").tcp.max_per_source == 0);
}

TEST_CASE("a bad rate-limiting setting names file, line, path and reason") {
    CHECK(error_of("dns:\n  rrl:\n    enabled: true\n    rate: 0\n") ==
          "gtmd.yaml:4: dns.rrl.rate: 0 is out of range: must be between 1 and 1000000");
    CHECK(error_of("dns:\n  rrl:\n    slip: 101\n") ==
          "gtmd.yaml:3: dns.rrl.slip: 101 is out of range: must be between 0 and 100");
    CHECK(error_of("dns:\n  rrl:\n    enabled: yes please\n") ==
          "gtmd.yaml:3: dns.rrl.enabled: must be true or false, got a string");
    CHECK(error_of("dns:\n  rrl:\n    exempt: [10.0.0.0/8, 192.0.2.1/24]\n") ==
          "gtmd.yaml:3: dns.rrl.exempt[1]: '192.0.2.1/24' has address bits set beyond /24");
    CHECK(error_of("dns:\n  rrl:\n    exempt: [localhost]\n") ==
          "gtmd.yaml:3: dns.rrl.exempt[0]: 'localhost' is not an IPv4 or IPv6 address");
    CHECK(error_of("dns:\n  rrl:\n    exempt: 10.0.0.0/8\n") ==
          "gtmd.yaml:3: dns.rrl.exempt: must be a list, got a string");
    CHECK(error_of("dns:\n  rrl:\n    ipv4_prefix: 33\n") ==
          "gtmd.yaml:3: dns.rrl.ipv4_prefix: 33 is out of range: must be between 8 and 32");
    CHECK(error_of("dns:\n  rrl:\n    table_size: 10\n") ==
          "gtmd.yaml:3: dns.rrl.table_size: 10 is out of range: must be between 1024 and "
          "16777216");
    CHECK(error_of("dns:\n  rrl:\n    window: 5\n") ==
          "gtmd.yaml:3: dns.rrl.window: unknown key (expected one of: enabled, rate, slip, "
          "table_size, ipv4_prefix, ipv6_prefix, exempt)");
    CHECK(error_of("dns:\n  rrl: true\n") ==
          "gtmd.yaml:2: dns.rrl: must be a mapping, got a boolean");
    CHECK(error_of("dns:\n  tcp_read_timeout: 0\n") ==
          "gtmd.yaml:2: dns.tcp_read_timeout: must be between 100ms and 60s");
}

TEST_CASE("an unknown key names file, line, path and the keys expected") {
    CHECK(error_of("dns:\n  workers: 1\n  bogus_key: 3\n") ==
          "gtmd.yaml:3: dns.bogus_key: unknown key (expected one of: listen, workers, "
          "udp_max_size, tcp_idle_timeout, tcp_read_timeout, tcp_max_connections, "
          "tcp_max_connections_per_source, nsid, version, identity, rrl)");
    CHECK(error_of("log_level: info\nlisten: 127.0.0.1:53\n") ==
          "gtmd.yaml:2: listen: unknown key (expected one of: dns, http, health, store, "
          "data_dir, apply, log_level, log_format, metrics, node, cluster, webhooks, "
          "alertmanager)");
    CHECK(error_of("health:\n  isolation: 5s\n") ==
          "gtmd.yaml:2: health.isolation: unknown key (expected one of: isolation_hold, "
          "source_address, max_probes_in_flight)");
}

TEST_CASE("a bad duration names file, line, path and what was written") {
    CHECK(error_of("dns:\n  workers: 1\nhealth:\n  isolation_hold: soon\n") ==
          "gtmd.yaml:4: health.isolation_hold: must be a duration like 500ms, 5s or 2m, got "
          "'soon'");
    CHECK(error_of("store:\n  busy_timeout: 5 s\n") ==
          "gtmd.yaml:2: store.busy_timeout: must be a duration like 500ms, 5s or 2m, got '5 s'");
    CHECK(error_of("health:\n  isolation_hold: 2h\n") ==
          "gtmd.yaml:2: health.isolation_hold: must be between 0s and 3600s");
    CHECK(error_of("dns:\n  tcp_idle_timeout: 0\n") ==
          "gtmd.yaml:2: dns.tcp_idle_timeout: must be between 100ms and 3600s");
    CHECK(error_of("store: {busy_timeout: -1}\n") ==
          "gtmd.yaml:1: store.busy_timeout: must be a duration like 500ms, 5s or 2m, got a number");
}

TEST_CASE("an out-of-range number names file, line, path and the range") {
    CHECK(error_of("dns:\n  udp_max_size: 8192\n") ==
          "gtmd.yaml:2: dns.udp_max_size: 8192 is out of range: must be between 512 and 4096");
    CHECK(error_of("dns:\n  workers: 257\n") ==
          "gtmd.yaml:2: dns.workers: 257 is out of range: must be between 0 and 256");
    CHECK(error_of("dns:\n  tcp_max_connections: 0\n") ==
          "gtmd.yaml:2: dns.tcp_max_connections: 0 is out of range: must be between 1 and "
          "1000000");
    CHECK(error_of("http:\n  body_limit: 100\n") ==
          "gtmd.yaml:2: http.body_limit: 100 is out of range: must be between 1024 and 67108864");
    CHECK(error_of("store:\n  audit_retention_days: -1\n") ==
          "gtmd.yaml:2: store.audit_retention_days: -1 is out of range: must be between 1 and "
          "36500");
    CHECK(error_of("store:\n  events_retention_days: 1.5\n") ==
          "gtmd.yaml:2: store.events_retention_days: must be an integer between 1 and 36500, got "
          "1.5");
    CHECK(error_of("dns:\n  nsid: " + std::string(129, 'n') + "\n") ==
          "gtmd.yaml:2: dns.nsid: must be at most 128 bytes, got 129");
    CHECK(error_of("dns:\n  identity: " + std::string(256, 'i') + "\n") ==
          "gtmd.yaml:2: dns.identity: must be at most 255 bytes, got 256");
}

TEST_CASE("a value of the wrong type names file, line, path and the type found") {
    CHECK(error_of("dns:\n  workers: [1]\n") ==
          "gtmd.yaml:2: dns.workers: must be an integer between 0 and 256, got a list");
    // YAML 1.2 core schema, as in documents: a quoted number is a string.
    CHECK(error_of("dns:\n  tcp_max_connections: \"1024\"\n") ==
          "gtmd.yaml:2: dns.tcp_max_connections: must be an integer between 1 and 1000000, got "
          "a string");
    CHECK(error_of("http: 8053\n") == "gtmd.yaml:1: http: must be a mapping, got a number");
    CHECK(error_of("data_dir:\n  path: /var/lib\n") ==
          "gtmd.yaml:2: data_dir: must be a string, got a mapping");
    CHECK(error_of("dns:\n  listen: {address: 127.0.0.1}\n") ==
          "gtmd.yaml:2: dns.listen: must be an address:port or a list of them, got a mapping");
    CHECK(error_of("dns:\n  listen: []\n") ==
          "gtmd.yaml:2: dns.listen: must name at least one address:port");
    CHECK(error_of("dns:\n  listen: [127.0.0.1:53, [a]]\n") ==
          "gtmd.yaml:2: dns.listen[1]: must be a string, got a list");
    CHECK(error_of("- dns\n") == "gtmd.yaml:1: must be a mapping, got a list");
    // A plain scalar YAML reads as a number is still a string where one is expected.
    CHECK(parse("data_dir: 2024\n").data_dir == "2024");
}

TEST_CASE("other mistakes get the same one line") {
    CHECK(error_of("log_level: loud\n") ==
          "gtmd.yaml:1: log_level: 'loud' is not one of: trace, debug, info, warn, error, off");
    CHECK(error_of("http:\n  listen: 127.0.0.1:8053\n  tls_cert: a.pem\n") ==
          "gtmd.yaml:3: http.tls_key: must be set together with http.tls_cert");
    CHECK(error_of("http:\n  tls_cert: a.pem\n  tls_key: \"\"\n") ==
          "gtmd.yaml:3: http.tls_key: must be set together with http.tls_cert");
    CHECK(error_of("dns:\n  workers: 1\n  workers: 2\n") ==
          "gtmd.yaml:3: dns.workers: duplicate key");
    std::string e = error_of("dns: {listen: [\n");
    CHECK(e.rfind("gtmd.yaml:2: malformed YAML: ", 0) == 0);
    ServerConfig cfg;
    try {
        load_server_config("/nonexistent/gtmd.yaml", cfg);
        FAIL("no error for a missing file");
    } catch (const DocumentError& err) {
        CHECK(std::string(err.what()) ==
              "/nonexistent/gtmd.yaml: cannot read: No such file or directory");
    }
}
