// A client of etcd v3 through its HTTP/JSON gateway (POST /v3/<service>/<method>), libcurl and
// nlohmann-json only, no gRPC. It knows etcd, nothing of gtmd: the etcd store backend and the
// cluster logic are built on top of it. The wire facts it follows (base64 keys, int64 as JSON
// strings, omitted zero fields, two error envelopes, watch framing, hasleader) are those of
// shared/notes/etcd-json-gateway.md, measured against etcd 3.4.
//
// The program calls curl_global_init once before any thread starts (gtmd's main does).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gtm::store::etcd {

struct KeyValue {
    std::string key;
    std::string value;  // empty for keys_only reads and in DELETE events
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t version = 0;  // 0: the key does not exist (a DELETE event's kv)
    int64_t lease = 0;
};

struct Event {
    enum class Type { Put, Delete };
    Type type = Type::Put;
    KeyValue kv;  // a DELETE's kv holds the key and the mod_revision of the delete
    std::optional<KeyValue> prev_kv;  // with WatchOptions::prev_kv, when the key existed before
};

// The error of every call. Kinds by what the caller does next:
//   Unavailable: no leader, refused, timed out, cut, HTTP 503: try later (the client has already
//                rotated to the next endpoint). indeterminate(): the request reached a member and
//                its outcome is unknown (a write may have applied): re-read before repeating.
//   Compacted:   the revision asked for was compacted: read afresh at the current revision.
//   NotFound:    the lease is gone.
//   Invalid:     a bad request (empty key, a future revision, ...): a bug or bad input.
//   Auth:        bad user or password, or no permission.
class EtcdError : public std::runtime_error {
  public:
    // NoSpace: etcd's space quota is exhausted ("database space exceeded") or one request
    // is over its limit ("request is too large", --max-request-bytes): retrying cannot help.
    enum class Kind { Unavailable, Compacted, NotFound, Invalid, Auth, NoSpace, Other };
    EtcdError(Kind kind, int grpc_code, int http_status, const std::string& what,
              bool indeterminate = false)
        : std::runtime_error(what),
          kind_(kind),
          grpc_code_(grpc_code),
          http_status_(http_status),
          indeterminate_(indeterminate) {}
    Kind kind() const { return kind_; }
    int grpc_code() const { return grpc_code_; }      // 0 when etcd gave none (transport error)
    int http_status() const { return http_status_; }  // 0 when no HTTP reply came
    bool indeterminate() const { return indeterminate_; }

  private:
    Kind kind_;
    int grpc_code_;
    int http_status_;
    bool indeterminate_;
};

struct ClientOptions {
    // Client URLs of the members, "http://127.0.0.1:2379" or "127.0.0.1:2379" (then http://, or
    // https:// when a CA or client certificate is set). The first is preferred: put the
    // co-located member first; calls move to the next one on failure and stay where they work.
    std::vector<std::string> endpoints;
    uint32_t connect_timeout_ms = 500;
    // A whole call, every endpoint it tries included; below etcd's own ~7 s so that the client,
    // not etcd, decides when a member is unresponsive.
    uint32_t request_timeout_ms = 2000;
    std::string ca_file;    // TLS: the CA that signed the members' certificates
    std::string cert_file;  // TLS client certificate and its key (etcd --client-cert-auth)
    std::string key_file;
    std::string user;  // etcd auth: a token from /v3/auth/authenticate, renewed when refused
    std::string password;
};

struct RangeOptions {
    enum class SortTarget { Key, Version, Create, Mod, Value };
    enum class SortOrder { None, Ascend, Descend };
    // Answered by the member from its own copy, without the leader: works in a minority
    // partition (last known data), and is sent without hasleader for that reason.
    bool serializable = false;
    int64_t limit = 0;     // 0: all
    int64_t revision = 0;  // 0: the current revision; an older one may be Compacted
    bool keys_only = false;
    bool count_only = false;
    int64_t min_create_revision = 0;  // 0: no bound
    int64_t max_create_revision = 0;
    int64_t min_mod_revision = 0;
    int64_t max_mod_revision = 0;
    SortTarget sort_target = SortTarget::Key;
    SortOrder sort_order = SortOrder::None;  // None: key order
};

// One comparison of a txn. `number` is compared for Mod, Create, Version and Lease; `value` for
// Value. Create == 0 means "the key does not exist".
struct Compare {
    enum class Target { Value, Mod, Create, Version, Lease };
    enum class Result { Equal, NotEqual, Greater, Less };
    std::string key;
    Target target = Target::Mod;
    Result result = Result::Equal;
    std::string value;
    int64_t number = 0;
    std::string range_end;  // compare every key of [key, range_end)

    static Compare mod(std::string key, Result r, int64_t revision);
    static Compare create(std::string key, Result r, int64_t revision);
    static Compare version(std::string key, Result r, int64_t version);
    static Compare value_is(std::string key, Result r, std::string value);
    static Compare absent(std::string key) { return create(std::move(key), Result::Equal, 0); }
};

// One operation of a txn branch.
struct Op {
    enum class Type { Put, Range, Delete };
    Type type = Type::Range;
    std::string key;
    std::string value;
    std::string range_end;
    int64_t lease = 0;
    bool prev_kv = false;  // put, delete: hand back what was there
    RangeOptions range;    // range only (serializable does not apply inside a txn)

    static Op put(std::string key, std::string value, int64_t lease = 0, bool prev_kv = false);
    static Op del(std::string key, std::string range_end = "", bool prev_kv = false);
    static Op get(std::string key, std::string range_end = "", RangeOptions options = {});
};

// What one op of the branch that ran gave back.
struct OpResult {
    Op::Type type = Op::Type::Range;
    std::vector<KeyValue> kvs;  // range: the keys; delete: prev_kvs; put: prev_kv (when asked)
    int64_t count = 0;          // range: the count; delete: how many were deleted
    bool more = false;          // range: a limit cut it short
};

struct TxnResult {
    bool succeeded = false;           // the compares held and the success branch ran
    int64_t revision = 0;             // the store's revision after the txn
    std::vector<OpResult> responses;  // one per op of the branch that ran, in order
};

struct Member {
    uint64_t id = 0;
    std::string name;  // empty while a member added is not yet started
    std::vector<std::string> peer_urls;
    std::vector<std::string> client_urls;
};

// One member's own view (maintenance/status), asked of that member only, without hasleader.
struct MemberStatus {
    uint64_t member_id = 0;
    uint64_t leader = 0;  // 0: this member knows no leader
    int64_t revision = 0;
    int64_t raft_term = 0;
    int64_t raft_index = 0;
    int64_t db_size = 0;
    std::string version;
    std::vector<std::string> errors;  // "etcdserver: no leader", alarms
};

// "a/" → "a0": the range_end that makes [prefix, range_end) every key starting with `prefix`.
// An empty prefix (or one of 0xff bytes only) gives "\0": every key.
std::string prefix_end(const std::string& prefix);

std::string base64_encode(const std::string& bytes);
// Throws std::invalid_argument on a character outside the standard alphabet or a bad length.
std::string base64_decode(const std::string& text);

// Unary calls (kv, lease, maintenance), from any thread: each takes a pooled curl handle, so
// concurrent callers never share one and keep-alive connections are reused.
//
// A call goes to the preferred endpoint (the first, then the last that worked) and moves on to
// the next one while the failure shows that the request did not apply: refused or never sent, or
// "no leader" (hasleader is sent on everything but serializable reads, so a member without a
// leader says so in milliseconds instead of waiting etcd's ~7 s). A read (and a keepalive) is also
// repeated after a timeout or another 503, all within request_timeout_ms. A write that was sent
// and then timed out or was cut is not repeated: EtcdError Unavailable with indeterminate(). After
// an Unavailable the next call starts at the next endpoint.
class Client {
  public:
    struct Range {
        std::vector<KeyValue> kvs;
        int64_t revision = 0;  // the store's revision the read saw
        int64_t count = 0;     // keys in the range (more than kvs.size() under a limit)
        bool more = false;
    };
    struct Deleted {
        int64_t count = 0;
        int64_t revision = 0;
        std::vector<KeyValue> prev_kvs;  // when asked for
    };

    explicit Client(ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Each returns what etcd answered or throws EtcdError; none retries a write that may have
    // applied (see EtcdError::indeterminate). Every call may come from any thread.
    int64_t put(const std::string& key, const std::string& value, int64_t lease = 0);  // revision
    Range range(const std::string& key, const std::string& range_end = "",
                const RangeOptions& options = {});
    TxnResult txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                  const std::vector<Op>& failure = {});
    Deleted delete_range(const std::string& key, const std::string& range_end = "",
                         bool prev_kv = false);
    void compact(int64_t revision, bool physical = false);

    int64_t lease_grant(int64_t ttl_s, int64_t id = 0);  // the lease's ID; id 0: etcd picks
    // The remaining TTL in seconds; 0: the lease is gone (expired or revoked): grant a new one
    // and write its keys again.
    int64_t lease_keepalive(int64_t id);
    bool lease_revoke(int64_t id);  // false: it was already gone

    // True when a member this client reaches knows a leader: a write can be tried now. A status
    // call with hasleader (a member without a leader answers 503 at once), moving through the
    // endpoints like any read.
    bool has_leader();
    std::vector<Member> members();
    // Asks `endpoint` (one of the client URLs) only.
    MemberStatus status(const std::string& endpoint);

    const std::vector<std::string>& endpoints() const { return endpoints_; }

  private:
    friend class Watch;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<std::string> endpoints_;  // with their scheme
};

struct WatchOptions {
    bool prev_kv = true;  // DELETE events carry the value that was deleted
    // No byte for this long and the stream is taken for dead (a frozen member, a black hole).
    // It must exceed twice the members' --experimental-watch-progress-notify-interval (10 min by
    // default, 5 s is fine): etcd skips the notification after one that carried events. Timed
    // from the last byte received; curl's low-speed limit was not used for it, as it averages
    // over a ~5 s window and fired after 7.5-8.6 s for a 2 s setting.
    // Before the watch is created, ClientOptions::request_timeout_ms applies instead.
    uint32_t stall_timeout_ms = 15000;  // 0: never
    uint32_t retry_max_ms = 1000;       // the longest wait between two rounds of the endpoints
};

// A watch of [key, range_end) on a thread of its own. It resumes from the last revision it
// delivered after any disconnect (moving to the next endpoint), so that no event is lost or
// repeated. When that revision was compacted, or with start_revision 0, it reads the whole range
// at the current revision, hands it to on_resync, and watches from the next revision: after
// on_resync the caller's view equals the range's.
//
// hasleader is sent, so a member without a leader (partitioned, or the cluster lost quorum) ends
// the stream in a few seconds and refuses new ones; on_state(false) is called once every endpoint
// has failed in a row, on_state(true) once a stream is up again (and when the first one is).
//
// Callbacks run on the watch's thread, one at a time, in revision order. They must not destroy
// the Watch (stop() is fine).
class Watch {
  public:
    struct Callbacks {
        // Events of one or more revisions; `revision`: every event up to it has been delivered.
        std::function<void(const std::vector<Event>&, int64_t revision)> on_events;
        std::function<void(const Client::Range&)> on_resync;
        std::function<void(bool)> on_state;
        // Optional: no event up to `revision` is missing (a progress notification).
        std::function<void(int64_t revision)> on_progress;
    };

    Watch(ClientOptions options, std::string key, std::string range_end, int64_t start_revision,
          Callbacks callbacks, WatchOptions watch_options = {});
    ~Watch();  // stops and joins
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    void stop();
    int64_t revision() const;        // every event up to it was delivered
    uint64_t reconnects() const;     // streams opened after the first
    std::string last_error() const;  // why the last stream or resync ended, for logs

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gtm::store::etcd
