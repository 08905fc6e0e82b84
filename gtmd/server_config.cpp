#include "gtmd/server_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "store/decoder.h"
#include "store/reader.h"

namespace gtm::dns {

namespace {

using nlohmann::json;
using store::Decoder;

constexpr uint64_t kHourMs = 3600000;

void decode_dns(const Decoder& d, const json& j, ServerConfig& cfg) {
    d.object(j, "dns",
             {"listen", "workers", "udp_max_size", "tcp_idle_timeout", "tcp_max_connections",
              "nsid", "version", "identity"});
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
    if (auto* v = d.find(j, "tcp_max_connections")) {
        cfg.tcp.max_connections =
            static_cast<uint32_t>(d.integer(*v, "dns.tcp_max_connections", 1, 1000000));
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
    d.object(j, "health", {"isolation_hold"});
    if (auto* v = d.find(j, "isolation_hold")) {
        cfg.isolation_hold_ms = d.duration_ms(*v, "health.isolation_hold", 0, kHourMs);
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
              "metrics"});
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
