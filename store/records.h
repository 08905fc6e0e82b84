// Zone data in zone-file syntax, parsed with ldns.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/model.h"

struct ldns_struct_rdf;  // ldns_rdf; ldns itself stays inside records.cpp

namespace gtm::store {

// Parses the records of one zone (canonical name), its origin prepared once: validate() reads
// tens of thousands of records with one. Not thread-safe; cheap to make.
class RecordParser {
  public:
    explicit RecordParser(std::string_view zone);  // throws std::invalid_argument
    // As parse_record.
    RecordData parse(std::string_view text, uint32_t default_ttl_s) const;

  private:
    std::string zone_;
    std::unique_ptr<ldns_struct_rdf, void (*)(ldns_struct_rdf*)> origin_;
};

// Parses one record ("www 300 CNAME bookinfo") relative to `zone` (canonical). Class IN only;
// SOA (the zone's `soa` key), DNAME and DNSSEC types are refused. Throws std::invalid_argument
// with the reason.
RecordData parse_record(std::string_view text, std::string_view zone, uint32_t default_ttl_s);

// The mnemonic of a type ("TXT"), or "TYPE65280" for one ldns does not name.
std::string type_to_string(uint16_t type);

}  // namespace gtm::store
