#include "gtmd/server_config.h"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

#include "store/document.h"

namespace gtm::dns {

namespace {

class Reader {
  public:
    explicit Reader(const std::string& file) : file_(file) {}

    [[noreturn]] void fail(const YAML::Node& n, const std::string& key,
                           const std::string& why) const {
        throw std::runtime_error(file_ + ":" + std::to_string(n.Mark().line + 1) + ": " + key +
                                 ": " + why);
    }

    void keys(const YAML::Node& map, const std::string& prefix,
              std::initializer_list<const char*> allowed) const {
        if (!map.IsMap()) {
            fail(map, prefix.empty() ? "(top)" : prefix, "must be a mapping");
        }
        for (const auto& kv : map) {
            const std::string k = kv.first.Scalar();
            bool ok = false;
            for (const char* a : allowed) {
                ok = ok || k == a;
            }
            if (!ok) {
                fail(kv.first, prefix.empty() ? k : prefix + "." + k, "unknown key");
            }
        }
    }

    std::string str(const YAML::Node& n, const std::string& key) const {
        if (!n.IsScalar()) {
            fail(n, key, "must be a string");
        }
        return n.Scalar();
    }

    uint64_t num(const YAML::Node& n, const std::string& key, uint64_t lo, uint64_t hi) const {
        uint64_t v = 0;
        if (!n.IsScalar() || !YAML::convert<uint64_t>::decode(n, v) || v < lo || v > hi) {
            fail(n, key,
                 "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
        }
        return v;
    }

    uint32_t duration_ms(const YAML::Node& n, const std::string& key) const {
        auto ms = n.IsScalar() ? store::parse_duration_ms(n.Scalar()) : std::nullopt;
        if (!ms || *ms > 3600000) {
            fail(n, key, "must be a duration like 500ms, 10s or 2m");
        }
        return static_cast<uint32_t>(*ms);
    }

  private:
    const std::string& file_;
};

}  // namespace

void load_server_config(const std::string& path, ServerConfig& cfg) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        throw std::runtime_error(path + ": cannot read the file");
    } catch (const YAML::Exception& e) {
        throw std::runtime_error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (root.IsNull()) {
        return;
    }
    Reader r(path);
    r.keys(root, "", {"dns", "http", "health", "store", "data_dir", "apply", "log_level"});
    if (auto dns = root["dns"]) {
        r.keys(dns, "dns",
               {"listen", "workers", "udp_max_size", "tcp_idle_timeout", "tcp_max_connections",
                "nsid", "version", "identity"});
        if (auto l = dns["listen"]) {
            if (l.IsScalar()) {
                cfg.dns_listen = {l.Scalar()};
            } else if (l.IsSequence()) {
                cfg.dns_listen.clear();
                for (const auto& e : l) {
                    cfg.dns_listen.push_back(r.str(e, "dns.listen"));
                }
            } else {
                r.fail(l, "dns.listen", "must be an address:port or a list of them");
            }
        }
        if (auto v = dns["workers"]) {
            cfg.workers = static_cast<unsigned>(r.num(v, "dns.workers", 0, 256));
        }
        if (auto v = dns["udp_max_size"]) {
            cfg.responder.udp_max_size =
                static_cast<uint16_t>(r.num(v, "dns.udp_max_size", 512, 4096));
        }
        if (auto v = dns["tcp_idle_timeout"]) {
            cfg.tcp.idle_timeout_ms = r.duration_ms(v, "dns.tcp_idle_timeout");
        }
        if (auto v = dns["tcp_max_connections"]) {
            cfg.tcp.max_connections =
                static_cast<uint32_t>(r.num(v, "dns.tcp_max_connections", 1, 1000000));
        }
        if (auto v = dns["nsid"]) {
            cfg.responder.nsid = r.str(v, "dns.nsid");
            if (cfg.responder.nsid.size() > 128) {
                r.fail(v, "dns.nsid", "must be at most 128 bytes");
            }
        }
        if (auto v = dns["version"]) {
            cfg.responder.version = r.str(v, "dns.version");
        }
        if (auto v = dns["identity"]) {
            cfg.responder.identity = r.str(v, "dns.identity");
        }
        for (const std::string* s : {&cfg.responder.version, &cfg.responder.identity}) {
            if (s->size() > 255) {
                r.fail(dns, "dns", "version and identity must be at most 255 bytes");
            }
        }
    }
    if (auto health = root["health"]) {
        r.keys(health, "health", {"isolation_hold"});
        if (auto v = health["isolation_hold"]) {
            cfg.isolation_hold_ms = r.duration_ms(v, "health.isolation_hold");
        }
    }
    if (auto http = root["http"]) {
        r.keys(http, "http", {"listen", "tls_cert", "tls_key", "body_limit"});
        if (auto v = http["listen"]) {
            cfg.http_listen = r.str(v, "http.listen");
        }
        if (auto v = http["tls_cert"]) {
            cfg.tls_cert = r.str(v, "http.tls_cert");
        }
        if (auto v = http["tls_key"]) {
            cfg.tls_key = r.str(v, "http.tls_key");
        }
        if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
            r.fail(http, "http", "tls_cert and tls_key go together");
        }
        if (auto v = http["body_limit"]) {
            cfg.body_limit = static_cast<uint32_t>(r.num(v, "http.body_limit", 1024, 64 << 20));
        }
    }
    if (auto st = root["store"]) {
        r.keys(st, "store", {"busy_timeout", "events_retention_days", "audit_retention_days"});
        if (auto v = st["busy_timeout"]) {
            cfg.busy_timeout_ms = r.duration_ms(v, "store.busy_timeout");
        }
        if (auto v = st["events_retention_days"]) {
            cfg.events_days =
                static_cast<uint32_t>(r.num(v, "store.events_retention_days", 1, 36500));
        }
        if (auto v = st["audit_retention_days"]) {
            cfg.audit_days =
                static_cast<uint32_t>(r.num(v, "store.audit_retention_days", 1, 36500));
        }
    }
    if (auto v = root["data_dir"]) {
        cfg.data_dir = r.str(v, "data_dir");
    }
    if (auto v = root["apply"]) {
        cfg.apply = r.str(v, "apply");
    }
    if (auto v = root["log_level"]) {
        cfg.log_level = r.str(v, "log_level");
        static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
        if (std::find(std::begin(levels), std::end(levels), cfg.log_level) == std::end(levels)) {
            r.fail(v, "log_level", "must be one of trace, debug, info, warn, error, off");
        }
    }
}

}  // namespace gtm::dns
