#include "store/event_writer.h"

#include <chrono>
#include <cstdio>

#include "base/clock.h"

namespace gtm::store {

namespace {
constexpr size_t kBatch = 500;
constexpr auto kRetry = std::chrono::seconds(1);
constexpr auto kPruneEvery = std::chrono::hours(1);

}  // namespace

EventWriter::EventWriter(Store& store, Retention retention, size_t max_queue)
    : store_(store), retention_(retention), max_queue_(max_queue), thread_([this] { run(); }) {}

EventWriter::~EventWriter() { stop(); }

void EventWriter::push(std::vector<HealthEvent> events) {
    {
        std::lock_guard lock(mu_);
        for (auto& e : events) {
            if (queue_.size() >= max_queue_) {
                queue_.pop_front();
                ++front_seq_;
                dropped_.fetch_add(1);
            }
            queue_.push_back(std::move(e));
        }
    }
    cv_.notify_one();
}

void EventWriter::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void EventWriter::run() {
    auto last_prune = std::chrono::steady_clock::now() - kPruneEvery;
    for (;;) {
        // A copy of the oldest events: they leave the queue only once written, so that a failed
        // attempt retries the same events, in order.
        std::vector<HealthEvent> batch;
        uint64_t first = 0;  // sequence number of batch[0]
        bool stopping = false;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, kPruneEvery, [&] { return stopping_ || !queue_.empty(); });
            stopping = stopping_;
            const size_t n = std::min(queue_.size(), kBatch);
            batch.assign(queue_.begin(), queue_.begin() + static_cast<long>(n));
            first = front_seq_;
        }
        try {
            store_.append_events(batch);
            written_.fetch_add(batch.size());
            if (on_written_) {
                on_written_();
            }
            {
                // The queue may have dropped its oldest meanwhile (it was full): erase what is
                // still there of this batch, which is at its front.
                std::lock_guard lock(mu_);
                const uint64_t end = first + batch.size();
                if (end > front_seq_) {
                    const size_t n = std::min<size_t>(end - front_seq_, queue_.size());
                    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
                    front_seq_ += n;
                }
            }
            if (std::chrono::steady_clock::now() - last_prune >= kPruneEvery) {
                store_.prune(retention_, unix_ms());
                last_prune = std::chrono::steady_clock::now();
            }
        } catch (const StoreError& e) {
            // Locked, full or read-only: keep the events and try again shortly (or give up when
            // stopping: they stay unwritten, and the log says so).
            failures_.fetch_add(1);
            std::fprintf(stderr, "gtmd: %zu health events not written yet: %s\n", batch.size(),
                         e.what());
            if (stopping) {
                return;
            }
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, kRetry, [&] { return stopping_; });
            continue;
        }
        std::lock_guard lock(mu_);
        if (stopping && queue_.empty()) {
            return;
        }
    }
}

}  // namespace gtm::store
