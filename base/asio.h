// The one way to include Boost.Asio. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, which GCC 12 does not pull in by itself.
#pragma once

// clang-format off
#include <utility>  // must come first, see above
#include <boost/asio.hpp>
// clang-format on
