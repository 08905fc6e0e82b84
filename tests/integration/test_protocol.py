"""The real gtmd on loopback, queried by dig, kdig, dnspython and raw packets.

Each test is one behaviour an authoritative server owes resolvers (DESIGN.md "Answering a
query", issue 2 items 2, 4 and 5). The RFC behind each expectation is named in the test.
"""

import re
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

import documents
from harness import (
    edns_option,
    header,
    ipv6_loopback_available,
    name_wire,
    opt_rr,
    parse_header,
    question,
    raw_query,
    read_tcp_message,
    run_until_exit,
    wait_for,
    wait_for_eof,
)

ZONE = "gtm.example.com."
A, AAAA, NS, SOA, TXT, CNAME, MX = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.NS,
                                    dns.rdatatype.SOA, dns.rdatatype.TXT, dns.rdatatype.CNAME,
                                    dns.rdatatype.MX)


def n(text):
    return dns.name.from_text(text)


def rrsets(section, rdtype=None):
    return [r for r in section if rdtype is None or r.rdtype == rdtype]


def only_rrset(section, rdtype):
    found = rrsets(section, rdtype)
    assert len(found) == 1, f"expected one {dns.rdatatype.to_text(rdtype)} RRset in {section}"
    return found[0]


def assert_negative(r, rcode, zone=ZONE, ttl=60):
    """RFC 2308 §3 and §5: the zone's SOA in authority, TTL = min(SOA TTL, SOA minimum)."""
    assert r.rcode() == rcode, r
    assert r.flags & dns.flags.AA, r
    assert not rrsets(r.answer, A) and not rrsets(r.answer, AAAA), r
    soa = only_rrset(r.authority, SOA)
    assert soa.name == n(zone), r
    assert soa.ttl == ttl, r


def assert_formerr(server, packet, qid=0x1234):
    """RFC 8906 §3.1.3 / RFC 1035 §4.1.1: FORMERR whenever a header can be built; and the
    server still answers a normal query afterwards."""
    reply = server.raw_udp(packet)
    assert reply is not None, "no reply to a malformed query (expected FORMERR)"
    h = parse_header(reply)
    assert h["id"] == qid and h["qr"], h
    assert h["rcode"] == dns.rcode.FORMERR, h
    server.assert_answers()


def assert_no_reply(server, packet):
    assert server.raw_udp(packet, timeout=1.0) is None
    server.assert_answers()


# ---------------------------------------------------------------------------------------------
# Authoritative answers


def test_an_answer_from_the_zone_has_the_aa_flag_set(server):
    out = server.kdig("mail.gtm.example.com", "A", "+norecurse")
    flags = re.search(r";; Flags: ([a-z ]+);", out)
    assert flags and "aa" in flags.group(1).split(), out
    assert re.search(r"mail\.gtm\.example\.com\.\s+300\s+IN\s+A\s+127\.0\.0\.25", out), out

    r = server.query("mail.gtm.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [rd.address for rd in only_rrset(r.answer, A)] == ["127.0.0.25"]


def test_a_name_that_does_not_exist_gets_nxdomain_with_the_soa_in_authority(server):
    r = server.query("nope.gtm.example.com", "A")
    assert_negative(r, dns.rcode.NXDOMAIN, ttl=60)  # min(SOA TTL 600, minimum 60)


def test_the_negative_ttl_is_the_soa_ttl_when_that_is_below_the_soa_minimum(server):
    r = server.query("nope.other.test", "A")
    assert_negative(r, dns.rcode.NXDOMAIN, zone="other.test.", ttl=20)  # min(20, 300)
    r = server.query("ns1.other.test", "TXT")
    assert_negative(r, dns.rcode.NOERROR, zone="other.test.", ttl=20)


def test_a_name_without_the_asked_type_gets_nodata_with_the_soa_in_authority(server):
    r = server.query("mail.gtm.example.com", "AAAA")
    assert_negative(r, dns.rcode.NOERROR, ttl=60)
    assert not r.answer


def test_a_name_below_a_delegation_gets_a_referral_with_glue(server):
    r = server.query("host.team.gtm.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.AA, "a referral is not authoritative (RFC 1034 §4.3.2)"
    assert not r.answer
    ns = only_rrset(r.authority, NS)
    assert ns.name == n("team.gtm.example.com")
    assert [rd.target for rd in ns] == [n("ns1.team.gtm.example.com")]
    glue = only_rrset(r.additional, A)
    assert glue.name == n("ns1.team.gtm.example.com")
    assert [rd.address for rd in glue] == ["127.0.0.60"]


def test_the_delegation_point_and_its_glue_name_get_a_referral(server):
    # RFC 1034 §4.3.2 step 3b: glue is not authoritative data; the child zone owns these names.
    for name, rdtype in (("team.gtm.example.com", "A"), ("team.gtm.example.com", "NS"),
                         ("ns1.team.gtm.example.com", "A")):
        r = server.query(name, rdtype)
        assert r.rcode() == dns.rcode.NOERROR
        assert not r.flags & dns.flags.AA
        assert not r.answer
        assert only_rrset(r.authority, NS).name == n("team.gtm.example.com")
        assert [rd.address for rd in only_rrset(r.additional, A)] == ["127.0.0.60"]


def test_a_cname_chain_inside_the_zone_is_followed_to_the_address(server):
    r = server.query("alias.gtm.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    chain = [(rr.name.to_text(), rr.rdtype) for rr in r.answer]
    assert chain == [("alias.gtm.example.com.", CNAME), ("chain.gtm.example.com.", CNAME),
                     ("mail.gtm.example.com.", A)], r
    assert [rd.address for rd in r.answer[2]] == ["127.0.0.25"]


def test_a_cname_to_a_balancer_is_followed_to_one_of_its_addresses(server):
    r = server.query("www.gtm.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert r.answer[0].rdtype == CNAME and r.answer[0][0].target == n("bookinfo.gtm.example.com")
    a = only_rrset(r.answer, A)
    assert a.name == n("bookinfo.gtm.example.com")
    assert {rd.address for rd in a} <= {"127.0.0.11", "127.0.0.21"}


def test_a_cname_to_a_name_outside_the_zone_is_answered_with_the_cname_alone(server):
    r = server.query("ext.gtm.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert len(r.answer) == 1 and r.answer[0].rdtype == CNAME
    assert r.answer[0][0].target == n("www.example.net")


def test_a_name_under_a_wildcard_gets_an_answer_synthesized_with_the_query_name(server):
    # RFC 4592 §3.3.1: the owner of the synthesized RRset is the query name.
    for name in ("foo.apps.gtm.example.com", "a.b.apps.gtm.example.com"):
        r = server.query(name, "A")
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, r
        a = only_rrset(r.answer, A)
        assert a.name == n(name) and [rd.address for rd in a] == ["127.0.0.80"]
        assert a.ttl == 60
    r = server.query("foo.apps.gtm.example.com", "TXT")
    assert [rd.strings for rd in only_rrset(r.answer, TXT)] == [(b"wild",)]


def test_a_wildcard_match_without_the_asked_type_gets_nodata(server):
    r = server.query("foo.apps.gtm.example.com", "MX")
    assert_negative(r, dns.rcode.NOERROR)
    assert not r.answer


def test_an_existing_empty_non_terminal_blocks_the_wildcard(server):
    # RFC 4592 §2.2.2 and §4.3: ent.apps exists (it owns deep.ent.apps) so *.apps does not
    # apply to it: NODATA, not the wildcard's address.
    for name in ("ent.apps.gtm.example.com", "apps.gtm.example.com"):
        r = server.query(name, "A")
        assert_negative(r, dns.rcode.NOERROR)
        assert not r.answer
    r = server.query("deep.ent.apps.gtm.example.com", "A")
    assert [rd.address for rd in only_rrset(r.answer, A)] == ["127.0.0.81"]


def test_a_name_below_an_empty_non_terminal_without_a_wildcard_of_its_own_is_nxdomain(server):
    # RFC 4592 §3.3.1: the closest encloser is ent.apps, and *.ent.apps does not exist.
    r = server.query("x.ent.apps.gtm.example.com", "A")
    assert_negative(r, dns.rcode.NXDOMAIN)


def test_an_ns_query_at_the_apex_has_the_name_server_addresses_in_additional(server):
    r = server.query(ZONE, "NS")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    ns = only_rrset(r.answer, NS)
    assert {rd.target for rd in ns} == {n("ns1.gtm.example.com"), n("ns2.gtm.example.com")}
    glue = {rr.name.to_text(): [rd.address for rd in rr] for rr in rrsets(r.additional, A)}
    assert glue == {"ns1.gtm.example.com.": ["127.0.0.53"], "ns2.gtm.example.com.": ["127.0.0.54"]}


def test_a_name_outside_every_zone_is_refused_without_aa_and_with_the_question_echoed(server):
    for name in ("www.example.org", "example.com", "com"):
        r = server.query(name, "A")
        assert r.rcode() == dns.rcode.REFUSED, r
        assert not r.flags & dns.flags.AA
        assert len(r.question) == 1
        q = r.question[0]
        assert (q.name, q.rdtype, q.rdclass) == (n(name), A, dns.rdataclass.IN)
        assert not r.answer and not r.authority


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_zone_transfers_are_refused_over_udp_and_tcp(server, qtype):
    for tcp in (False, True):
        r = server.query(ZONE, qtype, tcp=tcp)
        assert r.rcode() == dns.rcode.REFUSED, (qtype, tcp, r)
        assert not r.answer
    server.assert_answers()


def test_any_is_answered_with_one_rrset(server):
    # RFC 8482 §4.1: answer ANY with one RRset (the apex has SOA, NS, MX and TXT).
    for name in (ZONE, "bookinfo.gtm.example.com"):
        r = server.query(name, "ANY")
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, r
        assert len(r.answer) == 1, r
        assert r.answer[0].name == n(name)


# ---------------------------------------------------------------------------------------------
# Opcodes, malformed packets, EDNS


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS, 15],
                         ids=["notify", "update", "status", "unassigned-15"])
def test_opcodes_other_than_query_get_notimp(server, opcode):
    # RFC 1035 §4.1.1 rcode 4; the opcode and the ID are echoed.
    # Every flag set in the query (but QR): the reply clears them all but QR (RD and CD are
    # echoed for QUERY only).
    packet = header(qid=0x4242, opcode=opcode, flags=0x07F0) + question(ZONE, SOA)
    reply = server.raw_udp(packet)
    assert reply is not None
    h = parse_header(reply)
    assert h["qr"] and h["id"] == 0x4242, h
    assert h["opcode"] == opcode and h["rcode"] == dns.rcode.NOTIMP, h
    assert not (h["aa"] or h["tc"] or h["rd"]), h
    assert struct.unpack("!H", reply[2:4])[0] & 0x00F0 == 0, reply[:4]
    server.assert_answers()


def test_dig_sees_notimp_with_only_qr_for_a_notify(server):
    # A real client's view of the same: dig sends NOTIFY with RD and AD set.
    out = server.dig(ZONE, "SOA", "+opcode=notify", "+recurse", "+adflag", "+cdflag")
    assert "opcode: NOTIFY, status: NOTIMP" in out, out
    assert ";; flags: qr;" in out, out


def test_a_query_without_a_question_gets_formerr(server):
    assert_formerr(server, header(qd=0))


def test_a_query_with_two_questions_gets_formerr(server):
    packet = header(qd=2) + question(ZONE, SOA) + question("mail." + ZONE, A)
    assert_formerr(server, packet)


def test_a_query_whose_name_is_cut_short_gets_formerr(server):
    packet = header() + b"\x03gtm\x07exam"  # label says 7 bytes, 4 follow, no root label
    assert_formerr(server, packet)


def test_a_query_whose_type_is_cut_short_gets_formerr(server):
    packet = header() + name_wire(ZONE) + b"\x00"  # one byte of QTYPE, no QCLASS
    assert_formerr(server, packet)


def test_a_query_whose_question_name_is_a_compression_pointer_gets_formerr(server):
    packet = header() + b"\xc0\x0c" + struct.pack("!HH", A, 1)  # points at itself
    assert_formerr(server, packet)


def test_a_compression_pointer_loop_in_an_additional_record_gets_formerr(server):
    body = header(ar=1) + question(ZONE, A)
    loop_at = len(body)  # the record's owner name is a pointer to itself
    record = struct.pack("!H", 0xC000 | loop_at) + struct.pack("!HHIH", A, 1, 0, 4) + bytes(4)
    assert_formerr(server, body + record)


def test_a_query_with_two_opt_records_gets_formerr(server):
    # RFC 6891 §6.1.1: more than one OPT is FORMERR.
    packet = header(ar=2) + question(ZONE, SOA) + opt_rr() + opt_rr()
    assert_formerr(server, packet)


def test_an_opt_record_whose_option_overruns_its_rdata_gets_formerr(server):
    options = struct.pack("!HH", 65001, 10)  # says 10 bytes of option data; the rdata ends here
    packet = header(ar=1) + question(ZONE, SOA) + opt_rr(options=options)
    assert_formerr(server, packet)


def test_a_query_with_trailing_garbage_gets_formerr(server):
    packet = raw_query(ZONE, SOA) + b"\xde\xad\xbe\xef"
    assert_formerr(server, packet)


def test_edns_version_1_gets_badvers_with_an_opt_record_of_version_0(server):
    # RFC 6891 §6.1.3: BADVERS (16) = extended rcode 1 in the OPT TTL, header rcode 0.
    q = server.make_query(ZONE, "SOA")
    q.use_edns(edns=1)  # (make_query(use_edns=1) sends version 0 in dnspython 2.3)
    assert q.edns == 1
    r = server.send(q)
    assert r.rcode() == dns.rcode.BADVERS, r
    assert r.edns == 0, "the reply's OPT must carry the highest version the server does"
    assert not r.answer
    server.assert_answers()


def test_unknown_edns_options_and_flag_bits_are_ignored_and_not_echoed(server):
    # RFC 6891 §6.1.2 (unknown options ignored) and §6.1.4 (Z bits cleared in responses).
    options = edns_option(65001, b"12345678") + edns_option(65280, b"")
    packet = raw_query("mail." + ZONE, A, qid=0x7777,
                       edns=opt_rr(udp_size=1232, flags=0x4001, options=options))
    reply = server.raw_udp(packet)
    assert reply is not None
    r = dns.message.from_wire(reply)
    assert r.id == 0x7777 and r.rcode() == dns.rcode.NOERROR, r
    assert [rd.address for rd in only_rrset(r.answer, A)] == ["127.0.0.25"]
    assert r.edns == 0
    assert r.options == () or list(r.options) == [], r.options
    assert r.ednsflags & 0xFFFF == 0, hex(r.ednsflags)
    server.assert_answers()


def test_a_packet_under_12_bytes_gets_no_reply(server):
    assert_no_reply(server, raw_query(ZONE, SOA)[:11])
    assert_no_reply(server, b"")


def test_a_response_packet_with_qr_set_gets_no_reply(server):
    # RFC 8906 §3.1.1: never answer a response (reflection loops).
    assert_no_reply(server, raw_query(ZONE, SOA, flags=0x8000))
    assert_no_reply(server, header(flags=0x8000, qd=0))


# ---------------------------------------------------------------------------------------------
# Message size: UDP limits, TC=1, the full answer over TCP


def udp_exchange(server, msg):
    wire = server.raw_udp(msg.to_wire())
    assert wire is not None
    return wire, dns.message.from_wire(wire)


def txt_strings(r):
    return sorted(rd.strings[0].decode() for rd in only_rrset(r.answer, TXT))


def test_a_udp_answer_without_edns_is_never_over_512_bytes_and_is_truncated(server):
    for name in ("big." + ZONE, "medium." + ZONE):
        wire, r = udp_exchange(server, server.make_query(name, "TXT"))
        assert len(wire) <= 512, (name, len(wire))
        assert r.flags & dns.flags.TC, name  # RFC 1035 §4.2.1


def test_a_udp_answer_is_never_over_1232_bytes_even_when_the_client_offers_4096(server):
    wire, r = udp_exchange(server, server.make_query("big." + ZONE, "TXT", use_edns=0,
                                                     payload=4096))
    assert len(wire) <= 1232, len(wire)
    assert r.flags & dns.flags.TC


def test_a_udp_answer_is_never_over_the_client_edns_buffer(server):
    full = server.query("medium." + ZONE, "TXT", tcp=True)
    assert len(full.to_wire()) > 700
    wire, r = udp_exchange(server, server.make_query("medium." + ZONE, "TXT", use_edns=0,
                                                     payload=700))
    assert len(wire) <= 700, len(wire)
    assert r.flags & dns.flags.TC


def test_a_client_edns_buffer_under_512_is_taken_as_512(server):
    # RFC 6891 §6.2.5: values lower than 512 are treated as 512.
    wire, r = udp_exchange(server, server.make_query("medium." + ZONE, "TXT", use_edns=0,
                                                     payload=100))
    assert len(wire) <= 512, len(wire)
    assert r.flags & dns.flags.TC
    wire, r = udp_exchange(server, server.make_query("mail." + ZONE, "A", use_edns=0,
                                                     payload=100))
    assert not r.flags & dns.flags.TC and r.answer[0][0].address == "127.0.0.25"


def test_an_answer_too_big_for_udp_comes_whole_over_tcp(server):
    r = server.query("big." + ZONE, "TXT", tcp=True, use_edns=0, payload=1232)
    assert not r.flags & dns.flags.TC
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert txt_strings(r) == sorted(documents.BIG_TXT)
    assert len(r.to_wire()) > 1232
    r = server.query("big." + ZONE, "TXT", tcp=True)  # and without EDNS
    assert not r.flags & dns.flags.TC and txt_strings(r) == sorted(documents.BIG_TXT)


def test_an_answer_between_512_and_1232_bytes_comes_whole_with_edns_1232(server):
    wire, r = udp_exchange(server, server.make_query("medium." + ZONE, "TXT", use_edns=0,
                                                     payload=1232))
    assert 512 < len(wire) <= 1232, len(wire)
    assert not r.flags & dns.flags.TC
    assert txt_strings(r) == sorted(documents.MEDIUM_TXT)


# ---------------------------------------------------------------------------------------------
# TCP


def test_pipelined_queries_in_one_tcp_write_are_all_answered(server):
    # RFC 7766 §6.2.1.1: several queries on one connection, answers matched by ID.
    names = {0x0101: ("mail." + ZONE, "A"), 0x0202: (ZONE, "SOA"), 0x0303: (ZONE, "NS"),
             0x0404: ("nope." + ZONE, "A"), 0x0505: ("foo.apps." + ZONE, "TXT")}
    data = b""
    for qid, (name, rdtype) in names.items():
        wire = server.make_query(name, rdtype, id=qid).to_wire()
        data += struct.pack("!H", len(wire)) + wire
    with server.tcp_connect() as s:
        s.sendall(data)
        replies = {}
        for _ in names:
            wire = read_tcp_message(s)
            assert wire is not None, f"only {len(replies)} of {len(names)} answers came back"
            r = dns.message.from_wire(wire)
            replies[r.id] = r
    assert set(replies) == set(names)
    for qid, (name, rdtype) in names.items():
        q = replies[qid].question[0]
        assert (q.name, q.rdtype) == (n(name), dns.rdatatype.from_text(rdtype))
    assert replies[0x0404].rcode() == dns.rcode.NXDOMAIN
    assert replies[0x0101].answer[0][0].address == "127.0.0.25"


def test_a_malformed_query_over_tcp_gets_formerr_and_the_connection_keeps_answering(server):
    bad = header(qid=0x0BAD, qd=2) + question(ZONE, SOA) + question(ZONE, NS)
    good = server.make_query(ZONE, "SOA", id=0x600D).to_wire()
    with server.tcp_connect() as s:
        s.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(good)) + good)
        first = read_tcp_message(s)
        assert first is not None
        h = parse_header(first)
        assert h["id"] == 0x0BAD and h["qr"] and h["rcode"] == dns.rcode.FORMERR, h
        second = read_tcp_message(s)
        assert second is not None
        r = dns.message.from_wire(second)
        assert r.id == 0x600D and r.rcode() == dns.rcode.NOERROR


def test_an_idle_tcp_connection_is_closed_after_the_idle_timeout(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=documents.IDLE_CONFIG)
    with g.tcp_connect() as s:
        wire = g.make_query(ZONE, "SOA").to_wire()
        s.sendall(struct.pack("!H", len(wire)) + wire)
        assert read_tcp_message(s) is not None  # open and answering
        assert wait_for_eof(s, timeout=10.0), "the server kept an idle connection open"
    g.assert_answers()


def test_beyond_the_connection_limit_the_longest_idle_connection_is_closed(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=documents.LIMIT_CONFIG)
    wire = g.make_query(ZONE, "SOA").to_wire()
    framed = struct.pack("!H", len(wire)) + wire

    conns = []
    try:
        for _ in range(3):  # one after the other, each answered: c0 is idle the longest
            c = g.tcp_connect()
            conns.append(c)
            c.sendall(framed)
            assert read_tcp_message(c) is not None
        fourth = g.tcp_connect()
        conns.append(fourth)
        fourth.sendall(framed)
        assert read_tcp_message(fourth) is not None, "the new client was not answered"
        assert wait_for_eof(conns[0], timeout=10.0), "the longest-idle connection stayed open"
        for c in conns[1:]:  # the others still answer
            c.sendall(framed)
            assert read_tcp_message(c) is not None
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------------------------------------
# Letter case (0x20)


def test_the_question_letter_case_is_echoed_byte_for_byte(server):
    for name, rcode in (("BoOkInFo.GtM.eXaMpLe.CoM", dns.rcode.NOERROR),
                        ("NoPe.gTm.ExAmPlE.cOm", dns.rcode.NXDOMAIN),
                        ("WwW.eXaMpLe.OrG", dns.rcode.REFUSED)):
        q = question(name, A)
        reply = server.raw_udp(header(qid=0x2020) + q)
        assert reply is not None
        h = parse_header(reply)
        assert h["id"] == 0x2020 and h["rcode"] == rcode, (name, h)
        assert reply[12:12 + len(q)] == q, (name, reply[12:12 + len(q)])
    r = dns.message.from_wire(server.raw_udp(header() + question("BoOkInFo.GtM.eXaMpLe.CoM", A)))
    assert r.answer[0].name.to_text() == "BoOkInFo.GtM.eXaMpLe.CoM."


def test_dig_sees_its_mixed_case_question_echoed(server):
    out = server.dig("BoOkInFo.GtM.eXaMpLe.CoM", "A", "+norecurse")
    assert "status: NOERROR" in out, out
    assert re.search(r"^;BoOkInFo\.GtM\.eXaMpLe\.CoM\.\s+IN\s+A$", out, re.M), out
    assert re.search(r"^BoOkInFo\.GtM\.eXaMpLe\.CoM\.\s+30\s+IN\s+A\s+127\.0\.0\.(11|21)$", out,
                     re.M), out


# ---------------------------------------------------------------------------------------------
# CH class and NSID


@pytest.mark.parametrize("name", ["version.bind", "hostname.bind"])
def test_ch_identity_queries_are_refused_when_not_configured(server, name):
    out = server.dig(name, "CH", "TXT", "+norecurse")
    assert "status: REFUSED" in out, out
    r = server.query(name, "TXT", "CH")
    assert r.rcode() == dns.rcode.REFUSED and not r.answer


@pytest.mark.parametrize("name,text", [("version.bind", "gtmd-test-1.0"),
                                       ("hostname.bind", "gtm-node-7"),
                                       ("id.server", "gtm-node-7")])
def test_ch_identity_queries_are_answered_with_txt_when_configured(identity_server, name, text):
    out = identity_server.dig(name, "CH", "TXT", "+short")
    assert out.strip() == f'"{text}"', out
    r = identity_server.query(name, "TXT", "CH")
    assert r.rcode() == dns.rcode.NOERROR
    txt = only_rrset(r.answer, TXT)
    assert txt.rdclass == dns.rdataclass.CH and txt.name == n(name)
    assert [rd.strings for rd in txt] == [(text.encode(),)]


def nsid_of(r):
    found = [o for o in r.options if o.otype == dns.edns.NSID]
    assert len(found) <= 1
    return found[0].data if found else None


def test_nsid_is_sent_when_configured_and_requested(identity_server):
    out = identity_server.kdig(ZONE, "SOA", "+nsid")
    assert re.search(r"NSID: .*gtmd-test-nsid", out), out
    r = identity_server.query(ZONE, "SOA", use_edns=0,
                              options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    assert nsid_of(r) == b"gtmd-test-nsid"


def test_nsid_is_not_sent_when_not_requested(identity_server):
    out = identity_server.kdig(ZONE, "SOA", "+nonsid")
    assert "NSID" not in out, out
    r = identity_server.query(ZONE, "SOA", use_edns=0)
    assert nsid_of(r) is None


def test_nsid_is_not_sent_when_not_configured(server):
    out = server.kdig(ZONE, "SOA", "+nsid")
    assert "NSID" not in out, out
    r = server.query(ZONE, "SOA", use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    assert r.rcode() == dns.rcode.NOERROR and nsid_of(r) is None


# ---------------------------------------------------------------------------------------------
# Balancers (no health checking yet: every member is "unknown", which is served)


def test_pool_weights_70_30_split_the_answers_and_the_second_tier_is_never_served(server):
    counts = {}
    total = 2000
    for _ in range(total):
        for address in server.addresses("bookinfo." + ZONE):
            counts[address] = counts.get(address, 0) + 1
    assert set(counts) <= {"127.0.0.11", "127.0.0.21"}, counts  # singapore is priority 2
    assert sum(counts.values()) == total  # max_answers defaults to 1
    share = counts.get("127.0.0.11", 0) / total
    # Binomial sd is ~0.010 at n=2000; the band is ~8 sd wide on each side.
    assert 0.62 <= share <= 0.78, counts


def test_max_answers_3_returns_3_distinct_addresses(server):
    seen = set()
    for _ in range(50):
        addresses = server.addresses("multi." + ZONE)
        assert len(addresses) == 3 and len(set(addresses)) == 3, addresses
        seen |= set(addresses)
    assert seen == {f"127.0.0.{i}" for i in range(101, 106)}


def test_drained_and_down_members_are_never_answered_and_up_members_are(server):
    for _ in range(100):
        assert server.addresses("admin." + ZONE) == ["127.0.0.41", "127.0.0.44"]


def test_a_weight_0_member_is_never_answered_while_a_weighted_member_is_eligible(server):
    for _ in range(300):
        assert server.addresses("zero." + ZONE) == ["127.0.0.52"]


def test_aaaa_for_an_ipv4_only_balancer_is_nodata_with_the_soa(server):
    r = server.query("bookinfo." + ZONE, "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert not r.answer
    assert only_rrset(r.authority, SOA).name == n(ZONE)


def test_an_ipv6_member_is_answered_for_aaaa_and_an_ipv4_member_for_a(server):
    for _ in range(20):
        assert server.addresses("dual." + ZONE, "AAAA") == ["::1"]
        assert server.addresses("dual." + ZONE, "A") == ["127.0.0.61"]


def test_a_balancer_answer_has_the_balancer_ttl(server):
    for name, rdtype, ttl in (("bookinfo", "A", 30), ("multi", "A", 45), ("dual", "AAAA", 50),
                              ("dual", "A", 50)):
        r = server.query(f"{name}.{ZONE}", rdtype)
        rrset = only_rrset(r.answer, dns.rdatatype.from_text(rdtype))
        assert rrset.ttl == ttl, (name, rdtype, rrset)
        assert r.flags & dns.flags.AA


# ---------------------------------------------------------------------------------------------
# IPv6 listening


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not available")
def test_a_server_listening_on_ipv6_loopback_answers_over_udp_and_tcp(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, listen=("127.0.0.1:0", "[::1]:0"))
    assert len(g.dns_ports) == 2
    v6_port = g.dns_ports[1]
    for tcp in (False, True):
        r = g.query("mail." + ZONE, "A", tcp=tcp, host="::1", port=v6_port)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert [rd.address for rd in only_rrset(r.answer, A)] == ["127.0.0.25"]
    g.assert_answers()  # and still on 127.0.0.1


# ---------------------------------------------------------------------------------------------
# Reload, start-up errors, shutdown


def bookinfo(g):
    return g.addresses("bookinfo." + ZONE)


def test_sighup_with_a_changed_document_changes_the_answers(gtmd_factory):
    g = gtmd_factory.start(documents.reload_document("127.0.0.11"))
    assert bookinfo(g) == ["127.0.0.11"]
    g.write_document(documents.reload_document("127.0.0.12"))
    g.sighup()
    wait_for(lambda: bookinfo(g) == ["127.0.0.12"], timeout=10.0,
             what="the answer to follow the reloaded document")


def test_sighup_with_a_bad_document_keeps_the_old_answers_and_logs_one_line(gtmd_factory):
    g = gtmd_factory.start(documents.reload_document("127.0.0.11"))
    assert bookinfo(g) == ["127.0.0.11"]
    g.write_document(documents.reload_document("127.1"))
    g.sighup()
    wait_for(lambda: "members[0].address" in g.logs(), timeout=10.0,
             what="the reload error to be logged")
    lines = [l for l in g.log_lines() if "members[0].address" in l]
    assert len(lines) == 1, lines
    line = lines[0]
    assert str(g.doc_path) in line, line
    assert re.search(r"pools\[0\]\.members\[0\]\.address\W+\S.*127\.1", line), line
    for _ in range(20):
        assert bookinfo(g) == ["127.0.0.11"]


def test_a_bad_document_at_start_exits_2_with_one_line_naming_file_path_and_reason(gtmd_factory):
    g = gtmd_factory.create(documents.reload_document("127.1"))
    g.spawn()
    assert g.wait_exit() == 2, g.logs()
    lines = [l for l in g.log_lines() if "members[0].address" in l]
    assert len(lines) == 1, g.logs()
    assert str(g.doc_path) in lines[0]
    assert re.search(r"pools\[0\]\.members\[0\]\.address\W+\S.*127\.1", lines[0]), lines[0]
    assert not g.ports_path.exists()


def test_an_unknown_server_config_key_exits_2_naming_file_and_key(gtmd_factory):
    g = gtmd_factory.create(documents.MAIN, config="dns:\n  workers: 1\n  bogus_key: 3\n")
    code, out, err = run_until_exit(g.argv(), cwd=g.dir)
    assert code == 2, out + err
    lines = [l for l in (out + err).splitlines() if "bogus_key" in l]
    assert len(lines) == 1, out + err
    assert str(g.config_path) in lines[0] and "unknown key" in lines[0], lines[0]
    assert re.search(re.escape(str(g.config_path)) + r":3:", lines[0]), lines[0]


def test_sigterm_exits_0(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN)
    g.assert_answers()
    assert g.stop() == 0, g.logs()


def test_log_lines_go_to_stderr(gtmd_factory):
    g = gtmd_factory.start(documents.reload_document("127.0.0.11"))
    g.assert_answers()
    assert g.stop() == 0
    assert g.stderr().strip(), "nothing was logged on stderr"
    assert g.stdout() == "", "stdout should stay empty; logs belong on stderr:\n" + g.stdout()
