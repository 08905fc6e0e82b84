// gtmd: wires the parts together (the only file that does).
//
// Threads: the main (control) thread runs io_: TCP DNS, signals, the controller that turns
// state and verdicts into snapshots, the slow-start tick. UDP workers, the prober, the web
// thread (REST API + sqlite writes) and the event writer run on their own. Nothing on the DNS
// path ever waits for the disk.
#include <curl/curl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "dnsd/asio.h"
#include "gtmd/cli.h"
#include "dnsd/controller.h"
#include "dnsd/listen.h"
#include "dnsd/snapshot.h"
#include "dnsd/tcp_server.h"
#include "dnsd/udp_server.h"
#include "healthcheck/prober.h"
#include "store/db.h"
#include "store/document.h"
#include "store/event_writer.h"
#include "store/validate.h"
#include "web/api.h"
#include "web/auth.h"
#include "web/http_server.h"

namespace gtm::dns {
namespace {

// The monotonic clock shared by the prober's results and the controller's slow start.
int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Wall-clock time for the audit log and health events.
int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Probing thousands of members keeps thousands of sockets open.
void raise_fd_limit() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

class Daemon {
  public:
    explicit Daemon(ServerConfig cfg)
        : cfg_(std::move(cfg)), controller_(holder_), prober_(prober_options()) {}

    int run() {
        std::error_code ec;
        std::filesystem::create_directories(cfg_.data_dir, ec);
        if (ec) {
            spdlog::error("data_dir {}: {}", cfg_.data_dir, ec.message());
            return 2;
        }
        db_path_ = (std::filesystem::path(cfg_.data_dir) / "gtmd.db").string();
        store::DesiredState state;
        try {
            store_ = std::make_unique<store::Store>(db_path_, cfg_.busy_timeout_ms);
            if (store_->has_state()) {
                state = store_->load_state();
                store::validate(state, db_path_);
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

        // The state saved before, with the verdicts saved before: a restart does not flap.
        restore_verdicts(state);
        web::ApiDeps deps;
        deps.store = store_.get();
        deps.publish = [this](const store::DesiredState& s) { publish(s); };
        deps.health = [this] { return prober_.status(); };
        deps.isolated = [this] { return prober_.isolated(); };
        deps.ready = [this] { return ready_.load(); };
        deps.snapshots = &holder_;
        publish(state);
        api_ = std::make_unique<web::Api>(std::move(deps), std::move(state));
        if (!cfg_.apply.empty()) {
            try {
                api_->apply_document(store::load_document(cfg_.apply), "--apply " + cfg_.apply,
                                     unix_ms());
            } catch (const std::exception& e) {
                spdlog::error("--apply: {}", e.what());
                return 2;
            }
        }
        events_ = std::make_unique<store::EventWriter>(
            db_path_, store::Retention{cfg_.events_days, cfg_.audit_days});
        prober_.start();
        first_round();

        std::random_device rd;
        UdpWorkers udp(holder_, cfg_.responder);
        TcpServer tcp(io_, holder_, cfg_.responder, cfg_.tcp, (uint64_t{rd()} << 32) | rd());
        for (auto& l : dns) {
            for (int fd : l.udp_fds) {
                udp.start(fd, l.wildcard, (uint64_t{rd()} << 32) | rd());
            }
            tcp.listen(l.tcp_fd, l.endpoint.v6);
            spdlog::info("DNS on {} (UDP x{} workers, TCP)", l.endpoint.text(), l.udp_fds.size());
        }
        web::HttpConfig hc;
        hc.body_limit = cfg_.body_limit;
        hc.tls_cert = cfg_.tls_cert;
        hc.tls_key = cfg_.tls_key;
        std::unique_ptr<web::HttpServer> web_server;
        try {
            web_server = std::make_unique<web::HttpServer>(
                web_io_, http_fd, http.v6, hc,
                [this](const web::Request& r) { return api_->handle(r, unix_ms()); });
        } catch (const std::exception& e) {
            spdlog::error("http: {}", e.what());
            return 2;
        }
        web_server->start();
        io_running_.store(true);  // from now on publish() hands its work to the control thread
        std::thread web_thread([this] { web_io_.run(); });
        spdlog::info("REST API on {}://{}", cfg_.tls_cert.empty() ? "http" : "https", http.text());

        // Signal handling is in place before the ports file tells anyone we are up.
        boost::asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
        std::function<void(const boost::system::error_code&, int)> on_signal =
            [&](const boost::system::error_code& err, int sig) {
                if (err) {
                    return;
                }
                if (sig == SIGHUP) {
                    reload();
                    signals.async_wait(on_signal);
                    return;
                }
                spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                tcp.stop();
                slow_start_timer_.cancel();
                io_.stop();
            };
        signals.async_wait(on_signal);
        tick_slow_start();
        ready_.store(true);
        if (!cfg_.ports_file.empty() && !write_ports_file(dns, http)) {
            return 2;
        }
        io_.run();

        boost::asio::post(web_io_, [&] {
            web_server->stop();
            web_io_.stop();
        });
        web_thread.join();
        prober_.stop();
        events_->stop();
        udp.stop();
        spdlog::info("stopped");
        return 0;
    }

  private:
    health::ProberOptions prober_options() {
        health::ProberOptions o;
        o.isolation_hold_ms = cfg_.isolation_hold_ms;
        o.on_change = [this](std::vector<health::VerdictChange> changes) {
            // On the prober thread: the events go to the disk writer, the verdicts to the
            // control thread.
            std::vector<store::HealthEvent> events;
            for (const auto& c : changes) {
                store::HealthEvent e;
                e.at_ms = unix_ms();
                e.monitor = c.monitor;
                e.address = c.address;
                for (const auto& p : c.pools) {
                    e.pools += (e.pools.empty() ? "" : ",") + p;
                }
                e.from = health::to_string(c.from);
                e.to = health::to_string(c.to);
                e.reason = health::to_string(c.evidence.reason);
                e.detail = c.evidence.detail;
                e.http_status = c.evidence.http_status;
                e.latency_ms = c.evidence.latency_ms;
                events.push_back(std::move(e));
            }
            if (events_) {
                events_->push(std::move(events));
            }
            boost::asio::post(io_,
                              [this, changes = std::move(changes)] { apply_verdicts(changes); });
        };
        o.on_suspect = [this](std::vector<health::SuspectChange> changes) {
            boost::asio::post(io_, [this, changes = std::move(changes)] {
                std::vector<MemberSuspicion> members;
                for (const auto& c : changes) {
                    for (const auto& pool : c.pools) {
                        members.push_back({pool, c.address, c.suspect});
                    }
                }
                controller_.apply_suspects(members, now_ms());
            });
        };
        return o;
    }

    void apply_verdicts(const std::vector<health::VerdictChange>& changes) {
        std::vector<MemberVerdict> members;
        for (const auto& c : changes) {
            for (const auto& pool : c.pools) {
                members.push_back({pool, c.address, c.to});
            }
        }
        controller_.apply_verdicts(members, now_ms());
    }

    void restore_verdicts(const store::DesiredState& state) {
        std::vector<health::Prober::Restored> restored;
        std::vector<MemberVerdict> members;
        for (const auto& v : store_->verdicts()) {
            const health::Verdict verdict = v.verdict == "up"     ? health::Verdict::Up
                                            : v.verdict == "down" ? health::Verdict::Down
                                                                  : health::Verdict::Unknown;
            restored.push_back({v.monitor, v.address, verdict});
        }
        prober_.restore(restored);
        for (const auto& p : state.pools) {
            for (const auto& r : restored) {
                if (p.monitor != r.monitor) {
                    continue;
                }
                for (const auto& m : p.members) {
                    if (m.address == r.address) {
                        members.push_back({p.name, m.address, r.verdict});
                    }
                }
            }
        }
        restored_members_ = std::move(members);
    }

    // Makes a state live: the prober probes its members, the controller compiles and publishes
    // it. From the web thread it runs on the control thread and returns once done (read your
    // writes); before the control thread runs, it runs here.
    void publish(const store::DesiredState& s) {
        auto work = [this, &s] {
            prober_.configure(s);
            controller_.set_state(s, now_ms());
            if (!restored_members_.empty()) {
                controller_.apply_verdicts(restored_members_, now_ms());
                restored_members_.clear();
            }
            spdlog::info("serving generation {}: {} zones, {} balancers", controller_.generation(),
                         s.zones.size(), s.balancers.size());
        };
        if (!io_running_.load()) {
            work();
            return;
        }
        std::promise<void> done;
        boost::asio::post(io_, [&] {
            work();
            done.set_value();
        });
        done.get_future().wait();
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
        for (const auto& m : controller_.state().monitors) {
            wait_ms = std::max(wait_ms, m.timeout_ms);
        }
        if (wait_ms == 0) {
            return;
        }
        const bool all = prober_.wait_first_round(wait_ms + 100);
        io_.poll();  // the verdict changes the prober posted
        io_.restart();
        spdlog::info("first round of probes {}",
                     all ? "complete" : "incomplete; the rest stay as they were");
    }

    void tick_slow_start() {
        slow_start_timer_.expires_after(std::chrono::seconds(1));
        slow_start_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            controller_.tick(now_ms());
            tick_slow_start();
        });
    }

    void reload() {
        if (cfg_.apply.empty()) {
            spdlog::warn("SIGHUP: no --apply document to re-read");
            return;
        }
        // The API owns the state and the store connection: the reload runs on the web thread.
        boost::asio::post(web_io_, [this] {
            try {
                api_->apply_document(store::load_document(cfg_.apply), "SIGHUP " + cfg_.apply,
                                     unix_ms());
            } catch (const std::exception& e) {
                spdlog::error("reload failed, still serving generation {}: {}",
                              controller_.generation(), e.what());
            }
        });
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

    ServerConfig cfg_;
    boost::asio::io_context io_;
    boost::asio::io_context web_io_;
    boost::asio::steady_timer slow_start_timer_{io_};
    SnapshotHolder holder_;
    Controller controller_;
    health::Prober prober_;
    std::string db_path_;
    std::unique_ptr<store::Store> store_;  // used by the web thread once it runs
    std::unique_ptr<store::EventWriter> events_;
    std::unique_ptr<web::Api> api_;
    std::vector<MemberVerdict> restored_members_;
    std::atomic<bool> ready_{false};
    std::atomic<bool> io_running_{false};
};

}  // namespace
}  // namespace gtm::dns

int main(int argc, char** argv) {
    gtm::dns::ServerConfig cfg;
    if (int code = gtm::dns::parse_command_line(argc, argv, cfg); code >= 0) {
        return code;
    }
    spdlog::set_default_logger(spdlog::stderr_color_mt("gtmd"));  // logs on stderr, never stdout
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any thread starts
    gtm::dns::raise_fd_limit();
    const int code = gtm::dns::Daemon(std::move(cfg)).run();
    curl_global_cleanup();
    return code;
}
