// The etcd client against a real 3-member etcd on 127.0.0.1 that this program starts (fork/exec
// /usr/bin/etcd, OS-free ports, data in a temporary folder) and kills at the end, also when a
// check fails (every member gets PR_SET_PDEATHSIG, so even a crash of this program ends them).
// The cases run in file order and share the cluster; each leaves all three members running.
#define DOCTEST_CONFIG_IMPLEMENT
#include "store/etcd_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace gtm::store::etcd;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr int kMembers = 3;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Polls `done` every 10 ms until it holds or `timeout` passed.
bool wait_until(const std::function<bool()>& done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        throw std::runtime_error("no free port");
    }
    close(fd);
    return ntohs(a.sin_port);
}

// Three etcd members on 127.0.0.1. Started on first use from the main thread (the parent-death
// signal follows the thread that forked), killed by the destructor.
class Cluster {
  public:
    Cluster() {
        char tmpl[] = "/tmp/gtm-etcd-test-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = tmpl;
        std::set<int> ports;
        while (ports.size() < 2 * kMembers) {
            ports.insert(free_port());
        }
        auto it = ports.begin();
        for (int i = 0; i < kMembers; ++i) {
            client_port_[i] = *it++;
            peer_port_[i] = *it++;
        }
        for (int i = 0; i < kMembers; ++i) {
            start(i);
        }
    }

    ~Cluster() {
        for (int i = 0; i < kMembers; ++i) {
            kill(i);
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string url(int i) const { return "http://127.0.0.1:" + std::to_string(client_port_[i]); }

    ClientOptions options(std::vector<int> order = {0, 1, 2}) const {
        ClientOptions o;
        for (int i : order) {
            o.endpoints.push_back(url(i));
        }
        return o;
    }

    void start(int i) {
        std::string initial;
        for (int k = 0; k < kMembers; ++k) {
            initial += (k ? "," : "") + name(k) + "=" + peer(k);
        }
        const std::vector<std::string> args = {
            kEtcd,
            "--name=" + name(i),
            "--data-dir=" + dir_ + "/" + name(i) + ".etcd",
            "--listen-client-urls=" + url(i),
            "--advertise-client-urls=" + url(i),
            "--listen-peer-urls=" + peer(i),
            "--initial-advertise-peer-urls=" + peer(i),
            "--initial-cluster=" + initial,
            "--initial-cluster-token=gtm-etcd-test",
            "--initial-cluster-state=new",
            "--experimental-watch-progress-notify-interval=1s",
            "--logger=zap",
            "--log-level=warn",
        };
        const std::string log = dir_ + "/" + name(i) + ".log";
        const pid_t pid = fork();
        if (pid < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            dup2(fd, 1);
            dup2(fd, 2);
            std::vector<char*> argv;
            for (const auto& a : args) {
                argv.push_back(const_cast<char*>(a.c_str()));
            }
            argv.push_back(nullptr);
            if (getppid() == 1) {  // the parent died before prctl
                _exit(1);
            }
            execv(kEtcd, argv.data());
            _exit(127);
        }
        pid_[i] = pid;
    }

    void kill(int i) {
        if (pid_[i] > 0) {
            ::kill(pid_[i], SIGKILL);
            waitpid(pid_[i], nullptr, 0);
            pid_[i] = 0;
        }
    }

    bool running(int i) const { return pid_[i] > 0; }

    // Every running member answers and knows a leader.
    bool ready() {
        Client c(options());
        for (int i = 0; i < kMembers; ++i) {
            if (!running(i)) {
                continue;
            }
            try {
                if (c.status(url(i)).leader == 0) {
                    return false;
                }
            } catch (const EtcdError&) {
                return false;
            }
        }
        return true;
    }

    int leader() {
        Client c(options());
        for (int i = 0; i < kMembers; ++i) {
            const MemberStatus s = c.status(url(i));
            if (s.leader == s.member_id) {
                return i;
            }
        }
        return -1;
    }

    void dump_logs() const {
        for (int i = 0; i < kMembers; ++i) {
            std::ifstream f(dir_ + "/" + name(i) + ".log");
            std::stringstream s;
            s << f.rdbuf();
            const std::string text = s.str();
            std::fprintf(stderr, "--- %s log (tail)\n%s\n", name(i).c_str(),
                         text.substr(text.size() > 3000 ? text.size() - 3000 : 0).c_str());
        }
    }

  private:
    static std::string name(int i) { return "m" + std::to_string(i); }
    std::string peer(int i) const { return "http://127.0.0.1:" + std::to_string(peer_port_[i]); }

    std::string dir_;
    std::array<int, kMembers> client_port_{};
    std::array<int, kMembers> peer_port_{};
    std::array<pid_t, kMembers> pid_{};
};

std::unique_ptr<Cluster> g_cluster;

// Started on first use; main() kills it, whatever happened.
Cluster& cluster() {
    if (!g_cluster) {
        g_cluster = std::make_unique<Cluster>();
        if (!wait_until([] { return g_cluster->ready(); }, milliseconds(20000))) {
            throw std::runtime_error("the etcd cluster did not come up in 20 s");
        }
    }
    return *g_cluster;
}

// What a Watch handed over, with arrival times; waited on with deadlines.
struct Collector {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Event> events;
    std::vector<Clock::time_point> arrived;  // per event
    std::vector<int64_t> batch_revisions;
    std::vector<Client::Range> resyncs;
    std::vector<std::pair<bool, Clock::time_point>> states;

    Watch::Callbacks callbacks() {
        Watch::Callbacks c;
        c.on_events = [this](const std::vector<Event>& evs, int64_t revision) {
            std::lock_guard lock(mu);
            for (const auto& e : evs) {
                events.push_back(e);
                arrived.push_back(Clock::now());
            }
            batch_revisions.push_back(revision);
            cv.notify_all();
        };
        c.on_resync = [this](const Client::Range& r) {
            std::lock_guard lock(mu);
            resyncs.push_back(r);
            cv.notify_all();
        };
        c.on_state = [this](bool up) {
            std::lock_guard lock(mu);
            states.emplace_back(up, Clock::now());
            cv.notify_all();
        };
        return c;
    }

    bool wait(const std::function<bool()>& done, milliseconds timeout) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, timeout, done);
    }

    size_t event_count() {
        std::lock_guard lock(mu);
        return events.size();
    }
};

bool has_event(const Collector& c, const std::string& key, Event::Type type) {
    return std::any_of(c.events.begin(), c.events.end(),
                       [&](const Event& e) { return e.kv.key == key && e.type == type; });
}

// A raw POST for what the client does not offer (auth administration).
std::pair<long, nlohmann::json> post(const std::string& url, const std::string& body,
                                     const std::string& token = "") {
    CURL* h = curl_easy_init();
    std::string out;
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!token.empty()) {
        headers = curl_slist_append(headers, ("Authorization: " + token).c_str());
    }
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(
        h, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* o) {
            static_cast<std::string*>(o)->append(d, s * n);
            return s * n;
        });
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return {status, nlohmann::json::parse(out, nullptr, false)};
}

// Runs `f` and returns the EtcdError it threw; fails the case when it threw none.
template <class F>
EtcdError error_of(F&& f) {
    try {
        f();
    } catch (const EtcdError& e) {
        return e;
    }
    FAIL("no EtcdError thrown");
    return EtcdError(EtcdError::Kind::Other, 0, 0, "none");
}

}  // namespace

TEST_CASE("base64 round-trips every byte and prefix_end bumps the last byte below 0xff") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode(std::string(1, '\0')) == "AA==");
    std::string all;
    for (int c = 0; c < 256; ++c) {
        all += static_cast<char>(c);
    }
    CHECK(base64_decode(base64_encode(all)) == all);
    CHECK(base64_decode(base64_encode(all.substr(1))) == all.substr(1));
    CHECK_THROWS_AS(base64_decode("Zg="), std::invalid_argument);
    CHECK_THROWS_AS(base64_decode("Z?=="), std::invalid_argument);
    CHECK(prefix_end("gtm/config/") == "gtm/config0");
    CHECK(prefix_end(std::string("a\xff", 2)) == "b");
    CHECK(prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("put, range of one key, of a prefix, with options, at an older revision") {
    Client c(cluster().options());
    const int64_t r1 = c.put("t/kv/a", "1");
    CHECK(r1 > 0);
    auto one = c.range("t/kv/a");
    REQUIRE(one.kvs.size() == 1);
    CHECK(one.kvs[0].value == "1");
    CHECK(one.kvs[0].create_revision == r1);
    CHECK(one.kvs[0].mod_revision == r1);
    CHECK(one.kvs[0].version == 1);
    CHECK(one.count == 1);
    CHECK(one.revision >= r1);

    const std::string binary("\0\xff\n{\"x\"}", 8);
    const int64_t r2 = c.put("t/kv/b", binary);
    CHECK(r2 > r1);
    CHECK(c.range("t/kv/b").kvs.at(0).value == binary);
    c.put("t/kv/c", "3");
    c.put("t/kv/a", "1b");

    const auto missing = c.range("t/kv/nothing");
    CHECK(missing.kvs.empty());
    CHECK(missing.count == 0);
    CHECK(missing.revision > 0);

    const std::string end = prefix_end("t/kv/");
    const auto all = c.range("t/kv/", end);
    REQUIRE(all.kvs.size() == 3);
    CHECK(all.kvs[0].key == "t/kv/a");
    CHECK(all.kvs[0].value == "1b");
    CHECK(all.kvs[0].version == 2);
    CHECK(all.kvs[2].key == "t/kv/c");
    CHECK(all.count == 3);

    RangeOptions limited;
    limited.limit = 2;
    const auto two = c.range("t/kv/", end, limited);
    CHECK(two.kvs.size() == 2);
    CHECK(two.count == 3);
    CHECK(two.more);

    RangeOptions keys;
    keys.keys_only = true;
    const auto k = c.range("t/kv/", end, keys);
    REQUIRE(k.kvs.size() == 3);
    CHECK(k.kvs[1].key == "t/kv/b");
    CHECK(k.kvs[1].value.empty());

    RangeOptions counted;
    counted.count_only = true;
    const auto n = c.range("t/kv/", end, counted);
    CHECK(n.kvs.empty());
    CHECK(n.count == 3);

    RangeOptions by_create;
    by_create.sort_target = RangeOptions::SortTarget::Create;
    by_create.sort_order = RangeOptions::SortOrder::Descend;
    const auto sorted = c.range("t/kv/", end, by_create);
    REQUIRE(sorted.kvs.size() == 3);
    CHECK(sorted.kvs[0].key == "t/kv/c");
    CHECK(sorted.kvs[2].key == "t/kv/a");

    RangeOptions newer;
    newer.min_create_revision = r2;
    CHECK(c.range("t/kv/", end, newer).kvs.size() == 2);

    RangeOptions local;
    local.serializable = true;
    CHECK(c.range("t/kv/", end, local).count == 3);

    RangeOptions old;
    old.revision = r1;
    const auto then = c.range("t/kv/a", "", old);
    REQUIRE(then.kvs.size() == 1);
    CHECK(then.kvs[0].value == "1");

    RangeOptions future;
    future.revision = all.revision + 1000;
    CHECK(error_of([&] { c.range("t/kv/a", "", future); }).kind() == EtcdError::Kind::Invalid);
    CHECK(error_of([&] { c.put("", "x"); }).kind() == EtcdError::Kind::Invalid);
}

TEST_CASE("txn compare-and-swap: success, stale revision fails and returns the current value") {
    Client c(cluster().options({1, 2, 0}));
    const int64_t rev = c.put("t/txn/config", "v1");

    const TxnResult ok = c.txn({Compare::mod("t/txn/config", Compare::Result::Equal, rev)},
                               {Op::put("t/txn/config", "v2")}, {Op::get("t/txn/config")});
    CHECK(ok.succeeded);
    CHECK(ok.revision > rev);
    REQUIRE(ok.responses.size() == 1);
    CHECK(ok.responses[0].type == Op::Type::Put);

    // A writer that still holds `rev` loses, and learns the current value in the same reply.
    const TxnResult stale = c.txn({Compare::mod("t/txn/config", Compare::Result::Equal, rev)},
                                  {Op::put("t/txn/config", "v3")}, {Op::get("t/txn/config")});
    CHECK_FALSE(stale.succeeded);
    CHECK(stale.revision == ok.revision);
    REQUIRE(stale.responses.size() == 1);
    CHECK(stale.responses[0].type == Op::Type::Range);
    REQUIRE(stale.responses[0].kvs.size() == 1);
    CHECK(stale.responses[0].kvs[0].value == "v2");
    CHECK(stale.responses[0].kvs[0].mod_revision == ok.revision);
    CHECK(c.range("t/txn/config").kvs.at(0).value == "v2");

    // Create if absent: the first wins, the second finds the key.
    const TxnResult created = c.txn({Compare::absent("t/txn/lock")}, {Op::put("t/txn/lock", "a")});
    CHECK(created.succeeded);
    const TxnResult again = c.txn({Compare::absent("t/txn/lock")}, {Op::put("t/txn/lock", "b")});
    CHECK_FALSE(again.succeeded);
    CHECK(again.responses.empty());

    // Value and version compares, several ops, prev_kv on put and delete.
    const TxnResult multi =
        c.txn({Compare::value_is("t/txn/lock", Compare::Result::Equal, "a"),
               Compare::version("t/txn/config", Compare::Result::Greater, 1)},
              {Op::put("t/txn/lock", "c", 0, true), Op::del("t/txn/config", "", true),
               Op::get("t/txn/", prefix_end("t/txn/"))});
    CHECK(multi.succeeded);
    REQUIRE(multi.responses.size() == 3);
    REQUIRE(multi.responses[0].kvs.size() == 1);
    CHECK(multi.responses[0].kvs[0].value == "a");
    CHECK(multi.responses[1].count == 1);
    REQUIRE(multi.responses[1].kvs.size() == 1);
    CHECK(multi.responses[1].kvs[0].value == "v2");
    REQUIRE(multi.responses[2].kvs.size() == 1);
    CHECK(multi.responses[2].kvs[0].value == "c");
}

TEST_CASE("delete_range removes one key or a whole prefix and hands back what it removed") {
    Client c(cluster().options());
    for (const char* k : {"t/del/a", "t/del/b", "t/del/c"}) {
        c.put(k, k);
    }
    const auto one = c.delete_range("t/del/a");
    CHECK(one.count == 1);
    CHECK(one.revision > 0);
    CHECK(c.range("t/del/a").kvs.empty());
    CHECK(c.delete_range("t/del/a").count == 0);

    const auto rest = c.delete_range("t/del/", prefix_end("t/del/"), true);
    CHECK(rest.count == 2);
    REQUIRE(rest.prev_kvs.size() == 2);
    CHECK(rest.prev_kvs[0].value == "t/del/b");
    CHECK(c.range("t/del/", prefix_end("t/del/")).count == 0);
}

TEST_CASE("a lease keeps its keys while kept alive; they vanish about a TTL after it stops") {
    Client c(cluster().options({2, 0, 1}));
    const int64_t lease = c.lease_grant(2);
    CHECK(lease != 0);
    c.put("t/lease/vote", "up", lease);
    CHECK(c.range("t/lease/vote").kvs.at(0).lease == lease);

    // 3 s of keepalives, longer than the TTL.
    const auto begin = Clock::now();
    while (Clock::now() - begin < milliseconds(3000)) {
        CHECK(c.lease_keepalive(lease) == 2);
        std::this_thread::sleep_for(milliseconds(500));
    }
    CHECK(c.range("t/lease/vote").kvs.size() == 1);
    CHECK(c.lease_keepalive(lease) == 2);
    const auto last_keepalive = Clock::now();

    REQUIRE(wait_until([&] { return c.range("t/lease/vote").kvs.empty(); }, milliseconds(8000)));
    const double gone_ms = ms_since(last_keepalive);
    MESSAGE("lease TTL 2 s: key gone " << gone_ms << " ms after the last keepalive");
    CHECK(gone_ms > 1500);
    CHECK(gone_ms < 5000);
    CHECK(c.lease_keepalive(lease) == 0);  // gone: grant a new one
    CHECK_FALSE(c.lease_revoke(lease));

    const int64_t other = c.lease_grant(30);
    c.put("t/lease/other", "x", other);
    CHECK(c.lease_revoke(other));
    CHECK(c.range("t/lease/other").kvs.empty());
    CHECK(c.lease_keepalive(other) == 0);

    const int64_t chosen = c.lease_grant(10, 7000);
    CHECK(chosen == 7000);
    CHECK(c.lease_revoke(chosen));
}

TEST_CASE("a watch on one member delivers puts and deletes made through another, in order") {
    Client writer(cluster().options({0}));
    const int64_t from = writer.range("t/w/").revision + 1;
    Collector got;
    Watch watch(cluster().options({2}), "t/w/", prefix_end("t/w/"), from, got.callbacks());

    const int kPuts = 200;
    std::vector<double> delays;
    for (int i = 0; i < kPuts; ++i) {
        const std::string key = "t/w/" + std::to_string(i % 10);
        const auto start = Clock::now();
        writer.put(key, std::to_string(i));
        REQUIRE(got.wait([&] { return got.events.size() == static_cast<size_t>(i + 1); },
                         milliseconds(3000)));
        std::lock_guard lock(got.mu);
        delays.push_back(
            std::chrono::duration<double, std::milli>(got.arrived.back() - start).count());
        CHECK(got.events.back().kv.key == key);
        CHECK(got.events.back().kv.value == std::to_string(i));
    }
    writer.delete_range("t/w/3");
    REQUIRE(
        got.wait([&] { return has_event(got, "t/w/3", Event::Type::Delete); }, milliseconds(3000)));
    {
        std::lock_guard lock(got.mu);
        const Event& del = got.events.back();
        CHECK(del.type == Event::Type::Delete);
        REQUIRE(del.prev_kv.has_value());
        CHECK(del.prev_kv->value == "193");
        for (size_t i = 1; i < got.events.size(); ++i) {
            CHECK(got.events[i].kv.mod_revision > got.events[i - 1].kv.mod_revision);
        }
        REQUIRE(got.states.size() == 1);
        CHECK(got.states[0].first);
        CHECK(got.resyncs.empty());
    }
    CHECK(watch.revision() == got.events.back().kv.mod_revision);
    MESSAGE("put start -> watch event on another member, " << kPuts << " puts: p50 "
                                                           << percentile(delays, 0.5) << " ms, p99 "
                                                           << percentile(delays, 0.99) << " ms");

    // Progress notifications (every 1 s here) move the revision without events.
    writer.put("t/elsewhere", "x");
    const int64_t elsewhere = writer.range("t/elsewhere").revision;
    CHECK(wait_until([&] { return watch.revision() >= elsewhere; }, milliseconds(5000)));
}

TEST_CASE("500 sequential puts: latency") {
    Client c(cluster().options());
    const std::string value(200, 'v');
    std::vector<double> ms;
    for (int i = 0; i < 500; ++i) {
        const auto start = Clock::now();
        c.put("t/bench/" + std::to_string(i % 20), value);
        ms.push_back(ms_since(start));
    }
    MESSAGE("500 puts of 200 B: p50 " << percentile(ms, 0.5) << " ms, p90 " << percentile(ms, 0.9)
                                      << " ms, p99 " << percentile(ms, 0.99) << " ms, max "
                                      << percentile(ms, 1.0) << " ms");
    CHECK(percentile(ms, 0.5) < 50);
}

TEST_CASE("start_revision 0 and a compacted revision both begin with the whole range (on_resync)") {
    Client c(cluster().options());
    c.put("t/cmp/a", "1");
    const int64_t old = c.put("t/cmp/b", "1");
    c.put("t/cmp/a", "2");
    const int64_t now = c.put("t/cmp/c", "1");
    c.compact(now, true);

    RangeOptions at_old;
    at_old.revision = old;
    const EtcdError e = error_of([&] { c.range("t/cmp/a", "", at_old); });
    CHECK(e.kind() == EtcdError::Kind::Compacted);
    CHECK(e.grpc_code() == 11);

    for (int64_t start : {old, int64_t{0}}) {
        CAPTURE(start);
        Collector got;
        Watch watch(cluster().options({1, 2, 0}), "t/cmp/", prefix_end("t/cmp/"), start,
                    got.callbacks());
        REQUIRE(got.wait([&] { return !got.resyncs.empty(); }, milliseconds(5000)));
        {
            std::lock_guard lock(got.mu);
            const Client::Range& r = got.resyncs[0];
            CHECK(r.revision >= now);
            REQUIRE(r.kvs.size() == 3);
            CHECK(r.kvs[0].value == "2");
            CHECK(got.events.empty());  // nothing before or at the resync's revision
        }
        const int64_t next = c.put("t/cmp/d", "1");
        REQUIRE(got.wait([&] { return !got.events.empty(); }, milliseconds(3000)));
        std::lock_guard lock(got.mu);
        CHECK(got.events.size() == 1);
        CHECK(got.events[0].kv.key == "t/cmp/d");
        CHECK(got.events[0].kv.mod_revision == next);
        CHECK(got.resyncs.size() == 1);
        c.delete_range("t/cmp/d");
    }
}

TEST_CASE(
    "a watch resumes on the next member after its member is SIGKILLed: none lost or repeated") {
    Cluster& cl = cluster();
    const int leader = cl.leader();
    REQUIRE(leader >= 0);
    const int victim = (leader + 1) % kMembers;  // a follower: writes go on during the kill
    const int other = (leader + 2) % kMembers;

    Client writer(cl.options({leader, other, victim}));
    const int64_t from = writer.range("t/resume/").revision + 1;
    Collector got;
    WatchOptions wo;
    wo.stall_timeout_s = 5;
    Watch watch(cl.options({victim, other, leader}), "t/resume/", prefix_end("t/resume/"), from,
                got.callbacks(), wo);
    REQUIRE(got.wait([&] { return !got.states.empty(); }, milliseconds(3000)));

    std::atomic<bool> writing{true};
    std::atomic<int> failed_puts{0};
    std::thread w([&] {
        for (int i = 0; writing.load(); ++i) {
            try {
                writer.put("t/resume/" + std::to_string(i), std::to_string(i));
            } catch (const EtcdError&) {
                failed_puts.fetch_add(1);
            }
            std::this_thread::sleep_for(milliseconds(10));
        }
    });
    std::this_thread::sleep_for(milliseconds(1000));
    const size_t before = got.event_count();
    const auto killed_at = Clock::now();
    cl.kill(victim);
    // The first event that arrives after the kill was carried by the new stream.
    const bool resumed = got.wait(
        [&] {
            return !got.arrived.empty() && got.arrived.back() > killed_at + milliseconds(1) &&
                   got.events.size() > before;
        },
        milliseconds(5000));
    const double gap_ms = ms_since(killed_at);
    std::this_thread::sleep_for(milliseconds(1000));
    writing = false;
    w.join();
    REQUIRE(resumed);
    MESSAGE("watch resumed on another member " << gap_ms << " ms after its member was killed ("
                                               << failed_puts.load() << " puts failed)");

    const auto stored = writer.range("t/resume/", prefix_end("t/resume/"));
    REQUIRE(got.wait(
        [&] { return !got.events.empty() && got.events.back().kv.mod_revision >= stored.revision; },
        milliseconds(5000)));
    {
        std::lock_guard lock(got.mu);
        std::map<std::string, int64_t> seen;
        for (size_t i = 0; i < got.events.size(); ++i) {
            const Event& e = got.events[i];
            CHECK(e.type == Event::Type::Put);
            CHECK(seen.emplace(e.kv.key, e.kv.mod_revision).second);  // no key twice
            if (i > 0) {
                CHECK(e.kv.mod_revision > got.events[i - 1].kv.mod_revision);
            }
        }
        std::map<std::string, int64_t> expected;
        for (const auto& kv : stored.kvs) {
            expected.emplace(kv.key, kv.mod_revision);
        }
        CHECK(seen == expected);  // every put, once, with its revision
        CHECK(expected.size() > 150);
        REQUIRE(!got.states.empty());
        CHECK(got.states.size() == 1);  // never reported down: the next member took over at once
    }
    CHECK(watch.reconnects() == 1);

    cl.start(victim);
    REQUIRE(wait_until([&] { return cl.ready(); }, milliseconds(15000)));
}

TEST_CASE(
    "two of three members down: writes fail fast, serializable reads work, the watch "
    "reports the outage and the recovery") {
    Cluster& cl = cluster();
    const int survivor = 0;
    Client c(cl.options({1, 2, 0}));  // the dead ones first: rotation is part of the cost
    c.put("t/quorum/before", "1");
    Collector got;
    WatchOptions wo;
    wo.stall_timeout_s = 5;
    Watch watch(cl.options({0, 1, 2}), "t/quorum/", prefix_end("t/quorum/"), 0, got.callbacks(),
                wo);
    REQUIRE(got.wait([&] { return !got.states.empty(); }, milliseconds(3000)));
    CHECK(got.states[0].first);
    CHECK(c.has_leader());

    cl.kill(1);
    cl.kill(2);
    const auto killed_at = Clock::now();
    // The survivor notices within about an election timeout.
    REQUIRE(wait_until([&] { return !c.has_leader(); }, milliseconds(10000)));
    MESSAGE("the survivor lost its leader " << ms_since(killed_at) << " ms after the kill");

    std::vector<double> put_ms;
    for (int i = 0; i < 20; ++i) {
        const auto start = Clock::now();
        const EtcdError e = error_of([&] { c.put("t/quorum/during", "x"); });
        put_ms.push_back(ms_since(start));
        CHECK(e.kind() == EtcdError::Kind::Unavailable);
        CHECK_FALSE(e.indeterminate());
    }
    MESSAGE("put with 2 of 3 members down: p50 " << percentile(put_ms, 0.5) << " ms, max "
                                                 << percentile(put_ms, 1.0) << " ms");
    CHECK(percentile(put_ms, 1.0) < 100);
    auto timed = [](const std::function<void()>& f) {
        const auto start = Clock::now();
        const EtcdError e = error_of(f);
        CHECK(e.kind() == EtcdError::Kind::Unavailable);
        return ms_since(start);
    };
    CHECK(timed([&] { c.txn({Compare::absent("t/quorum/x")}, {Op::put("t/quorum/x", "1")}); }) <
          100);
    CHECK(timed([&] { c.lease_grant(10); }) < 100);
    CHECK(timed([&] { c.range("t/quorum/before"); }) < 100);  // linearizable needs the leader

    RangeOptions local;
    local.serializable = true;
    const auto start = Clock::now();
    const auto stale = c.range("t/quorum/", prefix_end("t/quorum/"), local);
    CHECK(ms_since(start) < 100);
    REQUIRE(stale.kvs.size() == 1);
    CHECK(stale.kvs[0].value == "1");
    CHECK(c.status(cl.url(survivor)).leader == 0);

    REQUIRE(got.wait([&] { return !got.states.empty() && !got.states.back().first; },
                     milliseconds(15000)));
    MESSAGE(
        "watch reported down "
        << std::chrono::duration<double, std::milli>(got.states.back().second - killed_at).count()
        << " ms after the kill");

    cl.start(1);
    cl.start(2);
    const auto restarted_at = Clock::now();
    REQUIRE(got.wait([&] { return got.states.back().first; }, milliseconds(20000)));
    MESSAGE("watch reported up " << std::chrono::duration<double, std::milli>(
                                        got.states.back().second - restarted_at)
                                        .count()
                                 << " ms after the restart");
    {
        std::lock_guard lock(got.mu);
        CHECK(got.states.size() == 3);   // up, down, up
        CHECK(got.resyncs.size() == 1);  // the start only: the revision was not compacted
    }
    int64_t after = 0;
    REQUIRE(wait_until(
        [&] {
            try {
                after = c.put("t/quorum/after", "2");
                return true;
            } catch (const EtcdError&) {
                return false;
            }
        },
        milliseconds(15000)));
    REQUIRE(got.wait([&] { return has_event(got, "t/quorum/after", Event::Type::Put); },
                     milliseconds(5000)));
    CHECK(watch.revision() >= after);
    REQUIRE(wait_until([&] { return cl.ready(); }, milliseconds(15000)));
}

TEST_CASE("user and password: a token from auth/authenticate on calls and the watch") {
    Cluster& cl = cluster();
    const std::string url = cl.url(0);
    REQUIRE(post(url + "/v3/auth/user/add", R"({"name":"root","password":"secret"})").first == 200);
    REQUIRE(post(url + "/v3/auth/user/grant", R"({"user":"root","role":"root"})").first == 200);
    REQUIRE(post(url + "/v3/auth/enable", "{}").first == 200);

    ClientOptions with = cl.options({1, 0, 2});
    with.user = "root";
    with.password = "secret";
    Client c(with);
    Collector got;
    Watch watch(with, "t/auth/", prefix_end("t/auth/"), 0, got.callbacks());
    const int64_t rev = c.put("t/auth/a", "1");
    CHECK(c.range("t/auth/a").kvs.at(0).value == "1");
    REQUIRE(got.wait([&] { return !got.events.empty(); }, milliseconds(5000)));
    CHECK(got.events[0].kv.mod_revision == rev);

    Client anonymous(cl.options());
    CHECK(error_of([&] { anonymous.put("t/auth/b", "1"); }).kind() == EtcdError::Kind::Auth);
    ClientOptions wrong = with;
    wrong.password = "nope";
    Client bad(wrong);
    CHECK(error_of([&] { bad.range("t/auth/a"); }).kind() == EtcdError::Kind::Auth);

    const auto token =
        post(url + "/v3/auth/authenticate", R"({"name":"root","password":"secret"})");
    REQUIRE(token.first == 200);
    CHECK(post(url + "/v3/auth/disable", "{}", token.second.value("token", "")).first == 200);
    CHECK(anonymous.put("t/auth/b", "1") > rev);
}

int main(int argc, char** argv) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    doctest::Context context(argc, argv);
    int status = 0;
    try {
        status = context.run();
        if (status != 0 && g_cluster) {
            g_cluster->dump_logs();
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "etcd_client_test: %s\n", e.what());
        status = 1;
    }
    g_cluster.reset();  // kills every member
    curl_global_cleanup();
    return status;
}
