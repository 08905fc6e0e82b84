// libFuzzer target for gtmd's server settings (gtmd.yaml, gtmd/server_config.cpp): any text
// through parse_server_config. Besides the sanitizers it checks what every outcome keeps: a
// problem is a store::DocumentError (one line naming the file), never another exception; a
// config that parses holds values inside the documented ranges.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gtmd/server_config.h"
#include "store/errors.h"

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    gtm::dns::ServerConfig cfg;
    try {
        gtm::dns::parse_server_config(text, "fuzz.yaml", cfg);
    } catch (const gtm::store::DocumentError& e) {
        const std::string line = e.what();
        check(line.rfind("fuzz.yaml", 0) == 0);
        check(line.find('\n') == std::string::npos || line.size() > 0);
        return 0;
    }
    check(cfg.workers <= 256);
    check(cfg.responder.udp_max_size >= 512 && cfg.responder.udp_max_size <= 4096);
    check(cfg.tcp.idle_timeout_ms >= 100 && cfg.tcp.idle_timeout_ms <= 3600000);
    check(cfg.tcp.read_timeout_ms >= 100 && cfg.tcp.read_timeout_ms <= 60000);
    check(cfg.tcp.max_connections >= 1);
    check(cfg.responder.nsid.size() <= 128);
    check(cfg.rrl.rate >= 1 && cfg.rrl.rate <= 1000000);
    check(cfg.rrl.slip <= 100);
    check(cfg.rrl.ipv4_prefix >= 8 && cfg.rrl.ipv4_prefix <= 32);
    check(cfg.rrl.ipv6_prefix >= 16 && cfg.rrl.ipv6_prefix <= 128);
    for (const auto& p : cfg.rrl.exempt) {
        check(p.length <= (p.v6 ? 128 : 32));
    }
    check(cfg.tls_cert.empty() == cfg.tls_key.empty());
    return 0;
}
