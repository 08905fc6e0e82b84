// gtmd: wires the parts together (the only file that does). The main thread runs the asio
// io_context: TCP, signals, reloads, and the controller that turns verdicts into snapshots. UDP
// workers and the prober run on their own threads.
#include <curl/curl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dnsd/asio.h"
#include "dnsd/cli.h"
#include "dnsd/controller.h"
#include "dnsd/listen.h"
#include "dnsd/snapshot.h"
#include "dnsd/tcp_server.h"
#include "dnsd/udp_server.h"
#include "healthcheck/prober.h"
#include "store/document.h"

namespace gtm::dns {
namespace {

// The monotonic clock shared by the prober's results and the controller's slow start.
int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
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
        store::DesiredState state;
        try {
            state = load();
        } catch (const store::DocumentError& e) {
            spdlog::error("bad desired-state document: {}", e.what());
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
            http_fd =
                open_tcp_listener(http);  // reserved; the REST API arrives with the store issue
        } catch (const std::exception& e) {
            spdlog::error("cannot listen: {}", e.what());
            return 2;
        }

        apply(std::move(state));
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
        spdlog::info("HTTP reserved on {}", http.text());

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
        if (!cfg_.ports_file.empty() && !write_ports_file(dns, http)) {
            return 2;
        }
        io_.run();
        prober_.stop();
        udp.stop();
        ::close(http_fd);
        spdlog::info("stopped");
        return 0;
    }

  private:
    health::ProberOptions prober_options() {
        health::ProberOptions o;
        o.isolation_hold_ms = cfg_.isolation_hold_ms;
        o.on_change = [this](std::vector<health::VerdictChange> changes) {
            // From the prober thread to the control thread.
            boost::asio::post(io_,
                              [this, changes = std::move(changes)] { apply_verdicts(changes); });
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
                     all ? "complete" : "incomplete; the rest stay unknown (served)");
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

    store::DesiredState load() {
        if (cfg_.apply.empty()) {
            return {};
        }
        return store::load_document(cfg_.apply);
    }

    void apply(store::DesiredState state) {
        prober_.configure(state);
        controller_.set_state(std::move(state), now_ms());
        const auto& s = controller_.state();
        spdlog::info("serving generation {}: {} zones, {} balancers{}", controller_.generation(),
                     s.zones.size(), s.balancers.size(),
                     cfg_.apply.empty() ? " (no --apply document)" : " from " + cfg_.apply);
    }

    void reload() {
        if (cfg_.apply.empty()) {
            spdlog::warn("SIGHUP: no --apply document to re-read");
            return;
        }
        try {
            apply(load());
        } catch (const std::exception& e) {
            spdlog::error("reload failed, still serving generation {}: {}",
                          controller_.generation(), e.what());
        }
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
    boost::asio::steady_timer slow_start_timer_{io_};
    SnapshotHolder holder_;
    Controller controller_;
    health::Prober prober_;
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
