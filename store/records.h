// Zone data in zone-file syntax, parsed with ldns.
#pragma once

#include <string>
#include <string_view>

#include "store/model.h"

namespace gtm::store {

// Parses one record ("www 300 CNAME bookinfo") relative to `zone` (canonical). Class IN only;
// SOA (the zone's `soa` key), DNAME and DNSSEC types are refused. Throws std::invalid_argument
// with the reason.
RecordData parse_record(std::string_view text, std::string_view zone, uint32_t default_ttl_s);

// The mnemonic of a type ("TXT"), or "TYPE65280" for one ldns does not name.
std::string type_to_string(uint16_t type);

}  // namespace gtm::store
