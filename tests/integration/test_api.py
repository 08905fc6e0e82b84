"""The REST API of the real gtmd (issue 4): CRUD of every resource with the DNS answer checked
right after each 2xx (read your writes), drain/undrain, PUT /api/v1/config with and without
dry_run, export -> apply round trip, the bad-input catalogue (4xx with the field, nothing
written, audited, memory flat), the role x endpoint x method matrix, tokens in URLs, the failed
authentication limit, OpenAPI, and the HTTP layer (keep-alive, body limit, read timeout, TLS).

Every request that should fail authentication comes from a loopback source address of its own
(apihelp.fresh_source) so that the per-address failure limit never locks the test out.
"""

import os
import http.client
import json
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from apihelp import (ADMIN_SECRET, Reply, TcpTarget, api_servers, fresh_source,  # noqa: F401
                     shared_server, wait_verdicts)
from harness import wait_for, wait_for_eof

BAL = "bookinfo.gtm.example.com"
V1 = "/api/v1"


class Recorder:
    """An Api whose mutating calls are remembered, to compare with GET /api/v1/audit."""

    def __init__(self, api):
        self.api = api
        self.calls = []

    def call(self, method, path, body=None, expect=None, **kw):
        r = self.api.request(method, path, body, **kw)
        if method not in ("GET", "HEAD"):
            self.calls.append((method, path.split("?")[0], r.status))
        if expect is not None:
            exp = expect if isinstance(expect, (tuple, list, set)) else (expect,)
            assert r.status in exp, f"{method} {path} {body!r}: expected {expect}, got {r}"
        return r


def check_audited(api, since_id, calls, token="admin"):
    """Every call in `calls` has its own audit entry (same order), with the token and status."""
    entries = [e for e in api.audit(since_id) if e["token"] == token]
    got = [(e["action"], e["status"]) for e in entries]
    want = [(f"{m} {p}", s) for m, p, s in calls]
    assert got == want, f"audit entries {got}\nexpected {want}"
    for e, (m, p, s) in zip(entries, calls):
        assert e["source"] == "127.0.0.1", e
        assert e["at_ms"] > 1_600_000_000_000, e
        if 200 <= s < 300:
            assert e["result"] == "ok", e
        else:
            assert e["result"].startswith("rejected"), e
    return entries


# ---------------------------------------------------------------------------------------------
# CRUD of every resource, DNS checked after each change


ZONE = {"name": "api.test",
        "soa": {"mname": "ns1.api.test", "rname": "hostmaster.api.test", "minimum": 60},
        "ns": ["ns1.api.test"],
        "records": ["ns1 3600 A 127.0.0.56"]}


def soa_minimum(g, zone):
    r = g.query(zone, "SOA")
    return [rd.minimum for rrset in r.answer for rd in rrset]


def test_zones_and_records_crud(api_servers):
    g = api_servers.start()
    rec = Recorder(g.api)
    since = g.api.last_audit_id()
    assert g.answer("api.test", "SOA")[0] == "REFUSED"

    r = rec.call("POST", f"{V1}/zones", ZONE, expect=201)
    assert r.json["name"] == "api.test"
    assert soa_minimum(g, "api.test") == [60]
    assert g.a("ns1.api.test") == ["127.0.0.56"]
    rec.call("POST", f"{V1}/zones", ZONE, expect=409)
    assert rec.call("GET", f"{V1}/zones/api.test", expect=200).json["soa"]["minimum"] == 60
    assert "api.test" in [z["name"] for z in rec.call("GET", f"{V1}/zones").json["zones"]]
    # Names are case-insensitive: the URL may spell it in capitals.
    assert rec.call("GET", f"{V1}/zones/API.Test.", expect=200).json["name"] == "api.test"

    z2 = dict(ZONE, soa=dict(ZONE["soa"], minimum=120),
              records=ZONE["records"] + ["www 300 A 127.0.0.77"])
    rec.call("PUT", f"{V1}/zones/api.test", z2, expect=200)
    assert soa_minimum(g, "api.test") == [120]
    assert g.a("www.api.test") == ["127.0.0.77"]

    r = rec.call("POST", f"{V1}/zones/api.test/records", {"record": 'txt 300 TXT "hello"'},
                 expect=201)
    assert r.json["records"][-1] == 'txt 300 TXT "hello"'
    assert g.a("txt.api.test", "TXT") == ['"hello"']
    records = rec.call("GET", f"{V1}/zones/api.test/records", expect=200).json["records"]
    assert records == z2["records"] + ['txt 300 TXT "hello"']

    www = records.index("www 300 A 127.0.0.77")
    rec.call("DELETE", f"{V1}/zones/api.test/records/{www}", expect=200)
    assert g.answer("www.api.test")[0] == "NXDOMAIN"
    assert g.a("txt.api.test", "TXT") == ['"hello"']
    rec.call("DELETE", f"{V1}/zones/api.test/records/99", expect=404)

    # A record the zone cannot hold is refused whole, naming the record.
    r = rec.call("POST", f"{V1}/zones/api.test/records", {"record": "@ 300 CNAME elsewhere"},
                 expect=422)
    assert "records" in r.field, r

    # The zone holding a balancer cannot go while the balancer is there.
    r = rec.call("DELETE", f"{V1}/zones/gtm.example.com", expect=422)
    assert r.field.startswith("balancers[") and r.field.endswith(".name"), r
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]

    rec.call("DELETE", f"{V1}/zones/api.test", expect=200)
    assert g.answer("api.test", "SOA")[0] == "REFUSED"
    rec.call("GET", f"{V1}/zones/api.test", expect=404)
    rec.call("DELETE", f"{V1}/zones/api.test", expect=404)

    # Create through PUT, too.
    rec.call("PUT", f"{V1}/zones/api.test", ZONE, expect=201)
    assert soa_minimum(g, "api.test") == [60]
    rec.call("DELETE", f"{V1}/zones/api.test", expect=200)
    check_audited(g.api, since, rec.calls)


def test_monitors_crud_and_probing(api_servers):
    g = api_servers.start()
    rec = Recorder(g.api)
    since = g.api.last_audit_id()
    target = TcpTarget("127.0.0.11")  # 127.0.0.12 on the same port refuses
    try:
        mon = {"name": "tcpcheck", "type": "tcp", "port": target.port, "interval": "1s",
               "timeout": "500ms", "fall": 1, "rise": 1}
        r = rec.call("POST", f"{V1}/monitors", mon, expect=201)
        assert r.json["interval"] == "1s" and r.json["port"] == target.port
        assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]  # nothing uses it yet
        rec.call("POST", f"{V1}/monitors", mon, expect=409)
        rec.call("PUT", f"{V1}/monitors/tcpcheck", dict(mon, interval="2s"), expect=200)
        assert rec.call("GET", f"{V1}/monitors/tcpcheck", expect=200).json["interval"] == "2s"
        http_mon = {"name": "web", "type": "http", "port": 8080, "path": "/health",
                    "expect_status": ["200-299", 301], "headers": {"X-Probe": "gtmd"}}
        r = rec.call("PUT", f"{V1}/monitors/web", http_mon, expect=201)
        assert r.json["expect_status"] == ["200-299", "301"], r

        # A pool probed by it: the refusing member leaves the answers once probed down.
        pool = g.api.ok("GET", f"{V1}/pools/hangzhou")
        pool["monitor"] = "tcpcheck"
        rec.call("PUT", f"{V1}/pools/hangzhou", pool, expect=200)
        wait_for(lambda: g.a(BAL) == ["127.0.0.11"], timeout=15,
                 what="127.0.0.12 probed down and out of the answers")
        wait_verdicts(g.api, {"127.0.0.11": "up", "127.0.0.12": "down"})

        # In use: cannot be deleted; the refusal names the pool's reference.
        r = rec.call("DELETE", f"{V1}/monitors/tcpcheck", expect=422)
        assert r.field.endswith(".monitor"), r
        assert g.api.ok("GET", f"{V1}/monitors/tcpcheck")["name"] == "tcpcheck"

        # Unmonitored again: nothing probes the pool, so no verdict holds a member out.
        del pool["monitor"]
        rec.call("PUT", f"{V1}/pools/hangzhou", pool, expect=200)
        try:
            wait_for(lambda: g.a(BAL) == ["127.0.0.11", "127.0.0.12"], timeout=10,
                     what="both members served once unmonitored")
        except AssertionError:
            ex = g.api.ok("GET", f"{V1}/explain?name={BAL}")
            pytest.fail("after removing the pool's monitor, 127.0.0.12 (probed down before) is "
                        f"still out of the answers {g.a(BAL)}; GET /api/v1/health "
                        f"{g.api.ok('GET', f'{V1}/health')}; explain {json.dumps(ex)}")
        rec.call("DELETE", f"{V1}/monitors/tcpcheck", expect=200)
        rec.call("DELETE", f"{V1}/monitors/web", expect=200)
        rec.call("GET", f"{V1}/monitors/tcpcheck", expect=404)
        assert g.api.ok("GET", f"{V1}/monitors")["monitors"] == []
    finally:
        target.close()
    check_audited(g.api, since, rec.calls)


def test_pools_and_balancers_crud(api_servers):
    g = api_servers.start()
    rec = Recorder(g.api)
    since = g.api.last_audit_id()
    tokyo = {"name": "tokyo",
             "members": [{"address": "127.0.0.71"}, {"address": "127.0.0.72", "weight": 0}]}
    r = rec.call("POST", f"{V1}/pools", tokyo, expect=201)
    assert r.json["members"][1] == {"address": "127.0.0.72", "weight": 0, "admin": "auto"}
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    rec.call("POST", f"{V1}/pools", tokyo, expect=409)

    bal = g.api.ok("GET", f"{V1}/balancers/{BAL}")
    bal["pools"].append({"pool": "tokyo", "priority": 1})
    rec.call("PUT", f"{V1}/balancers/{BAL}", bal, expect=200)
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.71"]  # weight 0: a backup

    rec.call("PUT", f"{V1}/pools/tokyo", {"members": [{"address": "127.0.0.73"}]}, expect=200)
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.73"]

    r = rec.call("DELETE", f"{V1}/pools/tokyo", expect=422)  # still used by the balancer
    assert r.field.startswith("balancers[") and r.field.endswith(".pool"), r
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.73"]

    bal["pools"] = [p for p in bal["pools"] if p["pool"] != "tokyo"]
    rec.call("PUT", f"{V1}/balancers/{BAL}", bal, expect=200)
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    rec.call("DELETE", f"{V1}/pools/tokyo", expect=200)
    rec.call("GET", f"{V1}/pools/tokyo", expect=404)

    # A new balancer, changed, deleted.
    assert g.answer("new.gtm.example.com")[0] == "NXDOMAIN"
    new = {"name": "new.gtm.example.com", "ttl": 77, "pools": [{"pool": "frankfurt"}]}
    rec.call("POST", f"{V1}/balancers", new, expect=201)
    r = g.query("new.gtm.example.com", "A")
    assert [rd.address for rs in r.answer for rd in rs] == ["127.0.0.21"]
    assert r.answer[0].ttl == 77
    rec.call("PUT", f"{V1}/balancers/new.gtm.example.com",
             {"max_answers": 16, "ttl": 20, "pools": [{"pool": "hangzhou"}]}, expect=200)
    assert g.a("new.gtm.example.com") == ["127.0.0.11", "127.0.0.12"]
    assert g.query("new.gtm.example.com", "A").answer[0].ttl == 20
    r = rec.call("POST", f"{V1}/balancers",
                 {"name": "bad.gtm.example.com", "pools": [{"pool": "nowhere"}]}, expect=422)
    assert r.field.endswith(".pool"), r
    r = rec.call("POST", f"{V1}/balancers",
                 {"name": "outside.example.org", "pools": [{"pool": "hangzhou"}]}, expect=422)
    assert r.field.endswith(".name"), r
    r = rec.call("PUT", f"{V1}/balancers/new.gtm.example.com",
                 {"name": "other.gtm.example.com", "pools": [{"pool": "hangzhou"}]}, expect=400)
    assert r.field == "name"
    rec.call("DELETE", f"{V1}/balancers/new.gtm.example.com", expect=200)
    assert g.answer("new.gtm.example.com")[0] == "NXDOMAIN"
    rec.call("GET", f"{V1}/balancers/new.gtm.example.com", expect=404)
    check_audited(g.api, since, rec.calls)


def test_members_crud_and_admin_states(api_servers):
    g = api_servers.start()
    rec = Recorder(g.api)
    since = g.api.last_audit_id()
    m = f"{V1}/pools/hangzhou/members"
    r = rec.call("POST", m, {"address": "127.0.0.13", "weight": 50}, expect=201)
    assert r.json == {"address": "127.0.0.13", "weight": 50, "admin": "auto"}
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    r = rec.call("POST", m, {"address": "127.0.0.13"}, expect=409)
    assert r.field == "address"

    rec.call("PUT", f"{m}/127.0.0.13", {"weight": 0}, expect=200)
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert rec.call("GET", f"{m}/127.0.0.13", expect=200).json["weight"] == 0
    rec.call("PUT", f"{m}/127.0.0.14", {"weight": 5}, expect=201)  # PUT creates
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.14"]
    r = rec.call("PUT", f"{m}/127.0.0.14", {"address": "127.0.0.15"}, expect=400)
    assert r.field == "address"

    for state, expected in [("down", ["127.0.0.12", "127.0.0.14"]),
                            ("up", ["127.0.0.11", "127.0.0.12", "127.0.0.14"]),
                            ("drain", ["127.0.0.12", "127.0.0.14"]),
                            ("auto", ["127.0.0.11", "127.0.0.12", "127.0.0.14"])]:
        r = rec.call("PUT", f"{m}/127.0.0.11/admin", {"admin": state}, expect=200)
        assert r.json["admin"] == state
        assert g.a(BAL) == expected, state
        assert rec.call("GET", f"{m}/127.0.0.11").json["admin"] == state
    rec.call("PUT", f"{m}/127.0.0.99/admin", {"admin": "drain"}, expect=404)

    rec.call("DELETE", f"{m}/127.0.0.13", expect=200)
    rec.call("DELETE", f"{m}/127.0.0.14", expect=200)
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    rec.call("GET", f"{m}/127.0.0.13", expect=404)
    rec.call("DELETE", f"{m}/127.0.0.13", expect=404)
    members = rec.call("GET", m, expect=200).json["members"]
    assert [x["address"] for x in members] == ["127.0.0.11", "127.0.0.12"]

    # gtmd lets IPv6 members share a pool with IPv4 ones (DESIGN: an AAAA balancer is implied
    # by IPv6 members): the member is accepted and serves AAAA only; A is unchanged.
    assert g.answer(BAL, "AAAA") == ("NOERROR", [])
    rec.call("POST", m, {"address": "::1"}, expect=201)
    assert g.a(BAL, "AAAA") == ["::1"]
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    # The URL form of an IPv6 address is canonicalised too.
    assert rec.call("GET", f"{m}/0:0:0:0:0:0:0:1", expect=200).json["address"] == "::1"
    rec.call("DELETE", f"{m}/::1", expect=200)
    assert g.answer(BAL, "AAAA") == ("NOERROR", [])

    # The last member cannot go: a pool needs members.
    rec.call("DELETE", f"{V1}/pools/frankfurt/members/127.0.0.21", expect=422)
    check_audited(g.api, since, rec.calls)


def test_tokens_create_use_list_revoke(api_servers):
    g = api_servers.start()
    rec = Recorder(g.api)
    since = g.api.last_audit_id()
    secrets = {}
    for name, role in [("ci-viewer", "viewer"), ("oncall", "operator"), ("ops.admin", "admin")]:
        r = rec.call("POST", f"{V1}/tokens", {"name": name, "role": role}, expect=201)
        assert r.json["name"] == name and r.json["role"] == role
        assert r.json["token"].startswith("gtm_") and len(r.json["token"]) == 44
        secrets[name] = r.json["token"]
    r = rec.call("POST", f"{V1}/tokens", {"name": "oncall", "role": "viewer"}, expect=409)
    assert r.field == "name"

    listed = rec.call("GET", f"{V1}/tokens", expect=200).json["tokens"]
    assert sorted((t["name"], t["role"]) for t in listed) == [
        ("admin", "admin"), ("ci-viewer", "viewer"), ("oncall", "operator"),
        ("ops.admin", "admin")]
    for t in listed:
        assert set(t) == {"name", "role", "created_ms"}, t  # never a secret or its hash

    viewer = g.api.with_token(secrets["ci-viewer"])
    operator = g.api.with_token(secrets["oncall"])
    admin2 = g.api.with_token(secrets["ops.admin"])
    assert viewer.get(f"{V1}/config").status == 200
    assert viewer.put(f"{V1}/pools/hangzhou/members/127.0.0.11/admin",
                      {"admin": "drain"}).status == 403
    assert operator.put(f"{V1}/pools/hangzhou/members/127.0.0.11/admin",
                        {"admin": "drain"}).status == 200
    assert g.a(BAL) == ["127.0.0.12"]
    assert operator.put(f"{V1}/pools/hangzhou/members/127.0.0.11/admin",
                        {"admin": "auto"}).status == 200
    assert operator.get(f"{V1}/tokens").status == 403
    assert admin2.get(f"{V1}/tokens").status == 200

    rec.call("DELETE", f"{V1}/tokens/ci-viewer", expect=200)
    assert viewer.get(f"{V1}/config", source=fresh_source()).status == 401
    rec.call("DELETE", f"{V1}/tokens/ci-viewer", expect=404)

    # The last admin token cannot be revoked; with two admins, one can.
    rec.call("DELETE", f"{V1}/tokens/ops.admin", expect=200)
    r = rec.call("DELETE", f"{V1}/tokens/admin", expect=409)
    assert "last admin" in r.error
    assert g.api.get(f"{V1}/status").status == 200

    entries = check_audited(g.api, since, rec.calls)
    created = [e for e in entries if e["action"] == f"POST {V1}/tokens" and e["status"] == 201]
    assert [e["after"] for e in created] == [
        {"name": "ci-viewer", "role": "viewer"}, {"name": "oncall", "role": "operator"},
        {"name": "ops.admin", "role": "admin"}]
    # Secrets are never in the audit log, the logs or the database.
    dump = json.dumps(g.api.audit())
    logs = g.logs()
    db = g.sqlite(".dump")
    for s in list(secrets.values()) + [ADMIN_SECRET]:
        assert s not in dump and s not in logs and s not in db


# ---------------------------------------------------------------------------------------------
# drain / undrain, dry run, apply, export round trip


def test_drain_then_undrain(api_servers):
    g = api_servers.start()
    adm = f"{V1}/pools/hangzhou/members/{{}}/admin"
    g.api.ok("PUT", adm.format("127.0.0.11"), {"admin": "drain"})
    assert g.a(BAL) == ["127.0.0.12"]
    ex = g.api.ok("GET", f"{V1}/explain?name={BAL}&type=A")
    m11 = [m for t in ex["tiers"] for p in t["pools"] for m in p["members"]
           if m["address"] == "127.0.0.11"][0]
    assert m11["eligible"] is False and m11["admin"] == "drain" and "drain" in m11["why"]
    # Draining the whole first tier moves the answers to the second.
    g.api.ok("PUT", adm.format("127.0.0.12"), {"admin": "drain"})
    assert g.a(BAL) == ["127.0.0.21"]
    assert g.api.ok("GET", f"{V1}/status")["balancers"][0]["A"]["serving_priority"] == 2
    g.api.ok("PUT", adm.format("127.0.0.11"), {"admin": "auto"})
    assert g.a(BAL) == ["127.0.0.11"]
    g.api.ok("PUT", adm.format("127.0.0.12"), {"admin": "auto"})
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert g.api.ok("GET", f"{V1}/status")["balancers"][0]["A"]["serving_priority"] == 1


def changed_document(cfg):
    """`cfg` (GET /api/v1/config) with a member added, a pool and a balancer more, a record."""
    doc = json.loads(json.dumps(cfg))
    pools = {p["name"]: p for p in doc["pools"]}
    pools["hangzhou"]["members"].append({"address": "127.0.0.15", "weight": 10})
    doc["pools"].append({"name": "tokyo", "members": [{"address": "127.0.0.71"}]})
    doc["balancers"].append({"name": "tokyo.gtm.example.com", "pools": [{"pool": "tokyo"}]})
    doc["zones"][0]["records"].append("new 300 A 127.0.0.99")
    return doc


def test_config_dry_run_changes_nothing_then_apply(api_servers):
    g = api_servers.start()
    before = g.api.config()
    rows = g.state_rows()
    audit_before = g.api.last_audit_id()
    doc = changed_document(before)
    for flag in ("true", "1"):
        r = g.api.put(f"{V1}/config?dry_run={flag}", doc)
        assert r.status == 200, r
        assert r.json["dry_run"] is True
        dry = sorted((c["kind"], c["name"], c["op"]) for c in r.json["changes"])
        assert dry == [("balancers", "tokyo.gtm.example.com", "add"),
                       ("pools", "hangzhou", "change"), ("pools", "tokyo", "add"),
                       ("zones", "gtm.example.com", "change")], r.json
    assert g.api.config() == before
    assert g.state_rows() == rows
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert g.answer("tokyo.gtm.example.com")[0] == "NXDOMAIN"
    assert g.answer("new.gtm.example.com")[0] == "NXDOMAIN"

    # A dry run of an invalid document is refused like the real thing.
    bad = changed_document(before)
    bad["pools"][0]["members"][0]["weight"] = 256
    r = g.api.put(f"{V1}/config?dry_run=true", bad)
    assert r.status == 422 and r.field == "pools[0].members[0].weight", r

    r = g.api.put(f"{V1}/config", doc)
    assert r.status == 200 and r.json["dry_run"] is False, r
    assert sorted((c["kind"], c["name"], c["op"]) for c in r.json["changes"]) == dry
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12", "127.0.0.15"]
    assert g.a("tokyo.gtm.example.com") == ["127.0.0.71"]
    assert g.a("new.gtm.example.com") == ["127.0.0.99"]
    after = g.api.config()
    assert g.api.put(f"{V1}/config?dry_run=true", after).json["changes"] == []
    applied = [e for e in g.api.audit(audit_before) if e["action"] == f"PUT {V1}/config"]
    assert [e["status"] for e in applied] == [422, 200], applied  # the dry runs change nothing
    assert applied[-1]["after"] and applied[-1]["token"] == "admin"

    # One bad field anywhere: nothing of the document is applied.
    bad = json.loads(json.dumps(after))
    bad["pools"].append({"name": "extra", "members": [{"address": "127.0.0.81"}]})
    bad["balancers"][0]["ttl"] = 99
    bad["zones"][0]["records"].append("bad 300 A 127.1")
    rows = g.state_rows()
    r = g.api.put(f"{V1}/config", bad)
    assert r.status == 422 and r.field.startswith("zones[0].records["), r
    assert g.api.config() == after and g.state_rows() == rows
    assert g.query(BAL, "A").answer[0].ttl == 30


RICH_DOC = """\
zones:
  - name: gtm.example.com
    soa: {mname: ns1.gtm.example.com, rname: hostmaster.example.com, serial: 42, minimum: 30}
    ns: [ns1.gtm.example.com, ns2.gtm.example.com]
    ttl: 600
    records:
      - "ns1 3600 A 127.0.0.53"
      - "ns2 3600 A 127.0.0.54"
      - "www 300 CNAME bookinfo"
      - '@ 300 TXT "v=spf1 -all"'
      - "*.apps 60 A 127.0.0.80"
  - name: other.test
    soa: {mname: ns1.other.test, rname: hostmaster.other.test}
    ns: [ns1.other.test]
    records: ["ns1 3600 A 127.0.0.55", "@ 300 MX 10 mail", "mail 300 AAAA ::1"]
monitors:
  - {name: web, type: http, port: 1, path: /health, host: bookinfo.example.com,
     headers: {X-Probe: gtmd}, expect_status: [200-299, 301], expect_body: ok,
     interval: 1m, timeout: 2s, fall: 3, rise: 2, hold_down: 10s}
  - {name: tls, type: https, port: 1, tls_verify: false, interval: 1h, timeout: 5s}
  - {name: plain, type: tcp, port: 1, interval: 30s}
pools:
  - name: hangzhou
    min_healthy: 2
    slow_start: 30s
    members:
      - {address: 127.0.0.11, weight: 200}
      - {address: 127.0.0.12, weight: 100, admin: drain}
      - {address: 127.0.0.13, admin: up}
      - {address: 127.0.0.14, admin: down}
  - name: frankfurt
    members: [{address: 127.0.0.21}, {address: "::1", weight: 7}]
  - name: probed
    monitor: plain
    members: [{address: 127.0.0.31}]
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 40
    degraded_ttl: 3
    max_answers: 16
    when_all_down: fallback
    fallback: [127.0.0.99, "::2"]
    pools:
      - {pool: hangzhou, priority: 1, weight: 70}
      - {pool: frankfurt, priority: 1, weight: 30}
  - name: closed.other.test
    when_all_down: fail_closed
    pools: [{pool: frankfurt, priority: 5, weight: 0}]
"""

ROUND_TRIP_QUERIES = [(BAL, "A"), (BAL, "AAAA"), ("www.gtm.example.com", "A"),
                      ("gtm.example.com", "TXT"), ("x.apps.gtm.example.com", "A"),
                      ("gtm.example.com", "SOA"), ("other.test", "MX"), ("mail.other.test", "AAAA"),
                      ("closed.other.test", "AAAA"), ("nope.gtm.example.com", "A")]


def dns_view(g):
    out = {}
    for name, t in ROUND_TRIP_QUERIES:
        r = g.query(name, t)
        out[(name, t)] = (r.rcode(), sorted((rs.name.to_text(), rs.ttl, rs.rdtype,
                                             tuple(sorted(rd.to_text() for rd in rs)))
                                            for rs in r.answer))
    return out


def test_export_then_apply_round_trip(api_servers, tmp_path):
    g = api_servers.start(RICH_DOC)
    exported = g.api.config()
    r = g.api.get(f"{V1}/config?format=yaml")
    assert r.status == 200 and r.headers["content-type"].startswith("application/yaml"), r
    assert yaml.safe_load(r.text) == exported
    view = dns_view(g)
    assert view[(BAL, "A")][1], view

    # The export, applied back, changes nothing.
    r = g.api.put(f"{V1}/config", exported)
    assert r.status == 200 and r.json["changes"] == [], r
    assert g.api.config() == exported

    # Both exports, applied to fresh servers at start, give the same state and answers.
    (tmp_path / "export.yaml").write_text(g.api.get(f"{V1}/config?format=yaml").text)
    for text in ((tmp_path / "export.yaml").read_text(), json.dumps(exported)):
        h = api_servers.start(text)
        assert h.api.config() == exported
        assert dns_view(h) == view
        assert h.api.put(f"{V1}/config?dry_run=true", exported).json["changes"] == []

    # Through the API onto a server that started with something else.
    k = api_servers.start()
    r = k.api.put(f"{V1}/config", yaml.safe_load((tmp_path / "export.yaml").read_text()))
    assert r.status == 200, r
    assert k.api.config() == exported
    assert dns_view(k) == view


# ---------------------------------------------------------------------------------------------
# The bad-input catalogue


def _zone_body(name):
    return {"name": name, "soa": {"mname": "ns1.x.test", "rname": "h.x.test"}, "ns": ["ns1.x.test"]}


def _doc_with_weight(raw):
    """PUT /api/v1/config body (a string) whose first member's weight is `raw` as written."""
    return ('{"zones": [], "pools": [{"name": "p", "members": [{"address": "127.0.0.11", '
            f'"weight": {raw}}}]}}]}}')


LABEL64 = "a" * 64
NAME256 = ".".join(["b" * 63] * 4)  # 4 x 64 + 1 = 257 bytes in wire form
M = f"{V1}/pools/hangzhou/members"


def _cases():
    c = []

    def add(id_, method, path, body, status, field=None, ctype="application/json"):
        c.append(pytest.param(method, path, body, status, field, ctype, id=id_))

    add("zone-label-64", "POST", f"{V1}/zones", _zone_body(f"{LABEL64}.test"), 422, "name")
    add("zone-name-256", "POST", f"{V1}/zones", _zone_body(NAME256), 422, "name")
    add("zone-empty-label", "POST", f"{V1}/zones", _zone_body("a..b"), 422, "name")
    add("zone-bad-char", "POST", f"{V1}/zones", _zone_body("a b.test"), 422, "name")
    add("zone-url-empty-label", "PUT", f"{V1}/zones/a..b", _zone_body("a..b"), 400, "name")
    add("zone-url-label-64", "DELETE", f"{V1}/zones/{LABEL64}.test", None, 400, "name")
    add("soa-mname-empty-label", "POST", f"{V1}/zones",
        dict(_zone_body("x.test"), soa={"mname": "ns1..x.test", "rname": "h.x.test"}), 422,
        "soa.mname")
    add("balancer-empty-label", "POST", f"{V1}/balancers",
        {"name": "a..b.gtm.example.com", "pools": [{"pool": "hangzhou"}]}, 422, "name")
    add("balancer-label-64", "POST", f"{V1}/balancers",
        {"name": f"{LABEL64}.gtm.example.com", "pools": [{"pool": "hangzhou"}]}, 422, "name")
    add("record-owner-label-64", "POST", f"{V1}/zones/gtm.example.com/records",
        {"record": f"{LABEL64} 300 A 127.0.0.1"}, 422, "zones[0].records[2]")
    add("record-a-127.1", "POST", f"{V1}/zones/gtm.example.com/records",
        {"record": "x 300 A 127.1"}, 422, "zones[0].records[2]")
    add("ipv4-127.1", "POST", M, {"address": "127.1"}, 422, "address")
    add("ipv4-octal", "POST", M, {"address": "0177.0.0.1"}, 422, "address")
    add("ipv4-five-parts", "POST", M, {"address": "127.0.0.1.5"}, 422, "address")
    add("ipv4-leading-space", "POST", M, {"address": " 127.0.0.11"}, 422, "address")
    add("ipv6-bad", "POST", M, {"address": "::g"}, 422, "address")
    add("ipv4-url-127.1", "PUT", f"{M}/127.1", {"weight": 1}, 400, "address")
    add("fallback-127.1", "POST", f"{V1}/balancers",
        {"name": "fb.gtm.example.com", "when_all_down": "fallback", "fallback": ["127.1"],
         "pools": [{"pool": "hangzhou"}]}, 422, "fallback[0]")
    for label, raw in [("-1", "-1"), ("1.5", "1.5"), ("string-10", '"10"'),
                       ("2^31", "2147483648"), ("null", "null"), ("256", "256"),
                       ("1e2", "1e2"), ("true", "true")]:
        add(f"weight-{label}", "POST", M, f'{{"address": "127.0.0.19", "weight": {raw}}}', 422,
            "weight")
        add(f"doc-weight-{label}", "PUT", f"{V1}/config", _doc_with_weight(raw), 422,
            "pools[0].members[0].weight")
    add("weight-NaN", "POST", M, '{"address": "127.0.0.19", "weight": NaN}', 400)
    add("doc-weight-NaN", "PUT", f"{V1}/config", _doc_with_weight("NaN"), 400)
    add("weight-Infinity", "POST", M, '{"address": "127.0.0.19", "weight": Infinity}', 400)
    add("pool-weight--1", "PUT", f"{V1}/balancers/{BAL}",
        {"pools": [{"pool": "hangzhou", "weight": -1}]}, 422, "pools[0].weight")
    add("unknown-member-field", "POST", M, {"address": "127.0.0.19", "colour": "red"}, 422,
        "colour")
    add("unknown-doc-field", "PUT", f"{V1}/config", {"zones": [], "extra": 1}, 422, "extra")
    add("unknown-pool-field", "POST", f"{V1}/pools",
        {"name": "x", "members": [{"address": "127.0.0.19"}], "region": "eu"}, 422, "region")
    add("unknown-token-field", "POST", f"{V1}/tokens",
        {"name": "t", "role": "viewer", "expires": 1}, 400, "expires")
    add("unknown-admin-field", "PUT", f"{M}/127.0.0.11/admin", {"admin": "drain", "why": "x"},
        400, "admin")
    add("bad-admin-state", "PUT", f"{M}/127.0.0.11/admin", {"admin": "sideways"}, 400, "admin")
    add("bad-role", "POST", f"{V1}/tokens", {"name": "t", "role": "root"}, 400, "role")
    add("bad-token-name", "POST", f"{V1}/tokens", {"name": "a b", "role": "viewer"}, 400, "name")
    add("duplicate-member", "POST", M, {"address": "127.0.0.11"}, 409, "address")
    add("missing-pool-ref", "POST", f"{V1}/balancers",
        {"name": "x.gtm.example.com", "pools": [{"pool": "nowhere"}]}, 422,
        "balancers[1].pools[0].pool")
    add("record-index-text", "DELETE", f"{V1}/zones/gtm.example.com/records/x", None, 400,
        "index")
    add("not-an-object", "POST", M, [], 422)
    add("truncated-json", "POST", M, '{"address": ', 400)
    add("empty-body", "POST", M, None, 400)
    add("trailing-garbage", "POST", M, '{"address": "127.0.0.19"} x', 400)
    add("nested-10000", "PUT", f"{V1}/config", "[" * 10000 + "]" * 10000, 400)
    add("nested-10000-objects", "POST", M, '{"a":' * 10000 + "1" + "}" * 10000, 400)
    add("text-plain", "POST", M, {"address": "127.0.0.19"}, 415, "Content-Type", "text/plain")
    add("form", "PUT", f"{V1}/config", "zones=", 415, "Content-Type",
        "application/x-www-form-urlencoded")
    add("no-content-type", "PUT", f"{M}/127.0.0.11/admin", {"admin": "drain"}, 415,
        "Content-Type", None)
    add("yaml-content-type", "PUT", f"{V1}/config", "zones: []\n", 415, "Content-Type",
        "application/yaml")
    add("unknown-object", "DELETE", f"{V1}/pools/nowhere", None, 404)
    add("unknown-path", "POST", f"{V1}/nowhere", {}, 404)
    add("method-not-allowed", "DELETE", f"{V1}/config", None, 405)
    add("body-10MB", "PUT", f"{V1}/config", b" " * (10 << 20), 413)
    return c


CASES = _cases()


def send(api, method, path, body, ctype):
    """The request, or a Reply with status None when the server dropped the connection."""
    try:
        return api.request(method, path, body, content_type=ctype)
    except (ConnectionError, http.client.HTTPException, socket.timeout) as e:
        return Reply(None, [], repr(e).encode())


@pytest.mark.parametrize("method,path,body,status,field,ctype", CASES)
def test_bad_input_is_refused_whole_and_audited(shared_server, method, path, body, status,
                                                field, ctype):
    g = shared_server
    config = g.api.config()
    rows = g.state_rows()
    since = g.api.last_audit_id()
    dns_before = g.a(BAL)

    r = send(g.api, method, path, body, ctype)
    assert r.status == status, f"{method} {path}: expected {status}, got {r}"
    assert r.json is not None and isinstance(r.error, str) and r.error, r
    if field is not None:
        assert r.field == field, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers

    assert g.api.config() == config
    assert g.state_rows() == rows
    assert g.a(BAL) == dns_before
    entries = [e for e in g.api.audit(since) if e["action"] == f"{method} {path.split('?')[0]}"]
    assert len(entries) == 1, f"no single audit entry for the rejection: {g.api.audit(since)}"
    e = entries[0]
    assert e["status"] == status and e["result"].startswith("rejected"), e
    assert e["token"] == "admin" and e["source"] == "127.0.0.1", e


@pytest.mark.skipif(os.environ.get("GTM_SANITIZED") == "1",
                    reason="ASan's allocator quarantine grows RSS by design; the dev build measures it")
def test_bad_input_catalogue_repeated_keeps_memory_flat(shared_server):
    g = shared_server
    config = g.api.config()
    rows = g.state_rows()

    def one_round():
        for p in CASES:
            method, path, body, status, field, ctype = p.values
            send(g.api, method, path, body, ctype)
        chunked_put(g.http_port, f"{V1}/config", chunks=40)  # 2.5 MB, chunked

    one_round()  # warm up: caches, prepared statements, allocator arenas
    base = g.rss_kb()
    samples = []
    for _ in range(20):
        one_round()
        samples.append(g.rss_kb())
    growth_mb = (samples[-1] - base) / 1024
    print(f"VmRSS {base} kB after one round, then {samples} kB")
    assert growth_mb < 4, f"VmRSS grew {growth_mb:.1f} MB over 20 rounds: {base} -> {samples} kB"
    assert g.api.config() == config and g.state_rows() == rows
    g.assert_answers()


def chunked_put(port, path, chunks=200, size=65536):
    """PUT with a chunked body of up to chunks x size bytes, sent until the server answers or
    closes; returns the raw reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_SECRET}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    reply = b""
    try:
        s.sendall(head)
        chunk = b" " * size
        for _ in range(chunks):
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            reply += data
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return reply


def test_chunked_body_over_the_limit_gets_413(shared_server):
    g = shared_server
    rows = g.state_rows()
    since = g.api.last_audit_id()
    reply = chunked_put(g.http_port, f"{V1}/config")  # 12.5 MB
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert g.state_rows() == rows
    # Like every other rejected write, it is in the audit log.
    entries = [e for e in g.api.audit(since) if e["action"] == f"PUT {V1}/config"]
    assert [e["status"] for e in entries] == [413], f"audit after the 413: {g.api.audit(since)}"


def test_body_limit_setting(api_servers):
    g = api_servers.start(config="http: {body_limit: 4096}\n")
    doc = g.api.config()
    small = json.dumps(doc)
    assert len(small) < 4096
    r = g.api.put(f"{V1}/config", small)
    assert r.status == 200, r
    padded = small[:-1] + " " * 5000 + "}"
    r = send(g.api, "PUT", f"{V1}/config", padded, "application/json")
    assert r.status == 413, f"a {len(padded)}-byte body with body_limit 4096: {r}"


# ---------------------------------------------------------------------------------------------
# Roles


# Every route of web/api.cpp: (path template, concrete path, {method: minimum role}, bodies).
# The concrete paths name objects that do not exist, or carry bodies that do not validate, so
# that a call the role allows is refused further on (404/400/422) and the state never changes.
ROUTES = [
    ("/api/v1/openapi.json", "/api/v1/openapi.json", {"GET": "viewer"}),
    ("/api/v1/config", "/api/v1/config", {"GET": "viewer", "PUT": "admin"}),
    ("/api/v1/health", "/api/v1/health", {"GET": "viewer"}),
    ("/api/v1/events", "/api/v1/events", {"GET": "viewer"}),
    ("/api/v1/audit", "/api/v1/audit", {"GET": "viewer"}),
    ("/api/v1/status", "/api/v1/status", {"GET": "viewer"}),
    ("/api/v1/explain", f"/api/v1/explain?name={BAL}", {"GET": "viewer"}),
    ("/api/v1/whoami", "/api/v1/whoami", {"GET": "viewer"}),
    ("/api/v1/alertmanager", "/api/v1/alertmanager", {"GET": "viewer", "POST": "operator"}),
    ("/api/v1/tokens", "/api/v1/tokens", {"GET": "admin", "POST": "admin"}),
    ("/api/v1/tokens/{name}", "/api/v1/tokens/nobody", {"DELETE": "admin"}),
    ("/api/v1/zones", "/api/v1/zones", {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/zones/{name}", "/api/v1/zones/nowhere.test",
     {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}),
    ("/api/v1/zones/{name}/records", "/api/v1/zones/gtm.example.com/records",
     {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/zones/{name}/records/{index}", "/api/v1/zones/gtm.example.com/records/999",
     {"DELETE": "admin"}),
    ("/api/v1/monitors", "/api/v1/monitors", {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/monitors/{name}", "/api/v1/monitors/nowhere",
     {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}),
    ("/api/v1/pools", "/api/v1/pools", {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/pools/{name}", "/api/v1/pools/nowhere",
     {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}),
    ("/api/v1/pools/{name}/members", "/api/v1/pools/hangzhou/members",
     {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/pools/{name}/members/{address}", "/api/v1/pools/hangzhou/members/127.0.0.99",
     {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}),
    ("/api/v1/pools/{name}/members/{address}/admin",
     "/api/v1/pools/hangzhou/members/127.0.0.99/admin", {"PUT": "operator"}),
    ("/api/v1/pools/{name}/admin", "/api/v1/pools/nowhere/admin", {"PUT": "operator"}),
    ("/api/v1/balancers", "/api/v1/balancers", {"GET": "viewer", "POST": "admin"}),
    ("/api/v1/balancers/{name}", "/api/v1/balancers/nowhere.gtm.example.com",
     {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}),
]
UNAUTHENTICATED = ["/healthz", "/readyz"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
RANK = {"viewer": 0, "operator": 1, "admin": 2}
# Bodies that pass authorization but never validate.
BODIES = {
    "/api/v1/alertmanager": {"version": "3", "alerts": []},
    "/api/v1/config": {"zones": "not a list"},
    "/api/v1/tokens": {"name": "not a valid name!", "role": "viewer"},
    "/api/v1/pools/hangzhou/members/127.0.0.99": {"weight": -1},
    "/api/v1/pools/hangzhou/members/127.0.0.99/admin": {"admin": "drain"},
}


def expected_status(template, allowed, method, role):
    """What route() must answer: None means 'authorized' (any status but 401/403/405)."""
    if role in ("none", "bad"):
        return 401
    if template.startswith("/api/v1/tokens"):  # the role is checked before the method
        if RANK[role] < RANK["admin"]:
            return 403
        return None if method in allowed else 405
    if method not in allowed:
        return 405
    return None if RANK[role] >= RANK[allowed[method]] else 403


@pytest.fixture(scope="module")
def role_tokens(shared_server):
    g = shared_server
    out = {"admin": ADMIN_SECRET, "bad": "gtm_" + "0" * 40, "none": None}
    for role in ("viewer", "operator"):
        out[role] = g.api.ok("POST", f"{V1}/tokens", {"name": f"matrix-{role}", "role": role})[
            "token"]
    return out


def test_role_endpoint_method_matrix(shared_server, role_tokens):
    g = shared_server
    config = g.api.config()
    rows = g.state_rows()
    failures = []
    count = 0
    for template, path, allowed in ROUTES:
        for method in METHODS:
            body = None
            if method in ("POST", "PUT"):
                body = BODIES.get(path.split("?")[0], {})
            for ident, token in role_tokens.items():
                source = fresh_source() if ident in ("none", "bad") else "127.0.0.1"
                r = g.api.request(method, path, body, token=token, source=source)
                count += 1
                want = expected_status(template, allowed, method, ident)
                ok = r.status not in (401, 403, 405, 429) and r.status < 500 if want is None \
                    else r.status == want
                if not ok:
                    failures.append(f"{ident:8} {method:6} {path}: {r.status} (expected "
                                    f"{want or 'authorized'}) {r.text[:160]}")
                if r.status == 401:
                    assert r.headers.get("www-authenticate") == "Bearer", r.headers
    for path in UNAUTHENTICATED:
        for ident, token in role_tokens.items():
            r = g.api.get(path, token=token, source=fresh_source())
            count += 1
            if r.status != 200:
                failures.append(f"{ident:8} GET    {path}: {r.status} (expected 200)")
    assert not failures, f"{len(failures)} of {count} calls wrong:\n" + "\n".join(failures)
    assert g.api.config() == config and g.state_rows() == rows


def test_unauthenticated_writes_are_audited(shared_server):
    g = shared_server
    since = g.api.last_audit_id()
    src = fresh_source()
    r = g.api.put(f"{M}/127.0.0.11/admin", {"admin": "drain"}, token=None, source=src)
    assert r.status == 401 and r.error == "missing bearer token", r
    r = g.api.delete(f"{V1}/pools/hangzhou", token="gtm_wrong", source=src)
    assert r.status == 401 and r.error == "unknown token", r
    entries = g.api.audit(since)
    assert [(e["action"], e["status"], e["token"], e["source"]) for e in entries] == [
        (f"PUT {M}/127.0.0.11/admin", 401, "", src), (f"DELETE {V1}/pools/hangzhou", 401, "", src)]
    assert "gtm_wrong" not in json.dumps(entries) and "gtm_wrong" not in g.logs()
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]


def test_token_in_query_string_is_refused(shared_server):
    g = shared_server
    rows = g.state_rows()
    for path in (f"{V1}/status?token={ADMIN_SECRET}", f"{V1}/config?access_token={ADMIN_SECRET}",
                 f"{V1}/status?a=1&token=x"):
        for token in (None, ADMIN_SECRET):
            r = g.api.get(path, token=token, source=fresh_source())
            assert r.status == 400 and r.field == "token", (path, token, r)
    r = g.api.put(f"{M}/127.0.0.11/admin?token={ADMIN_SECRET}", {"admin": "drain"}, token=None,
                  source=fresh_source())
    assert r.status == 400 and r.field == "token", r
    assert g.state_rows() == rows and g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert ADMIN_SECRET not in g.logs()


def test_repeated_auth_failures_get_429(shared_server):
    g = shared_server
    src = fresh_source()
    for i in range(10):
        r = g.api.get(f"{V1}/status", token=None if i % 2 else f"gtm_bad{i}", source=src)
        assert r.status == 401, (i, r)
    r = g.api.get(f"{V1}/status", token="gtm_bad", source=src)
    assert r.status == 429, r
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
    # A good token from the address still gets in (only failed attempts are limited); other
    # addresses are not affected.
    assert g.api.get(f"{V1}/status", source=src).status == 200
    assert g.api.get(f"{V1}/status", token="gtm_bad", source=src).status == 429
    assert g.api.get(f"{V1}/status", source=fresh_source()).status == 200
    assert g.api.get(f"{V1}/status").status == 200
    assert g.api.get("/healthz", source=src).status == 200


# ---------------------------------------------------------------------------------------------
# OpenAPI


def test_openapi_describes_every_route(shared_server):
    g = shared_server
    r = g.api.get(f"{V1}/openapi.json")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    doc = json.loads(r.body)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    problems = []
    for template, _, allowed in ROUTES:
        if template not in paths:
            problems.append(f"{template} missing")
            continue
        described = {k.upper() for k in paths[template] if k != "parameters"}
        if described != set(allowed):
            problems.append(f"{template}: methods {sorted(described)} != {sorted(allowed)}")
        for method, role in allowed.items():
            op = paths[template].get(method.lower(), {})
            if op.get("x-role") != role:
                problems.append(f"{method} {template}: x-role {op.get('x-role')} != {role}")
            if not op.get("responses"):
                problems.append(f"{method} {template}: no responses")
    for p in UNAUTHENTICATED:
        if p not in paths:
            problems.append(f"{p} missing")
    extra = set(paths) - {t for t, _, _ in ROUTES} - set(UNAUTHENTICATED)
    if extra:
        problems.append(f"paths the API does not serve: {sorted(extra)}")
    assert not problems, "\n".join(problems)
    assert g.api.get(f"{V1}/openapi.json", token=None, source=fresh_source()).status == 401


# ---------------------------------------------------------------------------------------------
# HTTP layer


def test_keep_alive_serves_several_requests_on_one_connection(shared_server):
    g = shared_server
    conn = http.client.HTTPConnection("127.0.0.1", g.http_port, timeout=10)
    try:
        for path in (f"{V1}/status", f"{V1}/config", "/healthz", f"{V1}/pools"):
            conn.request("GET", path, headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200 and not r.will_close, (path, r.status, r.getheaders())
        sock = conn.sock
        conn.request("GET", "/readyz")
        r = conn.getresponse()
        r.read()
        assert conn.sock is sock and r.status == 200
    finally:
        conn.close()


def test_a_request_that_never_completes_is_cut_at_the_read_timeout(shared_server):
    g = shared_server
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=10) as s:
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert wait_for_eof(s, timeout=30), "the half-sent request was never timed out"
    assert g.api.get("/healthz").status == 200


def test_tls_when_a_certificate_is_given(api_servers, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    g = api_servers.start(config=f"http: {{tls_cert: {cert}, tls_key: {key}}}\n")
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", g.http_port, timeout=10, context=ctx)
    try:
        conn.request("GET", f"{V1}/status", headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
        r = conn.getresponse()
        assert r.status == 200, r.read()
        r.read()
    finally:
        conn.close()
    # Plain HTTP to the TLS port gets no HTTP answer.
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(1024)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"HTTP/1.1 200"), data
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "--cacert", str(cert), "-o", "/dev/null",
                        "-w", "%{http_code}", f"https://127.0.0.1:{g.http_port}/healthz"],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "200", p


# ---------------------------------------------------------------------------------------------
# Read your writes, under a stream of changes and from every client


def _answer_with(g, client, name=BAL):
    if client == "udp":
        return g.a(name)
    if client == "tcp":
        r = g.query(name, "A", tcp=True)
        return sorted(rd.address for rs in r.answer for rd in rs)
    if client == "dig":
        return sorted(g.dig("+short", "+norecurse", name, "A").split())
    return sorted(g.kdig("+short", "+norecurse", name, "A").split())


def test_every_answer_reflects_the_change_the_moment_the_api_returns(api_servers):
    g = api_servers.start()
    adm = f"{V1}/pools/hangzhou/members/127.0.0.11/admin"
    clients = ["udp", "tcp", "dig", "kdig"]
    for i in range(40):
        state = "drain" if i % 2 == 0 else "auto"
        g.api.ok("PUT", adm, {"admin": state})
        want = ["127.0.0.12"] if state == "drain" else ["127.0.0.11", "127.0.0.12"]
        client = clients[i % len(clients)]
        assert _answer_with(g, client) == want, f"change {i} ({state}) seen by {client}"

    # Several writers at once: each sees its own change as soon as its call returns.
    import threading
    g.api.ok("POST", f"{V1}/balancers", {"name": "fra.gtm.example.com", "max_answers": 16,
                                          "pools": [{"pool": "frankfurt"}]})
    failures = []

    def writer(addr):
        m = f"{V1}/pools/frankfurt/members/{addr}"
        for i in range(15):
            r = g.api.put(m, {"weight": 10})
            if r.status not in (200, 201):
                failures.append(f"PUT {m}: {r}")
                return
            if addr not in g.a("fra.gtm.example.com"):
                failures.append(f"{addr} not served right after PUT #{i}")
            r = g.api.delete(m)
            if r.status != 200:
                failures.append(f"DELETE {m}: {r}")
                return
            if addr in g.a("fra.gtm.example.com"):
                failures.append(f"{addr} still served right after DELETE #{i}")

    threads = [threading.Thread(target=writer, args=(f"127.0.0.{30 + k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert g.a("fra.gtm.example.com") == ["127.0.0.21"]


# ---------------------------------------------------------------------------------------------
# Odds and ends of the request format


def test_duplicate_keys_in_a_body_are_refused(api_servers):
    """Documents read from files reject duplicate keys (store/document.cpp parse_json_strict);
    the same document sent to the API must not be read differently."""
    g = api_servers.start()
    rows = g.state_rows()
    r = g.api.post(f"{V1}/pools/hangzhou/members",
                   '{"address": "127.0.0.18", "weight": 200, "weight": 5}')
    r2 = g.api.put(f"{V1}/config?dry_run=true",
                   '{"zones": [], "zones": [], "pools": [], "balancers": []}')
    assert r.status in (400, 422) and r2.status in (400, 422), (
        f"duplicate keys accepted: POST member -> {r}; PUT config dry run -> {r2}")
    assert g.state_rows() == rows


def test_names_in_urls_are_case_insensitive(api_servers):
    """DESIGN.md: names are case-insensitive and stored in lower case."""
    g = api_servers.start()
    assert g.api.get(f"{V1}/pools/HangZhou").status == 200
    assert g.api.get(f"{V1}/balancers/BookInfo.GTM.example.com").status == 200
    assert g.api.get(f"{V1}/zones/GTM.Example.COM/records").status == 200
    problems = []
    for method, path, body in [
            ("GET", f"{V1}/pools/HangZhou/members", None),
            ("GET", f"{V1}/pools/HangZhou/members/127.0.0.11", None),
            ("PUT", f"{V1}/pools/HangZhou/members/127.0.0.11/admin", {"admin": "drain"})]:
        r = g.api.request(method, path, body)
        if r.status != 200:
            problems.append(f"{method} {path}: {r}")
    assert not problems, "\n".join(problems)
    assert g.a(BAL) == ["127.0.0.12"]


def test_json_content_type_with_parameters_is_accepted(api_servers):
    g = api_servers.start()
    r = g.api.put(f"{V1}/pools/hangzhou/members/127.0.0.11/admin", {"admin": "drain"},
                  content_type="application/json; charset=utf-8")
    assert r.status == 200, r
    assert g.a(BAL) == ["127.0.0.12"]
    # Bodiless writes need no Content-Type.
    r = g.api.delete(f"{V1}/pools/hangzhou/members/127.0.0.11", content_type=None)
    assert r.status == 200, r
    assert g.a(BAL) == ["127.0.0.12"]


def test_audit_entry_holds_before_and_after(api_servers):
    g = api_servers.start()
    g.api.ok("PUT", f"{V1}/pools/hangzhou/members/127.0.0.11/admin", {"admin": "drain"})
    e = g.api.audit()[-1]
    assert (e["token"], e["source"], e["action"], e["object"], e["status"], e["result"]) == (
        "admin", "127.0.0.1", f"PUT {V1}/pools/hangzhou/members/127.0.0.11/admin",
        "pools/hangzhou/members/127.0.0.11/admin", 200, "ok")
    before = {m["address"]: m["admin"] for m in e["before"][0]["value"]["members"]}
    after = {m["address"]: m["admin"] for m in e["after"][0]["value"]["members"]}
    assert (e["before"][0]["kind"], e["before"][0]["name"]) == ("pools", "hangzhou")
    # A pool's change names the members that changed, and counts the others.
    assert before == {"127.0.0.11": "auto"} and after == {"127.0.0.11": "drain"}
    assert e["before"][0]["value"]["members_unchanged"] == 1
    assert e["after"][0]["value"]["members_unchanged"] == 1
    assert e["after"][0]["value"]["min_healthy"] == e["before"][0]["value"]["min_healthy"] == 1
    assert abs(e["at_ms"] / 1000 - time.time()) < 3600


def test_query_parameters_are_checked(shared_server):
    g = shared_server
    for path, field in [(f"{V1}/events?limit=0", "limit"), (f"{V1}/events?limit=1001", "limit"),
                        (f"{V1}/audit?after=-1", "after"), (f"{V1}/audit?limit=ten", "limit"),
                        (f"{V1}/explain", "name"), (f"{V1}/explain?name=a..b", "name"),
                        (f"{V1}/explain?name={BAL}&type=MX", "type")]:
        r = g.api.get(path)
        assert r.status == 400 and r.field == field, (path, r)
    assert len(g.api.ok("GET", f"{V1}/audit?limit=1")["audit"]) == 1


def test_oversized_request_header_gets_431(shared_server):
    g = shared_server
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        reply = b""
        try:
            while len(reply) < 100:
                data = s.recv(4096)
                if not data:
                    break
                reply += data
        except (ConnectionResetError, socket.timeout):
            pass
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert g.api.get("/healthz").status == 200


# ---------------------------------------------------------------------------------------------
# Issue 10: the control plane never loses an operator's intent and survives hostile input


def raw_http(port, data, source="127.0.0.1", timeout=10):
    """Sends `data` on a fresh connection from `source`; returns what came back until the
    server closed the connection, the timeout, or a whole reply with Connection: close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    reply = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass
    finally:
        s.close()
    return reply


ADM11 = f"{V1}/pools/hangzhou/members/127.0.0.11/admin"
MISSPELT_DRY_RUNS = [("dry_run=True", "dry_run"), ("dry_run=yes", "dry_run"),
                     ("dry_run", "dry_run"), ("dry_run=", "dry_run"), ("dryrun=true", "dryrun"),
                     ("dry-run=true", "dry-run"), ("DRY_RUN=true", "DRY_RUN"),
                     ("dry_run=true&dry_run=false", "dry_run"), ("dry_run=%74rue%", "dry_run")]


def test_misspelt_dry_runs_are_refused_and_apply_nothing(api_servers):
    g = api_servers.start()
    config = g.api.config()
    rows = g.state_rows()
    since = g.api.last_audit_id()
    doc = changed_document(config)
    problems = []
    for query, field in MISSPELT_DRY_RUNS:
        for method, path, body in [("PUT", f"{V1}/config", doc),
                                   ("PUT", ADM11, {"admin": "drain"})]:
            r = g.api.request(method, f"{path}?{query}", body)
            if r.status != 400 or r.field != field:
                problems.append(f"{method} {path}?{query}: {r}")
    assert not problems, "\n".join(problems)
    assert g.api.config() == config and g.state_rows() == rows
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert g.answer("tokyo.gtm.example.com")[0] == "NXDOMAIN"
    # Each refusal is audited.
    statuses = [e["status"] for e in g.api.audit(since)]
    assert statuses == [400] * (2 * len(MISSPELT_DRY_RUNS)), statuses

    # Other routes' parameters are checked just as strictly.
    for path, field in [(f"{V1}/status?verbose=1", "verbose"),
                        (f"{V1}/config?format=xml", "format"),
                        (f"{V1}/config?dry_run=true", "dry_run"),
                        (f"{V1}/pools?limit=1", "limit"),
                        (f"{V1}/audit?limit=+5", "limit"), (f"{V1}/audit?limit=%205", "limit"),
                        (f"{V1}/health?pool", "pool"), (f"{V1}/events?after=1&after=2", "after"),
                        (f"{V1}/explain?name={BAL}&typo=A", "typo")]:
        r = g.api.get(path)
        assert r.status == 400 and r.field == field, (path, r)
    r = g.api.put(f"{V1}/config?prune=yes", doc)
    assert r.status == 400 and r.field == "prune", r

    # The right spellings work: true/1 dry-run, false/0 apply.
    for flag in ("true", "1"):
        r = g.api.put(f"{ADM11}?dry_run={flag}", {"admin": "drain"})
        assert r.status == 200 and r.json["dry_run"] is True, r
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    r = g.api.put(f"{ADM11}?dry_run=false", {"admin": "drain"})
    assert r.status == 200 and r.json["dry_run"] is False, r
    assert g.a(BAL) == ["127.0.0.12"]
    r = g.api.put(f"{ADM11}?dry_run=0", {"admin": "auto"})
    assert r.status == 200 and r.json["dry_run"] is False, r
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]


def etag_of(r):
    tag = r.headers.get("etag")
    assert tag and tag.startswith('"') and tag.endswith('"'), r.headers
    return tag


def test_etags_on_reads_and_if_match_on_writes(api_servers):
    g = api_servers.start()
    r = g.api.get(f"{V1}/config")
    tag = etag_of(r)
    rev = int(tag.strip('"'))
    for path in (f"{V1}/config?format=yaml", f"{V1}/pools", f"{V1}/pools/hangzhou",
                 f"{V1}/pools/hangzhou/members", f"{V1}/pools/hangzhou/members/127.0.0.11",
                 f"{V1}/zones/gtm.example.com", f"{V1}/zones/gtm.example.com/records",
                 f"{V1}/balancers/{BAL}", f"{V1}/monitors"):
        assert etag_of(g.api.get(path)) == tag, path

    # A write with the current ETag succeeds and answers with the next one.
    r = g.api.put(f"{M}/127.0.0.12", {"weight": 50}, headers={"If-Match": tag})
    assert r.status == 200, r
    new = etag_of(r)
    assert int(new.strip('"')) > rev
    assert etag_of(g.api.get(f"{V1}/config")) == new
    # The same stale ETag again: 412, nothing applied.
    rows = g.state_rows()
    for method, path, body in [("PUT", f"{M}/127.0.0.12", {"weight": 60}),
                               ("PUT", ADM11, {"admin": "drain"}),
                               ("PUT", f"{V1}/config", changed_document(g.api.config())),
                               ("DELETE", f"{M}/127.0.0.12", None),
                               ("POST", f"{V1}/zones/gtm.example.com/records",
                                {"record": "x 300 A 127.0.0.5"})]:
        r = g.api.request(method, path, body, headers={"If-Match": tag})
        assert r.status == 412 and r.field == "If-Match", (method, path, r)
        assert etag_of(r) == new, r.headers
    assert g.state_rows() == rows and g.a(BAL) == ["127.0.0.11", "127.0.0.12"]

    # Malformed If-Match: 400, nothing applied.
    for bad in ("abc", str(rev), 'W/"%d"' % rev, '""', '"1', '"-1"', '"1x"',
                '"99999999999999999999999"'):
        r = g.api.put(ADM11, {"admin": "drain"}, headers={"If-Match": bad})
        assert r.status == 400 and r.field == "If-Match", (bad, r)
    assert g.state_rows() == rows

    # "*" matches any revision; a list matches when one of its tags does.
    r = g.api.put(ADM11, {"admin": "drain"}, headers={"If-Match": "*"})
    assert r.status == 200, r
    cur = etag_of(r)
    r = g.api.put(ADM11, {"admin": "auto"}, headers={"If-Match": f'"1", {cur}'})
    assert r.status == 200, r
    # A dry run answers with the ETag it was computed against.
    cur = etag_of(r)
    r = g.api.put(f"{ADM11}?dry_run=true", {"admin": "drain"}, headers={"If-Match": cur})
    assert r.status == 200 and etag_of(r) == cur, r
    r = g.api.put(f"{V1}/config?dry_run=true", g.api.config(), headers={"If-Match": cur})
    assert r.status == 200 and etag_of(r) == cur, r


def _member_weight_changes(entries, path):
    """(before, after) weights of the successful writes to `path`, in audit order."""
    out = []
    for e in entries:
        if e["action"] != f"PUT {path}" or e["status"] != 200:
            continue
        b = [m for c in e["before"] for m in c["value"]["members"]]
        a = [m for c in e["after"] for m in c["value"]["members"]]
        out.append((b[0]["weight"], a[0]["weight"]))
    return out


def test_racing_read_modify_write_increments_lose_nothing(api_servers):
    import threading
    g = api_servers.start()
    path = f"{M}/127.0.0.12"
    since = g.api.last_audit_id()
    start = g.api.ok("GET", path)["weight"]
    per_client = 200
    done = {}
    failures = []

    def client(k):
        api = g.api.with_token(ADMIN_SECRET)
        applied = conflicts = 0
        while applied < per_client and len(failures) < 5:
            r = api.get(path)
            if r.status != 200:
                failures.append(f"GET {path}: {r}")
                return
            w = r.json["weight"]
            put = api.put(path, {"weight": (w + 1) % 256}, headers={"If-Match": etag_of(r)})
            if put.status == 412:
                conflicts += 1
                continue
            if put.status != 200:
                failures.append(f"PUT {path}: {put}")
                return
            applied += 1
        done[k] = (applied, conflicts)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not failures, failures
    print(f"applied and 412 per client: {done}")
    assert sum(a for a, _ in done.values()) == 2 * per_client
    assert g.api.ok("GET", path)["weight"] == (start + 2 * per_client) % 256
    # The audit log holds 400 increments, each from the value the previous one left.
    changes = _member_weight_changes(g.api.audit(since), path)
    assert len(changes) == 2 * per_client
    expected = start
    for before, after in changes:
        assert (before, after) == (expected, (expected + 1) % 256), changes
        expected = after


def test_a_drain_and_a_pool_put_with_if_match_cannot_undo_each_other(api_servers):
    import threading
    g = api_servers.start()
    pool_path = f"{V1}/pools/hangzhou"
    # Step by step first: a pool read before a drain cannot be written back over it.
    r = g.api.get(pool_path)
    stale, pool = etag_of(r), r.json
    g.api.ok("PUT", ADM11, {"admin": "drain"})
    pool["members"][1]["weight"] = 7
    r = g.api.put(pool_path, pool, headers={"If-Match": stale})
    assert r.status == 412, r
    assert g.a(BAL) == ["127.0.0.12"]
    r = g.api.get(pool_path)
    pool = r.json
    pool["members"][1]["weight"] = 7
    g.api.ok("PUT", pool_path, pool, headers={"If-Match": etag_of(r)})
    assert g.a(BAL) == ["127.0.0.12"]  # still drained
    assert g.api.ok("GET", f"{M}/127.0.0.12")["weight"] == 7
    # A drain read-modify-written against a stale read is refused too.
    r = g.api.put(ADM11, {"admin": "auto"}, headers={"If-Match": stale})
    assert r.status == 412, r
    g.api.ok("PUT", ADM11, {"admin": "auto"})

    # Concurrently: one operator toggles 127.0.0.11's admin state, another bumps 127.0.0.12's
    # weight through the whole pool with If-Match. Neither undoes the other.
    rounds = 40
    failures = []
    last_admin = []

    def drainer():
        api = g.api.with_token(ADMIN_SECRET)
        for i in range(rounds):
            state = "drain" if i % 2 == 0 else "auto"
            r = api.put(ADM11, {"admin": state})
            if r.status != 200:
                failures.append(f"admin {state}: {r}")
                return
            last_admin.append(state)

    def pool_writer():
        api = g.api.with_token(ADMIN_SECRET)
        applied = 0
        while applied < rounds and len(failures) < 5:
            r = api.get(pool_path)
            p = r.json
            p["members"][1]["weight"] = (p["members"][1]["weight"] + 1) % 256
            put = api.put(pool_path, p, headers={"If-Match": etag_of(r)})
            if put.status == 412:
                continue
            if put.status != 200:
                failures.append(f"pool PUT: {put}")
                return
            applied += 1

    since = g.api.last_audit_id()
    threads = [threading.Thread(target=drainer), threading.Thread(target=pool_writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not failures, failures
    assert g.api.ok("GET", f"{M}/127.0.0.12")["weight"] == 7 + rounds
    assert g.api.ok("GET", f"{M}/127.0.0.11")["admin"] == last_admin[-1] == "auto"
    # No pool PUT changed 127.0.0.11: each one's audit names only 127.0.0.12.
    for e in g.api.audit(since):
        if e["action"] == f"PUT {pool_path}" and e["status"] == 200:
            changed = {m["address"] for c in e["after"] for m in c["value"]["members"]}
            assert changed == {"127.0.0.12"}, e


def test_idle_connections_do_not_lock_out_an_admin(api_servers):
    g = api_servers.start()
    held = []
    try:
        # 256 connections from one client that never sends a byte ...
        lone = fresh_source()
        for _ in range(256):
            held.append(socket.create_connection(("127.0.0.1", g.http_port), timeout=10,
                                                 source_address=(lone, 0)))
        t0 = time.monotonic()
        r = g.api.get(f"{V1}/status", timeout=5)
        elapsed = time.monotonic() - t0
        print(f"admin request beside 256 silent connections from one address: {elapsed:.3f} s")
        assert r.status == 200 and elapsed < 1.0, (r, elapsed)
        # ... and 256 unauthenticated keep-alive connections from 16 addresses, idle after one
        # request each: together over the global limit.
        for k in range(16):
            src = fresh_source()
            for _ in range(16):
                s = socket.create_connection(("127.0.0.1", g.http_port), timeout=10,
                                             source_address=(src, 0))
                held.append(s)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        r = g.api.get(f"{V1}/status", timeout=5)
        elapsed = time.monotonic() - t0
        print(f"admin request beside 512 idle connections: {elapsed:.3f} s")
        assert r.status == 200 and elapsed < 1.0, (r, elapsed)
        # Even from the address that holds 256 of them.
        t0 = time.monotonic()
        r = g.api.get(f"{V1}/status", source=lone, timeout=5)
        elapsed = time.monotonic() - t0
        assert r.status == 200 and elapsed < 1.0, (r, elapsed)
    finally:
        for s in held:
            s.close()
    assert g.api.get("/healthz").status == 200


def test_an_unauthenticated_body_is_never_waited_for(shared_server):
    g = shared_server
    src = fresh_source()
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=10,
                                  source_address=(src, 0)) as s:
        s.sendall(f"PUT {ADM11} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n".encode())
        t0 = time.monotonic()
        reply = s.recv(4096)
        elapsed = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert elapsed < 1.0, elapsed
    # With a valid token, a body that takes its time is read.
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=10) as s:
        body = b'{"admin": "auto"}'
        s.sendall(f"PUT {ADM11} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Authorization: Bearer {ADMIN_SECRET}\r\nConnection: close\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(0.3)  # the body comes later: the server must wait for it, not answer
        s.sendall(body)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


def test_silent_connections_are_closed_after_the_header_timeout(shared_server):
    g = shared_server
    with socket.create_connection(("127.0.0.1", g.http_port), timeout=30) as s:
        t0 = time.monotonic()
        assert wait_for_eof(s, timeout=20)
        elapsed = time.monotonic() - t0
    print(f"a connection that sent nothing closed after {elapsed:.1f} s")
    assert elapsed < 8, elapsed


def test_failed_attempts_never_block_a_valid_token(shared_server):
    g = shared_server
    src = fresh_source()
    since = g.api.last_audit_id()
    for i in range(10):
        assert g.api.get(f"{V1}/status", token=f"gtm_bad{i}", source=src).status == 401
    assert g.api.get(f"{V1}/status", token="gtm_bad", source=src).status == 429
    # The operator behind the same address still gets in.
    assert g.api.get(f"{V1}/status", source=src).status == 200
    assert g.api.put(ADM11, {"admin": "auto"}, source=src).status == 200
    # A write with a bad token from the blocked address is refused with 429, and audited.
    r = g.api.put(ADM11, {"admin": "drain"}, token="gtm_bad", source=src)
    assert r.status == 429, r
    entries = [(e["action"], e["status"], e["source"]) for e in g.api.audit(since)
               if e["status"] != 200]
    assert (f"PUT {ADM11}", 429, src) in entries, entries
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]


def _poisoned_admin_bodies():
    """{"admin": X} bodies whose error reply echoes X so that byte 1000 of the reply falls inside
    a multi-byte character, for every alignment."""
    out = []
    for pad in range(4):
        for ch in ("\u00e9", "\u20ac", "\U0001F600"):
            out.append(json.dumps({"admin": "a" * pad + ch * 600}, ensure_ascii=False))
    return out


def test_a_poisoned_audit_entry_never_breaks_the_audit_pages(api_servers):
    g = api_servers.start()
    since = g.api.last_audit_id()
    for body in _poisoned_admin_bodies():
        r = g.api.put(ADM11, body.encode())
        assert r.status == 400 and r.field == "admin", r
    total = len(g.api.audit(since))
    assert total == len(_poisoned_admin_bodies())
    for limit in (1, 5, 100, 1000):
        after = since
        seen = 0
        while True:
            r = g.api.get(f"{V1}/audit?after={after}&limit={limit}")
            assert r.status == 200, (limit, after, r)
            page = json.loads(r.body.decode("utf-8"))  # strict UTF-8
            seen += len(page["audit"])
            if not page["audit"]:
                break
            after = page["audit"][-1]["id"]
        assert seen == total
    for e in g.api.audit(since):
        assert e["status"] == 400 and len(e["result"].encode()) <= 1100, e


def test_non_ascii_names_paths_and_queries_get_400_and_are_audited(api_servers):
    g = api_servers.start()
    rows = g.state_rows()
    since = g.api.last_audit_id()
    writes = [("PUT", f"{V1}/pools/b%C3%BCcher", {"members": [{"address": "127.0.0.9"}]}),
              ("DELETE", f"{V1}/zones/%FF.test", None),
              ("PUT", f"{V1}/pools/hangzhou/members/127.0.0.%D9%A1", {"weight": 1}),
              ("PUT", f"{ADM11}?dry_run=tr%C3%BCe", {"admin": "drain"}),
              ("POST", f"{V1}/pools/caf%C3%A9/members", {"address": "127.0.0.9"})]
    for method, path, body in writes:
        r = g.api.request(method, path, body)
        assert r.status == 400 and r.error, (method, path, r)
    for path in (f"{V1}/explain?name=b%C3%BCcher.gtm.example.com",
                 f"{V1}/explain?name={BAL}&client=%FF", f"{V1}/pools/%E2%82%AC"):
        r = g.api.get(path)
        assert r.status == 400 and r.error, (path, r)
    # Raw bytes in the request target, and in a query value.
    for target in (b"/api/v1/pools/b\xc3\xbccher", b"/api/v1/pools/\xff",
                   b"/api/v1/status?x=\xe2\x82"):
        reply = raw_http(g.http_port, b"DELETE " + target + b" HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer " + ADMIN_SECRET.encode() +
                         b"\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400"), (target, reply[:300])
    entries = g.api.audit(since)
    statuses = [e["status"] for e in entries]
    assert statuses == [400] * (len(writes) + 3), entries
    assert g.state_rows() == rows


def test_head_allow_and_malformed_requests(shared_server):
    g = shared_server
    for path in (f"{V1}/config", f"{V1}/pools/hangzhou", f"{V1}/status", "/healthz",
                 f"{V1}/audit?limit=2"):
        get = g.api.get(path)
        head = g.api.request("HEAD", path)
        assert head.status == 200 and head.body == b"", (path, head)
        assert head.headers["content-length"] == str(len(get.body)), (path, head.headers)
        assert head.headers.get("etag") == get.headers.get("etag"), path
    assert g.api.request("HEAD", f"{V1}/pools/nowhere").status == 404
    for method, path, allow in [("DELETE", f"{V1}/config", "GET, HEAD, PUT"),
                                ("PATCH", f"{V1}/pools/hangzhou", "GET, HEAD, PUT, DELETE"),
                                ("GET", ADM11, "PUT"), ("POST", f"{V1}/status", "GET, HEAD"),
                                ("PUT", "/healthz", "GET, HEAD")]:
        r = g.api.request(method, path, {} if method in ("PUT", "POST", "PATCH") else None)
        assert r.status == 405 and r.headers.get("allow") == allow, (method, path, r, r.headers)
    for raw in (b"GARBAGE\r\n\r\n", b"GET  HTTP/1.1\r\n\r\n", b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                f"PUT {ADM11} HTTP/1.1\r\nAuthorization: Bearer {ADMIN_SECRET}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                "zz\r\n".encode()):
        reply = raw_http(g.http_port, raw)
        assert reply.startswith(b"HTTP/1.1 400"), (raw, reply[:200])
    assert g.api.get("/healthz").status == 200


def test_every_refused_write_is_audited(api_servers):
    g = api_servers.start(env={"GTMD_TEST_FAIL_COMPILE": "broken.gtm.example.com"})
    viewer = g.api.with_token(g.api.ok("POST", f"{V1}/tokens",
                                       {"name": "v", "role": "viewer"})["token"])
    since = g.api.last_audit_id()
    src = fresh_source()
    want = []

    def refused(status, method, path, body=None, api=g.api, **kw):
        try:
            r = api.request(method, path, body, **kw)
        except (ConnectionError, http.client.HTTPException, socket.timeout) as e:
            r = Reply(None, [], repr(e).encode())
        assert r.status == status, (method, path, r)
        want.append((f"{method} {path.split('?')[0]}", status))

    refused(401, "PUT", ADM11, {"admin": "drain"}, token=None, source=src)
    refused(403, "PUT", ADM11, {"admin": "drain"}, api=viewer)
    refused(413, "PUT", f"{V1}/config", b" " * (2 << 20))
    refused(415, "PUT", ADM11, "admin: drain", content_type="text/plain")
    for i in range(9):
        refused(401, "DELETE", f"{V1}/pools/p{i}", token="gtm_bad", source=src)
    refused(429, "DELETE", f"{V1}/pools/hangzhou", token="gtm_bad", source=src)
    refused(500, "POST", f"{V1}/balancers",
            {"name": "broken.gtm.example.com", "pools": [{"pool": "hangzhou"}]})
    got = [(e["action"], e["status"]) for e in g.api.audit(since)]
    assert got == want, f"audited {got}\nexpected {want}"


def test_audit_pages_are_bounded_and_memory_returns(api_servers):
    g = api_servers.start()
    since = g.api.last_audit_id()
    # 1,000 audit entries of about 48 kB each, written straight into the store.
    g.sqlite("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
             "INSERT INTO audit (at_ms, token, source, action, object, before, after, result, "
             "status) SELECT 1700000000000 + i, 'admin', '127.0.0.1', 'PUT /api/v1/config', "
             "'config', '\"' || hex(zeroblob(12000)) || '\"', '\"' || hex(zeroblob(12000)) || "
             "'\"', 'ok', 200 FROM n;")
    g.api.get(f"{V1}/audit?after={since}&limit=10")  # warm up
    base = g.rss_kb()
    r = g.api.get(f"{V1}/audit?after={since}&limit=1000")
    assert r.status == 200, r
    page = r.json
    print(f"a limit=1000 page: {len(r.body)} bytes, {len(page['audit'])} entries")
    assert len(r.body) <= (1 << 20) + 65536, len(r.body)
    assert page["more"] is True and page["next_after"] == page["audit"][-1]["id"]
    # Following next_after visits every entry exactly once.
    ids = [e["id"] for e in page["audit"]]
    after = page["next_after"]
    while True:
        p = g.api.ok("GET", f"{V1}/audit?after={after}&limit=1000")
        ids += [e["id"] for e in p["audit"]]
        if not p["more"]:
            break
        after = p["next_after"]
    assert len(ids) == len(set(ids)) == 1000 and ids == sorted(ids)
    if os.environ.get("GTM_SANITIZED") != "1":
        rss = g.rss_kb()
        print(f"VmRSS {base} kB before, {rss} kB after paging 48 MB of audit")
        assert rss - base < 16 * 1024, (base, rss)


def test_gtmctl_export_says_the_revision_and_apply_takes_if_match(api_servers, tmp_path):
    from apihelp import gtmctl
    g = api_servers.start()
    server = f"http://127.0.0.1:{g.http_port}"
    p = gtmctl("export", server=server, token=ADMIN_SECRET)
    assert p.returncode == 0, p
    rev = etag_of(g.api.get(f"{V1}/config")).strip('"')
    assert f"revision {rev}" in p.stderr, p.stderr
    assert yaml.safe_load(p.stdout) == g.api.config()
    doc = tmp_path / "doc.yaml"
    doc.write_text(p.stdout.replace("127.0.0.21", "127.0.0.22"))
    # Someone else changes the state after the export: the apply onto the exported revision is
    # refused and changes nothing.
    g.api.ok("PUT", ADM11, {"admin": "drain"})
    p = gtmctl("apply", "-f", str(doc), "--if-match", rev, server=server, token=ADMIN_SECRET)
    assert p.returncode == 2 and "412" in p.stderr, p
    assert g.api.ok("GET", f"{V1}/pools/frankfurt")["members"][0]["address"] == "127.0.0.21"
    # Read, modify, write again: the drain made in between is in the new export, and kept.
    p = gtmctl("export", server=server, token=ADMIN_SECRET)
    new = p.stderr.split("revision ")[1].split()[0]
    assert new != rev
    doc.write_text(p.stdout.replace("127.0.0.21", "127.0.0.22"))
    p = gtmctl("apply", "-f", str(doc), "--if-match", new, server=server, token=ADMIN_SECRET)
    assert p.returncode == 0, p
    assert g.api.ok("GET", f"{V1}/pools/frankfurt")["members"][0]["address"] == "127.0.0.22"
    assert g.a(BAL) == ["127.0.0.12"]
    p = gtmctl("apply", "-f", str(doc), "--if-match", "x1", server=server, token=ADMIN_SECRET)
    assert p.returncode == 1, p
    # drain: the dry run's judgement and the change (sent with its ETag) apply to one revision.
    p = gtmctl("undrain", "hangzhou", "127.0.0.11", server=server, token=ADMIN_SECRET)
    assert p.returncode == 0, p
    p = gtmctl("drain", "hangzhou", "127.0.0.12", server=server, token=ADMIN_SECRET)
    assert p.returncode == 0, p
    assert g.a(BAL) == ["127.0.0.11"]
