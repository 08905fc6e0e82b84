// libFuzzer target for the REST API's URL parser (parse_target in web/api.cpp): any request
// target, its path split into decoded segments and its query string into decoded parameters.
// Besides the sanitizers it checks what the router relies on: the path is the target up to the
// first '?'; a target without a recorded problem has only printable ASCII in its segments and
// parameters, every parameter with a name and a value; a problem is always a 400 naming a field.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "web/api_call.h"

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

bool printable(const std::string& s) {
    for (unsigned char c : s) {
        if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gtm::web::Request req;
    req.method = "GET";
    req.target.assign(reinterpret_cast<const char*>(data), size);
    gtm::web::ApiDeps deps{};
    gtm::web::Api::Call c(req, deps, 0);
    gtm::web::parse_target(c);
    check(c.path == req.target.substr(0, req.target.find('?')));
    if (c.target_error) {
        check(c.target_error->status == 400 && !c.target_error->field.empty());
        return 0;
    }
    for (const auto& s : c.segments) {
        check(printable(s) || s.empty());
    }
    for (const auto& [k, v] : c.query) {
        check(!k.empty() && printable(k) && !v.empty() && printable(v));
    }
    return 0;
}
