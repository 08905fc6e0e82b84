#include "healthcheck/prober.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>

#include "healthcheck/asio_wrap.h"
#include "healthcheck/isolation.h"

namespace gtm::health {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr size_t kMaxBody = 64 * 1024;     // expect_body looks at the first 64 KiB
constexpr size_t kFirstRoundRate = 20000;  // first probes started per second, at most
constexpr size_t kShardSize = 256;         // targets per curl multi handle (see Shard)

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct EasyDeleter {
    void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

// One (monitor, address) pair: probed once at a time, whatever the number of pools it serves.
struct Target {
    uint32_t id = 0;
    std::string key;  // monitor name + '\0' + address
    store::Monitor monitor;
    std::string address;
    bool v6 = false;
    std::vector<std::string> pools;
    std::vector<uint32_t> pool_ids;
    TargetHealth health;
    Verdict published = Verdict::Unknown;
    bool suspect = false;  // as last reported through on_suspect
    int64_t next_ms = 0;
    int64_t started_ms = 0;
    bool in_flight = false;
    bool has_result = false;
    bool retired = false;  // configure() dropped it while a probe was in flight

    // HTTP(S): one easy handle for the target's life, so that keep-alive connections are reused;
    // the multi handle (shard) it was last added to.
    CURLM* multi = nullptr;
    std::unique_ptr<CURL, EasyDeleter> easy;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::unique_ptr<curl_slist, SlistDeleter> connect_to;
    std::string body;
    bool body_full = false;
    char errbuf[CURL_ERROR_SIZE] = {};

    // TCP
    std::unique_ptr<tcp::socket> socket;
    std::unique_ptr<asio::steady_timer> deadline;
    bool timed_out = false;
};

struct Prober::Engine {
    Engine(Prober& owner, ProberOptions options)
        : owner(owner),
          options(std::move(options)),
          work(asio::make_work_guard(io)),
          wake(io),
          tick(io),
          rng(std::random_device{}()) {}

    ~Engine() {
        for (auto& t : targets) {
            if (t->easy && t->in_flight && t->multi != nullptr) {
                curl_multi_remove_handle(t->multi, t->easy.get());
            }
        }
        shards.clear();
        targets.clear();
    }

    // ---- libcurl multi, driven by asio readiness (curl owns the fds) ----
    //
    // Targets are spread over several multi handles of at most kShardSize targets each. libcurl
    // 7.88 walks its whole connection cache on every curl_multi_remove_handle once a transfer
    // has left a connection in it (close_connect_only), which is quadratic with one cache for
    // 10,000 kept-alive connections; per shard it is bounded by the shard.

    struct CurlSocket {
        CurlSocket(asio::io_context& io, curl_socket_t fd) : descriptor(io, fd) {}
        asio::posix::stream_descriptor descriptor;
        int want = 0;
        bool reading = false;
        bool writing = false;
    };

    struct Shard {
        explicit Shard(Engine& e) : engine(e), timer(e.io), multi(curl_multi_init()) {
            curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Shard::on_socket);
            curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
            curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Shard::on_timer);
            curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
            // Every target's keep-alive connection stays in the cache: curl's default of 4 per
            // transfer in flight makes a probe evict another target's connection.
            curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(kShardSize + 16));
        }
        ~Shard() {
            timer.cancel();
            for (auto& [fd, s] : sockets) {
                s->descriptor.release();
            }
            sockets.clear();
            curl_multi_cleanup(multi);
        }

        static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
            auto& sh = *static_cast<Shard*>(self);
            if (what == CURL_POLL_REMOVE) {
                auto it = sh.sockets.find(fd);
                if (it != sh.sockets.end()) {
                    it->second->descriptor.release();  // curl closes it, not asio
                    sh.sockets.erase(it);
                }
                return 0;
            }
            auto& s = sh.sockets[fd];
            if (!s) {
                s = std::make_shared<CurlSocket>(sh.engine.io, fd);
            }
            s->want = what;
            sh.arm(fd, s);
            return 0;
        }

        static int on_timer(CURLM*, long timeout_ms, void* self) {
            auto& sh = *static_cast<Shard*>(self);
            if (timeout_ms < 0) {
                sh.timer.cancel();
                return 0;
            }
            sh.timer.expires_after(std::chrono::milliseconds(timeout_ms));
            sh.timer.async_wait([&sh](const boost::system::error_code& ec) {
                if (!ec) {
                    sh.action(CURL_SOCKET_TIMEOUT, 0);
                }
            });
            return 0;
        }

        void arm(curl_socket_t fd, const std::shared_ptr<CurlSocket>& s) {
            if ((s->want & CURL_POLL_IN) != 0 && !s->reading) {
                s->reading = true;
                s->descriptor.async_wait(
                    asio::posix::stream_descriptor::wait_read,
                    [this, fd, w = std::weak_ptr(s)](const boost::system::error_code& ec) {
                        on_ready(fd, w, ec, CURL_CSELECT_IN);
                    });
            }
            if ((s->want & CURL_POLL_OUT) != 0 && !s->writing) {
                s->writing = true;
                s->descriptor.async_wait(
                    asio::posix::stream_descriptor::wait_write,
                    [this, fd, w = std::weak_ptr(s)](const boost::system::error_code& ec) {
                        on_ready(fd, w, ec, CURL_CSELECT_OUT);
                    });
            }
        }

        void on_ready(curl_socket_t fd, const std::weak_ptr<CurlSocket>& weak,
                      const boost::system::error_code& ec, int flag) {
            auto s = weak.lock();
            if (!s) {
                return;  // curl removed the socket meanwhile
            }
            (flag == CURL_CSELECT_IN ? s->reading : s->writing) = false;
            if (ec) {
                return;
            }
            action(fd, flag);
            auto it = sockets.find(fd);
            if (it != sockets.end() && it->second == s) {
                arm(fd, s);
            }
        }

        void action(curl_socket_t fd, int flags) {
            int running = 0;
            curl_multi_socket_action(multi, fd, flags, &running);
            int left = 0;
            while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
                if (m->msg != CURLMSG_DONE) {
                    continue;
                }
                Target* t = nullptr;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
                const CURLcode rc = m->data.result;
                curl_multi_remove_handle(multi, m->easy_handle);
                engine.http_done(*t, rc);
            }
        }

        Engine& engine;
        asio::steady_timer timer;
        CURLM* multi;
        std::unordered_map<curl_socket_t, std::shared_ptr<CurlSocket>> sockets;
    };

    // ---- probes ----

    static size_t on_body(char* data, size_t size, size_t n, void* userp) {
        auto& t = *static_cast<Target*>(userp);
        const size_t len = size * n;
        const size_t room = kMaxBody - t.body.size();
        t.body.append(data, std::min(len, room));
        if (len > room) {
            t.body_full = true;
            return 0;  // enough: ends the transfer (CURLE_WRITE_ERROR, not a failure)
        }
        return len;
    }

    void setup_http(Target& t) {
        const store::Monitor& m = t.monitor;
        t.easy.reset(curl_easy_init());
        CURL* e = t.easy.get();
        const bool https = m.type == store::MonitorType::Https;
        const std::string literal = t.v6 ? "[" + t.address + "]" : t.address;
        const std::string port = std::to_string(m.port);
        const std::string host = m.host.empty() ? literal : m.host;
        const std::string url =
            std::string(https ? "https://" : "http://") + host + ":" + port + m.path;
        if (!m.host.empty()) {
            // Connect to the member while the URL (Host header, SNI, certificate name) names the
            // service.
            t.connect_to.reset(curl_slist_append(
                nullptr, (m.host + ":" + port + ":" + literal + ":" + port).c_str()));
            curl_easy_setopt(e, CURLOPT_CONNECT_TO, t.connect_to.get());
        }
        for (const auto& [k, v] : m.headers) {
            t.headers.reset(curl_slist_append(t.headers.release(), (k + ": " + v).c_str()));
        }
        curl_easy_setopt(e, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(m.timeout_ms));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m.timeout_ms));
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Engine::on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "gtmd-probe/0.1");
        // Members are IP literals: nothing to expire, and an expiring cache makes curl walk all
        // of its entries on every probe (quadratic in the number of targets).
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, -1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        if (t.headers) {
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get());
        }
        if (m.method == "HEAD") {
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        } else if (m.method == "POST") {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        } else if (m.method != "GET") {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.method.c_str());
        }
        if (https) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, m.tls_verify ? 1L : 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, m.tls_verify ? 2L : 0L);
            if (!m.ca_file.empty()) {
                curl_easy_setopt(e, CURLOPT_CAINFO, m.ca_file.c_str());
            }
        }
    }

    void launch(const std::shared_ptr<Target>& t) {
        t->in_flight = true;
        t->started_ms = now_ms();
        owner.probes_started_.fetch_add(1, std::memory_order_relaxed);
        if (t->monitor.type == store::MonitorType::Tcp) {
            launch_tcp(t);
            return;
        }
        if (!t->easy) {
            setup_http(*t);
        }
        t->body.clear();
        t->body_full = false;
        t->errbuf[0] = 0;
        t->multi = shards[t->id % shards.size()]->multi;
        if (curl_multi_add_handle(t->multi, t->easy.get()) != CURLM_OK) {
            ProbeResult r;
            r.reason = Reason::Internal;
            r.detail = "curl_multi_add_handle failed";
            finish(*t, std::move(r));
        }
    }

    void http_done(Target& t, CURLcode rc) {
        ProbeResult r;
        r.started_ms = t.started_ms;
        curl_off_t total_us = 0;
        curl_easy_getinfo(t.easy.get(), CURLINFO_TOTAL_TIME_T, &total_us);
        r.latency_ms = static_cast<uint32_t>(total_us / 1000);
        long status = 0;
        curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
        r.http_status = static_cast<int>(status);
        if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t.body_full)) {
            const store::Monitor& m = t.monitor;
            const bool status_ok = std::any_of(
                m.expect_status.begin(), m.expect_status.end(),
                [&](const store::StatusRange& s) { return status >= s.from && status <= s.to; });
            if (!status_ok) {
                r.reason = Reason::Status;
                r.detail = "HTTP " + std::to_string(status);
            } else if (!m.expect_body.empty() && t.body.find(m.expect_body) == std::string::npos) {
                r.reason = Reason::Body;
                r.detail = "'" + m.expect_body + "' not in the first " +
                           std::to_string(t.body.size()) + " bytes";
            }
        } else {
            r.reason = classify(t, rc);
            r.detail = t.errbuf[0] != 0 ? t.errbuf : curl_easy_strerror(rc);
        }
        finish(t, std::move(r));
    }

    static Reason classify(Target& t, CURLcode rc) {
        switch (rc) {
            case CURLE_COULDNT_CONNECT: {
                long os_errno = 0;
                curl_easy_getinfo(t.easy.get(), CURLINFO_OS_ERRNO, &os_errno);
                if (os_errno == ECONNRESET) {
                    return Reason::Reset;  // accepted, then reset at once
                }
                return os_errno == ECONNREFUSED ? Reason::ConnectRefused : Reason::ConnectError;
            }
            case CURLE_OPERATION_TIMEDOUT: {
                curl_off_t connect_us = 0;
                curl_easy_getinfo(t.easy.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
                return connect_us == 0 ? Reason::ConnectTimeout : Reason::Timeout;
            }
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CERTPROBLEM:
            case CURLE_SSL_CIPHER:
            case CURLE_SSL_CACERT_BADFILE:
            case CURLE_SSL_ISSUER_ERROR:
            case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            case CURLE_SSL_INVALIDCERTSTATUS:
            case CURLE_SSL_CRL_BADFILE:
            case CURLE_USE_SSL_FAILED:
                return Reason::Tls;
            case CURLE_RECV_ERROR:
            case CURLE_SEND_ERROR:
            case CURLE_GOT_NOTHING:
            case CURLE_PARTIAL_FILE:
                return Reason::Reset;
            case CURLE_WEIRD_SERVER_REPLY:
            case CURLE_UNSUPPORTED_PROTOCOL:
            case CURLE_HTTP2:
            case CURLE_BAD_CONTENT_ENCODING:
                return Reason::Protocol;
            default:
                return Reason::Internal;
        }
    }

    void launch_tcp(const std::shared_ptr<Target>& t) {
        boost::system::error_code ec;
        const auto addr = asio::ip::make_address(t->address, ec);
        if (ec) {
            ProbeResult r;
            r.reason = Reason::Internal;
            r.detail = ec.message();
            finish(*t, std::move(r));
            return;
        }
        t->socket = std::make_unique<tcp::socket>(io);
        t->deadline = std::make_unique<asio::steady_timer>(io);
        t->timed_out = false;
        t->deadline->expires_after(std::chrono::milliseconds(t->monitor.timeout_ms));
        t->deadline->async_wait([t](const boost::system::error_code& e) {
            if (e || !t->socket) {
                return;
            }
            t->timed_out = true;
            boost::system::error_code ignored;
            t->socket->close(ignored);  // the connect handler sees operation_aborted
        });
        t->socket->async_connect(tcp::endpoint(addr, t->monitor.port),
                                 [this, t](const boost::system::error_code& e) {
                                     t->deadline->cancel();
                                     ProbeResult r;
                                     r.started_ms = t->started_ms;
                                     r.latency_ms = static_cast<uint32_t>(now_ms() - t->started_ms);
                                     if (t->timed_out) {
                                         r.reason = Reason::ConnectTimeout;
                                         r.detail = "no answer to the connect within the timeout";
                                     } else if (e == asio::error::connection_refused) {
                                         r.reason = Reason::ConnectRefused;
                                         r.detail = e.message();
                                     } else if (e) {
                                         r.reason = Reason::ConnectError;
                                         r.detail = e.message();
                                     }
                                     boost::system::error_code ignored;
                                     t->socket->close(ignored);
                                     finish(*t, std::move(r));
                                 });
    }

    // ---- verdicts ----

    Hysteresis hysteresis(const Target& t) const {
        return {t.monitor.rise, t.monitor.fall, t.monitor.hold_down_ms};
    }

    void finish(Target& t, ProbeResult r) {
        t.in_flight = false;
        if (t.retired || stopping) {
            return;
        }
        const int64_t now = now_ms();
        r.started_ms = t.started_ms;
        const bool ok = r.ok();
        const Verdict from = t.health.verdict();
        t.health.record(r, hysteresis(t), now);
        publish(guard.on_result(t.id, ok, from, t.health.verdict(), now), now);
        // Suspicion: up (as published and as probed), with a failure being confirmed. Not while
        // the isolation guard suspects our own network: failing probes then say nothing.
        const bool suspect = !guard.isolated() && t.published == Verdict::Up &&
                             t.health.verdict() == Verdict::Up && t.health.confirming_failure();
        if (suspect != t.suspect) {
            t.suspect = suspect;
            if (options.on_suspect) {
                options.on_suspect({SuspectChange{t.address, t.pools, suspect}});
            }
        }

        const bool first = !t.has_result;
        double u = std::uniform_real_distribution<double>(0, 1)(rng);
        if (first) {
            // From the second probe on, targets spread evenly over the interval.
            t.next_ms = std::max(
                now, t.started_ms + static_cast<int64_t>(t.monitor.interval_ms * (0.5 + u)));
            t.has_result = true;
            std::lock_guard lock(first_mu);
            if (first_pending > 0 && --first_pending == 0 && configs_in_flight == 0) {
                first_cv.notify_all();
            }
        } else {
            t.next_ms = next_probe_ms(t.started_ms, now, t.monitor.interval_ms,
                                      t.health.confirming_failure(), u);
        }
        queue.push({t.next_ms, targets[t.id]});
        rearm();
    }

    void publish(const GuardOutput& g, int64_t now) {
        for (const auto& [id, v] : g.reset_raw) {
            targets[id]->health.force(v, now);
        }
        std::vector<VerdictChange> changes;
        for (const auto& [id, v] : g.publish) {
            Target& t = *targets[id];
            if (t.published == v) {
                continue;
            }
            VerdictChange c;
            c.monitor = t.monitor.name;
            c.address = t.address;
            c.pools = t.pools;
            c.from = t.published;
            c.to = v;
            if (const ProbeResult* last = t.health.last()) {
                c.evidence = *last;
            }
            c.at_ms = now;
            t.published = v;
            if (c.from != Verdict::Unknown || v == Verdict::Down) {
                spdlog::info("{} {} [{}]: {} -> {} ({}{})", t.monitor.name, t.address, fmt_pools(t),
                             to_string(c.from), to_string(v), to_string(c.evidence.reason),
                             c.evidence.detail.empty() ? "" : ": " + c.evidence.detail);
            }
            changes.push_back(std::move(c));
        }
        if (g.entered) {
            owner.isolated_.store(true);
            clear_suspicion();
            spdlog::warn(
                "isolation guard: {} of {} monitored targets across several pools went down "
                "at once; keeping their last verdicts for up to {} s (suspecting our own network)",
                guard.held(), targets.size(), options.isolation_hold_ms / 1000);
            if (options.on_isolation) {
                options.on_isolation(true);
            }
        }
        if (g.left) {
            owner.isolated_.store(false);
            spdlog::warn("isolation guard: released");
            if (options.on_isolation) {
                options.on_isolation(false);
            }
        }
        if (!changes.empty() && options.on_change) {
            options.on_change(std::move(changes));
        }
    }

    // Entering isolation: the suspicion raised by the failures of the wave is withdrawn too.
    void clear_suspicion() {
        std::vector<SuspectChange> cleared;
        for (const auto& t : targets) {
            if (t && t->suspect) {
                t->suspect = false;
                cleared.push_back({t->address, t->pools, false});
            }
        }
        if (!cleared.empty() && options.on_suspect) {
            options.on_suspect(std::move(cleared));
        }
    }

    static std::string fmt_pools(const Target& t) {
        std::string s;
        for (const auto& p : t.pools) {
            s += (s.empty() ? "" : ",") + p;
        }
        return s;
    }

    // ---- scheduling ----

    struct Due {
        int64_t at_ms;
        std::shared_ptr<Target> target;
        bool operator>(const Due& o) const { return at_ms > o.at_ms; }
    };

    void rearm() {
        if (queue.empty() || stopping) {
            return;
        }
        const int64_t at = queue.top().at_ms;
        if (armed && armed_at <= at) {
            return;
        }
        armed = true;
        armed_at = at;
        wake.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(at)));
        wake.async_wait([this](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) {
                return;
            }
            armed = false;
            run_due();
        });
    }

    void run_due() {
        const int64_t now = now_ms();
        while (!queue.empty() && queue.top().at_ms <= now) {
            Due d = queue.top();
            queue.pop();
            Target& t = *d.target;
            if (t.retired || t.in_flight || t.next_ms != d.at_ms) {
                continue;  // stale entry
            }
            launch(d.target);
        }
        rearm();
    }

    void on_tick() {
        tick.expires_after(std::chrono::seconds(1));
        tick.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            publish(guard.tick(now_ms()), now_ms());
            on_tick();
        });
    }

    // ---- configuration ----

    void apply(const store::DesiredState& state) {
        std::map<std::string, const store::Monitor*> monitors;
        for (const auto& m : state.monitors) {
            monitors[m.name] = &m;
        }
        std::map<std::string, std::shared_ptr<Target>> old;
        for (auto& t : targets) {
            old[t->key] = t;
        }
        std::map<std::string, std::shared_ptr<Target>> next;
        std::map<std::string, uint32_t> pool_ids;
        for (const auto& p : state.pools) {
            if (p.monitor.empty()) {
                continue;
            }
            const store::Monitor& m = *monitors.at(p.monitor);
            const uint32_t pool_id =
                static_cast<uint32_t>(pool_ids.emplace(p.name, pool_ids.size()).first->second);
            for (const auto& member : p.members) {
                const std::string key = m.name + '\0' + member.address;
                auto& t = next[key];
                if (!t) {
                    auto it = old.find(key);
                    if (it != old.end() && same_probe(it->second->monitor, m)) {
                        t = it->second;
                        old.erase(it);
                    } else {
                        t = std::make_shared<Target>();
                        t->key = key;
                        t->address = member.address;
                        t->v6 = member.address.find(':') != std::string::npos;
                        if (it != old.end()) {  // the monitor changed: keep the verdict, new probe
                            t->health = it->second->health;
                            t->published = it->second->published;
                        } else if (auto r = restored.find(key); r != restored.end()) {
                            t->health.force(r->second, now_ms());
                            t->published = r->second;
                        }
                    }
                    t->monitor = m;
                    t->pools.clear();
                    t->pool_ids.clear();
                }
                t->pools.push_back(p.name);
                t->pool_ids.push_back(pool_id);
            }
        }
        for (auto& [key, t] : old) {
            t->retired = true;  // an in-flight TCP probe ends quietly; HTTP ones are aborted now
            if (t->in_flight && t->easy) {
                curl_multi_remove_handle(t->multi, t->easy.get());
                t->in_flight = false;
            }
        }
        // Targets that stay keep their place in the isolation guard's memory.
        std::vector<int64_t> old_to_new(targets.size(), -1);
        std::map<const Target*, uint32_t> old_id;
        for (const auto& t : targets) {
            old_id[t.get()] = t->id;
        }
        targets.clear();
        queue = {};
        const int64_t now = now_ms();
        uint32_t window = 0;
        size_t pending = 0;
        std::vector<std::vector<uint32_t>> pools_of;
        for (auto& [key, t] : next) {
            if (auto o = old_id.find(t.get()); o != old_id.end() && o->second < old_to_new.size()) {
                old_to_new[o->second] = static_cast<int64_t>(targets.size());
            }
            t->id = static_cast<uint32_t>(targets.size());
            pools_of.push_back(t->pool_ids);
            const store::Monitor& m = t->monitor;
            // A mass failure shows up within one interval: every member is probed once in it.
            window = std::max(window, m.interval_ms + m.interval_ms / 10);
            if (!t->has_result) {
                // New targets start at once, spread so that at most kFirstRoundRate of them
                // start per second (and at least over 200 ms): 10,000 members launched in the
                // same instant would all queue behind each other and time out together.
                const double u = std::uniform_real_distribution<double>(0, 1)(rng);
                const size_t spread_ms = std::min<size_t>(
                    m.interval_ms / 2, std::max<size_t>(200, next.size() * 1000 / kFirstRoundRate));
                t->next_ms = now + static_cast<int64_t>(u * static_cast<double>(spread_ms));
                ++pending;
            }
            if (!t->in_flight) {
                queue.push({t->next_ms, t});
            }
            targets.push_back(t);
        }
        guard.reconfigure(std::move(pools_of), window, options.isolation_hold_ms, old_to_new);
        // Shards are added as the targets grow, never removed (transfers may be in flight).
        while (shards.size() * kShardSize < targets.size() || shards.empty()) {
            shards.push_back(std::make_unique<Shard>(*this));
        }
        {
            // The targets of this configuration still waiting for their first result; a round
            // is over when the last configuration posted has been applied and they all answered.
            std::lock_guard lock(first_mu);
            first_pending = pending;
            --configs_in_flight;
            if (pending == 0 && configs_in_flight == 0) {
                first_cv.notify_all();
            }
        }
        armed = false;
        wake.cancel();
        rearm();
    }

    static bool same_probe(const store::Monitor& a, const store::Monitor& b) {
        return a.type == b.type && a.port == b.port && a.path == b.path && a.host == b.host &&
               a.method == b.method && a.headers == b.headers && a.tls_verify == b.tls_verify &&
               a.ca_file == b.ca_file && a.timeout_ms == b.timeout_ms;
    }

    std::vector<TargetStatus> snapshot_status() const {
        std::vector<TargetStatus> out;
        for (const auto& t : targets) {
            TargetStatus s;
            s.monitor = t->monitor.name;
            s.address = t->address;
            s.pools = t->pools;
            s.verdict = t->published;
            s.raw = t->health.verdict();
            s.last_change_ms = t->health.last_change_ms();
            s.recent = t->health.recent();
            out.push_back(std::move(s));
        }
        return out;
    }

    Prober& owner;
    ProberOptions options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    std::vector<std::unique_ptr<Shard>> shards;
    asio::steady_timer wake;
    asio::steady_timer tick;
    bool armed = false;
    int64_t armed_at = 0;
    bool stopping = false;
    std::vector<std::shared_ptr<Target>> targets;
    std::map<std::string, Verdict> restored;  // monitor + '\0' + address
    std::priority_queue<Due, std::vector<Due>, std::greater<>> queue;
    IsolationGuard guard;
    std::mt19937_64 rng;
    std::thread thread;
    std::mutex first_mu;
    std::condition_variable first_cv;
    size_t first_pending = 0;
    size_t configs_in_flight = 0;  // configure() calls posted, not yet applied
};

Prober::Prober(ProberOptions options)
    : engine_(std::make_unique<Engine>(*this, std::move(options))) {}

Prober::~Prober() { stop(); }

void Prober::start() {
    Engine& e = *engine_;
    asio::post(e.io, [&e] { e.on_tick(); });
    e.thread = std::thread([&e] { e.io.run(); });
}

void Prober::stop() {
    Engine& e = *engine_;
    if (!e.thread.joinable()) {
        return;
    }
    asio::post(e.io, [&e] {
        e.stopping = true;
        e.wake.cancel();
        e.tick.cancel();
        for (auto& sh : e.shards) {
            sh->timer.cancel();
        }
        for (auto& t : e.targets) {
            if (t->socket) {
                boost::system::error_code ignored;
                t->socket->close(ignored);
            }
        }
        e.work.reset();
        e.io.stop();
    });
    e.thread.join();
}

void Prober::configure(const store::DesiredState& state) {
    auto copy = std::make_shared<store::DesiredState>();
    copy->monitors = state.monitors;
    copy->pools = state.pools;
    Engine& e = *engine_;
    {
        // Counted before the post so that wait_first_round() right after waits for this round.
        std::lock_guard lock(e.first_mu);
        ++e.configs_in_flight;
    }
    asio::post(e.io, [&e, copy] { e.apply(*copy); });
}

void Prober::restore(std::vector<Restored> verdicts) {
    Engine& e = *engine_;
    asio::post(e.io, [&e, verdicts = std::move(verdicts)] {
        for (const auto& r : verdicts) {
            e.restored[r.monitor + '\0' + r.address] = r.verdict;
        }
    });
}

bool Prober::wait_first_round(uint32_t max_wait_ms) {
    Engine& e = *engine_;
    std::unique_lock lock(e.first_mu);
    return e.first_cv.wait_for(lock, std::chrono::milliseconds(max_wait_ms),
                               [&e] { return e.first_pending == 0 && e.configs_in_flight == 0; });
}

std::optional<std::vector<TargetStatus>> Prober::status() {
    Engine& e = *engine_;
    if (!e.thread.joinable()) {
        return e.snapshot_status();
    }
    auto p = std::make_shared<std::promise<std::vector<TargetStatus>>>();
    auto f = p->get_future();
    asio::post(e.io, [&e, p] { p->set_value(e.snapshot_status()); });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        return std::nullopt;
    }
    return f.get();
}

}  // namespace gtm::health
