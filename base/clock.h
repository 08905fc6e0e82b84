// The two clocks of gtmd, in milliseconds: monotonic for timers, probe results, slow start and
// everything that measures durations; unix time for what operators read (audit, events).
#pragma once

#include <chrono>
#include <cstdint>

namespace gtm {

inline int64_t monotonic_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace gtm
