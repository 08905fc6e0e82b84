// The web page at "/" and its assets under "/page/": static files built into the binary
// (page_assets.h), served with a strict Content-Security-Policy. The page holds no data and
// needs no token to load; everything it shows comes from /api/v1 with the bearer token the
// user entered. Called on the web thread by Api::handle.
#pragma once

#include <optional>

#include "web/api.h"

namespace gtm::web {

// No inline script or style, no eval, nothing from another origin, no framing, no form posts:
// the page's own files and its own API only.
inline constexpr const char* kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The answer for "/" and "/page/..." (GET and HEAD; 405 otherwise, 404 for an unknown asset);
// nullopt for every other path.
std::optional<Response> page_response(const Request& r);

}  // namespace gtm::web
