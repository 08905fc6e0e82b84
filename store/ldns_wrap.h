// The one way to include ldns from C++. ldns 1.8.3's <ldns/common.h> #defines bool, true and
// false unless <stdbool.h> came first, which breaks whatever is included after it.
#pragma once

// clang-format off
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): must precede ldns, see above
#include <ldns/ldns.h>
// clang-format on
