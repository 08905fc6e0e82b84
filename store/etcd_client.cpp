#include "store/etcd_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>

namespace gtm::store::etcd {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// gRPC status codes etcd puts in its error envelopes.
constexpr int kGrpcCanceled = 1;
constexpr int kGrpcUnknown = 2;
constexpr int kGrpcInvalidArgument = 3;
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcPermissionDenied = 7;
constexpr int kGrpcResourceExhausted = 8;
constexpr int kGrpcFailedPrecondition = 9;
constexpr int kGrpcOutOfRange = 11;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

constexpr size_t kMaxErrorBody = 64 * 1024;  // a non-200 watch reply is an error, kept this far
constexpr auto kStreamLivedLong = std::chrono::seconds(1);

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct EasyDeleter {
    void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
struct MultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// --- JSON fields: int64 come as strings, zero and false are omitted (notes §3) ---

int64_t to_int(const json& o, const char* key) {
    const auto it = o.find(key);
    if (it == o.end()) {
        return 0;
    }
    if (it->is_string()) {
        return std::stoll(it->get_ref<const std::string&>());
    }
    if (it->is_number()) {
        return it->get<int64_t>();
    }
    return 0;
}

uint64_t to_uint(const json& o, const char* key) {
    const auto it = o.find(key);
    if (it == o.end()) {
        return 0;
    }
    if (it->is_string()) {
        return std::stoull(it->get_ref<const std::string&>());
    }
    if (it->is_number()) {
        return it->get<uint64_t>();
    }
    return 0;
}

bool to_bool(const json& o, const char* key) {
    const auto it = o.find(key);
    return it != o.end() && it->is_boolean() && it->get<bool>();
}

std::string to_string(const json& o, const char* key) {
    const auto it = o.find(key);
    if (it == o.end() || !it->is_string()) {
        return {};
    }
    return it->get<std::string>();
}

std::string to_bytes(const json& o, const char* key) { return base64_decode(to_string(o, key)); }

std::vector<std::string> to_strings(const json& o, const char* key) {
    std::vector<std::string> out;
    const auto it = o.find(key);
    if (it != o.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (v.is_string()) {
                out.push_back(v.get<std::string>());
            }
        }
    }
    return out;
}

int64_t header_revision(const json& o) {
    const auto it = o.find("header");
    return it == o.end() ? 0 : to_int(*it, "revision");
}

KeyValue decode_kv(const json& j) {
    KeyValue kv;
    kv.key = to_bytes(j, "key");
    kv.value = to_bytes(j, "value");
    kv.create_revision = to_int(j, "create_revision");
    kv.mod_revision = to_int(j, "mod_revision");
    kv.version = to_int(j, "version");
    kv.lease = to_int(j, "lease");
    return kv;
}

std::vector<KeyValue> decode_kvs(const json& o, const char* key) {
    std::vector<KeyValue> out;
    const auto it = o.find(key);
    if (it != o.end() && it->is_array()) {
        out.reserve(it->size());
        for (const auto& kv : *it) {
            out.push_back(decode_kv(kv));
        }
    }
    return out;
}

Client::Range decode_range(const json& j) {
    Client::Range r;
    r.kvs = decode_kvs(j, "kvs");
    r.revision = header_revision(j);
    r.count = to_int(j, "count");
    r.more = to_bool(j, "more");
    return r;
}

// --- requests ---

// An empty key with range_end "\0" (every key) is sent as "\0": etcd refuses an empty key.
void set_key_range(json& j, const std::string& key, const std::string& range_end) {
    const bool all = key.empty() && range_end == std::string(1, '\0');
    j["key"] = base64_encode(all ? range_end : key);
    if (!range_end.empty()) {
        j["range_end"] = base64_encode(range_end);
    }
}

const char* sort_target_name(RangeOptions::SortTarget t) {
    switch (t) {
        case RangeOptions::SortTarget::Key:
            return "KEY";
        case RangeOptions::SortTarget::Version:
            return "VERSION";
        case RangeOptions::SortTarget::Create:
            return "CREATE";
        case RangeOptions::SortTarget::Mod:
            return "MOD";
        case RangeOptions::SortTarget::Value:
            return "VALUE";
    }
    return "KEY";
}

json range_request(const std::string& key, const std::string& range_end, const RangeOptions& o,
                   bool in_txn) {
    json j = json::object();
    set_key_range(j, key, range_end);
    if (o.limit > 0) {
        j["limit"] = std::to_string(o.limit);
    }
    if (o.revision > 0) {
        j["revision"] = std::to_string(o.revision);
    }
    if (o.sort_order != RangeOptions::SortOrder::None ||
        o.sort_target != RangeOptions::SortTarget::Key) {
        j["sort_order"] = o.sort_order == RangeOptions::SortOrder::Descend ? "DESCEND" : "ASCEND";
        j["sort_target"] = sort_target_name(o.sort_target);
    }
    if (o.serializable && !in_txn) {
        j["serializable"] = true;
    }
    if (o.keys_only) {
        j["keys_only"] = true;
    }
    if (o.count_only) {
        j["count_only"] = true;
    }
    const std::pair<const char*, int64_t> bounds[] = {
        {"min_mod_revision", o.min_mod_revision},
        {"max_mod_revision", o.max_mod_revision},
        {"min_create_revision", o.min_create_revision},
        {"max_create_revision", o.max_create_revision},
    };
    for (const auto& [name, value] : bounds) {
        if (value > 0) {
            j[name] = std::to_string(value);
        }
    }
    return j;
}

json compare_request(const Compare& c) {
    static constexpr const char* kResults[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
    json j = json::object();
    j["key"] = base64_encode(c.key);
    if (!c.range_end.empty()) {
        j["range_end"] = base64_encode(c.range_end);
    }
    j["result"] = kResults[static_cast<int>(c.result)];
    switch (c.target) {
        case Compare::Target::Value:
            j["target"] = "VALUE";
            j["value"] = base64_encode(c.value);
            break;
        case Compare::Target::Mod:
            j["target"] = "MOD";
            j["mod_revision"] = std::to_string(c.number);
            break;
        case Compare::Target::Create:
            j["target"] = "CREATE";
            j["create_revision"] = std::to_string(c.number);
            break;
        case Compare::Target::Version:
            j["target"] = "VERSION";
            j["version"] = std::to_string(c.number);
            break;
        case Compare::Target::Lease:
            j["target"] = "LEASE";
            j["lease"] = std::to_string(c.number);
            break;
    }
    return j;
}

json op_request(const Op& op) {
    json j = json::object();
    switch (op.type) {
        case Op::Type::Put: {
            json put = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
            if (op.lease != 0) {
                put["lease"] = std::to_string(op.lease);
            }
            if (op.prev_kv) {
                put["prev_kv"] = true;
            }
            j["request_put"] = std::move(put);
            break;
        }
        case Op::Type::Range:
            j["request_range"] = range_request(op.key, op.range_end, op.range, true);
            break;
        case Op::Type::Delete: {
            json del = json::object();
            set_key_range(del, op.key, op.range_end);
            if (op.prev_kv) {
                del["prev_kv"] = true;
            }
            j["request_delete_range"] = std::move(del);
            break;
        }
    }
    return j;
}

OpResult decode_op_result(const json& j) {
    OpResult r;
    if (const auto it = j.find("response_range"); it != j.end()) {
        r.type = Op::Type::Range;
        r.kvs = decode_kvs(*it, "kvs");
        r.count = to_int(*it, "count");
        r.more = to_bool(*it, "more");
    } else if (const auto put = j.find("response_put"); put != j.end()) {
        r.type = Op::Type::Put;
        if (const auto prev = put->find("prev_kv"); prev != put->end()) {
            r.kvs.push_back(decode_kv(*prev));
        }
    } else if (const auto del = j.find("response_delete_range"); del != j.end()) {
        r.type = Op::Type::Delete;
        r.kvs = decode_kvs(*del, "prev_kvs");
        r.count = to_int(*del, "deleted");
    }
    return r;
}

// --- errors ---

bool contains(const std::string& text, std::string_view what) {
    return text.find(what) != std::string::npos;
}

EtcdError::Kind kind_of(int grpc_code, long http_status, const std::string& message) {
    switch (grpc_code) {
        case kGrpcCanceled:
        case kGrpcDeadlineExceeded:
        case kGrpcUnavailable:
            return EtcdError::Kind::Unavailable;
        case kGrpcOutOfRange:
            return contains(message, "compacted") ? EtcdError::Kind::Compacted
                                                  : EtcdError::Kind::Invalid;
        case kGrpcNotFound:
            return EtcdError::Kind::NotFound;
        case kGrpcResourceExhausted:  // "etcdserver: mvcc: database space exceeded"
            return EtcdError::Kind::NoSpace;
        case kGrpcInvalidArgument:
            if (contains(message, "request is too large")) {
                return EtcdError::Kind::NoSpace;
            }
            // "authentication failed, invalid user ID or password", "user name is empty"
            return contains(message, "authentication failed") || contains(message, "user name")
                       ? EtcdError::Kind::Auth
                       : EtcdError::Kind::Invalid;
        case kGrpcFailedPrecondition:
            return EtcdError::Kind::Invalid;
        case kGrpcPermissionDenied:
        case kGrpcUnauthenticated:
            return EtcdError::Kind::Auth;
        case kGrpcUnknown:
            // etcd's own 7 s deadline on a proposal that found no quorum (notes §5).
            if (contains(message, "deadline exceeded")) {
                return EtcdError::Kind::Unavailable;
            }
            break;
        default:
            break;
    }
    return http_status == 503 ? EtcdError::Kind::Unavailable : EtcdError::Kind::Other;
}

// The two envelopes of notes §3: unary {"error":"msg","code":14}, streamed
// {"error":{"grpc_code":14,"http_code":503,"message":"..."}}.
bool error_envelope(const json& j, int& grpc_code, std::string& message) {
    const auto it = j.find("error");
    if (it == j.end()) {
        return false;
    }
    if (it->is_string()) {
        message = it->get<std::string>();
        grpc_code = static_cast<int>(to_int(j, "code"));
    } else if (it->is_object()) {
        message = to_string(*it, "message");
        grpc_code = static_cast<int>(to_int(*it, "grpc_code"));
    } else {
        return false;
    }
    return true;
}

std::string_view first_line(std::string_view body) {
    const auto nl = body.find('\n');
    return nl == std::string_view::npos ? body : body.substr(0, nl);
}

EtcdError reply_error(const std::string& endpoint, long http_status, const std::string& body) {
    int code = 0;
    std::string message;
    const json j = json::parse(first_line(body), nullptr, false);
    if (j.is_discarded() || !error_envelope(j, code, message)) {
        message = "HTTP " + std::to_string(http_status);
    }
    return EtcdError(kind_of(code, http_status, message), code, static_cast<int>(http_status),
                     "etcd " + endpoint + ": " + message);
}

// --- endpoints and curl ---

std::string normalise_endpoint(std::string e, bool tls) {
    while (!e.empty() && e.back() == '/') {
        e.pop_back();
    }
    if (e.find("://") == std::string::npos) {
        e = (tls ? "https://" : "http://") + e;
    }
    return e;
}

void set_common_options(CURL* h, const ClientOptions& o) {
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    // JSON over HTTP/1.1 on every scheme: over TLS etcd would route HTTP/2 by content type.
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_ms));
    if (!o.ca_file.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
    }
    if (!o.cert_file.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, o.cert_file.c_str());
    }
    if (!o.key_file.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, o.key_file.c_str());
    }
}

SlistPtr make_headers(bool has_leader, const std::string& token) {
    curl_slist* l = nullptr;
    l = curl_slist_append(l, "Content-Type: application/json");
    l = curl_slist_append(l, "Expect:");  // no 100-continue round trip on larger bodies
    if (has_leader) {
        // A member without a leader refuses at once (503, code 14) instead of waiting ~7 s,
        // and ends a watch stream (notes §5).
        l = curl_slist_append(l, "Grpc-Metadata-hasleader: true");
    }
    if (!token.empty()) {
        l = curl_slist_append(l, ("Authorization: " + token).c_str());
    }
    return SlistPtr(l);
}

size_t append_body(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

struct Reply {
    CURLcode code = CURLE_OK;
    long status = 0;
    bool sent = false;  // the request left this host: a write may have applied
    std::string body;
    std::string error;  // curl's, when code != CURLE_OK
};

Reply perform(CURL* h, const std::string& url, const std::string& body, curl_slist* headers,
              long timeout_ms, long connect_timeout_ms) {
    Reply r;
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    r.code = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    long request_size = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_size);
    r.sent = request_size > 0;
    if (r.code != CURLE_OK) {
        r.error = error[0] != '\0' ? error : curl_easy_strerror(r.code);
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    return r;
}

long remaining_ms(Clock::time_point deadline) {
    return static_cast<long>(
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
}

}  // namespace

// --- base64 (RFC 4648 §4, with padding) and prefixes ---

std::string base64_encode(const std::string& bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                           (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                           static_cast<uint8_t>(bytes[i + 2]);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += kAlphabet[n & 63];
    }
    const size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
        if (rest == 2) {
            n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
        }
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string base64_decode(const std::string& text) {
    if (text.size() % 4 != 0) {
        throw std::invalid_argument("base64: length not a multiple of 4");
    }
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        if (c == '/') {
            return 63;
        }
        return -1;
    };
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
        if (pad == 1 && text[i + 2] == '=') {
            throw std::invalid_argument("base64: bad padding");
        }
        uint32_t n = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text[i + k];
            const int v = k >= 4 - pad ? 0 : value(c);
            if (v < 0) {
                throw std::invalid_argument("base64: bad character");
            }
            n = (n << 6) | static_cast<uint32_t>(v);
        }
        out += static_cast<char>((n >> 16) & 0xff);
        if (pad < 2) {
            out += static_cast<char>((n >> 8) & 0xff);
        }
        if (pad < 1) {
            out += static_cast<char>(n & 0xff);
        }
    }
    return out;
}

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        const auto c = static_cast<unsigned char>(end.back());
        if (c < 0xff) {
            end.back() = static_cast<char>(c + 1);
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');
}

// --- Compare and Op ---

Compare Compare::mod(std::string key, Result r, int64_t revision) {
    return Compare{std::move(key), Target::Mod, r, {}, revision, {}};
}
Compare Compare::create(std::string key, Result r, int64_t revision) {
    return Compare{std::move(key), Target::Create, r, {}, revision, {}};
}
Compare Compare::version(std::string key, Result r, int64_t version) {
    return Compare{std::move(key), Target::Version, r, {}, version, {}};
}
Compare Compare::value_is(std::string key, Result r, std::string value) {
    return Compare{std::move(key), Target::Value, r, std::move(value), 0, {}};
}

Op Op::put(std::string key, std::string value, int64_t lease, bool prev_kv) {
    Op op;
    op.type = Type::Put;
    op.key = std::move(key);
    op.value = std::move(value);
    op.lease = lease;
    op.prev_kv = prev_kv;
    return op;
}
Op Op::del(std::string key, std::string range_end, bool prev_kv) {
    Op op;
    op.type = Type::Delete;
    op.key = std::move(key);
    op.range_end = std::move(range_end);
    op.prev_kv = prev_kv;
    return op;
}
Op Op::get(std::string key, std::string range_end, RangeOptions options) {
    Op op;
    op.type = Type::Range;
    op.key = std::move(key);
    op.range_end = std::move(range_end);
    op.range = options;
    return op;
}

// --- Client ---

// Easy handles are pooled: a call takes one (its keep-alive connections with it) and gives it
// back, so that concurrent callers never share one and a busy thread keeps reusing connections.
struct Client::Impl {
    // Write: never repeated once sent (it may have applied). Read: linearizable, repeated on the
    // next member. LocalRead: serializable, without hasleader.
    enum class Call { Write, Read, LocalRead };

    explicit Impl(ClientOptions o) : options(std::move(o)) {}

    EasyPtr acquire() {
        {
            std::lock_guard lock(mu);
            if (!idle.empty()) {
                EasyPtr h = std::move(idle.back());
                idle.pop_back();
                return h;
            }
        }
        EasyPtr h(curl_easy_init());
        if (!h) {
            throw EtcdError(EtcdError::Kind::Other, 0, 0, "etcd: curl_easy_init failed");
        }
        set_common_options(h.get(), options);
        return h;
    }

    void release(EasyPtr h) {
        std::lock_guard lock(mu);
        idle.push_back(std::move(h));
    }

    std::string token(bool renew) {
        if (options.user.empty()) {
            return {};
        }
        std::lock_guard lock(auth_mu);
        if (renew || token_value.empty()) {
            const json body = {{"name", options.user}, {"password", options.password}};
            const json reply = call("/v3/auth/authenticate", body, Call::Write, false);
            token_value = to_string(reply, "token");
        }
        return token_value;
    }

    void rotate_from(size_t index) {
        size_t expected = index;
        preferred.compare_exchange_strong(expected, (index + 1) % endpoints.size());
    }

    // One POST, moving through the endpoints from the preferred one while the failure says the
    // request did not apply (refused, not sent, "no leader") or the call may be repeated.
    json call(const std::string& path, const json& body, Call kind, bool with_auth = true) {
        const auto deadline = Clock::now() + milliseconds(options.request_timeout_ms);
        const std::string text = body.dump();
        const size_t n = endpoints.size();
        const size_t start = preferred.load();
        std::string token_text = with_auth ? token(false) : std::string();
        bool renewed = false;
        std::optional<EtcdError> last;
        EasyPtr h = acquire();
        for (size_t attempt = 0; attempt < n; ++attempt) {
            const size_t index = (start + attempt) % n;
            const long left = remaining_ms(deadline);
            if (left <= 0) {
                break;
            }
            const SlistPtr headers = make_headers(kind != Call::LocalRead, token_text);
            const Reply r =
                perform(h.get(), endpoints[index] + path, text, headers.get(), left,
                        std::min<long>(left, static_cast<long>(options.connect_timeout_ms)));
            bool retry = false;
            if (r.code == CURLE_OK && r.status == 200) {
                const json j = json::parse(first_line(r.body), nullptr, false);
                int code = 0;
                std::string message;
                if (j.is_discarded()) {
                    last = EtcdError(EtcdError::Kind::Other, 0, 200,
                                     "etcd " + endpoints[index] + ": a reply that is not JSON");
                } else if (error_envelope(j, code, message)) {  // a streamed error under 200
                    last = EtcdError(kind_of(code, 200, message), code, 200,
                                     "etcd " + endpoints[index] + ": " + message);
                    retry = last->kind() == EtcdError::Kind::Unavailable &&
                            (kind != Call::Write || contains(message, "no leader"));
                } else {
                    preferred.store(index);
                    release(std::move(h));
                    return j;
                }
            } else if (r.code != CURLE_OK) {
                const bool unknown = r.sent && kind == Call::Write;
                last = EtcdError(EtcdError::Kind::Unavailable, 0, 0,
                                 "etcd " + endpoints[index] + ": " + r.error, unknown);
                retry = !unknown;
            } else {
                EtcdError e = reply_error(endpoints[index], r.status, r.body);
                if (e.grpc_code() == kGrpcUnauthenticated && with_auth && !renewed &&
                    !options.user.empty()) {
                    // Simple tokens expire after a few idle minutes: get a new one, once.
                    renewed = true;
                    token_text = token(true);
                    --attempt;
                    continue;
                }
                const bool no_leader = contains(e.what(), "no leader");
                const bool unknown =
                    kind == Call::Write && e.kind() == EtcdError::Kind::Unavailable && !no_leader;
                last = EtcdError(e.kind(), e.grpc_code(), e.http_status(), e.what(), unknown);
                retry = e.kind() == EtcdError::Kind::Unavailable && !unknown;
            }
            if (last->kind() == EtcdError::Kind::Unavailable) {
                rotate_from(index);
            }
            if (!retry) {
                break;
            }
        }
        release(std::move(h));
        if (!last) {
            last = EtcdError(
                EtcdError::Kind::Unavailable, 0, 0,
                "etcd: no reply within " + std::to_string(options.request_timeout_ms) + " ms");
        }
        throw *last;
    }

    // One POST to one endpoint, no retry (status of that member).
    json call_one(const std::string& endpoint, const std::string& path, const json& body) {
        EasyPtr h = acquire();
        const SlistPtr headers = make_headers(false, token(false));
        const Reply r = perform(h.get(), endpoint + path, body.dump(), headers.get(),
                                static_cast<long>(options.request_timeout_ms),
                                static_cast<long>(options.connect_timeout_ms));
        release(std::move(h));
        if (r.code != CURLE_OK) {
            throw EtcdError(EtcdError::Kind::Unavailable, 0, 0,
                            "etcd " + endpoint + ": " + r.error);
        }
        if (r.status != 200) {
            throw reply_error(endpoint, r.status, r.body);
        }
        const json j = json::parse(first_line(r.body), nullptr, false);
        if (j.is_discarded()) {
            throw EtcdError(EtcdError::Kind::Other, 0, 200,
                            "etcd " + endpoint + ": a reply that is not JSON");
        }
        return j;
    }

    ClientOptions options;
    std::vector<std::string> endpoints;
    std::atomic<size_t> preferred{0};
    std::mutex mu;  // idle
    std::vector<EasyPtr> idle;
    std::mutex auth_mu;  // token_value; held while authenticating so only one caller does
    std::string token_value;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    const ClientOptions& o = impl_->options;
    if (o.endpoints.empty()) {
        throw std::invalid_argument("etcd: no endpoints");
    }
    const bool tls = !o.ca_file.empty() || !o.cert_file.empty();
    for (const auto& e : o.endpoints) {
        endpoints_.push_back(normalise_endpoint(e, tls));
    }
    impl_->endpoints = endpoints_;
}

Client::~Client() = default;

int64_t Client::put(const std::string& key, const std::string& value, int64_t lease) {
    json body = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (lease != 0) {
        body["lease"] = std::to_string(lease);
    }
    return header_revision(impl_->call("/v3/kv/put", body, Impl::Call::Write));
}

Client::Range Client::range(const std::string& key, const std::string& range_end,
                            const RangeOptions& options) {
    const json body = range_request(key, range_end, options, false);
    return decode_range(impl_->call(
        "/v3/kv/range", body, options.serializable ? Impl::Call::LocalRead : Impl::Call::Read));
}

TxnResult Client::txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                      const std::vector<Op>& failure) {
    json body = {
        {"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
    for (const auto& c : compares) {
        body["compare"].push_back(compare_request(c));
    }
    for (const auto& op : success) {
        body["success"].push_back(op_request(op));
    }
    for (const auto& op : failure) {
        body["failure"].push_back(op_request(op));
    }
    const json reply = impl_->call("/v3/kv/txn", body, Impl::Call::Write);
    TxnResult result;
    result.succeeded = to_bool(reply, "succeeded");  // absent: false (notes §2)
    result.revision = header_revision(reply);
    if (const auto it = reply.find("responses"); it != reply.end() && it->is_array()) {
        for (const auto& r : *it) {
            result.responses.push_back(decode_op_result(r));
        }
    }
    return result;
}

Client::Deleted Client::delete_range(const std::string& key, const std::string& range_end,
                                     bool prev_kv) {
    json body = json::object();
    set_key_range(body, key, range_end);
    if (prev_kv) {
        body["prev_kv"] = true;
    }
    const json reply = impl_->call("/v3/kv/deleterange", body, Impl::Call::Write);
    return Deleted{to_int(reply, "deleted"), header_revision(reply), decode_kvs(reply, "prev_kvs")};
}

void Client::compact(int64_t revision, bool physical) {
    json body = {{"revision", std::to_string(revision)}};
    if (physical) {
        body["physical"] = true;
    }
    impl_->call("/v3/kv/compaction", body, Impl::Call::Write);
}

int64_t Client::lease_grant(int64_t ttl_s, int64_t id) {
    json body = {{"TTL", std::to_string(ttl_s)}};  // "TTL", not "ttl": notes §3
    if (id != 0) {
        body["ID"] = std::to_string(id);
    }
    return to_int(impl_->call("/v3/lease/grant", body, Impl::Call::Write), "ID");
}

int64_t Client::lease_keepalive(int64_t id) {
    // A stream of one result line; a lease that is gone has no TTL and no error (notes §2).
    // Idempotent, hence Read: repeated on the next member.
    const json reply =
        impl_->call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}, Impl::Call::Read);
    const auto it = reply.find("result");
    return it == reply.end() ? 0 : std::max<int64_t>(0, to_int(*it, "TTL"));
}

bool Client::lease_revoke(int64_t id) {
    try {
        impl_->call("/v3/lease/revoke", {{"ID", std::to_string(id)}}, Impl::Call::Read);
        return true;
    } catch (const EtcdError& e) {
        if (e.kind() == EtcdError::Kind::NotFound) {
            return false;
        }
        throw;
    }
}

bool Client::has_leader() {
    try {
        const json reply = impl_->call("/v3/maintenance/status", json::object(), Impl::Call::Read);
        return to_uint(reply, "leader") != 0;
    } catch (const EtcdError& e) {
        if (e.kind() == EtcdError::Kind::Unavailable) {
            return false;
        }
        throw;
    }
}

std::vector<Member> Client::members() {
    const json reply =
        impl_->call("/v3/cluster/member/list", json::object(), Impl::Call::LocalRead);
    std::vector<Member> out;
    if (const auto it = reply.find("members"); it != reply.end() && it->is_array()) {
        for (const auto& m : *it) {
            out.push_back(Member{to_uint(m, "ID"), to_string(m, "name"), to_strings(m, "peerURLs"),
                                 to_strings(m, "clientURLs")});
        }
    }
    return out;
}

MemberStatus Client::status(const std::string& endpoint) {
    const bool tls = !impl_->options.ca_file.empty() || !impl_->options.cert_file.empty();
    const json j = impl_->call_one(normalise_endpoint(endpoint, tls), "/v3/maintenance/status",
                                   json::object());
    MemberStatus s;
    if (const auto it = j.find("header"); it != j.end()) {
        s.member_id = to_uint(*it, "member_id");
        s.revision = to_int(*it, "revision");
    }
    s.leader = to_uint(j, "leader");
    s.raft_term = to_int(j, "raftTerm");
    s.raft_index = to_int(j, "raftIndex");
    s.db_size = to_int(j, "dbSize");
    s.version = to_string(j, "version");
    s.errors = to_strings(j, "errors");
    return s;
}

// --- Watch ---

// Owned by the Watch; its thread runs run(), which alone touches the curl handles and the stream
// state. stop() may come from any thread: an atomic flag, a condition for the back-off wait and
// curl_multi_wakeup for the poll.
struct Watch::Impl {
    enum class Outcome { Stopped, Compacted, Failed };

    Impl(ClientOptions o, std::string k, std::string end, int64_t start, Callbacks c,
         WatchOptions w)
        : options(o),
          client(std::move(o)),
          key(std::move(k)),
          range_end(std::move(end)),
          start_revision(start),
          callbacks(std::move(c)),
          watch_options(w),
          multi(curl_multi_init()),
          easy(curl_easy_init()) {
        if (!multi || !easy) {
            throw EtcdError(EtcdError::Kind::Other, 0, 0, "etcd: curl init failed");
        }
        set_common_options(easy.get(), options);
        last_revision = start_revision > 0 ? start_revision - 1 : 0;
    }

    void run() {
        const size_t n = client.endpoints().size();
        size_t failures = 0;  // attempts failed in a row
        size_t endpoint = 0;
        bool need_resync = start_revision <= 0;
        while (!stopping.load()) {
            if (need_resync) {
                if (resync()) {
                    need_resync = false;
                } else {
                    // The client tried every endpoint already.
                    failures = std::max(failures + 1, n);
                    set_state(false);
                    if (!back_off(failures / n)) {
                        break;
                    }
                    continue;
                }
            }
            const Outcome outcome = stream(endpoint);
            if (outcome == Outcome::Stopped) {
                break;
            }
            if (outcome == Outcome::Compacted) {
                need_resync = true;
                continue;
            }
            if (created && Clock::now() - created_at >= kStreamLivedLong) {
                failures = 0;
            }
            ++failures;
            endpoint = (endpoint + 1) % n;
            if (failures >= n) {
                set_state(false);
            }
            if (failures % n == 0 && !back_off(failures / n)) {
                break;
            }
        }
    }

    // Reads the whole range afresh and hands it over; false when etcd did not answer.
    bool resync() {
        try {
            const Client::Range r = client.range(key, range_end);
            if (callbacks.on_resync) {
                callbacks.on_resync(r);
            }
            last_revision = r.revision;
            return true;
        } catch (const std::exception& e) {
            set_error(std::string("resync: ") + e.what());
            return false;
        }
    }

    bool back_off(size_t rounds) {
        const uint32_t ms = std::min<uint32_t>(
            watch_options.retry_max_ms, 100u << std::min<size_t>(rounds > 0 ? rounds - 1 : 0, 6));
        std::unique_lock lock(mu);
        return !cv.wait_for(lock, milliseconds(ms), [&] { return stopping.load(); });
    }

    void set_state(bool up) {
        if (state == up) {
            return;
        }
        state = up;
        if (callbacks.on_state) {
            callbacks.on_state(up);
        }
    }

    void set_error(const std::string& e) {
        std::lock_guard lock(mu);
        last_error = e;
    }

    // One stream on `endpoint` from last_revision + 1, until it ends.
    Outcome stream(size_t endpoint) {
        buffer.clear();
        created = false;
        compacted = false;
        failed = false;
        status_checked = false;
        http_ok = true;
        failure.clear();
        const std::string& base = client.endpoints()[endpoint];
        std::string token;
        try {
            token = client.impl_->token(renew_token);
            renew_token = false;
        } catch (const std::exception& e) {
            set_error(std::string("authenticate: ") + e.what());
            return Outcome::Failed;
        }
        json create = json::object();
        set_key_range(create, key, range_end);
        create["start_revision"] = std::to_string(last_revision + 1);
        create["progress_notify"] = true;
        if (watch_options.prev_kv) {
            create["prev_kv"] = true;
        }
        request = json{{"create_request", create}}.dump();
        const SlistPtr headers = make_headers(true, token);
        const std::string url = base + "/v3/watch";
        CURL* h = easy.get();
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 0L);  // a total timeout would end the stream
        if (opened++ > 0) {
            reconnect_count.fetch_add(1);
        }

        CURLcode result = CURLE_OK;
        bool stalled = false;
        const milliseconds stall(watch_options.stall_timeout_ms);
        // A member that accepts the connection and says nothing (frozen) gets no more than a
        // unary call's time to create the watch.
        const milliseconds open_limit(options.request_timeout_ms);
        const auto opened_at = Clock::now();
        last_data = opened_at;
        curl_multi_add_handle(multi.get(), h);
        for (bool done = false; !done && !stopping.load();) {
            int running = 0;
            curl_multi_perform(multi.get(), &running);
            int queued = 0;
            while (CURLMsg* m = curl_multi_info_read(multi.get(), &queued)) {
                if (m->msg == CURLMSG_DONE) {
                    result = m->data.result;
                    done = true;
                }
            }
            if (done) {
                break;
            }
            int wait_ms = 1000;
            if (!created) {
                const auto waited = Clock::now() - opened_at;
                if (waited >= open_limit) {
                    stalled = true;
                    break;
                }
                wait_ms = static_cast<int>(std::min<int64_t>(
                    wait_ms,
                    std::chrono::duration_cast<milliseconds>(open_limit - waited).count() + 1));
            }
            if (stall.count() > 0) {
                // Stall detection: no byte since last_data (progress notifications keep a
                // healthy stream busy). Removing the handle below ends the transfer.
                const auto quiet = Clock::now() - last_data;
                if (quiet >= stall) {
                    stalled = true;
                    break;
                }
                wait_ms = static_cast<int>(std::min<int64_t>(
                    wait_ms, std::chrono::duration_cast<milliseconds>(stall - quiet).count() + 1));
            }
            curl_multi_poll(multi.get(), nullptr, 0, wait_ms, nullptr);
        }
        curl_multi_remove_handle(multi.get(), h);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);

        if (stopping.load()) {
            return Outcome::Stopped;
        }
        if (stalled) {
            set_error("watch " + base + ": " +
                      (created ? "no data for " + std::to_string(watch_options.stall_timeout_ms) +
                                     " ms (stalled)"
                               : "not created within " +
                                     std::to_string(options.request_timeout_ms) + " ms"));
            return Outcome::Failed;
        }
        if (!compacted && !failed) {
            // The end of the stream: what is left is an error object without its newline
            // (notes §3), or a whole non-200 reply.
            if (!buffer.empty()) {
                handle_line(buffer);
                buffer.clear();
            }
        }
        if (compacted) {
            return Outcome::Compacted;
        }
        if (!failed) {
            failure =
                result == CURLE_OK ? "the stream ended" : std::string(curl_easy_strerror(result));
        }
        set_error("watch " + base + ": " + failure);
        return Outcome::Failed;
    }

    static size_t on_data(char* data, size_t size, size_t count, void* self) {
        auto& w = *static_cast<Impl*>(self);
        const size_t bytes = size * count;
        w.last_data = Clock::now();
        if (w.stopping.load()) {
            return 0;
        }
        if (!w.status_checked) {
            long status = 0;
            curl_easy_getinfo(w.easy.get(), CURLINFO_RESPONSE_CODE, &status);
            w.status_checked = true;
            w.http_ok = status == 200;
            w.http_status = status;
        }
        if (!w.http_ok) {  // an error envelope, read at the end
            if (w.buffer.size() < kMaxErrorBody) {
                w.buffer.append(data, bytes);
            }
            return bytes;
        }
        w.buffer.append(data, bytes);
        size_t begin = 0;
        for (size_t nl; (nl = w.buffer.find('\n', begin)) != std::string::npos; begin = nl + 1) {
            w.handle_line(std::string_view(w.buffer).substr(begin, nl - begin));
            if (w.failed || w.compacted || w.stopping.load()) {
                return 0;  // CURLE_WRITE_ERROR: this stream is over
            }
        }
        w.buffer.erase(0, begin);
        return bytes;
    }

    void fail(std::string why) {
        failed = true;
        failure = std::move(why);
    }

    void handle_line(std::string_view line) {
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            return;
        }
        const json j = json::parse(line, nullptr, false);
        if (j.is_discarded()) {
            fail(http_ok ? "a line that is not JSON" : "HTTP " + std::to_string(http_status));
            return;
        }
        int code = 0;
        std::string message;
        if (error_envelope(j, code, message)) {
            if (code == kGrpcUnauthenticated) {
                renew_token = true;
            }
            fail(message);
            return;
        }
        if (!http_ok) {
            fail("HTTP " + std::to_string(http_status));
            return;
        }
        const auto it = j.find("result");
        if (it == j.end()) {
            return;
        }
        const json& r = *it;
        if (to_bool(r, "canceled")) {
            if (to_int(r, "compact_revision") > 0) {
                compacted = true;  // the stream stays open: close it, read afresh (notes §4)
            } else {
                const std::string reason = to_string(r, "cancel_reason");
                if (contains(reason, "auth token") || contains(reason, "user name")) {
                    renew_token = true;
                }
                fail("canceled: " + reason);
            }
            return;
        }
        if (to_bool(r, "created")) {
            created = true;
            created_at = Clock::now();
            set_state(true);
            return;
        }
        const auto events = r.find("events");
        if (events == r.end() || !events->is_array() || events->empty()) {
            // A progress notification: every event up to its revision was sent.
            const int64_t revision = header_revision(r);
            if (revision > last_revision) {
                last_revision = revision;
                if (callbacks.on_progress) {
                    callbacks.on_progress(revision);
                }
            }
            return;
        }
        std::vector<Event> out;
        out.reserve(events->size());
        int64_t top = last_revision;
        for (const auto& e : *events) {
            Event ev;
            ev.type = to_string(e, "type") == "DELETE" ? Event::Type::Delete : Event::Type::Put;
            if (const auto kv = e.find("kv"); kv != e.end()) {
                ev.kv = decode_kv(*kv);
            }
            if (const auto prev = e.find("prev_kv"); prev != e.end()) {
                ev.prev_kv = decode_kv(*prev);
            }
            if (ev.kv.mod_revision <= last_revision) {
                continue;  // already delivered (never expected after a resume from last + 1)
            }
            top = std::max(top, ev.kv.mod_revision);
            out.push_back(std::move(ev));
        }
        if (out.empty()) {
            return;
        }
        last_revision = top;
        if (callbacks.on_events) {
            callbacks.on_events(out, top);
        }
    }

    ClientOptions options;
    Client client;  // resync reads and the auth token
    const std::string key;
    const std::string range_end;
    const int64_t start_revision;
    const Callbacks callbacks;
    const WatchOptions watch_options;
    MultiPtr multi;
    EasyPtr easy;

    std::atomic<bool> stopping{false};
    std::atomic<int64_t> last_revision{0};  // written by the thread, read by revision()
    std::atomic<uint64_t> reconnect_count{0};
    mutable std::mutex mu;  // cv, last_error
    std::condition_variable cv;
    std::string last_error;

    // The watch thread's own.
    std::optional<bool> state;
    uint64_t opened = 0;
    std::string request;
    std::string buffer;
    bool created = false;
    Clock::time_point created_at;
    Clock::time_point last_data;  // the last byte of the stream (or its start)
    bool compacted = false;
    bool failed = false;
    std::string failure;
    bool status_checked = false;
    bool http_ok = true;
    long http_status = 0;
    bool renew_token = false;

    std::thread thread;
};

Watch::Watch(ClientOptions options, std::string key, std::string range_end, int64_t start_revision,
             Callbacks callbacks, WatchOptions watch_options)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(key), std::move(range_end),
                                   start_revision, std::move(callbacks), watch_options)) {
    impl_->thread = std::thread([this] { impl_->run(); });
}

Watch::~Watch() {
    stop();
    if (impl_->thread.joinable()) {
        // A callback that destroyed its own Watch would join itself (documented as not allowed).
        assert(impl_->thread.get_id() != std::this_thread::get_id());
        impl_->thread.join();
    }
}

void Watch::stop() {
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping.store(true);
    }
    impl_->cv.notify_all();
    curl_multi_wakeup(impl_->multi.get());
}

int64_t Watch::revision() const { return impl_->last_revision.load(); }

uint64_t Watch::reconnects() const { return impl_->reconnect_count.load(); }

std::string Watch::last_error() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_error;
}

}  // namespace gtm::store::etcd
