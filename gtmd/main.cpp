// gtmd: wires the parts together (the only file that does).
//
// Threads, and who owns them here:
//   main       signals (SIGHUP re-applies --apply through the core; SIGTERM stops everything)
//   core       the control thread (decisions, slow start) and the store watcher (core/core.h)
//   prober     probes and the judge (healthcheck/prober.h)
//   web        the REST API; each change runs through the core on this thread
//   dns-tcp    DNS over TCP, never behind a compile or an API call
//   dns-udp    one worker per socket (SO_REUSEPORT)
//   events     the event writer
// Shutdown goes from the outside in: the web and the listeners stop first, then the prober,
// then the core and the event writer, so nothing ever waits for a part that has stopped.
#include <curl/curl.h>
#include <pthread.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "base/asio.h"
#include "base/clock.h"
#include "core/core.h"
#include "dnsd/listen.h"
#include "dnsd/snapshot.h"
#include "dnsd/tcp_server.h"
#include "dnsd/udp_server.h"
#include "gtmd/cli.h"
#include "healthcheck/prober.h"
#include "store/document.h"
#include "store/etcd_store.h"
#include "store/event_writer.h"
#include "store/sqlite_store.h"
#include "web/api.h"
#include "web/auth.h"
#include "web/http_server.h"
#include "web/metrics.h"
#include "web/webhooks.h"

namespace gtm::dns {
namespace {

// Probing thousands of members keeps thousands of sockets open.
void raise_fd_limit() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

// Descriptors open now (the listeners, the store, the prober's and asio's own).
uint64_t open_fds() {
    std::error_code ec;
    uint64_t n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

// What the DNS TCP and API event loops need to start (epoll, eventfd, timerfd each) and a few
// connections: below it gtmd does not start.
constexpr uint64_t kMinSpareFds = 16;

// DNS over TCP may hold at most half of the descriptors left once everything else is open; the
// other half stays for probes, the API and webhooks. A low `ulimit -n` lowers the connection
// limit, with one line saying so, instead of failing accept() (or the prober) later. Returns
// false, after one line saying what to raise, when too few are left to start at all.
// `reserved`: descriptors promised to the prober (fit_probes_to_fd_limit) and not open yet.
bool fit_tcp_to_fd_limit(TcpConfig& tcp, uint64_t reserved) {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) {
        return true;
    }
    const uint64_t used = open_fds();
    const uint64_t free = r.rlim_cur > used ? r.rlim_cur - used : 0;
    const uint64_t left = free > reserved ? free - reserved : 0;
    if (left < kMinSpareFds) {
        spdlog::error(
            "file descriptor limit {} (ulimit -n) is too low: {} are in use before DNS over TCP "
            "and the API start, which need {} more; raise it (at least {}, systemd: "
            "LimitNOFILE=)",
            r.rlim_cur, used, kMinSpareFds, used + kMinSpareFds + 64);
        return false;
    }
    const uint64_t budget = std::max<uint64_t>(1, (left - kMinSpareFds / 2) / 2);
    if (tcp.max_connections > budget) {
        spdlog::warn(
            "file descriptor limit {} (ulimit -n; {} in use) leaves room for {} DNS TCP "
            "connections: dns.tcp_max_connections lowered from {} to {}; raise the limit "
            "(systemd: LimitNOFILE=) to hold more",
            r.rlim_cur, used, budget, tcp.max_connections, budget);
        tcp.max_connections = static_cast<uint32_t>(budget);
    }
    return true;
}

// Probes in flight hold a socket each: at most half of the descriptors left before the prober
// starts (DNS over TCP, the API and webhooks share the rest). A low `ulimit -n` lowers
// health.max_probes_in_flight with one line saying so; probes over it wait their turn instead
// of failing for want of a socket. Returns the descriptors the prober may take.
uint64_t fit_probes_to_fd_limit(uint32_t& max_in_flight) {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) {
        return 0;
    }
    const uint64_t used = open_fds();
    const uint64_t left = r.rlim_cur > used + kMinSpareFds ? r.rlim_cur - used - kMinSpareFds : 0;
    // Every in-flight transfer may hold one more socket in curl's cache of kept-alive ones.
    const uint64_t budget = std::max<uint64_t>(1, left / 2 / 2);
    if (max_in_flight > budget) {
        spdlog::warn(
            "file descriptor limit {} (ulimit -n; {} in use) leaves room for {} probes in "
            "flight: health.max_probes_in_flight lowered from {} to {}; raise the limit "
            "(systemd: LimitNOFILE=) to probe more at once",
            r.rlim_cur, used, budget, max_in_flight, budget);
        max_in_flight = static_cast<uint32_t>(budget);
    }
    return std::min<uint64_t>(left / 2, 2 * uint64_t{max_in_flight});
}

uint64_t random_seed(std::random_device& rd) { return (uint64_t{rd()} << 32) | rd(); }

const sigset_t& handled_signals() {
    static const sigset_t set = [] {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGHUP);
        sigaddset(&s, SIGTERM);
        sigaddset(&s, SIGINT);
        return s;
    }();
    return set;
}

// A log message as a JSON string's content.
class JsonMessage : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        for (const char c : msg.payload) {
            switch (c) {
                case '"':
                    dest.append(std::string_view("\\\""));
                    break;
                case '\\':
                    dest.append(std::string_view("\\\\"));
                    break;
                case '\n':
                    dest.append(std::string_view("\\n"));
                    break;
                default:
                    if (static_cast<unsigned char>(c) < 0x20) {
                        char esc[8];
                        std::snprintf(esc, sizeof esc, "\\u%04x", c);
                        dest.append(std::string_view(esc));
                    } else {
                        dest.push_back(c);
                    }
            }
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessage>();
    }
};

// Logs on stderr, never stdout: text lines, or one JSON object per line (--log-format json).
void set_up_logging(const ServerConfig& cfg) {
    auto logger = spdlog::stderr_color_mt("gtmd");
    if (cfg.log_format == "json") {
        auto f = std::make_unique<spdlog::pattern_formatter>();
        f->add_flag<JsonMessage>('j').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%j"})");
        logger->set_formatter(std::move(f));
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_default_logger(std::move(logger));
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
}

class Daemon {
  public:
    explicit Daemon(ServerConfig cfg) : cfg_(std::move(cfg)) {}

    int run() {
        std::error_code ec;
        std::filesystem::create_directories(cfg_.data_dir, ec);
        if (ec) {
            spdlog::error("data_dir {}: {}", cfg_.data_dir, ec.message());
            return 2;
        }
        const std::string db_path = (std::filesystem::path(cfg_.data_dir) / "gtmd.db").string();
        try {
            if (cfg_.cluster.enabled()) {
                // Cluster mode: the desired state, tokens and audit live in etcd, shared by
                // every node; votes on this node's lease.
                auto etcd = std::make_unique<store::EtcdStore>(etcd_options());
                board_ = etcd.get();
                store_ = std::move(etcd);
                spdlog::info("cluster: node {} on etcd {} (prefix {})", board_->node(),
                             cfg_.cluster.etcd.front(), cfg_.cluster.prefix);
            } else {
                store_ = std::make_unique<store::SqliteStore>(db_path, cfg_.busy_timeout_ms);
            }
            if (!cfg_.import_from.empty()) {
                return import_into_cluster();
            }
            bootstrap_admin_token();
        } catch (const std::exception& e) {
            spdlog::error("store: {}", e.what());
            return 2;
        }

        const unsigned workers =
            cfg_.workers != 0 ? cfg_.workers : std::max(1u, std::thread::hardware_concurrency());
        std::vector<DnsListener> dns;
        Endpoint http;
        int http_fd = -1;
        try {
            // Bound now so that a taken port fails the start at once; served after the first
            // round of probes.
            if (cfg_.dns_listen.empty()) {
                cfg_.dns_listen.push_back("127.0.0.1:5300");
            }
            for (const auto& text : cfg_.dns_listen) {
                dns.push_back(open_dns(parse_endpoint(text), workers));
            }
            http = parse_endpoint(cfg_.http_listen.empty() ? "127.0.0.1:8053" : cfg_.http_listen);
            http_fd = open_tcp_listener(http);
        } catch (const std::exception& e) {
            spdlog::error("cannot listen: {}", e.what());
            return 2;
        }

        events_ = std::make_unique<store::EventWriter>(
            *store_, store::Retention{cfg_.events_days, cfg_.audit_days});
        const uint64_t probe_fds = fit_probes_to_fd_limit(cfg_.max_probes_in_flight);
        health::ProberOptions po;
        po.isolation_hold_ms = cfg_.isolation_hold_ms;
        po.max_in_flight = cfg_.max_probes_in_flight;
        po.source_v4 = cfg_.source_v4;
        po.source_v6 = cfg_.source_v6;
        po.on_update = [this](std::vector<health::TargetUpdate> u) {
            core_->on_decisions(std::move(u));
        };
        po.on_isolation = [this](bool isolated) { core_->on_isolation(isolated); };
        prober_ = std::make_unique<health::Prober>(std::move(po));
        // UDP worker i counts answers per member into slot i, the TCP thread into the last.
        const uint32_t udp_threads = static_cast<uint32_t>(dns.size() * workers);
        core::CoreOptions co;
        co.worker_slots = cfg_.metrics ? udp_threads + 1 : 0;
        co.configure_prober = [this](const store::DesiredState& s,
                                     std::unordered_map<std::string, health::Seed> seeds) {
            prober_->configure(s, std::move(seeds));
        };
        co.record_events = [this](std::vector<store::HealthEvent> e) {
            events_->push(std::move(e));
        };
        co.board = board_;
        co.quorum = cfg_.cluster.quorum;
        co.fallback_after_ms = cfg_.cluster.fallback_after_ms;
        if (const char* fault = std::getenv("GTMD_TEST_FAIL_COMPILE")) {
            co.fail_compile_of = fault;
            spdlog::warn("GTMD_TEST_FAIL_COMPILE: compiling a state with balancer '{}' fails",
                         fault);
        }
        core_ = std::make_unique<core::Core>(*store_, holder_, std::move(co));

        // The state saved before, with the verdicts saved before: a restart does not flap.
        try {
            core_->load(monotonic_ms());
        } catch (const std::exception& e) {
            spdlog::error("store: {}", e.what());
            return 2;
        }
        if (!cfg_.apply.empty()) {
            try {
                apply_file("--apply");
            } catch (const std::exception& e) {
                spdlog::error("--apply {}: {}", cfg_.apply, e.what());
                return 2;
            }
        }
        prober_->start();
        first_round();
        core_->start();

        if (!fit_tcp_to_fd_limit(cfg_.tcp, probe_fds)) {
            stop_core();
            return 2;
        }
        std::random_device rd;
        cfg_.tcp.log = [](const std::string& line) { spdlog::warn("{}", line); };
        StatsRegistry dns_stats;
        TcpStats tcp_stats;
        UdpWorkers udp(holder_, cfg_.responder, cfg_.metrics ? &dns_stats : nullptr, cfg_.rrl);
        if (cfg_.rrl.enabled) {
            spdlog::info(
                "response rate limiting on (UDP): {} answers/s per /{} and /{} source prefix, "
                "class and name, slip {}, {} buckets per worker, {} exempt prefixes",
                cfg_.rrl.rate, cfg_.rrl.ipv4_prefix, cfg_.rrl.ipv6_prefix, cfg_.rrl.slip,
                Rrl::buckets_for(cfg_.rrl.table_size), cfg_.rrl.exempt.size());
        }
        boost::asio::io_context tcp_io;
        auto tcp_work = boost::asio::make_work_guard(tcp_io);
        TcpServer tcp(tcp_io, holder_, cfg_.responder, cfg_.tcp, random_seed(rd),
                      cfg_.metrics ? &dns_stats.add() : nullptr,
                      cfg_.metrics ? &tcp_stats : nullptr, udp_threads);
        for (auto& l : dns) {
            for (int fd : l.udp_fds) {
                udp.start(fd, l.wildcard, random_seed(rd));
            }
            tcp.listen(l.tcp_fd, l.endpoint.v6);
            spdlog::info("DNS on {} (UDP x{} workers, TCP)", l.endpoint.text(), l.udp_fds.size());
        }
        std::thread tcp_thread([&tcp_io] { tcp_io.run(); });

        // Webhooks: every event, signed, at least once, in order, from a durable cursor.
        std::vector<web::WebhookConfig> hooks;
        for (const auto& w : cfg_.webhooks) {
            hooks.push_back(
                {w.name, w.url, {w.events.begin(), w.events.end()}, w.secret, w.timeout_ms});
        }
        web::Webhooks webhooks(*store_, std::move(hooks),
                               board_ != nullptr ? board_->node() : std::string());
        events_->on_written([&webhooks] { webhooks.wake(); });
        webhooks.start();

        web::ApiDeps deps;
        deps.core = core_.get();
        deps.alertmanager.pool_label = cfg_.alertmanager.pool_label;
        deps.alertmanager.member_label = cfg_.alertmanager.member_label;
        deps.alertmanager.grace_ms = cfg_.alertmanager.grace_ms;
        deps.health = [this] { return prober_->status(); };
        deps.isolated = [this] { return prober_->isolated(); };
        deps.ready = [this] { return ready_.load(); };
        deps.snapshots = &holder_;
        std::unique_ptr<web::Metrics> metrics;
        if (cfg_.metrics) {
            web::MetricsSources ms;
            ms.dns = &dns_stats;
            ms.tcp = &tcp_stats;
            ms.holder = &holder_;
            ms.core = core_.get();
            ms.prober = prober_.get();
            ms.events = events_.get();
            ms.webhooks = &webhooks;
            metrics = std::make_unique<web::Metrics>(std::move(ms));
            deps.metrics = metrics.get();
        }
        web::Api api(std::move(deps));
        web::HttpConfig hc;
        hc.body_limit = cfg_.body_limit;
        hc.tls_cert = cfg_.tls_cert;
        hc.tls_key = cfg_.tls_key;
        boost::asio::io_context web_io;
        std::unique_ptr<web::HttpServer> web_server;
        try {
            web_server = std::make_unique<web::HttpServer>(
                web_io, http_fd, http.v6, hc,
                [&api](const web::Request& r) { return api.handle(r, unix_ms()); });
        } catch (const std::exception& e) {
            spdlog::error("http: {}", e.what());
            stop_dns(tcp, tcp_io, tcp_thread, udp);
            stop_core();
            return 2;
        }
        web_server->start();
        std::thread web_thread([&web_io] { web_io.run(); });
        spdlog::info("REST API on {}://{}", cfg_.tls_cert.empty() ? "http" : "https", http.text());

        // SIGHUP, SIGTERM and SIGINT are blocked in every thread (main() did it before any
        // thread started) and taken here with sigwait: one that arrives before the loop waits
        // for it, and one that arrives during the shutdown stays pending and harmless.
        ready_.store(true);
        int code = 0;
        if (!cfg_.ports_file.empty() && !write_ports_file(dns, http)) {
            code = 2;
        } else {
            for (;;) {
                int sig = 0;
                if (sigwait(&handled_signals(), &sig) != 0) {
                    continue;
                }
                if (sig == SIGHUP) {
                    reload();
                    continue;
                }
                spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                break;
            }
        }

        // From the outside in: nothing stops while something may still wait for it.
        ready_.store(false);
        boost::asio::post(web_io, [&] {
            web_server->stop();
            web_io.stop();
        });
        web_thread.join();
        stop_dns(tcp, tcp_io, tcp_thread, udp);
        stop_core();
        webhooks.stop();
        spdlog::info("stopped");
        return code;
    }

  private:
    void stop_dns(TcpServer& tcp, boost::asio::io_context& tcp_io, std::thread& tcp_thread,
                  UdpWorkers& udp) {
        boost::asio::post(tcp_io, [&] {
            tcp.stop();
            tcp_io.stop();
        });
        tcp_thread.join();
        udp.stop();
    }

    void stop_core() {
        prober_->stop();
        core_->stop();
        events_->stop();
    }

    // Applies the --apply document through the core, audited under `how` — when it changed
    // since it was last applied: a restart or SIGHUP with the same file never reverts what was
    // changed through the API since. A changed file is applied whole, but the admin states it
    // does not set stay as they are (drains survive); what it changes is logged and audited.
    void apply_file(const std::string& how) {
        const std::string text = store::read_file(cfg_.apply);
        // Standalone: per file. A cluster remembers the last document any node applied, so a
        // second node started with the same file (wherever it lies) does not apply it again.
        const std::string key =
            board_ != nullptr
                ? std::string("applied")
                : "applied:" + std::filesystem::absolute(cfg_.apply).lexically_normal().string();
        const std::string digest = web::hash_secret(text);
        if (store_->setting(key) == digest) {
            spdlog::info(
                "{}: {} is unchanged since it was last applied: nothing to do (changes made "
                "through the API since stay)",
                how, cfg_.apply);
            return;
        }
        core::Actor who;
        who.token = how + " " + cfg_.apply;
        who.source = "local";
        who.action = "apply " + who.token;
        who.object = "config";
        who.document = cfg_.apply;
        const store::Document doc = store::read_document(cfg_.apply);
        core::Core::ApplyOptions options;
        options.source = &doc.source;  // admin states the file does not set stay as they are
        options.prune = cfg_.prune;
        const core::ChangeResult r = core_->apply(doc.state, who, options);
        store_->set_setting(key, digest);
        for (const auto& ch : r.changes) {
            spdlog::info("{}: {} {}/{}", how, ch["op"].get<std::string>(),
                         ch["kind"].get<std::string>(), ch["name"].get<std::string>());
        }
        for (const auto& w : doc.warnings) {  // the file's own lines: "file:12: path: warning: .."
            spdlog::warn("{}: {}", how, store::to_string(w, cfg_.apply));
        }
        for (const auto& kept : r.result["admin_states_kept"]) {
            spdlog::info("{}: {} keeps its admin state (the file does not set it)", how,
                         kept.get<std::string>());
        }
    }

    void reload() {
        if (cfg_.apply.empty()) {
            spdlog::warn("SIGHUP: no --apply document to re-read");
            return;
        }
        try {
            apply_file("SIGHUP");
        } catch (const std::exception& e) {
            spdlog::error("reload failed, still serving generation {}: {}: {}", core_->generation(),
                          cfg_.apply, e.what());
        }
    }

    // The first admin token: GTMD_ADMIN_TOKEN when set, else a new one written to
    // data_dir/admin.token (mode 0600) when the store has no token at all.
    void bootstrap_admin_token() {
        store::AuditEntry a;
        a.at_ms = unix_ms();
        a.token = "gtmd";
        a.source = "local";
        a.object = "tokens/admin";
        a.result = "ok";
        if (const char* env = std::getenv("GTMD_ADMIN_TOKEN"); env != nullptr && *env != '\0') {
            if (std::strlen(env) < 16) {
                // A short secret can be guessed: the failure limiter slows guessing, not enough.
                throw std::runtime_error(
                    "GTMD_ADMIN_TOKEN must be at least 16 bytes long (it has " +
                    std::to_string(std::strlen(env)) + ")");
            }
            const std::string hash = web::hash_secret(env);
            auto existing = store_->token("admin");
            if (existing && existing->hash == hash && existing->role == "admin") {
                return;
            }
            if (existing) {
                store_->remove_token("admin", a);
            }
            a.action = "bootstrap admin token from GTMD_ADMIN_TOKEN";
            store_->add_token({"admin", "admin", hash, unix_ms()}, a);
            spdlog::info("admin token 'admin' set from GTMD_ADMIN_TOKEN");
            return;
        }
        if (!store_->tokens().empty()) {
            return;
        }
        const std::string secret = web::new_secret();
        const std::string path = (std::filesystem::path(cfg_.data_dir) / "admin.token").string();
        {
            const mode_t old = umask(077);
            std::ofstream out(path, std::ios::trunc);
            out << secret << "\n";
            umask(old);
            if (!out.flush()) {
                throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
            }
        }
        ::chmod(path.c_str(), 0600);
        a.action = "bootstrap admin token into " + path;
        store_->add_token({"admin", "admin", web::hash_secret(secret), unix_ms()}, a);
        spdlog::info("first admin token written to {} (mode 0600)", path);
    }

    // Before the listeners serve: probe every member once, waiting at most one timeout, so that a
    // member already dead at start is not handed out.
    void first_round() {
        uint32_t wait_ms = 0;
        for (const auto& m : core_->current()->state.monitors) {
            wait_ms = std::max(wait_ms, m.timeout_ms);
        }
        if (wait_ms == 0) {
            return;
        }
        const bool all = prober_->wait_first_round(wait_ms + 100);
        core_->sync(1000);  // the decisions of the round are served
        if (board_ != nullptr) {
            // Cluster mode: our first round is part of the quorum before we answer.
            board_->flush_votes(2000);
            core_->wait_votes_settled(2000);
        }
        spdlog::info("first round of probes {}",
                     all ? "complete" : "incomplete; the rest stay as they were");
    }

    bool write_ports_file(const std::vector<DnsListener>& dns, const Endpoint& http) {
        std::string json = "{\"dns\": " + std::to_string(dns.front().endpoint.port) +
                           ", \"http\": " + std::to_string(http.port) + ", \"dns_all\": [";
        for (size_t i = 0; i < dns.size(); ++i) {
            json += (i ? ", " : "") + std::to_string(dns[i].endpoint.port);
        }
        json += "]}\n";
        const std::string tmp = cfg_.ports_file + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << json;
            if (!out.flush()) {
                spdlog::error("cannot write {}: {}", tmp, std::strerror(errno));
                return false;
            }
        }
        if (std::rename(tmp.c_str(), cfg_.ports_file.c_str()) != 0) {
            spdlog::error("cannot write {}: {}", cfg_.ports_file, std::strerror(errno));
            return false;
        }
        return true;
    }

    store::EtcdStoreOptions etcd_options() const {
        store::EtcdStoreOptions o;
        o.client.endpoints = cfg_.cluster.etcd;
        o.client.ca_file = cfg_.cluster.ca_file;
        o.client.cert_file = cfg_.cluster.cert_file;
        o.client.key_file = cfg_.cluster.key_file;
        o.client.user = cfg_.cluster.user;
        o.client.password = cfg_.cluster.password;
        o.prefix = cfg_.cluster.prefix;
        o.node = cfg_.node_name;
        if (o.node.empty()) {
            char host[256] = {};
            gethostname(host, sizeof host - 1);
            o.node = host;
        }
        o.lease_ttl_ms = cfg_.cluster.lease_ttl_ms;
        return o;
    }

    // --import-from DB: a standalone node's sqlite state and tokens into the (empty) cluster
    // store; then exit. The way from one node to a cluster.
    int import_into_cluster() {
        if (board_ == nullptr) {
            spdlog::error("--import-from needs the cluster settings (cluster.etcd in gtmd.yaml)");
            return 2;
        }
        std::error_code ec;
        if (!std::filesystem::is_regular_file(cfg_.import_from, ec)) {
            // Opening it would create an empty database where the operator expected theirs.
            spdlog::error("--import-from {}: {}", cfg_.import_from,
                          ec ? ec.message()
                             : std::string("not a regular file (a standalone "
                                           "node's data_dir/gtmd.db)"));
            return 2;
        }
        store::SqliteStore from(cfg_.import_from, cfg_.busy_timeout_ms);
        if (!from.has_state()) {
            spdlog::error("{} holds no desired state", cfg_.import_from);
            return 2;
        }
        if (store_->has_state()) {
            spdlog::error(
                "the cluster store holds a desired state already (revision {}): nothing "
                "imported",
                store_->revision());
            return 2;
        }
        const store::StoredState stored = from.load_state();
        store::AuditEntry a;
        a.at_ms = unix_ms();
        a.token = "gtmd";
        a.source = "local";
        a.action = "import from " + cfg_.import_from;
        a.object = "config";
        a.result = "ok";
        a.status = 200;
        store_->save_state({}, stored.state, a, 0);
        size_t tokens = 0;
        for (const auto& t : from.tokens()) {
            if (!store_->token(t.name)) {
                a.action = "import token " + t.name;
                store_->add_token(t, a);
                ++tokens;
            }
        }
        spdlog::info(
            "imported {} zones, {} pools, {} balancers and {} tokens from {} into the "
            "cluster",
            stored.state.zones.size(), stored.state.pools.size(), stored.state.balancers.size(),
            tokens, cfg_.import_from);
        return 0;
    }

    ServerConfig cfg_;
    SnapshotHolder holder_;
    std::unique_ptr<store::Store> store_;
    store::EtcdStore* board_ = nullptr;  // cluster mode: the same object as store_
    std::unique_ptr<store::EventWriter> events_;
    std::unique_ptr<health::Prober> prober_;
    std::unique_ptr<core::Core> core_;
    std::atomic<bool> ready_{false};
};

}  // namespace
}  // namespace gtm::dns

int main(int argc, char** argv) {
    gtm::dns::ServerConfig cfg;
    if (int code = gtm::dns::parse_command_line(argc, argv, cfg); code >= 0) {
        return code;
    }
    gtm::dns::set_up_logging(cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any thread starts
    // Blocked before any thread starts, so that every thread inherits it: Daemon::run() takes
    // them with sigwait.
    pthread_sigmask(SIG_BLOCK, &gtm::dns::handled_signals(), nullptr);
    gtm::dns::raise_fd_limit();
    const int code = gtm::dns::Daemon(std::move(cfg)).run();
    curl_global_cleanup();
    return code;
}
