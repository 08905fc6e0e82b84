"""Issue 15, item 3: Alertmanager as a health input (POST /api/v1/alertmanager).

- The real Alertmanager (Debian's package) on 127.0.0.1 runs configs/prometheus/alertmanager-gtmd.yml
  with its timers shortened and its gtmd receiver pointed at this gtmd with an operator token
  (credentials_file). The test posts an alert to Alertmanager's own API (/api/v2/alerts): the
  member leaves the DNS answers while it fires (explain and events say `alert: <alertname>`),
  and returns when the test resolves it there.
- Without Alertmanager (the body Alertmanager would send, posted by the test): a firing alert
  that is never resolved expires at endsAt + alertmanager.grace; bodies Alertmanager would not
  send are 400 naming the field, and change nothing; alerts survive configuration changes and
  follow members that are removed and added again.

Only 127.0.0.0/8 is used. The http probes of every member pass throughout: what moves the
answers is the alert alone.
"""

import json
import os
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from apihelp import ApiGtmd, explained_member as member
from harness import wait_for
from promhelp import ALERTMANAGER_BIN, CONFIGS, Server, http_json

ZONE = "gtm.example.com"
NAME = f"shop.{ZONE}"
EAST = ["127.0.92.1", "127.0.92.2"]
EAST3 = "127.0.92.3"
WEST = ["127.0.92.11"]
WEST2 = "127.0.92.12"
DEADLINE_S = 30.0
V1 = "/api/v1"


def document(port, east=EAST):
    return f"""\
zones:
  - name: {ZONE}
    soa: {{mname: ns1.{ZONE}, rname: hostmaster.example.com, minimum: 30}}
    ns: [ns1.{ZONE}]
    records: ["ns1 3600 A 127.0.0.53"]
monitors:
  - {{name: web, type: http, port: {port}, path: /productpage, interval: 1s, timeout: 500ms,
      fall: 2, rise: 2, hold_down: 1s}}
pools:
  - name: east
    monitor: web
    members: [{", ".join("{address: " + a + "}" for a in east)}]
  - name: west
    monitor: web
    members: [{", ".join("{address: " + a + "}" for a in WEST)}]
balancers:
  - name: {NAME}
    ttl: 5
    max_answers: 16
    pools: [{{pool: east, priority: 1}}, {{pool: west, priority: 1}}]
"""


def rfc3339(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now():
    return datetime.now(timezone.utc)


def payload(*alerts, status="firing"):
    """Alertmanager's webhook body (version 4) for `alerts` (dicts: labels, status, endsAt)."""
    out = []
    for a in alerts:
        out.append({"status": a.get("status", status), "labels": a["labels"],
                    "annotations": {}, "startsAt": rfc3339(now()),
                    "endsAt": a.get("endsAt", "0001-01-01T00:00:00Z"),
                    "generatorURL": "", "fingerprint": a.get("fingerprint", "")
                    or format(abs(hash(json.dumps(a["labels"], sort_keys=True))), "016x")})
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
            "receiver": "gtmd", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": out}


def alert_events(g, name):
    return [e for e in g.api.events(type="alert") if e["alertname"] == name]


def answers(g):
    return set(g.a(NAME))


@pytest.fixture
def stack(tmp_path, gateway_factory):
    gw, port = gateway_factory.start(
        lambda p: [a for m in EAST + [EAST3] + WEST + [WEST2]
                   for a in ("--listen", f"{m}:{p}")])
    g = ApiGtmd(tmp_path / "gtmd", document(port),
                config="alertmanager: {grace: 2s}\n")
    g.start()
    try:
        wait_for(lambda: answers(g) == set(EAST + WEST), timeout=DEADLINE_S,
                 what="every member up")
        operator = g.api.ok("POST", f"{V1}/tokens", {"name": "alertmanager",
                                                     "role": "operator"})["token"]
        yield {"gtmd": g, "port": port, "gw": gw, "op": g.api.with_token(operator),
               "token": operator, "tmp": tmp_path}
    finally:
        code = g.stop()
        assert code == 0, f"gtmd exit code {code}\n{g.logs()}"


def alertmanager_config(path, gtmd_port, token_file):
    """configs/prometheus/alertmanager-gtmd.yml with 1 s timers, its gtmd receiver at this
    gtmd with the test's operator token, and every other receiver dropped (nothing else runs)."""
    cfg = yaml.safe_load((CONFIGS / "alertmanager-gtmd.yml").read_text())
    gtmd_routes = [r for r in cfg["route"]["routes"] if r["receiver"] == "gtmd"]
    assert len(gtmd_routes) == 2, cfg
    for r in gtmd_routes:
        assert r["continue"] is True, r
        r.update(group_wait="0s", group_interval="1s", repeat_interval="1m")
    cfg["route"] = {"receiver": "gtmd", "group_by": ["alertname"], "group_wait": "1s",
                    "group_interval": "1s", "routes": gtmd_routes}
    receiver = [r for r in cfg["receivers"] if r["name"] == "gtmd"][0]
    hook = receiver["webhook_configs"][0]
    assert hook["send_resolved"] is True, hook
    assert hook["url"].endswith("/api/v1/alertmanager"), hook
    hook["url"] = f"http://127.0.0.1:{gtmd_port}/api/v1/alertmanager"
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    cfg["receivers"] = [receiver]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def am_post(am, alerts):
    req = urllib.request.Request(am.url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200, r.status


def test_a_real_alertmanager_takes_a_member_out_while_its_alert_fires(stack):
    if not os.access(ALERTMANAGER_BIN, os.X_OK):
        pytest.fail(f"{ALERTMANAGER_BIN} is missing: scripts/setup installs "
                    f"prometheus-alertmanager")
    g, tmp = stack["gtmd"], stack["tmp"]
    token_file = tmp / "gtmd.token"
    token_file.write_text(stack["token"])
    token_file.chmod(0o600)
    am_dir = tmp / "alertmanager"
    am_dir.mkdir()
    cfg = alertmanager_config(am_dir / "alertmanager.yml", g.http_port, token_file)
    am = Server("alertmanager", am_dir, lambda p: [
        ALERTMANAGER_BIN, f"--config.file={cfg}", f"--storage.path={am_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{p}", f"--web.external-url=http://127.0.0.1:{p}/",
        "--cluster.listen-address=", "--log.level=debug"])
    am.start()
    try:
        labels = {"alertname": "BookinfoErrorsHigh", "severity": "warning",
                  "gtm_member": EAST[0]}
        t0 = time.monotonic()
        am_post(am, [{"labels": labels, "startsAt": rfc3339(now()),
                      "endsAt": rfc3339(now() + timedelta(hours=1))}])
        wait_for(lambda: answers(g) == set(EAST[1:] + WEST), timeout=DEADLINE_S,
                 interval=0.05, what=f"{EAST[0]} out of the answers while the alert fires"
                 f"\n{am.log()[-3000:]}")
        print(f"\n[alertmanager] alert posted -> member out of the answers: "
              f"{time.monotonic() - t0:.2f} s")
        ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
        m = member(ex, EAST[0])
        assert m["status"] == "alert" and m["reason"] == "alert: BookinfoErrorsHigh", m
        assert m["verdict"] == "up", m  # the probes still pass: the alert alone decides
        assert "alert: BookinfoErrorsHigh" in m["why"], m
        fired = wait_for(lambda: alert_events(g, "BookinfoErrorsHigh"), timeout=DEADLINE_S,
                         what="the alert's event")
        assert fired[-1]["state"] == "firing", fired
        assert fired[-1]["members"] == [f"east/{EAST[0]}"], fired
        assert fired[-1]["reason"] == "alert: BookinfoErrorsHigh", fired
        listed = g.api.ok("GET", f"{V1}/alertmanager")["alerts"]
        assert [a["member"] for a in listed] == [EAST[0]], listed
        audit = [a for a in g.api.audit() if a["action"] == "POST /api/v1/alertmanager"]
        assert audit and audit[-1]["token"] == "alertmanager", audit

        # Resolved in Alertmanager (endsAt now): the resolution reaches gtmd, the member returns.
        t1 = time.monotonic()
        am_post(am, [{"labels": labels, "startsAt": rfc3339(now() - timedelta(minutes=1)),
                      "endsAt": rfc3339(now())}])
        wait_for(lambda: answers(g) == set(EAST + WEST), timeout=DEADLINE_S, interval=0.05,
                 what=f"{EAST[0]} back once the alert resolved\n{am.log()[-3000:]}")
        print(f"[alertmanager] alert resolved -> member back: {time.monotonic() - t1:.2f} s")
        assert g.api.ok("GET", f"{V1}/alertmanager")["alerts"] == []
        wait_for(lambda: [e["state"] for e in alert_events(g, "BookinfoErrorsHigh")] == [
            "firing", "resolved"], timeout=DEADLINE_S, what="firing and resolved events")
    finally:
        am.stop()


def test_a_firing_alert_never_resolved_expires_at_ends_at_plus_grace(stack):
    g, op = stack["gtmd"], stack["op"]
    # Firing with an explicit endsAt one second ahead; grace is 2 s (gtmd.yaml).
    body = payload({"labels": {"alertname": "Stale", "gtm_pool": "east"},
                    "endsAt": rfc3339(now() + timedelta(seconds=1))})
    t0 = time.monotonic()
    r = op.post(f"{V1}/alertmanager", body)
    assert r.status == 200, r.text
    assert r.json["firing"] == 1 and r.json["changes"][0]["state"] == "firing", r.json
    # Read your writes: the answer is already without the pool.
    assert answers(g) == set(WEST)
    ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
    assert {member(ex, a)["reason"] for a in EAST} == {"alert: Stale"}
    wait_for(lambda: answers(g) == set(EAST + WEST), timeout=DEADLINE_S, interval=0.05,
             what="the pool back once endsAt + grace passed")
    took = time.monotonic() - t0
    assert took >= 2.5, f"back after {took:.2f} s, before endsAt (1 s) + grace (2 s)"
    print(f"\n[alertmanager] expired after {took:.2f} s (endsAt 1 s + grace 2 s)")
    wait_for(lambda: [e["state"] for e in alert_events(g, "Stale")] == ["firing", "expired"],
             timeout=DEADLINE_S, what="firing and expired events")

    # Firing alerts as Alertmanager sends them (endsAt 0001-01-01): receipt + grace.
    body = payload({"labels": {"alertname": "NoEnd", "gtm_member": EAST[1]}})
    assert op.post(f"{V1}/alertmanager", body).status == 200
    assert answers(g) == set(EAST[:1] + WEST)
    wait_for(lambda: answers(g) == set(EAST + WEST), timeout=DEADLINE_S, interval=0.05,
             what="back after receipt + grace")


BAD = [
    ("not an object", ["alerts"], "", "webhook payload"),
    ("version 3", {"version": "3", "alerts": []}, "version", "version 4"),
    ("no alerts", {"version": "4"}, "alerts", "required"),
    ("alerts not a list", {"version": "4", "alerts": {}}, "alerts", "list"),
    ("status pending", {"version": "4", "alerts": [
        {"status": "pending", "labels": {"alertname": "X", "gtm_pool": "east"}}]},
     "alerts[0].status", "firing, resolved"),
    ("no alertname", {"version": "4", "alerts": [
        {"status": "firing", "labels": {"gtm_pool": "east"}}]},
     "alerts[0].labels.alertname", "required"),
    ("label not a string", {"version": "4", "alerts": [
        {"status": "firing", "labels": {"alertname": "X", "gtm_pool": 5}}]},
     "alerts[0].labels.gtm_pool", "string"),
    ("bad endsAt", {"version": "4", "alerts": [
        {"status": "firing", "labels": {"alertname": "X", "gtm_pool": "east"},
         "endsAt": "tomorrow"}]}, "alerts[0].endsAt", "RFC 3339"),
    ("member not an address", {"version": "4", "alerts": [
        {"status": "firing", "labels": {"alertname": "X", "gtm_pool": "east"}},
        {"status": "firing", "labels": {"alertname": "X", "gtm_member": "gateway-1"}}]},
     "alerts[1].labels.gtm_member", "address"),
]


def test_bodies_alertmanager_would_not_send_are_400_and_change_nothing(stack):
    g, op = stack["gtmd"], stack["op"]
    before_events = g.api.events(type="alert")
    for what, body, field, words in BAD:
        r = op.post(f"{V1}/alertmanager", body)
        assert r.status == 400, (what, r.status, r.text)
        assert r.json.get("field", "") == field, (what, r.json)
        assert words in r.json["error"], (what, r.json)
        assert answers(g) == set(EAST + WEST), what
    r = op.request("POST", f"{V1}/alertmanager", None, content_type="application/json")
    assert r.status == 400, r.text
    raw = op.request("POST", f"{V1}/alertmanager", None)
    assert raw.status == 400
    assert g.api.ok("GET", f"{V1}/alertmanager")["alerts"] == []
    assert g.api.events(type="alert") == before_events
    # A viewer may read the alerts but not post them; a stray query parameter is refused.
    viewer = g.api.ok("POST", f"{V1}/tokens", {"name": "looker", "role": "viewer"})["token"]
    body = payload({"labels": {"alertname": "X", "gtm_pool": "east"}})
    assert g.api.with_token(viewer).post(f"{V1}/alertmanager", body).status == 403
    assert g.api.with_token(viewer).get(f"{V1}/alertmanager").status == 200
    r = op.post(f"{V1}/alertmanager?dry_run=true", body)
    assert r.status == 400 and r.json["field"] == "dry_run", r.text
    assert answers(g) == set(EAST + WEST)
    # Rejected posts are audited like every refused write.
    rejected = [a for a in g.api.audit() if a["action"].startswith("POST /api/v1/alertmanager")
                and a["status"] == 400]
    assert len(rejected) >= len(BAD), rejected


def test_alerts_follow_configuration_changes_and_removed_members(stack):
    g, op, port = stack["gtmd"], stack["op"], stack["port"]
    # Alerts without gtmd's labels are ignored; one for a pool that does not exist is kept.
    r = op.post(f"{V1}/alertmanager", payload(
        {"labels": {"alertname": "Unrelated", "severity": "info"}},
        {"labels": {"alertname": "Elsewhere", "gtm_pool": "nowhere"}, "fingerprint": "f0"},
        {"labels": {"alertname": "PoolErrors", "gtm_pool": "east"}, "fingerprint": "f1"},
        {"labels": {"alertname": "MemberErrors", "gtm_member": WEST[0]}, "fingerprint": "f2"}))
    assert r.status == 200, r.text
    assert r.json["ignored"] == 1 and r.json["firing"] == 3, r.json
    ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
    assert ex["mode"] == "fail_open", ex
    assert member(ex, WEST[0])["reason"] == "alert: MemberErrors"
    elsewhere = [a for a in r.json["alerts"] if a["alertname"] == "Elsewhere"][0]
    assert elsewhere["members"] == [], elsewhere

    # A configuration change while alerts fire: a member added to the alerted pool is out too.
    g.api.ok("POST", f"{V1}/pools/east/members", {"address": EAST3})
    ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
    assert member(ex, EAST3)["reason"] == "alert: PoolErrors", member(ex, EAST3)
    # The alerted west member removed, then added again: still alerted (the alert names the
    # address, not a place in the configuration).
    g.api.ok("POST", f"{V1}/pools/west/members", {"address": WEST2})
    g.api.ok("DELETE", f"{V1}/pools/west/members/{WEST[0]}")
    listed = {a["alertname"]: a for a in g.api.ok("GET", f"{V1}/alertmanager")["alerts"]}
    assert listed["MemberErrors"]["members"] == [], listed
    wait_for(lambda: answers(g) == {WEST2}, timeout=DEADLINE_S,
             what="the new west member serves (not alerted), east alerted")
    g.api.ok("POST", f"{V1}/pools/west/members", {"address": WEST[0]})
    ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
    assert member(ex, WEST[0])["reason"] == "alert: MemberErrors"
    assert answers(g) == {WEST2}

    # Resolved: everything returns; resolving an unknown alert changes nothing.
    r = op.post(f"{V1}/alertmanager", payload(
        {"labels": {"alertname": "PoolErrors", "gtm_pool": "east"}, "fingerprint": "f1"},
        {"labels": {"alertname": "MemberErrors", "gtm_member": WEST[0]}, "fingerprint": "f2"},
        {"labels": {"alertname": "Never", "gtm_pool": "east"}, "fingerprint": "f9"},
        status="resolved"))
    assert r.status == 200, r.text
    assert sorted(c["alertname"] for c in r.json["changes"]) == ["MemberErrors", "PoolErrors"]
    wait_for(lambda: answers(g) == set(EAST + [EAST3, WEST[0], WEST2]),
             timeout=DEADLINE_S, what="every member back")
    assert [a["alertname"] for a in g.api.ok("GET", f"{V1}/alertmanager")["alerts"]] == [
        "Elsewhere"]
