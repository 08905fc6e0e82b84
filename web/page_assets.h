// The web page's files, built into the binary: page_assets.cpp is generated at build time by
// embed_page.cmake from web/page/*.{html,js,css,svg} and uPlot's dist/ files in
// web/page/node_modules (scripts/setup installs them; they are never committed).
#pragma once

#include <cstddef>
#include <string_view>

namespace gtm::web {

struct PageAsset {
    std::string_view name;          // "app.js": served at /page/app.js ("/" is index.html)
    std::string_view content_type;  // "text/javascript; charset=utf-8"
    std::string_view body;
};

// Every asset, in no particular order; the table lives for the whole program.
extern const PageAsset* const kPageAssets;
extern const size_t kPageAssetCount;

}  // namespace gtm::web
