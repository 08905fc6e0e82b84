// One http/https target's libcurl easy handle, kept for the target's life so that its
// keep-alive connection is reused between probes, and the reading of a finished transfer into a
// ProbeResult (status ranges, body substring, reason classes).
//
// Used on the prober thread only.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::health {

class HttpProbe {
  public:
    // `owner` is returned by owner_of() for the easy handle (CURLOPT_PRIVATE). `source`: the
    // local address probes leave from (empty: the kernel's choice).
    HttpProbe(const store::Monitor& monitor, const std::string& address, void* owner,
              const std::string& source = "");
    HttpProbe(const HttpProbe&) = delete;
    HttpProbe& operator=(const HttpProbe&) = delete;

    // Clears what the previous probe read; returns the handle to add to a multi handle.
    CURL* start();
    // The result of the transfer that just finished with `rc`.
    ProbeResult finish(CURLcode rc, int64_t started_ms);

    CURL* easy() const { return easy_.get(); }
    static void* owner_of(CURL* easy);

  private:
    static size_t on_body(char* data, size_t size, size_t n, void* self);
    Reason classify(CURLcode rc) const;

    struct EasyDeleter {
        void operator()(CURL* e) const { curl_easy_cleanup(e); }
    };
    struct SlistDeleter {
        void operator()(curl_slist* l) const { curl_slist_free_all(l); }
    };

    const store::Monitor& monitor_;  // owned by the target, which owns this probe
    std::unique_ptr<CURL, EasyDeleter> easy_;
    std::unique_ptr<curl_slist, SlistDeleter> headers_;
    std::unique_ptr<curl_slist, SlistDeleter> connect_to_;
    std::string interface_;  // "host!<source>"
    std::string body_;
    bool body_full_ = false;
    char errbuf_[CURL_ERROR_SIZE] = {};
};

}  // namespace gtm::health
