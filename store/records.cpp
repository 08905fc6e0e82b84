#include "store/records.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/ldns_wrap.h"
#include "store/names.h"

namespace gtm::store {

namespace {

constexpr uint64_t kMaxTtl = 0x7fffffff;  // RFC 2181 §8

struct RrDeleter {
    void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
struct BufferDeleter {
    void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};

std::string rdf_name_slow(const ldns_rdf* rdf);

// ldns prints names with a trailing dot and escapes; names here are checked again by
// canonical_name so that the model holds one spelling. Names of letters, digits, '-' and '_'
// (and a leading '*') are read straight from the wire form; anything else goes the long way,
// which gives the reason.
std::string rdf_name(const ldns_rdf* rdf) {
    if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME) {
        const uint8_t* p = ldns_rdf_data(rdf);
        const size_t size = ldns_rdf_size(rdf);
        std::string out;
        out.reserve(size);
        size_t i = 0;
        bool ok = size > 0;
        bool first = true;
        while (ok && i < size && p[i] != 0) {
            const size_t len = p[i];
            if (len > 63 || i + 1 + len >= size) {
                ok = false;
                break;
            }
            if (!out.empty()) {
                out.push_back('.');
            }
            const bool star = first && len == 1 && p[i + 1] == '*';
            for (size_t k = 1; k <= len && ok && !star; ++k) {
                const unsigned char c = p[i + k];
                ok = std::isalnum(c) != 0 || c == '-' || c == '_';
                out.push_back(static_cast<char>(std::tolower(c)));
            }
            if (star) {
                out.push_back('*');
            }
            first = false;
            i += 1 + len;
        }
        if (ok && i + 1 == size) {
            return out;
        }
    }
    return rdf_name_slow(rdf);
}

std::string rdf_name_slow(const ldns_rdf* rdf) {
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

// Types gtmd does not serve, or cannot serve correctly, with the reason an operator is given.
bool refused_type(uint16_t t, std::string* why) {
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
        case LDNS_RR_TYPE_CDS:
        case LDNS_RR_TYPE_CDNSKEY:
        case LDNS_RR_TYPE_CSYNC:
            // RFC 7344 §4.1, RFC 7477 §3: the parent acts on them only when they are signed.
            *why = "CDS, CDNSKEY and CSYNC are only used in signed zones: gtmd does not sign zones";
            return true;
        case LDNS_RR_TYPE_KEY:
        case LDNS_RR_TYPE_SIG:
        case LDNS_RR_TYPE_NXT:
            *why = "KEY, SIG and NXT are the DNSSEC of RFC 2535, replaced by RFC 4034: not served";
            return true;
        case LDNS_RR_TYPE_ZONEMD:
            *why = "ZONEMD is a digest of the whole zone as served; gtmd does not compute one";
            return true;
        case LDNS_RR_TYPE_TA:
        case LDNS_RR_TYPE_DLV:
            *why = "TA and DLV are not DNS data a zone serves (RFC 8749)";
            return true;
        case LDNS_RR_TYPE_MD:
        case LDNS_RR_TYPE_MF:
            *why = "MD and MF are obsolete (RFC 973): use MX";
            return true;
        case LDNS_RR_TYPE_A6:
            *why = "A6 is historic (RFC 6563): use AAAA";
            return true;
        case 0:
        case 65535:
            *why = "type " + std::to_string(t) + " is reserved (RFC 6895 §3.1)";
            return true;
        case LDNS_RR_TYPE_OPT:
            *why = "meta type cannot be a record";
            return true;
        default:
            break;
    }
    // RFC 6895 §3.1: 128-255 are QTYPEs and meta-types (TKEY, TSIG, IXFR, AXFR, ANY...).
    if (t >= 128 && t <= 255) {
        *why = "meta type cannot be a record";
        return true;
    }
    return false;
}

// A record's text split as a zone file would be: whitespace-separated, "quoted strings" (with
// backslash escapes) as one token, parentheses as whitespace, a ';' comment ending the line.
std::vector<std::string_view> tokens_of(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == '(' || c == ')') {
            ++i;
            continue;
        }
        if (c == ';') {
            break;
        }
        const size_t start = i;
        if (c == '"') {
            ++i;
            while (i < line.size() && line[i] != '"') {
                i += line[i] == '\\' ? 2 : 1;
            }
            i = std::min(i + 1, line.size());
        } else {
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '(' &&
                   line[i] != ')' && line[i] != ';' && line[i] != '"') {
                i += line[i] == '\\' ? 2 : 1;
            }
            i = std::min(i, line.size());
        }
        out.push_back(line.substr(start, i - start));
    }
    return out;
}

bool starts_with_digit(std::string_view t) { return !t.empty() && t[0] >= '0' && t[0] <= '9'; }

// A TTL as ldns reads one ("300", "1h30m", "2w"), in seconds; nullopt when it is not one. Saturates
// far above 2^32, where ldns would silently wrap.
std::optional<uint64_t> period_seconds(std::string_view t) {
    constexpr uint64_t kCap = uint64_t{1} << 40;
    uint64_t total = 0;
    uint64_t n = 0;
    bool digits = false;
    for (char c : t) {
        if (c >= '0' && c <= '9') {
            n = std::min(kCap, n * 10 + static_cast<uint64_t>(c - '0'));
            digits = true;
            continue;
        }
        uint64_t unit = 0;
        switch (std::tolower(static_cast<unsigned char>(c))) {
            case 's':
                unit = 1;
                break;
            case 'm':
                unit = 60;
                break;
            case 'h':
                unit = 3600;
                break;
            case 'd':
                unit = 86400;
                break;
            case 'w':
                unit = 604800;
                break;
            default:
                return std::nullopt;
        }
        if (!digits) {
            return std::nullopt;
        }
        total = std::min(kCap, total + n * unit);
        n = 0;
        digits = false;
    }
    return std::min(kCap, total + n);
}

bool is_class_token(std::string_view t) {
    std::string u(t);
    for (auto& c : u) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return u == "IN" || u == "CH" || u == "CS" || u == "HS" || u == "NONE" || u == "ANY" ||
           u.rfind("CLASS", 0) == 0;
}

// The TTL as written must be what ldns stored: ldns reads "4294967297" as 1 and "99999999999" as
// 1215752191. RFC 2181 §8: 0 to 2^31-1.
void check_ttl(const std::vector<std::string_view>& tokens, uint32_t parsed_ttl) {
    for (size_t i = 1; i < tokens.size() && i <= 2; ++i) {
        if (is_class_token(tokens[i])) {
            continue;
        }
        if (!starts_with_digit(tokens[i])) {
            return;  // the type: no TTL written
        }
        const std::string written(tokens[i]);
        auto ttl = period_seconds(tokens[i]);
        if (!ttl) {
            throw std::invalid_argument("'" + written + "' is not a TTL");
        }
        if (*ttl > kMaxTtl) {
            throw std::invalid_argument("TTL " + written + " is over " + std::to_string(kMaxTtl) +
                                        " (RFC 2181 §8)");
        }
        if (*ttl != parsed_ttl) {
            throw std::invalid_argument("TTL " + written + " cannot be read as written");
        }
        return;
    }
}

// The index of the type among the tokens (after the owner, the TTL and the class).
size_t type_index(const std::vector<std::string_view>& tokens) {
    size_t i = 1;
    while (i < tokens.size() && i <= 2 &&
           (starts_with_digit(tokens[i]) || is_class_token(tokens[i]))) {
        ++i;
    }
    return i;
}

// ldns 1.8.3 leaks the field it has just parsed when a CERT record's type is 0 (reserved, RFC
// 4398 section 2.1; ldns_str2rdf_cert_alg returns an error without freeing it): found by
// fuzz_record. Refused here first, the line split as ldns reads a record's head (whitespace
// only: a '"' owner is a name to it) and the number read as ldns reads it (strtol, 16 bits).
void refuse_cert_type_zero(std::string_view line) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < line.size() && words.size() < 5) {
        const size_t start = line.find_first_not_of(" \t()", i);
        if (start == std::string_view::npos) {
            break;
        }
        const size_t stop = std::min(line.find_first_of(" \t()", start), line.size());
        words.push_back(line.substr(start, stop - start));
        i = stop;
    }
    for (size_t t = 1; t + 1 < words.size() && t <= 3; ++t) {
        std::string type(words[t]);
        std::transform(type.begin(), type.end(), type.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (type != "CERT") {
            continue;
        }
        const std::string field(words[t + 1]);
        char* end = nullptr;
        const long v = std::strtol(field.c_str(), &end, 10);
        if (end != field.c_str() && (static_cast<unsigned long>(v) & 0xffff) == 0) {
            throw std::invalid_argument("CERT type 0 is reserved (RFC 4398)");
        }
        return;
    }
}

// Rdata fields that take exactly one token in the text form.
bool single_token(ldns_rdf_type t) {
    switch (t) {
        case LDNS_RDF_TYPE_INT8:
        case LDNS_RDF_TYPE_INT16:
        case LDNS_RDF_TYPE_INT32:
        case LDNS_RDF_TYPE_CERTIFICATE_USAGE:
        case LDNS_RDF_TYPE_SELECTOR:
        case LDNS_RDF_TYPE_MATCHING_TYPE:
        case LDNS_RDF_TYPE_A:
        case LDNS_RDF_TYPE_AAAA:
        case LDNS_RDF_TYPE_DNAME:
        case LDNS_RDF_TYPE_STR:
        case LDNS_RDF_TYPE_TYPE:
        case LDNS_RDF_TYPE_CLASS:
        case LDNS_RDF_TYPE_ALG:
        case LDNS_RDF_TYPE_CERT_ALG:
        case LDNS_RDF_TYPE_TAG:
        case LDNS_RDF_TYPE_ILNP64:
        case LDNS_RDF_TYPE_EUI48:
        case LDNS_RDF_TYPE_EUI64:
            return true;
        default:
            return false;
    }
}

// Numbers in the rdata must fit their field: ldns stores "MX 70000 mail" as preference 4464 and
// "MX -1" as 65535. Checked for the leading fields whose tokens line up with ldns' fields.
void check_numbers(const std::vector<std::string_view>& tokens, size_t first, const ldns_rr* rr) {
    if (first < tokens.size() && tokens[first] == "\\#") {
        return;  // RFC 3597 generic form: bytes, no numbers
    }
    size_t t = first;
    for (size_t i = 0; i < ldns_rr_rd_count(rr) && t < tokens.size(); ++i, ++t) {
        const ldns_rdf* rdf = ldns_rr_rdf(rr, i);
        const ldns_rdf_type type = ldns_rdf_get_type(rdf);
        if (!single_token(type)) {
            return;
        }
        uint64_t max = 0;
        uint64_t stored = 0;
        if (ldns_rdf_size(rdf) == 1 &&
            (type == LDNS_RDF_TYPE_INT8 || type == LDNS_RDF_TYPE_CERTIFICATE_USAGE ||
             type == LDNS_RDF_TYPE_SELECTOR || type == LDNS_RDF_TYPE_MATCHING_TYPE)) {
            max = 0xff;
            stored = ldns_rdf2native_int8(rdf);
        } else if (type == LDNS_RDF_TYPE_INT16 && ldns_rdf_size(rdf) == 2) {
            max = 0xffff;
            stored = ldns_rdf2native_int16(rdf);
        } else if (type == LDNS_RDF_TYPE_INT32 && ldns_rdf_size(rdf) == 4) {
            max = 0xffffffff;
            stored = ldns_rdf2native_int32(rdf);
        } else {
            continue;
        }
        std::string_view w = tokens[t];
        const bool negative = !w.empty() && w[0] == '-';
        std::string_view digits = w.substr(!w.empty() && (w[0] == '-' || w[0] == '+') ? 1 : 0);
        if (digits.empty() || !std::all_of(digits.begin(), digits.end(),
                                           [](char c) { return c >= '0' && c <= '9'; })) {
            continue;  // a mnemonic ldns knows, or something it refused already
        }
        uint64_t value = 0;
        for (char c : digits) {
            value = std::min(max + 1, value * 10 + static_cast<uint64_t>(c - '0'));
        }
        if (negative || value > max || value != stored) {
            throw std::invalid_argument("'" + std::string(w) + "' (field " + std::to_string(i + 1) +
                                        ") is out of range: must be from 0 to " +
                                        std::to_string(max));
        }
    }
}

}  // namespace

RecordParser::RecordParser(std::string_view zone)
    : zone_(zone),
      origin_(ldns_dname_new_frm_str((std::string(zone) + ".").c_str()),
              [](ldns_struct_rdf* rdf) { ldns_rdf_deep_free(rdf); }) {
    if (!origin_) {
        throw std::invalid_argument("bad zone name");
    }
}

RecordData parse_record(std::string_view text, std::string_view zone, uint32_t default_ttl_s) {
    return RecordParser(zone).parse(text, default_ttl_s);
}

RecordData RecordParser::parse(std::string_view text, uint32_t default_ttl_s) const {
    const std::string_view zone = zone_;
    std::string line(text);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) {
        throw std::invalid_argument("empty record");
    }
    // ldns reads a C string: a NUL would end the record there and drop the rest silently. Line
    // breaks and other control characters are refused too: write them as \DDD in a quoted string.
    for (unsigned char c : line) {
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            throw std::invalid_argument(
                c == 0 ? std::string("contains a NUL character (write \\000 to put one in a "
                                     "character-string)")
                       : "contains the control character " + std::to_string(c) +
                             " (write \\DDD inside a quoted string)");
        }
    }
    if (first != 0) {
        throw std::invalid_argument("record must start with its owner name ('@' for the apex)");
    }
    refuse_cert_type_zero(line);
    ldns_rr* raw = nullptr;
    ldns_status st = ldns_rr_new_frm_str(&raw, line.c_str(), default_ttl_s, origin_.get(), nullptr);
    std::unique_ptr<ldns_rr, RrDeleter> rr(raw);
    if (st != LDNS_STATUS_OK || !rr) {
        throw std::invalid_argument(std::string("cannot parse record: ") +
                                    ldns_get_errorstr_by_id(st));
    }
    if (ldns_rr_get_class(rr.get()) != LDNS_RR_CLASS_IN) {
        throw std::invalid_argument("only class IN is served");
    }
    std::string why;
    if (refused_type(static_cast<uint16_t>(ldns_rr_get_type(rr.get())), &why)) {
        throw std::invalid_argument(why);
    }
    const std::vector<std::string_view> tokens = tokens_of(line);
    check_ttl(tokens, ldns_rr_ttl(rr.get()));
    if (ldns_rr_ttl(rr.get()) > kMaxTtl) {
        throw std::invalid_argument("TTL over 2^31-1");
    }
    check_numbers(tokens, type_index(tokens) + 1, rr.get());

    // ldns appends the origin to a relative name without checking the result's length.
    auto check_size = [](const ldns_rdf* name, const char* what) {
        if (ldns_rdf_size(name) > 255) {
            throw std::invalid_argument(std::string(what) + " is " +
                                        std::to_string(ldns_rdf_size(name)) +
                                        " bytes in wire form, over the limit of 255");
        }
    };
    check_size(ldns_rr_owner(rr.get()), "the owner name");

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
        const ldns_rdf* target = ldns_rr_rdf(rr.get(), static_cast<size_t>(target_rdf));
        check_size(target, "the target name");
        out.target = rdf_name(target);
    }
    return out;
}

std::string type_to_string(uint16_t type) {
    std::unique_ptr<char, decltype(&free)> s(ldns_rr_type2str(static_cast<ldns_rr_type>(type)),
                                             &free);
    return s ? std::string(s.get()) : "TYPE" + std::to_string(type);
}

}  // namespace gtm::store
