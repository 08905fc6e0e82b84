"""Issue 11, "Operators are alerted through Prometheus", end to end.

The real Prometheus and Alertmanager of Debian's packages (`prometheus`,
`prometheus-alertmanager`; scripts/setup installs them with their services stopped) run in the
test's temporary directory on 127.0.0.1 with free ports, against the real gtmd and the
project's test gateway:

- Prometheus runs configs/prometheus/prometheus.yml with its targets pointed at this gtmd and
  this Alertmanager, scrape and evaluation every second, and the rules of
  configs/prometheus/gtmd-rules.yml **rewritten by the test: every `for:` is 2s** (the
  production durations are minutes); the expressions are the project's, unchanged. Firing
  alerts are re-sent every second (`--rules.alert.resend-delay=1s`, 1m by default). A
  test-only rule (always firing, severity info) checks the pipeline before gtmd's alerts do.
- Alertmanager runs configs/prometheus/alertmanager.yml with its group waits shortened to 1 s,
  clustering off, and its webhook receivers pointed at a webhook server the test runs.

A pool's gateways are broken → GtmPoolDown is active in Alertmanager's API and delivered to the
`critical` receiver; the members' own GtmMemberDown alerts are inhibited by it; the gateways
heal → it resolves (and the resolution is delivered); gtmd is killed with SIGKILL →
GtmInstanceDown is active. Every wait is a condition with a deadline; the measured times are
printed (pytest -s) and appended to $GTM_PROBE_TIMINGS when it is set.

Nothing listens on or talks to anything but 127.0.0.1: no remote write, no external URL, no
receiver but the test's own.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import GtmdError, wait_for
from promhelp import ALERTMANAGER_BIN, CONFIGS, PROMETHEUS_BIN, Server, free_port, http_json, \
    http_ok, shipped_rules  # noqa: F401

# About 20 s of probe, scrape and evaluation timers; it tests the rules with Prometheus and
# Alertmanager rather than gtmd's memory (test_metrics.py scrapes the sanitized gtmd), so the
# sanitizer build leaves it to the dev build.
pytestmark = pytest.mark.slow


FOR_IN_TEST = "2s"  # every rule's `for:` in this test (pending for two evaluations)
START_DEADLINE_S = 30.0
ALERT_DEADLINE_S = 60.0  # break/heal/kill → Alertmanager; measured figures are a few seconds

ZONE = "gtm.example.com"
HOST = "bookinfo.example.com"
EXPECT = "Simple Bookstore App"
EAST = ["127.0.90.1", "127.0.90.2"]
WEST = ["127.0.90.11"]


def record(line):
    print("\n[alert timing] " + line)
    path = os.environ.get("GTM_PROBE_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


class Webhook:
    """Alertmanager's receivers: records every notification (path and JSON body)."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.received.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self, path, alertname, status, **labels):
        """The alerts of `alertname` with `status` (firing/resolved) delivered to `path`."""
        with self.lock:
            received = list(self.received)
        out = []
        for p, body in received:
            if p != path:
                continue
            for a in body.get("alerts", []):
                if (a["labels"].get("alertname") == alertname and a["status"] == status
                        and all(a["labels"].get(k) == v for k, v in labels.items())):
                    out.append(a)
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def rules_for_test(path):
    """The project's rules with every `for:` set to FOR_IN_TEST, and one pipeline check."""
    doc = shipped_rules(FOR_IN_TEST)
    assert sum(len(g["rules"]) for g in doc["groups"]) >= 12, doc
    doc["groups"].append({"name": "e2e-pipeline", "rules": [{
        "alert": "E2ePipelineCheck", "expr": "vector(1)", "labels": {"severity": "info"},
        "annotations": {"summary": "Always firing: Prometheus reaches Alertmanager."}}]})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def prometheus_config(path, rules, gtmd_http_port, alertmanager_port):
    """configs/prometheus/prometheus.yml, pointed at this gtmd and Alertmanager, 1 s cycles."""
    cfg = yaml.safe_load((CONFIGS / "prometheus.yml").read_text())
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(rules)]
    cfg["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    jobs = [j for j in cfg["scrape_configs"] if j["job_name"] == "gtmd"]
    assert len(jobs) == 1, cfg
    jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{gtmd_http_port}"]}]
    cfg["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def alertmanager_config(path, webhook_port):
    """configs/prometheus/alertmanager.yml with 1 s group waits and every webhook receiver sent
    to the test's webhook server (same path)."""
    cfg = yaml.safe_load((CONFIGS / "alertmanager.yml").read_text())

    def shorten(route):
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for r in route.get("routes", []):
            shorten(r)

    shorten(cfg["route"])
    cfg["route"].update(group_wait="1s", group_interval="1s")
    for receiver in cfg["receivers"]:
        for w in receiver.get("webhook_configs", []):
            w["url"] = (f"http://127.0.0.1:{webhook_port}"
                        + urllib.parse.urlsplit(w["url"]).path)
        assert set(receiver) <= {"name", "webhook_configs"}, receiver  # nothing leaves loopback
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------
# Looking at them


def active_alerts(am, alertname, **labels):
    """Alerts of `alertname` (with these labels) that Alertmanager's API lists: not resolved.
    Their status.state is `active` or `suppressed` (inhibited or silenced)."""
    out = []
    for a in http_json(am.url + "/api/v2/alerts"):
        if a["labels"].get("alertname") == alertname and all(
                a["labels"].get(k) == v for k, v in labels.items()):
            out.append(a)
    return out


def prom_query(prom, expr):
    q = urllib.parse.urlencode({"query": expr})
    body = http_json(f"{prom.url}/api/v1/query?{q}")
    assert body["status"] == "success", body
    return body["data"]["result"]


def prom_state(prom):
    """For failure messages: gtmd's scrape target and the rules' states."""
    try:
        targets = http_json(prom.url + "/api/v1/targets")["data"]["activeTargets"]
        alerts = http_json(prom.url + "/api/v1/alerts")["data"]["alerts"]
    except (OSError, ValueError) as e:
        return f"(Prometheus API: {e})"
    t = [{k: x.get(k) for k in ("scrapeUrl", "health", "lastError")} for x in targets]
    a = [(x["labels"].get("alertname"), x["state"],
          {k: v for k, v in x["labels"].items() if k in ("pool", "member", "balancer")})
         for x in alerts]
    return f"targets: {t}\nPrometheus alerts: {a}"


def wait_alert(am, prom, what, predicate, timeout=ALERT_DEADLINE_S):
    try:
        return wait_for(predicate, timeout=timeout, interval=0.1, what=what)
    except GtmdError as e:
        raise GtmdError(f"{e}\n{prom_state(prom)}\nAlertmanager: "
                        f"{http_json(am.url + '/api/v2/alerts')}") from None


# ---------------------------------------------------------------------------------------------


def document(port):
    monitor = {"name": "web", "type": "http", "port": port, "path": "/productpage", "host": HOST,
               "expect_body": EXPECT, "interval": "1s", "timeout": "500ms", "fall": 2,
               "rise": 2, "hold_down": "2s"}
    return {
        "zones": [{"name": ZONE,
                   "soa": {"mname": f"ns1.{ZONE}", "rname": "hostmaster.example.com",
                           "minimum": 30},
                   "ns": [f"ns1.{ZONE}"], "records": ["ns1 3600 A 127.0.0.53"]}],
        "monitors": [monitor],
        "pools": [
            {"name": "east", "monitor": "web", "min_healthy": 1,
             "members": [{"address": a} for a in EAST]},
            {"name": "west", "monitor": "web", "members": [{"address": a} for a in WEST]},
        ],
        "balancers": [{"name": f"shop.{ZONE}", "ttl": 30, "when_all_down": "fail_closed",
                       "pools": [{"pool": "east", "priority": 1},
                                 {"pool": "west", "priority": 2}]}],
    }


@pytest.fixture
def stack(tmp_path, gateway_factory, gtmd_factory):
    """Gateways, gtmd, the webhook, Alertmanager and Prometheus, all on 127.0.0.1. gtmd is
    started and stopped here (not by gtmd_factory): the test kills it."""
    for binary in (PROMETHEUS_BIN, ALERTMANAGER_BIN):
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} is missing: scripts/setup installs prometheus and "
                        f"prometheus-alertmanager")
    assert shutil.which("promtool"), "promtool is missing: scripts/setup installs prometheus"

    gw, port = gateway_factory.start(
        lambda p: [a for m in EAST + WEST for a in ("--listen", f"{m}:{p}")])
    g = gtmd_factory.create(document(port))
    webhook = Webhook()
    servers = []
    try:
        g.start()
        am_dir = tmp_path / "alertmanager"
        am_dir.mkdir()
        am_cfg = alertmanager_config(am_dir / "alertmanager.yml", webhook.port)
        am = Server("alertmanager", am_dir, lambda p: [
            ALERTMANAGER_BIN, f"--config.file={am_cfg}", f"--storage.path={am_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{p}", f"--web.external-url=http://127.0.0.1:{p}/",
            "--cluster.listen-address=", "--log.level=info"])
        servers.append(am)
        am.start()

        prom_dir = tmp_path / "prometheus"
        prom_dir.mkdir()
        rules = rules_for_test(prom_dir / "rules.yml")
        subprocess.run(["promtool", "check", "rules", str(rules)], check=True,
                       capture_output=True, timeout=60)
        prom_cfg = prometheus_config(prom_dir / "prometheus.yml", rules, g.ports["http"],
                                     am.port)
        prom = Server("prometheus", prom_dir, lambda p: [
            PROMETHEUS_BIN, f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={prom_dir / 'data'}", f"--web.listen-address=127.0.0.1:{p}",
            f"--web.external-url=http://127.0.0.1:{p}/",
            # Firing alerts are re-sent every second, not every minute: a first send made
            # before the notifier knew its Alertmanager is otherwise lost for a minute.
            "--rules.alert.resend-delay=1s", "--log.level=info"])
        servers.append(prom)
        prom.start()
        yield {"gw": gw, "port": port, "gtmd": g, "am": am, "prom": prom, "webhook": webhook}
    finally:
        for s in reversed(servers):
            s.stop()
        webhook.stop()
        if g.proc is not None and g.proc.poll() is None:
            code = g.stop()
            assert code == 0, f"gtmd exit code {code} after SIGTERM\n{g.logs()}"
        else:
            g.kill()  # reaped already (the test killed it), or never started


def test_prometheus_and_alertmanager_alert_on_a_pool_down_its_recovery_and_gtmd_killed(stack):
    gw, g, am, prom, webhook = (stack[k] for k in ("gw", "gtmd", "am", "prom", "webhook"))
    port = stack["port"]

    # The pipeline: Prometheus knows this Alertmanager, and an always-firing rule reaches it.
    wait_alert(am, prom, "Prometheus to discover Alertmanager", lambda: any(
        str(am.port) in x["url"]
        for x in http_json(prom.url + "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]))
    wait_alert(am, prom, "the pipeline check to reach Alertmanager",
               lambda: active_alerts(am, "E2ePipelineCheck"))

    # gtmd is scraped, every member is up, and no gtmd alert is active.
    wait_alert(am, prom, "Prometheus to scrape gtmd", lambda: any(
        r["value"][1] == "1" for r in prom_query(prom, 'up{job="gtmd"}')))
    wait_alert(am, prom, "gtm_member_up to be 1 for every member", lambda: len(
        prom_query(prom, 'gtm_member_up == 1')) == len(EAST + WEST))
    wait_alert(am, prom, "gtm_pool_up{pool=\"east\"} to be 1",
               lambda: prom_query(prom, 'gtm_pool_up{pool="east"} == 1'))
    for name in ("GtmPoolDown", "GtmMemberDown", "GtmInstanceDown", "GtmBalancerAllDown",
                 "GtmBalancerFailover"):
        assert not active_alerts(am, name), (name, http_json(am.url + "/api/v2/alerts"))

    # Break the pool: both east gateways refuse connections.
    t_break = time.monotonic()
    for m in EAST:
        gw.set_mode("refuse", m, port)
    alert = wait_alert(am, prom, "GtmPoolDown{pool=east} active in Alertmanager", lambda: [
        a for a in active_alerts(am, "GtmPoolDown", pool="east")
        if a["status"]["state"] == "active"])[0]
    t_active = time.monotonic()
    record(f"gateways broken -> GtmPoolDown active in Alertmanager: {t_active - t_break:.1f} s")
    assert alert["labels"]["severity"] == "critical", alert
    assert alert["labels"]["job"] == "gtmd", alert
    assert alert["annotations"]["runbook_url"] == "configs/prometheus/RUNBOOK.md#gtmpooldown"
    assert "Pool east" in alert["annotations"]["description"], alert
    assert "min_healthy 1." in alert["annotations"]["description"], alert
    assert [r["name"] for r in alert["receivers"]] == ["pager"], alert  # routed by severity
    wait_alert(am, prom, "the page for GtmPoolDown at the critical webhook",
               lambda: webhook.notifications("/critical", "GtmPoolDown", "firing", pool="east"))
    record(f"gateways broken -> GtmPoolDown delivered to the webhook: "
           f"{time.monotonic() - t_break:.1f} s")
    # The members' own alerts are there, inhibited by the pool's (alertmanager.yml).
    members = wait_alert(am, prom, "GtmMemberDown of both east members, inhibited", lambda: (
        lambda xs: xs if len(xs) == len(EAST) and all(
            x["status"]["state"] == "suppressed" and x["status"]["inhibitedBy"]
            for x in xs) else None)(active_alerts(am, "GtmMemberDown", pool="east")))
    assert {x["labels"]["member"] for x in members} == set(EAST), members
    # The balancer serves its second tier meanwhile.
    wait_alert(am, prom, "GtmBalancerFailover for the balancer", lambda: active_alerts(
        am, "GtmBalancerFailover", balancer=f"shop.{ZONE}"))

    # Heal: the pool comes back (rise 2, hold_down 2s), the alert resolves.
    t_heal = gw.set_mode("ok")
    wait_alert(am, prom, "GtmPoolDown{pool=east} to resolve in Alertmanager",
               lambda: not active_alerts(am, "GtmPoolDown", pool="east"))
    t_resolved = time.monotonic()
    record(f"gateways healed -> GtmPoolDown resolved in Alertmanager: "
           f"{t_resolved - t_heal:.1f} s")
    wait_alert(am, prom, "the resolution of GtmPoolDown at the critical webhook",
               lambda: webhook.notifications("/critical", "GtmPoolDown", "resolved",
                                             pool="east"))
    wait_alert(am, prom, "GtmMemberDown and GtmBalancerFailover to resolve", lambda: not (
        active_alerts(am, "GtmMemberDown") or active_alerts(am, "GtmBalancerFailover")))
    assert not active_alerts(am, "GtmInstanceDown")

    # Kill gtmd: nothing answers /metrics any more.
    g.kill()
    t_kill = time.monotonic()
    alert = wait_alert(am, prom, "GtmInstanceDown active in Alertmanager", lambda: [
        a for a in active_alerts(am, "GtmInstanceDown")
        if a["status"]["state"] == "active"])[0]
    record(f"gtmd killed -> GtmInstanceDown active in Alertmanager: "
           f"{time.monotonic() - t_kill:.1f} s")
    assert alert["labels"]["instance"] == f"127.0.0.1:{g.ports['http']}", alert
    assert alert["labels"]["severity"] == "critical", alert
    wait_alert(am, prom, "the page for GtmInstanceDown at the critical webhook",
               lambda: webhook.notifications("/critical", "GtmInstanceDown", "firing"))
