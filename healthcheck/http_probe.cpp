#include "healthcheck/http_probe.h"

#include <algorithm>
#include <cerrno>

#include "store/names.h"

namespace gtm::health {

namespace {
constexpr size_t kMaxBody = 64 * 1024;  // expect_body looks at the first 64 KiB
}  // namespace

HttpProbe::HttpProbe(const store::Monitor& m, const std::string& address, void* owner,
                     const std::string& source)
    : monitor_(m), easy_(curl_easy_init()) {
    CURL* e = easy_.get();
    if (!source.empty()) {
        interface_ = "host!" + source;  // bind to this address, whatever the interface
        curl_easy_setopt(e, CURLOPT_INTERFACE, interface_.c_str());
    }
    const bool https = m.type == store::MonitorType::Https;
    const bool v6 = store::family_of(address) == store::Family::V6;
    const std::string literal = v6 ? "[" + address + "]" : address;
    const std::string port = std::to_string(m.port);
    const std::string host = m.host.empty() ? literal : m.host;
    const std::string url =
        std::string(https ? "https://" : "http://") + host + ":" + port + m.path;
    if (!m.host.empty()) {
        // Connect to the member while the URL (Host header, SNI, certificate name) names the
        // service.
        connect_to_.reset(
            curl_slist_append(nullptr, (m.host + ":" + port + ":" + literal + ":" + port).c_str()));
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to_.get());
    }
    for (const auto& [k, v] : m.headers) {
        headers_.reset(curl_slist_append(headers_.release(), (k + ": " + v).c_str()));
    }
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, owner);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(m.timeout_ms));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m.timeout_ms));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpProbe::on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gtmd-probe/0.1");
    // Members are IP literals: nothing to expire, and an expiring cache makes curl walk all of
    // its entries on every probe (quadratic in the number of targets).
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, -1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (headers_) {
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_.get());
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

void* HttpProbe::owner_of(CURL* easy) {
    void* owner = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &owner);
    return owner;
}

CURL* HttpProbe::start() {
    body_.clear();
    body_full_ = false;
    errbuf_[0] = 0;
    return easy_.get();
}

size_t HttpProbe::on_body(char* data, size_t size, size_t n, void* self) {
    auto& p = *static_cast<HttpProbe*>(self);
    const size_t len = size * n;
    const size_t room = kMaxBody - p.body_.size();
    p.body_.append(data, std::min(len, room));
    if (len > room) {
        p.body_full_ = true;
        return 0;  // enough: ends the transfer (CURLE_WRITE_ERROR, not a failure)
    }
    return len;
}

ProbeResult HttpProbe::finish(CURLcode rc, int64_t started_ms) {
    ProbeResult r;
    r.started_ms = started_ms;
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_TOTAL_TIME_T, &total_us);
    r.latency_ms = static_cast<uint32_t>(total_us / 1000);
    long status = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
    r.http_status = static_cast<int>(status);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && body_full_)) {
        const store::Monitor& m = monitor_;
        const bool status_ok = std::any_of(
            m.expect_status.begin(), m.expect_status.end(),
            [&](const store::StatusRange& s) { return status >= s.from && status <= s.to; });
        if (!status_ok) {
            r.reason = Reason::Status;
            r.detail = "HTTP " + std::to_string(status);
        } else if (!m.expect_body.empty() && body_.find(m.expect_body) == std::string::npos) {
            r.reason = Reason::Body;
            r.detail = "'" + m.expect_body + "' not in the first " + std::to_string(body_.size()) +
                       " bytes";
        }
    } else {
        r.reason = classify(rc);
        r.detail = errbuf_[0] != 0 ? errbuf_ : curl_easy_strerror(rc);
    }
    return r;
}

Reason HttpProbe::classify(CURLcode rc) const {
    switch (rc) {
        case CURLE_COULDNT_CONNECT: {
            long os_errno = 0;
            curl_easy_getinfo(easy_.get(), CURLINFO_OS_ERRNO, &os_errno);
            if (os_errno == ECONNRESET) {
                return Reason::Reset;  // accepted, then reset at once
            }
            return os_errno == ECONNREFUSED ? Reason::ConnectRefused : Reason::ConnectError;
        }
        case CURLE_OPERATION_TIMEDOUT: {
            curl_off_t connect_us = 0;
            curl_easy_getinfo(easy_.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
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

}  // namespace gtm::health
