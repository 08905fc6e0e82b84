// gtmd: wires the parts together (the only file that does). The main thread runs the asio
// io_context: TCP, signals, reloads. UDP workers run on their own threads.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dnsd/asio.h"
#include "dnsd/cli.h"
#include "dnsd/listen.h"
#include "dnsd/snapshot.h"
#include "dnsd/tcp_server.h"
#include "dnsd/udp_server.h"
#include "store/document.h"

namespace gtm::dns {
namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
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
        try {
            publish(load());
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
            if (cfg_.dns_listen.empty()) cfg_.dns_listen.push_back("127.0.0.1:5300");
            for (const auto& text : cfg_.dns_listen)
                dns.push_back(open_dns(parse_endpoint(text), workers));
            http = parse_endpoint(cfg_.http_listen.empty() ? "127.0.0.1:8053" : cfg_.http_listen);
            http_fd =
                open_tcp_listener(http);  // reserved; the REST API arrives with the store issue
        } catch (const std::exception& e) {
            spdlog::error("cannot listen: {}", e.what());
            return 2;
        }

        std::random_device rd;
        UdpWorkers udp(holder_, cfg_.responder);
        TcpServer tcp(io_, holder_, cfg_.responder, cfg_.tcp, (uint64_t{rd()} << 32) | rd());
        for (auto& l : dns) {
            for (int fd : l.udp_fds)
                udp.start(fd, l.wildcard, (uint64_t{rd()} << 32) | rd());
            tcp.listen(l.tcp_fd, l.endpoint.v6);
            spdlog::info("DNS on {} (UDP x{} workers, TCP)", l.endpoint.text(), l.udp_fds.size());
        }
        spdlog::info("HTTP reserved on {}", http.text());

        // Signal handling is in place before the ports file tells anyone we are up.
        boost::asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
        std::function<void(const boost::system::error_code&, int)> on_signal =
            [&](const boost::system::error_code& err, int sig) {
                if (err) return;
                if (sig == SIGHUP) {
                    reload();
                    signals.async_wait(on_signal);
                    return;
                }
                spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                tcp.stop();
                io_.stop();
            };
        signals.async_wait(on_signal);
        if (!cfg_.ports_file.empty() && !write_ports_file(dns, http)) return 2;
        io_.run();
        udp.stop();
        ::close(http_fd);
        spdlog::info("stopped");
        return 0;
    }

  private:
    store::DesiredState load() {
        if (cfg_.apply.empty()) return {};
        return store::load_document(cfg_.apply);
    }

    void publish(store::DesiredState state) {
        // SOA serials of zones that set none follow the clock, and always move forward.
        serial_ = std::max<uint32_t>(serial_ + 1, static_cast<uint32_t>(std::time(nullptr)));
        CompileInput in;
        in.state = &state;
        in.verdicts = &verdicts_;
        in.now_ms = now_ms();
        in.default_serial = serial_;
        in.generation = ++generation_;
        auto snap = compile(in);
        state_ = std::move(state);
        holder_.publish(std::move(snap));
        spdlog::info("serving generation {}: {} zones, {} balancers{}", generation_,
                     state_.zones.size(), state_.balancers.size(),
                     cfg_.apply.empty() ? " (no --apply document)" : " from " + cfg_.apply);
    }

    void reload() {
        if (cfg_.apply.empty()) {
            spdlog::warn("SIGHUP: no --apply document to re-read");
            return;
        }
        try {
            publish(load());
        } catch (const std::exception& e) {
            spdlog::error("reload failed, still serving generation {}: {}", generation_, e.what());
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
    SnapshotHolder holder_;
    health::VerdictTable verdicts_;  // empty until the probe engine: every member unknown
    store::DesiredState state_;
    uint64_t generation_ = 0;
    uint32_t serial_ = 0;
};

}  // namespace
}  // namespace gtm::dns

int main(int argc, char** argv) {
    gtm::dns::ServerConfig cfg;
    if (int code = gtm::dns::parse_command_line(argc, argv, cfg); code >= 0) return code;
    spdlog::set_default_logger(spdlog::stderr_color_mt("gtmd"));  // logs on stderr, never stdout
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    return gtm::dns::Daemon(std::move(cfg)).run();
}
