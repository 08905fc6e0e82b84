#include "gtmd/server_config.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "store/decoder.h"
#include "store/reader.h"

namespace gtm::dns {

namespace {

using nlohmann::json;
using store::Decoder;

constexpr uint64_t kHourMs = 3600000;

// dns.rrl: response rate limiting (dnsd/rrl.h).
void decode_rrl(const Decoder& d, const json& j, RrlConfig& rrl) {
    d.object(j, "dns.rrl",
             {"enabled", "rate", "slip", "table_size", "ipv4_prefix", "ipv6_prefix", "exempt"});
    if (auto* v = d.find(j, "enabled")) {
        rrl.enabled = d.boolean(*v, "dns.rrl.enabled");
    }
    if (auto* v = d.find(j, "rate")) {
        rrl.rate = static_cast<uint32_t>(d.integer(*v, "dns.rrl.rate", 1, 1000000));
    }
    if (auto* v = d.find(j, "slip")) {
        rrl.slip = static_cast<uint32_t>(d.integer(*v, "dns.rrl.slip", 0, 100));
    }
    if (auto* v = d.find(j, "table_size")) {
        rrl.table_size = static_cast<uint32_t>(d.integer(*v, "dns.rrl.table_size", 1024, 1u << 24));
    }
    if (auto* v = d.find(j, "ipv4_prefix")) {
        rrl.ipv4_prefix = static_cast<uint8_t>(d.integer(*v, "dns.rrl.ipv4_prefix", 8, 32));
    }
    if (auto* v = d.find(j, "ipv6_prefix")) {
        rrl.ipv6_prefix = static_cast<uint8_t>(d.integer(*v, "dns.rrl.ipv6_prefix", 16, 128));
    }
    if (auto* v = d.find(j, "exempt")) {
        rrl.exempt.clear();
        d.each(*v, "dns.rrl.exempt", [&](const json& e, const std::string& path) {
            RrlPrefix p;
            const std::string why = parse_prefix(d.string(e, path), p);
            if (!why.empty()) {
                d.fail(path, why);
            }
            rrl.exempt.push_back(std::move(p));
        });
    }
}

void decode_dns(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "dns",
             {"listen", "workers", "udp_max_size", "tcp_idle_timeout", "tcp_read_timeout",
              "tcp_max_connections", "tcp_max_connections_per_source", "nsid", "version",
              "identity", "rrl"});
    if (auto* v = d.find(j, "rrl")) {
        decode_rrl(d, *v, cfg.rrl);
    }
    if (auto* v = d.find(j, "listen")) {
        if (v->is_array()) {
            if (v->empty()) {
                d.fail("dns.listen", "must name at least one address:port");
            }
            cfg.dns_listen.clear();
            d.each(*v, "dns.listen", [&](const json& e, const std::string& p) {
                cfg.dns_listen.push_back(d.string(e, p));
            });
        } else if (v->is_object() || v->is_null()) {
            d.fail("dns.listen",
                   "must be an address:port or a list of them, got " + Decoder::type_of(*v));
        } else {
            cfg.dns_listen = {d.string(*v, "dns.listen")};
        }
    }
    if (auto* v = d.find(j, "workers")) {
        cfg.workers = static_cast<unsigned>(d.integer(*v, "dns.workers", 0, 256));
    }
    if (auto* v = d.find(j, "udp_max_size")) {
        cfg.responder.udp_max_size =
            static_cast<uint16_t>(d.integer(*v, "dns.udp_max_size", 512, 4096));
    }
    if (auto* v = d.find(j, "tcp_idle_timeout")) {
        // Not 0: a connection would be closed before its first query.
        cfg.tcp.idle_timeout_ms = d.duration_ms(*v, "dns.tcp_idle_timeout", 100, kHourMs);
    }
    if (auto* v = d.find(j, "tcp_read_timeout")) {
        cfg.tcp.read_timeout_ms = d.duration_ms(*v, "dns.tcp_read_timeout", 100, 60000);
    }
    if (auto* v = d.find(j, "tcp_max_connections")) {
        cfg.tcp.max_connections =
            static_cast<uint32_t>(d.integer(*v, "dns.tcp_max_connections", 1, 1000000));
    }
    if (auto* v = d.find(j, "tcp_max_connections_per_source")) {
        cfg.tcp.max_per_source =
            static_cast<uint32_t>(d.integer(*v, "dns.tcp_max_connections_per_source", 0, 1000000));
    }
    // RFC 5001 allows up to 65535 bytes of NSID; 128 keeps answers small. The CH TXT answers
    // are one character-string each: at most 255 bytes.
    struct Text {
        const char* key;
        std::string* out;
        size_t max;
    };
    for (const Text& t :
         {Text{"nsid", &cfg.responder.nsid, 128}, Text{"version", &cfg.responder.version, 255},
          Text{"identity", &cfg.responder.identity, 255}}) {
        if (auto* v = d.find(j, t.key)) {
            const std::string path = store::child_path("dns", t.key);
            *t.out = d.string(*v, path);
            if (t.out->size() > t.max) {
                d.fail(path, "must be at most " + std::to_string(t.max) + " bytes, got " +
                                 std::to_string(t.out->size()));
            }
        }
    }
}

void decode_health(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "health", {"isolation_hold", "source_address", "max_probes_in_flight"});
    if (auto* v = d.find(j, "isolation_hold")) {
        cfg.isolation_hold_ms = d.duration_ms(*v, "health.isolation_hold", 0, kHourMs);
    }
    if (auto* v = d.find(j, "max_probes_in_flight")) {
        cfg.max_probes_in_flight =
            static_cast<uint32_t>(d.integer(*v, "health.max_probes_in_flight", 1, 1000000));
    }
    if (auto* v = d.find(j, "source_address")) {
        // One address, or a list with at most one per family.
        auto one = [&](const json& a, const std::string& path) {
            const store::Address addr = d.address(a, path);
            std::string& slot = addr.family == store::Family::V4 ? cfg.source_v4 : cfg.source_v6;
            if (!slot.empty()) {
                d.fail(path, "a second address of the same family (one vantage per family)");
            }
            slot = addr.text;
        };
        cfg.source_v4.clear();
        cfg.source_v6.clear();
        if (v->is_array()) {
            d.each(*v, "health.source_address", one);
        } else {
            one(*v, "health.source_address");
        }
    }
}

void decode_alertmanager(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "alertmanager", {"pool_label", "member_label", "grace"});
    // Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*.
    auto label = [&](const char* key, std::string& out) {
        if (auto* v = d.find(j, key)) {
            const std::string path = store::child_path("alertmanager", key);
            out = d.string(*v, path);
            const bool ok =
                !out.empty() && out.size() <= 100 &&
                (std::isalpha(static_cast<unsigned char>(out[0])) != 0 || out[0] == '_') &&
                std::all_of(out.begin(), out.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
                });
            if (!ok) {
                d.fail(path,
                       "'" + out + "' is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            }
        }
    };
    label("pool_label", cfg.alertmanager.pool_label);
    label("member_label", cfg.alertmanager.member_label);
    if (cfg.alertmanager.pool_label == cfg.alertmanager.member_label) {
        d.fail("alertmanager.member_label", "must differ from pool_label");
    }
    if (auto* v = d.find(j, "grace")) {
        cfg.alertmanager.grace_ms = d.duration_ms(*v, "alertmanager.grace", 0, 24 * kHourMs);
    }
}

void decode_node(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "node", {"name"});
    if (auto* v = d.find(j, "name")) {
        cfg.node_name = d.string(*v, "node.name");
        const bool ok = !cfg.node_name.empty() && cfg.node_name.size() <= 64 &&
                        std::all_of(cfg.node_name.begin(), cfg.node_name.end(), [](char c) {
                            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ||
                                   c == '_' || c == '.';
                        });
        if (!ok) {
            d.fail("node.name", "1-64 letters, digits, '-', '_' or '.'");
        }
    }
}

void decode_webhooks(const Decoder& d, const json& j, ServerConfig& cfg) {
    static const std::set<std::string> kTypes = {"verdict", "tier",   "all_down", "isolation",
                                                 "admin",   "config", "alert"};
    cfg.webhooks.clear();
    d.each(j, "webhooks", [&](const json& w, const std::string& path) {
        d.object(w, path, {"name", "url", "events", "secret", "secret_file", "timeout"},
                 {"name", "url"});
        WebhookSettings s;
        s.name = d.string(w["name"], path + ".name");
        for (const auto& other : cfg.webhooks) {
            if (other.name == s.name) {
                d.fail(path + ".name", "'" + s.name + "' is used twice");
            }
        }
        s.url = d.string(w["url"], path + ".url");
        if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) {
            d.fail(path + ".url", "'" + s.url + "' is not an http:// or https:// URL");
        }
        if (auto* v = d.find(w, "events")) {
            d.each(*v, path + ".events", [&](const json& t, const std::string& tp) {
                std::string type = d.string(t, tp);
                if (kTypes.count(type) == 0) {
                    d.fail(tp, "'" + type +
                                   "' is not one of: verdict, tier, all_down, isolation, admin, "
                                   "config");
                }
                s.events.push_back(std::move(type));
            });
        }
        if (auto* v = d.find(w, "secret")) {
            s.secret = d.string(*v, path + ".secret");
        }
        if (auto* v = d.find(w, "secret_file")) {
            const std::string file = d.string(*v, path + ".secret_file");
            try {
                s.secret = store::read_file(file);
            } catch (const store::DocumentError& e) {
                d.fail(path + ".secret_file", e.reason());
            }
            while (!s.secret.empty() && (s.secret.back() == '\n' || s.secret.back() == '\r')) {
                s.secret.pop_back();
            }
        }
        if (auto* v = d.find(w, "timeout")) {
            s.timeout_ms = d.duration_ms(*v, path + ".timeout", 100, 60000);
        }
        cfg.webhooks.push_back(std::move(s));
    });
}

void decode_cluster(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "cluster",
             {"etcd", "prefix", "lease_ttl", "quorum", "fallback_after", "tls", "user", "password"},
             {"etcd"});
    ClusterConfig& c = cfg.cluster;
    c.etcd.clear();
    d.each(*d.find(j, "etcd"), "cluster.etcd", [&](const json& e, const std::string& path) {
        std::string url = d.string(e, path);
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
            d.fail(path, "'" + url + "' is not an http:// or https:// URL");
        }
        while (!url.empty() && url.back() == '/') {
            url.pop_back();
        }
        c.etcd.push_back(std::move(url));
    });
    if (c.etcd.empty()) {
        d.fail("cluster.etcd", "lists no etcd member");
    }
    if (auto* v = d.find(j, "prefix")) {
        c.prefix = d.string(*v, "cluster.prefix");
        if (c.prefix.empty() || c.prefix.size() > 128) {
            d.fail("cluster.prefix", "1-128 bytes, e.g. gtm/");
        }
    }
    if (auto* v = d.find(j, "lease_ttl")) {
        c.lease_ttl_ms = d.duration_ms(*v, "cluster.lease_ttl", 2000, 300000);
    }
    if (auto* v = d.find(j, "quorum")) {
        if (v->is_string() && v->get<std::string>() == "majority") {
            c.quorum = 0;
        } else {
            c.quorum = static_cast<uint32_t>(d.integer(*v, "cluster.quorum", 1, 1000));
        }
    }
    if (auto* v = d.find(j, "fallback_after")) {
        c.fallback_after_ms = d.duration_ms(*v, "cluster.fallback_after", 0, kHourMs);
    }
    if (auto* v = d.find(j, "tls")) {
        d.object(*v, "cluster.tls", {"ca", "cert", "key"});
        if (auto* x = d.find(*v, "ca")) {
            c.ca_file = d.string(*x, "cluster.tls.ca");
        }
        if (auto* x = d.find(*v, "cert")) {
            c.cert_file = d.string(*x, "cluster.tls.cert");
        }
        if (auto* x = d.find(*v, "key")) {
            c.key_file = d.string(*x, "cluster.tls.key");
        }
        if (c.cert_file.empty() != c.key_file.empty()) {
            d.fail("cluster.tls", "cert and key go together");
        }
    }
    if (auto* v = d.find(j, "user")) {
        c.user = d.string(*v, "cluster.user");
    }
    if (auto* v = d.find(j, "password")) {
        c.password = d.string(*v, "cluster.password");
    }
}

void decode_http(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "http", {"listen", "tls_cert", "tls_key", "body_limit"});
    if (auto* v = d.find(j, "listen")) {
        cfg.http_listen = d.string(*v, "http.listen");
    }
    if (auto* v = d.find(j, "tls_cert")) {
        cfg.tls_cert = d.string(*v, "http.tls_cert");
    }
    if (auto* v = d.find(j, "tls_key")) {
        cfg.tls_key = d.string(*v, "http.tls_key");
    }
    if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
        // Reported at the missing (or empty) one, at the line of the other when it is absent.
        const bool has_cert = !cfg.tls_cert.empty();
        const std::string missing = has_cert ? "http.tls_key" : "http.tls_cert";
        const std::string present = has_cert ? "http.tls_cert" : "http.tls_key";
        const int line = d.line_of(missing) > 0 ? d.line_of(missing) : d.line_of(present);
        d.fail(missing, "must be set together with " + present, line);
    }
    if (auto* v = d.find(j, "body_limit")) {
        cfg.body_limit = static_cast<uint32_t>(d.integer(*v, "http.body_limit", 1024, 64 << 20));
    }
}

void decode_store(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "store", {"busy_timeout", "events_retention_days", "audit_retention_days"});
    if (auto* v = d.find(j, "busy_timeout")) {
        cfg.busy_timeout_ms = d.duration_ms(*v, "store.busy_timeout", 0, kHourMs);
    }
    if (auto* v = d.find(j, "events_retention_days")) {
        cfg.events_days =
            static_cast<uint32_t>(d.integer(*v, "store.events_retention_days", 1, 36500));
    }
    if (auto* v = d.find(j, "audit_retention_days")) {
        cfg.audit_days =
            static_cast<uint32_t>(d.integer(*v, "store.audit_retention_days", 1, 36500));
    }
}

void decode(const Decoder& d, const json& root, ServerConfig& cfg) {
    d.object(root, "",
             {"dns", "http", "health", "store", "data_dir", "apply", "log_level", "log_format",
              "metrics", "node", "cluster", "webhooks", "alertmanager"});
    if (auto* v = d.find(root, "alertmanager")) {
        decode_alertmanager(d, *v, cfg);
    }
    if (auto* v = d.find(root, "webhooks")) {
        decode_webhooks(d, *v, cfg);
    }
    if (auto* v = d.find(root, "node")) {
        decode_node(d, *v, cfg);
    }
    if (auto* v = d.find(root, "cluster")) {
        decode_cluster(d, *v, cfg);
    }
    if (auto* v = d.find(root, "log_format")) {
        cfg.log_format = d.string(*v, "log_format");
        if (cfg.log_format != "text" && cfg.log_format != "json") {
            d.fail("log_format", "'" + cfg.log_format + "' is not one of: text, json");
        }
    }
    if (auto* v = d.find(root, "metrics")) {
        cfg.metrics = d.boolean(*v, "metrics");
    }
    if (auto* v = d.find(root, "dns")) {
        decode_dns(d, *v, cfg);
    }
    if (auto* v = d.find(root, "health")) {
        decode_health(d, *v, cfg);
    }
    if (auto* v = d.find(root, "http")) {
        decode_http(d, *v, cfg);
    }
    if (auto* v = d.find(root, "store")) {
        decode_store(d, *v, cfg);
    }
    if (auto* v = d.find(root, "data_dir")) {
        cfg.data_dir = d.string(*v, "data_dir");
    }
    if (auto* v = d.find(root, "apply")) {
        cfg.apply = d.string(*v, "apply");
    }
    if (auto* v = d.find(root, "log_level")) {
        cfg.log_level = d.string(*v, "log_level");
        static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
        if (std::find(std::begin(levels), std::end(levels), cfg.log_level) == std::end(levels)) {
            d.fail("log_level",
                   "'" + cfg.log_level + "' is not one of: trace, debug, info, warn, error, off");
        }
    }
}

}  // namespace

void parse_server_config(std::string_view text, const std::string& file, ServerConfig& cfg) {
    store::Origins origins;
    const json root = store::parse_text(text, file, origins);
    decode(Decoder(file, origins), root, cfg);
}

void load_server_config(const std::string& path, ServerConfig& cfg) {
    parse_server_config(store::read_file(path), path, cfg);
}

}  // namespace gtm::dns
