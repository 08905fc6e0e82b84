#include "web/page.h"

#include <string>
#include <string_view>

#include "web/page_assets.h"

namespace gtm::web {

namespace {

constexpr std::string_view kAssetPrefix = "/page/";

const PageAsset* find_asset(std::string_view name) {
    for (size_t i = 0; i < kPageAssetCount; ++i) {
        if (kPageAssets[i].name == name) {
            return &kPageAssets[i];
        }
    }
    return nullptr;
}

// Sent with the page, its assets and their errors alike.
void secure(Response& out) {
    out.headers.emplace_back("Content-Security-Policy", kPageCsp);
    out.headers.emplace_back("X-Content-Type-Options", "nosniff");
    out.headers.emplace_back("Referrer-Policy", "no-referrer");
    out.headers.emplace_back("X-Frame-Options", "DENY");
    out.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
    out.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
}

Response text(int status, std::string body) {
    Response out;
    out.status = status;
    out.content_type = "text/plain; charset=utf-8";
    out.body = std::move(body);
    secure(out);
    return out;
}

}  // namespace

std::optional<Response> page_response(const Request& r) {
    const std::string_view target = r.target;
    const std::string_view path = target.substr(0, target.find('?'));
    std::string_view name;
    if (path == "/") {
        name = "index.html";
    } else if (path.substr(0, kAssetPrefix.size()) == kAssetPrefix) {
        name = path.substr(kAssetPrefix.size());
    } else {
        return std::nullopt;
    }
    if (r.method != "GET" && r.method != "HEAD") {
        Response out = text(405, "method " + r.method + " not allowed here\n");
        out.headers.emplace_back("Allow", "GET, HEAD");
        return out;
    }
    const PageAsset* asset = find_asset(name);
    if (asset == nullptr) {
        return text(404, "no such file\n");
    }
    Response out;
    out.content_type = std::string(asset->content_type);
    out.body = std::string(asset->body);
    secure(out);
    return out;
}

}  // namespace gtm::web
