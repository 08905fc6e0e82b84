#!/usr/bin/python3
"""Writes the seed corpus of fuzz_document: valid documents (YAML and JSON, every resource and
record type) and the hostile set of issue 10 (an alias bomb, deep nesting, huge numbers, bad
UTF-8, NULs, zone data that cannot be served as written). Run it again after changing it; the
files are committed."""
import json
import os
import shutil

ROOT = os.path.dirname(os.path.abspath(__file__))
HERE = os.path.join(ROOT, "corpus", "document")
SOURCE = os.path.dirname(os.path.dirname(ROOT))

VALID = """\
zones:
  - name: gtm.example.com
    soa: {mname: ns1.gtm.example.com, rname: hostmaster.example.com, serial: 7, minimum: 30}
    ns: [ns1.gtm.example.com, ns2.elsewhere.test]
    ttl: 600
    records:
      - "ns1 3600 A 127.0.0.53"
      - "ns1 3600 AAAA ::1"
      - "www 300 CNAME bookinfo"
      - "@ 300 MX 10 mail"
      - "mail 300 A 127.0.0.25"
      - '@ 300 TXT "v=spf1 mx -all" "second"'
      - '@ 300 CAA 0 issue "ca.test"'
      - "_sip._tcp 300 SRV 10 60 5060 mail"
      - "*.apps 60 A 127.0.0.80"
      - "kid 300 NS ns.kid"
      - "kid 300 DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF"
      - "ns.kid 300 A 127.0.0.60"
      - 't 1h TXT "a\\000b"'
      - "x 300 TYPE65280 \\\\# 2 abcd"
monitors:
  - name: gateway
    type: http
    port: 80
    path: /productpage
    host: bookinfo.example.com
    headers: {X-Probe: gtmd}
    expect_status: ["200-399", 418]
    expect_body: ok
    interval: 5s
    timeout: 2s
    fall: 2
    rise: 3
    hold_down: 1m
  - {name: tls, type: https, tls_verify: false, interval: 500ms, timeout: 200ms}
  - {name: port, type: tcp, port: 5432}
pools:
  - name: hangzhou
    monitor: gateway
    min_healthy: 1
    slow_start: 60s
    members:
      - &m {address: 127.0.0.11, weight: 100}
      - {address: 127.0.0.12, weight: 100, admin: drain}
  - name: frankfurt
    monitor: tls
    members: [{address: 127.0.0.21}, {address: "::1", admin: up}]
  - name: singapore
    members: [*m]
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 30
    degraded_ttl: 5
    max_answers: 2
    when_all_down: fallback
    fallback: [127.0.0.99, "fd00::99"]
    pools:
      - {pool: hangzhou,  priority: 1, weight: 70}
      - {pool: frankfurt, priority: 1, weight: 30}
      - {pool: singapore, priority: 2}
"""


def bomb():
    doc = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for n in "bcdefghi":
        doc += f"{n}: &{n} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = n
    return doc


def with_record(record):
    return VALID.replace('      - "mail 300 A 127.0.0.25"\n',
                         '      - "mail 300 A 127.0.0.25"\n      - ' + record + "\n")


def txt(strings):
    return "'t2 300 TXT " + " ".join(f'"s{i}"' for i in range(strings)) + "'"


seeds = {
    # Valid documents.
    "valid.yaml": VALID,
    "valid.json": None,  # the same as JSON, below
    "demo.yaml": open(os.path.join(SOURCE, "configs", "demo.yaml")).read(),
    "empty": "",
    "empty_json": "{}",
    "trailing_document_end": VALID + "---\n",
    "txt_300_strings": with_record(txt(300)),
    "v6_only": "zones: [{name: z.test, soa: {mname: ns1.z.test, rname: h.z.test}, ns: [ns1.z.test],"
               " records: ['ns1 A 127.0.0.53']}]\npools: [{name: p, members: [{address: '::1'}]}]\n"
               "balancers: [{name: lb.z.test, pools: [{pool: p}]}]\n",
    # The reader's limits.
    "alias_bomb": bomb(),
    "alias_recursive": "a: &x [1, *x]\n",
    "alias_undefined": "a: *nope\n",
    "alias_as_key": "a: &k name\n*k : 1\n",
    "deep_yaml": "zones: " + "[" * 40 + "]" * 40 + "\n",
    "deep_yaml_flow_map": "zones: " + "{a: " * 40 + "1" + "}" * 40 + "\n",
    "deep_yaml_unclosed": "zones: " + "[" * 3000 + "\n",
    "deep_json": '{"zones": ' + "[" * 40 + "]" * 40 + "}",
    "deep_json_unclosed": '{"zones": ' + "[" * 5000,
    "second_document": VALID + "---\nzones: []\n",
    # Numbers.
    "huge_weight": VALID.replace("weight: 70}", "weight: 1e400}"),
    "huge_digits": VALID.replace("weight: 70}", "weight: " + "9" * 400 + "}"),
    "interval_overflow": VALID.replace("interval: 5s", "interval: 18446744073709552"),
    "interval_overflow_ms": VALID.replace("interval: 5s", "interval: 99999999999999999999ms"),
    "negative": VALID.replace("weight: 70}", "weight: -1}"),
    "json_huge": '{"pools": [{"name": "p", "members": [{"address": "127.0.0.1", "weight": 1e400}]}]}',
    "ttl_wrap": with_record('"big 4294967297 A 127.0.0.1"'),
    "mx_wrap": with_record('"@ 300 MX 70000 mail"'),
    # Text.
    "bad_utf8": VALID.replace("path: /productpage", 'path: "/product\udcffpage"'),
    "bad_utf8_key": VALID.replace("X-Probe: gtmd", "X-Pr\udcc0\udcafbe: gtmd"),
    "surrogate_escape": VALID.replace("path: /productpage", 'path: "/\\ud800"'),
    "nul_escape": VALID.replace("path: /productpage", 'path: "/a\\0b"'),
    "nul_in_record": with_record('"n 300 TXT abc\\0def"'),
    "json_nul": '{"zones": [{"name": "z.test", "soa": {"mname": "a.z.test", "rname": "h.z.test"},'
                ' "ns": ["a.z.test"], "records": ["a 300 TXT x\\u0000y"]}]}',
    # Zone data that cannot be served as written.
    "txt_long_string": with_record("'t3 300 TXT \"" + "x" * 256 + "\"'"),
    "cname_loop": with_record('"l1 300 CNAME l2"\n      - "l2 300 CNAME l1"'),
    "cname_wildcard_loop": with_record('"*.w 300 CNAME x.w"'),
    "occluded": with_record('"deep.kid 300 NS ns.kid"'),
    "not_glue": with_record('"www.kid 300 A 127.0.0.61"'),
    "ds_not_cut": with_record('"www2 300 DS 1 8 2 00"'),
    "key": with_record('"k 300 KEY 256 3 8 AwEAAQ=="'),
    "cds": with_record('"@ 300 CDS 1 8 2 00"'),
    "missing_glue": with_record('"kid2 300 NS ns.kid2"'),
    "bad_member": VALID.replace("address: 127.0.0.21", "address: 224.0.0.1"),
    "mapped_member": VALID.replace('address: "::1", admin: up', 'address: "::ffff:127.0.0.1"'),
}

seeds["valid.json"] = json.dumps({
    "zones": [{"name": "gtm.example.com",
               "soa": {"mname": "ns1.gtm.example.com", "rname": "hostmaster.example.com"},
               "ns": ["ns1.gtm.example.com"], "records": ["ns1 3600 A 127.0.0.53", "www 300 CNAME app"]}],
    "monitors": [{"name": "web", "type": "http", "path": "/health", "interval": "1s",
                  "timeout": "500ms"}],
    "pools": [{"name": "eu", "monitor": "web", "members": [{"address": "127.0.0.11", "weight": 10}]}],
    "balancers": [{"name": "app.gtm.example.com", "pools": [{"pool": "eu"}]}],
}, indent=1)

shutil.rmtree(HERE, ignore_errors=True)
os.makedirs(HERE)
for name, text in seeds.items():
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {HERE}")
