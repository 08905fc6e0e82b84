// The differential test: for every query of tests/data/differential/cases.txt, the fast path's
// bytes must parse with ldns to the same message as a reference answer built with ldns.
#include <fstream>
#include <sstream>

#include "tests/unit/dns_test_util.h"

using namespace gtm;
using namespace gtm::test;

namespace {

struct Case {
    int line = 0;
    std::string header;  // the "=== ..." line
    std::string name, type, klass = "IN", opcode = "query";
    bool edns = false, dnssec_ok = false, nsid = false, rd = false, tcp = false;
    uint16_t udp_size = 0;
    uint8_t edns_version = 0;
    // The expected answer.
    std::string rcode = "NOERROR";
    std::vector<std::string> flags;
    bool expect_edns = false;
    uint16_t expect_udp = 0;
    bool expect_do = false;
    std::string expect_nsid;
    uint8_t expect_ext = 0;
    std::vector<std::string> sections[3];
};

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string s; in >> s;) {
        w.push_back(s);
    }
    return w;
}

std::vector<Case> load_cases(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot read ", path);
    std::vector<Case> cases;
    int section = -1;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto w = words(line);
        if (w[0] == "===") {
            Case c;
            c.line = n;
            c.header = line;
            c.name = w.at(1);
            c.type = w.at(2);
            for (size_t i = 3; i < w.size(); ++i) {
                const std::string& o = w[i];
                if (o.rfind("class=", 0) == 0) {
                    c.klass = o.substr(6);
                } else if (o.rfind("edns=", 0) == 0) {
                    c.edns = true, c.udp_size = static_cast<uint16_t>(std::stoi(o.substr(5)));
                } else if (o.rfind("ednsver=", 0) == 0) {
                    c.edns_version = static_cast<uint8_t>(std::stoi(o.substr(8)));
                } else if (o.rfind("opcode=", 0) == 0) {
                    c.opcode = o.substr(7);
                } else if (o == "do") {
                    c.dnssec_ok = true;
                } else if (o == "nsid") {
                    c.nsid = true;
                } else if (o == "rd") {
                    c.rd = true;
                } else if (o == "tcp") {
                    c.tcp = true;
                } else {
                    FAIL("line ", n, ": unknown option ", o);
                }
            }
            cases.push_back(c);
            section = -1;
            continue;
        }
        REQUIRE_MESSAGE(!cases.empty(), "line ", n, ": record before the first case");
        Case& c = cases.back();
        if (w[0] == "rcode") {
            c.rcode = w.at(1);
        } else if (w[0] == "flags") {
            c.flags.assign(w.begin() + 1, w.end());
        } else if (w[0] == "edns") {
            c.expect_edns = true;
            c.expect_udp = static_cast<uint16_t>(std::stoi(w.at(1)));
            for (size_t i = 2; i < w.size(); ++i) {
                if (w[i] == "do") {
                    c.expect_do = true;
                } else if (w[i].rfind("nsid=", 0) == 0) {
                    c.expect_nsid = w[i].substr(5);
                } else if (w[i].rfind("ext=", 0) == 0) {
                    c.expect_ext = static_cast<uint8_t>(std::stoi(w[i].substr(4)));
                }
            }
        } else if (w[0] == "answer:") {
            section = 0;
        } else if (w[0] == "authority:") {
            section = 1;
        } else if (w[0] == "additional:") {
            section = 2;
        } else {
            REQUIRE_MESSAGE(section >= 0, "line ", n, ": a record outside a section");
            c.sections[section].push_back(line);
        }
    }
    return cases;
}

struct RdfDeleter {
    void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};

// The query, built by ldns.
Bytes build_query(const Case& c) {
    ldns_rr_type type = ldns_get_rr_type_by_name(c.type.c_str());
    ldns_rr_class klass = ldns_get_rr_class_by_name(c.klass.c_str());
    REQUIRE(type != 0);
    ldns_pkt* q = nullptr;
    REQUIRE(ldns_pkt_query_new_frm_str(&q, c.name.c_str(), type, klass, c.rd ? LDNS_RD : 0) ==
            LDNS_STATUS_OK);
    Pkt query(q);
    ldns_pkt_set_id(q, 0x4242);
    if (c.opcode == "notify") {
        ldns_pkt_set_opcode(q, LDNS_PACKET_NOTIFY);
    }
    if (c.edns) {
        ldns_pkt_set_edns_udp_size(q, c.udp_size);
        ldns_pkt_set_edns_version(q, c.edns_version);
        ldns_pkt_set_edns_do(q, c.dnssec_ok);
        if (c.nsid) {
            static const uint8_t nsid_request[] = {0, 3, 0, 0};
            ldns_pkt_set_edns_data(q,
                                   ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 4, nsid_request));
        }
    }
    uint8_t* wire = nullptr;
    size_t size = 0;
    REQUIRE(ldns_pkt2wire(&wire, q, &size) == LDNS_STATUS_OK);
    Bytes out(wire, wire + size);
    free(wire);
    return out;
}

// The reference answer, built by ldns and sent through its own wire form.
Pkt build_reference(const Case& c) {
    ldns_pkt* p = ldns_pkt_new();
    ldns_pkt_set_id(p, 0x4242);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_opcode(p, c.opcode == "notify" ? LDNS_PACKET_NOTIFY : LDNS_PACKET_QUERY);
    for (const auto& f : c.flags) {
        if (f == "aa") {
            ldns_pkt_set_aa(p, true);
        } else if (f == "tc") {
            ldns_pkt_set_tc(p, true);
        } else if (f == "rd") {
            ldns_pkt_set_rd(p, true);
        } else if (f != "qr") {
            FAIL("unknown flag ", f);
        }
    }
    ldns_lookup_table* rc = ldns_lookup_by_name(ldns_rcodes, c.rcode.c_str());
    REQUIRE_MESSAGE(rc != nullptr, c.rcode);
    ldns_pkt_set_rcode(p, static_cast<uint8_t>(rc->id));
    ldns_rr* question = nullptr;
    std::string qtext = c.name + " " + c.klass + " " + c.type;
    REQUIRE(ldns_rr_new_question_frm_str(&question, qtext.c_str(), nullptr, nullptr) ==
            LDNS_STATUS_OK);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, question);
    const ldns_pkt_section where[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
                                      LDNS_SECTION_ADDITIONAL};
    for (int s = 0; s < 3; ++s) {
        for (const auto& text : c.sections[s]) {
            ldns_rr* rr = nullptr;
            REQUIRE_MESSAGE(
                ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK,
                text);
            ldns_pkt_push_rr(p, where[s], rr);
        }
    }
    if (c.expect_edns) {
        ldns_pkt_set_edns_udp_size(p, c.expect_udp);
        ldns_pkt_set_edns_do(p, c.expect_do);
        ldns_pkt_set_edns_extended_rcode(p, c.expect_ext);
        if (!c.expect_nsid.empty()) {
            Bytes opt = {0, 3, 0, static_cast<uint8_t>(c.expect_nsid.size())};
            opt.insert(opt.end(), c.expect_nsid.begin(), c.expect_nsid.end());
            ldns_pkt_set_edns_data(
                p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, opt.size(), opt.data()));
        }
    }
    uint8_t* wire = nullptr;
    size_t size = 0;
    REQUIRE(ldns_pkt2wire(&wire, p, &size) == LDNS_STATUS_OK);
    ldns_pkt_free(p);
    Bytes bytes(wire, wire + size);
    free(wire);
    return parse(bytes);
}

std::string edns_text(const ldns_pkt* p) {
    if (!ldns_pkt_edns(p)) {
        return "no OPT";
    }
    std::ostringstream s;
    s << "udp " << ldns_pkt_edns_udp_size(p) << " version " << int(ldns_pkt_edns_version(p))
      << " ext " << int(ldns_pkt_edns_extended_rcode(p)) << " z " << ldns_pkt_edns_z(p);
    if (const ldns_rdf* d = ldns_pkt_edns_data(p)) {
        s << " data "
          << std::string(reinterpret_cast<const char*>(ldns_rdf_data(d)), ldns_rdf_size(d));
    }
    return s.str();
}

std::string flags_text(const ldns_pkt* p) {
    std::string s = std::string(ldns_pkt_qr(p) ? "qr " : "") + (ldns_pkt_aa(p) ? "aa " : "") +
                    (ldns_pkt_tc(p) ? "tc " : "") + (ldns_pkt_rd(p) ? "rd " : "") +
                    (ldns_pkt_ra(p) ? "ra " : "") + (ldns_pkt_ad(p) ? "ad " : "") +
                    (ldns_pkt_cd(p) ? "cd " : "");
    return s + "opcode " + std::to_string(ldns_pkt_get_opcode(p)) + " rcode " +
           std::to_string(ldns_pkt_get_rcode(p));
}

}  // namespace

TEST_CASE("the fast path answers every corpus query as the ldns-built reference does") {
    const std::string dir = std::string(GTM_SOURCE_DIR) + "/tests/data/differential/";
    std::ifstream zone(dir + "zone.yaml");
    std::stringstream doc;
    doc << zone.rdbuf();
    TestServer server(doc.str());
    server.config.nsid = "diff-ns";
    server.config.version = "gtmd-diff";

    const auto cases = load_cases(dir + "cases.txt");
    CHECK(cases.size() >= 40);
    for (const Case& c : cases) {
        CAPTURE(c.header);
        CAPTURE(c.line);
        Bytes answer =
            server.ask(build_query(c), c.tcp ? dns::Transport::Tcp : dns::Transport::Udp);
        Pkt got = parse(answer);
        Pkt want = build_reference(c);
        CHECK(ldns_pkt_id(got.get()) == 0x4242);
        CHECK(flags_text(got.get()) == flags_text(want.get()));
        CHECK(edns_text(got.get()) == edns_text(want.get()));
        const ldns_rr_list* (*sections[])(const ldns_pkt*) = {
            [](const ldns_pkt* p) -> const ldns_rr_list* { return ldns_pkt_question(p); },
            [](const ldns_pkt* p) -> const ldns_rr_list* { return ldns_pkt_answer(p); },
            [](const ldns_pkt* p) -> const ldns_rr_list* { return ldns_pkt_authority(p); },
            [](const ldns_pkt* p) -> const ldns_rr_list* { return ldns_pkt_additional(p); }};
        for (int s = 0; s < 4; ++s) {
            CAPTURE(s);
            CHECK(section(sections[s](got.get())) == section(sections[s](want.get())));
        }
        if (!c.tcp) {
            CHECK(answer.size() <=
                  (c.edns ? std::max<size_t>(512, std::min<size_t>(c.udp_size, 1232)) : 512));
        }
    }
}
