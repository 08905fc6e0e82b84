// The prober's way to include Boost.Asio (healthcheck/ cannot include dnsd/asio.h). Boost 1.74's
// awaitable.hpp uses std::exchange without including <utility>, which GCC 12 does not pull in.
#pragma once

// clang-format off
#include <utility>  // must come first, see above
#include <boost/asio.hpp>
// clang-format on
