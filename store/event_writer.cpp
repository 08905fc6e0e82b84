#include "store/event_writer.h"

#include <chrono>
#include <cstdio>

namespace gtm::store {

namespace {
constexpr size_t kBatch = 500;
constexpr auto kRetry = std::chrono::seconds(1);
constexpr auto kPruneEvery = std::chrono::hours(1);

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

EventWriter::EventWriter(std::string db_path, Retention retention, size_t max_queue)
    : path_(std::move(db_path)),
      retention_(retention),
      max_queue_(max_queue),
      thread_([this] { run(); }) {}

EventWriter::~EventWriter() { stop(); }

void EventWriter::push(std::vector<HealthEvent> events) {
    {
        std::lock_guard lock(mu_);
        for (auto& e : events) {
            if (queue_.size() >= max_queue_) {
                queue_.pop_front();
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
    std::unique_ptr<Store> store;
    auto last_prune = std::chrono::steady_clock::now() - kPruneEvery;
    for (;;) {
        std::vector<HealthEvent> batch;
        bool stopping = false;
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, kPruneEvery, [&] { return stopping_ || !queue_.empty(); });
            stopping = stopping_;
            const size_t n = std::min(queue_.size(), kBatch);
            batch.assign(std::make_move_iterator(queue_.begin()),
                         std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
        }
        try {
            if (!store) {
                store = std::make_unique<Store>(path_, 1000);
            }
            store->append_events(batch);
            written_.fetch_add(batch.size());
            {
                std::lock_guard lock(mu_);
                queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(std::min(
                                                                  batch.size(), queue_.size())));
            }
            if (std::chrono::steady_clock::now() - last_prune >= kPruneEvery) {
                store->prune(retention_, unix_ms());
                last_prune = std::chrono::steady_clock::now();
            }
        } catch (const StoreError& e) {
            // Locked or full: keep the events and try again shortly (or give up when stopping).
            std::fprintf(stderr, "gtmd: health events not written yet: %s\n", e.what());
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
