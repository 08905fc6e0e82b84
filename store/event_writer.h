// Writes health events (and the verdicts they leave) to the store from a thread of its own, so
// that neither the prober nor the DNS path ever waits for the disk. A locked, full or read-only
// store delays the writes: events wait in a bounded queue, in order, and the same batch is
// retried until it is written; only beyond the queue's bound are the oldest dropped (and
// counted).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace gtm::store {

class EventWriter {
  public:
    EventWriter(Store& store, Retention retention, size_t max_queue = 100000);
    ~EventWriter();

    void push(std::vector<HealthEvent> events);
    // Called on the writer's thread after each batch written (e.g. to wake the webhooks). Set
    // before events flow.
    void on_written(std::function<void()> f) { on_written_ = std::move(f); }
    void stop();  // writes what is queued, if it can, then returns

    uint64_t dropped() const { return dropped_.load(); }
    uint64_t written() const { return written_.load(); }
    uint64_t failures() const { return failures_.load(); }  // attempts the store refused

  private:
    void run();

    Store& store_;
    Retention retention_;
    size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<HealthEvent> queue_;
    uint64_t front_seq_ = 0;  // sequence number of queue_.front(): batches are erased by it
    bool stopping_ = false;
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> written_{0};
    std::atomic<uint64_t> failures_{0};
    std::function<void()> on_written_;
    std::thread thread_;
};

}  // namespace gtm::store
