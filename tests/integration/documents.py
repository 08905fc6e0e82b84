"""Desired-state documents and server configs the integration tests run gtmd with.

Every address is on loopback or ::1. Addresses in answers are never contacted.
"""

# 40 distinct 60-byte TXT strings: ~2.9 KB of answer, more than any UDP answer may carry.
BIG_TXT = [f"{i:02d}" + "b" * 58 for i in range(40)]
# 10 of them: ~0.8 KB, between the 512-byte and the 1232-byte UDP limits.
MEDIUM_TXT = [f"{i:02d}" + "m" * 58 for i in range(10)]


def _txt_records(owner, strings):
    return "\n".join(f"      - '{owner} 300 TXT \"{s}\"'" for s in strings)


MAIN = f"""\
zones:
  - name: gtm.example.com
    soa: {{mname: ns1.gtm.example.com, rname: hostmaster.example.com, ttl: 600, minimum: 60}}
    ns: [ns1.gtm.example.com, ns2.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
      - "ns2 3600 A 127.0.0.54"
      - "mail 300 A 127.0.0.25"
      - "@ 300 MX 10 mail"
      - '@ 300 TXT "v=spf1 mx -all"'
      - "www 300 CNAME bookinfo"
      - "alias 300 CNAME chain"
      - "chain 300 CNAME mail"
      - "ext 300 CNAME www.example.net."
      - "*.apps 60 A 127.0.0.80"
      - '*.apps 60 TXT "wild"'
      - "deep.ent.apps 60 A 127.0.0.81"
      - "team 300 NS ns1.team"
      - "ns1.team 300 A 127.0.0.60"
{_txt_records("big", BIG_TXT)}
{_txt_records("medium", MEDIUM_TXT)}
  - name: other.test
    soa: {{mname: ns1.other.test, rname: hostmaster.other.test, ttl: 20, minimum: 300}}
    ns: [ns1.other.test]
    records:
      - "ns1 3600 A 127.0.0.55"
pools:
  - name: hangzhou
    members: [{{address: 127.0.0.11}}]
  - name: frankfurt
    members: [{{address: 127.0.0.21}}]
  - name: singapore
    members: [{{address: 127.0.0.31}}]
  - name: five
    members:
      - {{address: 127.0.0.101}}
      - {{address: 127.0.0.102}}
      - {{address: 127.0.0.103}}
      - {{address: 127.0.0.104}}
      - {{address: 127.0.0.105}}
  - name: admin-states
    members:
      - {{address: 127.0.0.41, admin: auto}}
      - {{address: 127.0.0.42, admin: drain}}
      - {{address: 127.0.0.43, admin: down}}
      - {{address: 127.0.0.44, admin: up}}
  - name: zero-weight
    members:
      - {{address: 127.0.0.51, weight: 0}}
      - {{address: 127.0.0.52, weight: 10}}
  - name: dual-stack
    members:
      - {{address: 127.0.0.61}}
      - {{address: "::1"}}
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 30
    pools:
      - {{pool: hangzhou,  priority: 1, weight: 70}}
      - {{pool: frankfurt, priority: 1, weight: 30}}
      - {{pool: singapore, priority: 2}}
  - name: multi.gtm.example.com
    ttl: 45
    max_answers: 3
    pools: [{{pool: five}}]
  - name: admin.gtm.example.com
    ttl: 45
    max_answers: 4
    pools: [{{pool: admin-states}}]
  - name: zero.gtm.example.com
    ttl: 45
    pools: [{{pool: zero-weight}}]
  - name: dual.gtm.example.com
    ttl: 50
    pools: [{{pool: dual-stack}}]
"""

# The same zone, served with every optional identity setting on.
IDENTITY_CONFIG = """\
dns:
  nsid: "gtmd-test-nsid"
  version: "gtmd-test-1.0"
  identity: "gtm-node-7"
"""

IDLE_CONFIG = """\
dns:
  tcp_idle_timeout: 1s
"""

LIMIT_CONFIG = """\
dns:
  tcp_idle_timeout: 60s
  tcp_max_connections: 3
"""


def reload_document(address):
    """A small document whose balancer answers `address`; changed under SIGHUP."""
    return f"""\
zones:
  - name: gtm.example.com
    soa: {{mname: ns1.gtm.example.com, rname: hostmaster.example.com, minimum: 30}}
    ns: [ns1.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
pools:
  - name: hangzhou
    members:
      - {{address: {address}}}
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 30
    pools: [{{pool: hangzhou}}]
"""
