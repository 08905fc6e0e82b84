#include "store/records.h"

#include <cctype>
#include <memory>
#include <stdexcept>

#include "store/ldns_wrap.h"
#include "store/names.h"

namespace gtm::store {

namespace {

struct RrDeleter {
    void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
struct RdfDeleter {
    void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
struct BufferDeleter {
    void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};

// ldns prints names with a trailing dot and escapes; names here are checked again by
// canonical_name so that the model holds one spelling.
std::string rdf_name(const ldns_rdf* rdf) {
    std::unique_ptr<char, decltype(&free)> s(ldns_rdf2str(rdf), &free);
    if (!s) {
        throw std::invalid_argument("unprintable name");
    }
    std::string reason;
    auto name = canonical_name(s.get(), &reason);
    if (!name) {
        throw std::invalid_argument(reason);
    }
    return *name;
}

bool refused_type(ldns_rr_type t, std::string* why) {
    switch (t) {
        case LDNS_RR_TYPE_SOA:
            *why = "SOA is set by the zone's 'soa' key, not as a record";
            return true;
        case LDNS_RR_TYPE_DNAME:
            *why = "DNAME is not supported";
            return true;
        case LDNS_RR_TYPE_RRSIG:
        case LDNS_RR_TYPE_NSEC:
        case LDNS_RR_TYPE_NSEC3:
        case LDNS_RR_TYPE_NSEC3PARAM:
        case LDNS_RR_TYPE_DNSKEY:
            *why = "DNSSEC records are not supported: gtmd does not sign zones";
            return true;
        case LDNS_RR_TYPE_OPT:
        case LDNS_RR_TYPE_TSIG:
        case LDNS_RR_TYPE_AXFR:
        case LDNS_RR_TYPE_IXFR:
        case LDNS_RR_TYPE_ANY:
            *why = "meta type cannot be a record";
            return true;
        default:
            return false;
    }
}

}  // namespace

RecordData parse_record(std::string_view text, std::string_view zone, uint32_t default_ttl_s) {
    std::string line(text);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) {
        throw std::invalid_argument("empty record");
    }
    if (first != 0) {
        throw std::invalid_argument("record must start with its owner name ('@' for the apex)");
    }
    std::unique_ptr<ldns_rdf, RdfDeleter> origin(
        ldns_dname_new_frm_str((std::string(zone) + ".").c_str()));
    if (!origin) {
        throw std::invalid_argument("bad zone name");
    }
    ldns_rr* raw = nullptr;
    ldns_status st = ldns_rr_new_frm_str(&raw, line.c_str(), default_ttl_s, origin.get(), nullptr);
    std::unique_ptr<ldns_rr, RrDeleter> rr(raw);
    if (st != LDNS_STATUS_OK || !rr) {
        throw std::invalid_argument(std::string("cannot parse record: ") +
                                    ldns_get_errorstr_by_id(st));
    }
    if (ldns_rr_get_class(rr.get()) != LDNS_RR_CLASS_IN) {
        throw std::invalid_argument("only class IN is served");
    }
    std::string why;
    if (refused_type(ldns_rr_get_type(rr.get()), &why)) {
        throw std::invalid_argument(why);
    }
    if (ldns_rr_ttl(rr.get()) > 0x7fffffffu) {
        throw std::invalid_argument("TTL over 2^31-1");
    }

    RecordData out;
    out.text = line;
    out.owner = rdf_name(ldns_rr_owner(rr.get()));
    out.type = static_cast<uint16_t>(ldns_rr_get_type(rr.get()));
    out.ttl_s = ldns_rr_ttl(rr.get());
    if (!in_zone(out.owner, zone)) {
        throw std::invalid_argument("owner '" + out.owner + "' is outside the zone '" +
                                    std::string(zone) + "'");
    }
    std::unique_ptr<ldns_buffer, BufferDeleter> buf(ldns_buffer_new(512));
    if (ldns_rr_rdata2buffer_wire(buf.get(), rr.get()) != LDNS_STATUS_OK) {
        throw std::invalid_argument("cannot encode rdata");
    }
    const auto* data = static_cast<const uint8_t*>(ldns_buffer_begin(buf.get()));
    out.rdata.assign(data, data + ldns_buffer_position(buf.get()));
    if (out.rdata.size() > 65535) {
        throw std::invalid_argument("rdata over 65535 bytes");
    }

    int target_rdf = -1;
    switch (ldns_rr_get_type(rr.get())) {
        case LDNS_RR_TYPE_CNAME:
        case LDNS_RR_TYPE_NS:
            target_rdf = 0;
            break;
        case LDNS_RR_TYPE_MX:
            target_rdf = 1;
            break;
        case LDNS_RR_TYPE_SRV:
            target_rdf = 3;
            break;
        default:
            break;
    }
    if (target_rdf >= 0 && static_cast<size_t>(target_rdf) < ldns_rr_rd_count(rr.get())) {
        out.target = rdf_name(ldns_rr_rdf(rr.get(), static_cast<size_t>(target_rdf)));
    }
    return out;
}

}  // namespace gtm::store
