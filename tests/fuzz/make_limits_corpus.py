#!/usr/bin/python3
"""Writes the seed corpora of fuzz_tcp (DNS over TCP streams: pipelined, split, empty, oversized
and truncated messages), fuzz_config (gtmd.yaml: every key, and the mistakes of the unit tests)
fuzz_record (zone-file record lines of every type gtmd serves, and refused ones) and
fuzz_target (the API's request targets: paths and query strings, good and bad encodings). Run it
again after changing it; the files are committed."""
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(ROOT))


def fresh(name):
    d = os.path.join(ROOT, "corpus", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(name, qtype=1, qid=0x1234, flags=0, edns=False):
    q = struct.pack("!6H", qid, flags, 1, 0, 0, 1 if edns else 0) + wire_name(name) + \
        struct.pack("!HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return q


def framed(msg):
    return struct.pack("!H", len(msg)) + msg


# --- fuzz_tcp: the first byte is the chunk size - 1 --------------------------------------------
d = fresh("tcp")
one = framed(query("app.fuzz.test"))
write(d, "one_query", b"\xff" + one)
write(d, "one_query_bytewise", b"\x00" + one)
write(d, "pipelined", b"\x10" + b"".join(framed(query(n, t, qid=i)) for i, (n, t) in enumerate(
    [("app.fuzz.test", 1), ("app.fuzz.test", 28), ("www.fuzz.test", 1), ("fuzz.test", 6),
     ("nope.fuzz.test", 1), ("fuzz.test", 255), ("other.test", 1)])))
write(d, "edns", b"\x07" + framed(query("app.fuzz.test", edns=True)))
write(d, "empty_message", b"\x03" + framed(b"") + one)
write(d, "short_message", b"\x03" + framed(b"\x12\x34\x00") + one)
write(d, "response", b"\x20" + framed(query("app.fuzz.test", flags=0x8000)) + one)
write(d, "half_length", b"\x00" + one + b"\x00")
write(d, "truncated_message", b"\x05" + one + struct.pack("!H", 300) + b"x" * 40)
write(d, "largest_length", b"\xff" + struct.pack("!H", 65535) + b"y" * 2000)
write(d, "max_message", b"\xff" + framed(query("app.fuzz.test") + b"\0" * (65535 - 31)))
write(d, "garbage", b"\x09" + framed(b"\xff" * 64) + framed(b"\x00" * 12))

# --- fuzz_config: gtmd.yaml ----------------------------------------------------------------------
d = fresh("config")
with open(os.path.join(SOURCE, "configs", "gtmd.yaml")) as f:
    write(d, "example", f.read())
for name in ("ns1", "ns2", "ns3"):
    with open(os.path.join(SOURCE, "configs", "cluster", f"{name}.yaml")) as f:
        write(d, f"cluster_{name}", f.read())
CONFIGS = {
    "empty": "",
    "json": '{"dns": {"workers": 2, "rrl": {"enabled": true, "rate": 50}}}',
    "rrl_full": "dns:\n  rrl:\n    enabled: true\n    rate: 100\n    slip: 3\n"
                "    table_size: 4096\n    ipv4_prefix: 32\n    ipv6_prefix: 64\n"
                "    exempt: [127.0.0.0/8, \"::1\", 2001:db8::/32]\n",
    "rrl_bad_prefix": "dns:\n  rrl:\n    exempt: [192.0.2.1/24, 10.0.0.0/33, \"::/129\", x]\n",
    "rrl_bad_types": "dns:\n  rrl: {enabled: maybe, rate: -1, slip: 1.5, table_size: 1e9}\n",
    "tcp_limits": "dns:\n  tcp_idle_timeout: 500ms\n  tcp_read_timeout: 2s\n"
                  "  tcp_max_connections: 10\n  tcp_max_connections_per_source: 0\n",
    "bad_duration": "health:\n  isolation_hold: soon\n",
    "unknown_key": "dns:\n  bogus: 1\n",
    "duplicate_key": "dns:\n  workers: 1\n  workers: 2\n",
    "alias": "a: &x {workers: 1}\ndns: *x\n",
    "tls_half": "http:\n  tls_cert: a.pem\n",
    "webhooks": "webhooks:\n  - {name: a, url: http://127.0.0.1:9/x, events: [verdict], "
                "timeout: 2s}\n  - {name: a, url: ftp://x}\n",
    "cluster": "cluster:\n  etcd: [http://127.0.0.1:2379]\n  quorum: majority\n"
               "  tls: {cert: a}\n",
    "malformed": "dns: {listen: [\n",
    "deep": "dns: " + "[" * 200 + "]" * 200 + "\n",
}
for name, text in CONFIGS.items():
    write(d, name, text)

# --- fuzz_record: "zone\nrecord line" ------------------------------------------------------------
d = fresh("record")
RECORDS = [
    "ns1 3600 A 127.0.0.53", "ns1 AAAA ::1", "www 300 CNAME bookinfo", "@ 300 MX 10 mail",
    '@ 300 TXT "v=spf1 mx -all" "second"', '@ 300 CAA 0 issue "ca.test"',
    "_sip._tcp 300 SRV 10 60 5060 mail", "*.apps 60 A 127.0.0.80", "kid 300 NS ns.kid",
    "kid 300 DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
    "1.0 300 PTR host.example.", "svc 300 HTTPS 1 . alpn=h2", "abs.fuzz.test. 300 A 127.0.0.1",
    "x 300 TYPE65280 \\# 2 abcd", "@ 300 SOA a b 1 2 3 4 5", "d 300 DNAME elsewhere.",
    "r 300 RRSIG A 8 2 300 20300101000000 20200101000000 1 fuzz.test. AAAA",
    "bad 300 A 999.1.1.1", "bad 300 AAAA ::g", "bad -1 A 127.0.0.1", "bad 300 CH TXT x",
    '"unterminated 300 TXT "x', "long 300 TXT \"" + "a" * 300 + "\"", "( 300 A 1.2.3.4",
    "a" * 70 + " 300 A 127.0.0.1", "@ 300 MX 70000 mail", "$ORIGIN other.", "",
    "\\000 300 A 127.0.0.1", "a\\.b 300 A 127.0.0.1",
]
for i, r in enumerate(RECORDS):
    write(d, f"line_{i:02d}", "fuzz.test\n" + r)
write(d, "no_zone_line", "www 300 A 127.0.0.1")
write(d, "bad_zone", "..\nwww 300 A 127.0.0.1")
write(d, "root_zone", ".\nwww 300 A 127.0.0.1")
write(d, "empty_zone_apex", "\n@ 300 MX 10 mail")  # found by fuzz_record: the root's apex is ""

# --- fuzz_target: a request target (path and query string) -------------------------------------
d = fresh("target")
TARGETS = {
    "root": "/", "health": "/healthz", "balancers": "/api/v1/balancers",
    "balancer": "/api/v1/balancers/bookinfo.gtm.example.com",
    "member_admin": "/api/v1/pools/hangzhou/members/127.0.0.11/admin",
    "v6_member": "/api/v1/pools/p/members/%3A%3A1",
    "explain": "/api/v1/explain?name=bookinfo.gtm.example.com&type=A&client=127.0.0.1",
    "audit_page": "/api/v1/audit?limit=50&before=123&object=pools%2Fhangzhou",
    "dry_run": "/api/v1/config?dry_run=true",
    "bad_percent": "/api/v1/pools/%zz", "bad_percent_end": "/api/v1/pools/a%4",
    "bad_query_percent": "/api/v1/audit?limit=%G1", "twice": "/api/v1/audit?limit=1&limit=2",
    "no_value": "/api/v1/audit?limit", "empty_value": "/api/v1/audit?limit=",
    "empty_items": "/api/v1/audit?&&limit=1&", "empty_key": "/api/v1/audit?=1",
    "utf8_path": b"/api/v1/pools/b\xc3\xbccher", "encoded_utf8": "/api/v1/pools/b%C3%BCcher",
    "nul": "/api/v1/pools/a%00b", "space": "/api/v1/pools/a b",
    "token_in_url": "/api/v1/balancers?token=abc", "double_slash": "/api/v1//balancers/",
    "dots": "/api/v1/../../etc/passwd", "question_only": "?",
    "many_questions": "/api/v1/audit??a=b?c=d", "empty": "",
    "long": "/api/v1/pools/" + "a" * 5000,
    "many_params": "/api/v1/audit?" + "&".join(f"k{i}=v" for i in range(300)),
}
for name, text in TARGETS.items():
    write(d, name, text)
