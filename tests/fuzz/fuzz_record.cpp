// libFuzzer target for zone-file record lines (store/records.h, ldns underneath): the first
// line of the input is the zone, the rest one record line ("www 300 CNAME bookinfo"). Besides
// the sanitizers it checks: a refused zone or line is std::invalid_argument, never another
// exception or a crash inside ldns; an accepted record has a name and rdata that fit a DNS
// message.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/records.h"

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t nl = input.find('\n');
    const std::string_view zone = nl == std::string_view::npos ? "fuzz.test" : input.substr(0, nl);
    const std::string_view line = nl == std::string_view::npos ? input : input.substr(nl + 1);
    std::unique_ptr<gtm::store::RecordParser> parser;
    try {
        parser = std::make_unique<gtm::store::RecordParser>(zone);
    } catch (const std::invalid_argument&) {
        parser = std::make_unique<gtm::store::RecordParser>("fuzz.test");
    }
    try {
        const gtm::store::RecordData r = parser->parse(line, 3600);
        check(r.rdata.size() <= 65535);
        check(r.owner.size() <= 255);  // the root zone's apex is "": no other claim on owners
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
