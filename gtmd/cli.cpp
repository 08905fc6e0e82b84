#include "gtmd/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace gtm::dns {

int parse_command_line(int argc, char** argv, ServerConfig& cfg) {
    CLI::App app{"gtmd: a global DNS traffic manager, authoritative for the zones it is given"};
    app.set_version_flag("--version", "gtmd 0.1.0");
    std::string config;
    std::vector<std::string> dns_listen;
    std::string http_listen, data_dir, apply, ports_file;
    unsigned workers = 0;
    app.add_option("--config", config, "server settings (YAML); flags override it");
    app.add_option("--dns-listen", dns_listen,
                   "address:port for DNS over UDP and TCP; repeatable; port 0: the OS chooses");
    app.add_option("--http-listen", http_listen, "address:port of the REST API and web page");
    app.add_option("--data-dir", data_dir, "where the database and the first admin token live");
    app.add_option("--apply", apply,
                   "desired-state document (YAML or JSON) to serve; SIGHUP re-reads it");
    app.add_option("--ports-file", ports_file, "write {\"dns\": N, \"http\": N} here once bound");
    std::string import_from;
    app.add_option("--import-from", import_from,
                   "copy a standalone node's sqlite state and tokens (its gtmd.db) into the empty "
                   "cluster store, then exit");
    std::string node_name, source;
    std::vector<std::string> etcd;
    app.add_option("--node-name", node_name, "this node's name in the cluster (node.name)");
    app.add_option("--source-address", source,
                   "where this node's probes leave from (health.source_address)");
    app.add_option("--etcd", etcd, "an etcd member's client URL (cluster.etcd); repeatable");
    std::string log_format;
    app.add_option("--log-format", log_format, "text (default) or json: one object per line")
        ->check(CLI::IsMember({"text", "json"}));
    bool prune = false;
    app.add_flag("--prune", prune,
                 "with --apply: a document without any zone may delete every zone (else refused)");
    app.add_option("--workers", workers, "UDP worker threads per listen address; 0: one per core")
        ->check(CLI::Range(0u, 256u));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    if (!config.empty()) {
        try {
            load_server_config(config, cfg);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "gtmd: bad config: %s\n", e.what());
            return 2;
        }
    }
    if (!dns_listen.empty()) {
        cfg.dns_listen = dns_listen;
    }
    if (app.count("--http-listen") > 0) {
        cfg.http_listen = http_listen;
    }
    if (app.count("--data-dir") > 0) {
        cfg.data_dir = data_dir;
    }
    if (app.count("--apply") > 0) {
        cfg.apply = apply;
    }
    if (app.count("--ports-file") > 0) {
        cfg.ports_file = ports_file;
    }
    if (app.count("--workers") > 0) {
        cfg.workers = workers;
    }
    cfg.prune = prune;
    cfg.import_from = import_from;
    if (!node_name.empty()) {
        cfg.node_name = node_name;
    }
    if (!source.empty()) {
        (source.find(':') == std::string::npos ? cfg.source_v4 : cfg.source_v6) = source;
    }
    if (!etcd.empty()) {
        cfg.cluster.etcd = etcd;
    }
    if (!log_format.empty()) {
        cfg.log_format = log_format;
    }
    return -1;
}

}  // namespace gtm::dns
