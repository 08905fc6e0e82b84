// Writes health events (and the verdicts they leave) to the store from a thread of its own, so
// that neither the prober nor the DNS path ever waits for the disk. A locked or full database
// delays the writes; events wait in a bounded queue and are retried, the oldest dropped (and
// counted) beyond it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/db.h"

namespace gtm::store {

class EventWriter {
  public:
    EventWriter(std::string db_path, Retention retention, size_t max_queue = 100000);
    ~EventWriter();

    void push(std::vector<HealthEvent> events);
    void stop();  // writes what is queued, if it can, then returns

    uint64_t dropped() const { return dropped_.load(); }
    uint64_t written() const { return written_.load(); }

  private:
    void run();

    std::string path_;
    Retention retention_;
    size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<HealthEvent> queue_;
    bool stopping_ = false;
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> written_{0};
    std::thread thread_;
};

}  // namespace gtm::store
