"""Issue 15, items 1 and 2: a promql monitor beside an http monitor, on a real Prometheus.

The project's test gateway plays two regions' ingress gateways: their health path always
answers 200, while a chosen share of "application" requests (/app/...) fails with 503, counted
as Istio's `istio_requests_total{gateway, response_code}` on the gateway's control /metrics. A
real Prometheus (Debian's package, 127.0.0.1, scrape every second) scrapes it. A test thread
sends application traffic to both regions. Each pool has two monitors, `monitors: [web,
errors]` (combine: all): `web` is the http probe of the health path, `errors` the promql monitor
of the error ratio per gateway, one query per interval for both members:

- 0 % errors: both regions answer;
- 30 % errors in one region: the promql monitor takes it out while its http probe still passes
  (explain shows both monitors' verdicts and that `errors` decided, reason `threshold`);
- back to 0 %: it returns;
- Prometheus stopped: queries fail (counted in gtm_promql_query_errors_total), and no verdict
  moves — a Prometheus that is down is not every member failing.

A second test runs the shipped alert on it: another real Prometheus (the "ops" one) scrapes
gtmd with configs/prometheus/gtmd-rules.yml loaded — every `for:` 2 s, and
GtmPromqlQueriesFailing's "no answer for more than 60 s" 3 s, rewritten by the test like
test_alerts.py does; the rest of its expression is the project's. The mesh Prometheus the
promql monitor queries is stopped: GtmPromqlQueriesFailing fires in the ops Prometheus
(/api/v1/alerts), and while it fires neither member's verdict has moved — both monitors up,
both regions answered, no verdict event. The mesh Prometheus started again on its port: the
monitor answers again and the alert resolves.

Only 127.0.0.0/8 is used.
"""

import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from apihelp import ApiGtmd, explained_member as member
from harness import GtmdError, wait_for
from promhelp import PROMETHEUS_BIN, Server, http_json, shipped_rules

pytestmark = pytest.mark.slow

ZONE = "gtm.example.com"
NAME = f"shop.{ZONE}"
HZ = "127.0.94.1"  # hangzhou's gateway
FR = "127.0.94.11"  # frankfurt's gateway
DEADLINE_S = 40.0
V1 = "/api/v1"
FOR_IN_TEST = "2s"  # every rule's `for:` in the ops Prometheus (production: minutes)
NO_ANSWER_S = 3  # GtmPromqlQueriesFailing's "no answer from Prometheus for more than 60 s"
# A gateway without any 5xx yet has no 5xx series at all (Istio creates series as they come):
# `or ... * 0` makes its ratio 0 rather than no data.
ERROR_RATIO = ('(sum by (gateway) (rate(istio_requests_total{response_code=~"5.."}[4s]))'
               ' or sum by (gateway) (rate(istio_requests_total[4s])) * 0)'
               ' / sum by (gateway) (rate(istio_requests_total[4s]))')


def document(port, prom_url):
    return yaml.safe_dump({
        "zones": [{"name": ZONE,
                   "soa": {"mname": f"ns1.{ZONE}", "rname": "hostmaster.example.com",
                           "minimum": 30},
                   "ns": [f"ns1.{ZONE}"], "records": ["ns1 3600 A 127.0.0.53"]}],
        "monitors": [
            {"name": "web", "type": "http", "port": port, "path": "/productpage",
             "interval": "1s", "timeout": "500ms", "fall": 2, "rise": 2, "hold_down": "2s"},
            {"name": "errors", "type": "promql", "url": prom_url, "query": ERROR_RATIO,
             "match_label": "gateway", "match_value": "{{address}}", "fail_if": "> 0.1",
             "no_data": "unknown", "interval": "1s", "timeout": "500ms", "fall": 2, "rise": 2,
             "hold_down": "2s"},
        ],
        "pools": [
            {"name": "hangzhou", "monitors": ["web", "errors"], "combine": "all",
             "members": [{"address": HZ, "labels": {"region": "cn-hangzhou"}}]},
            {"name": "frankfurt", "monitors": ["web", "errors"],
             "members": [{"address": FR, "labels": {"region": "eu-frankfurt"}}]},
        ],
        "balancers": [{"name": NAME, "ttl": 5, "max_answers": 16,
                       "pools": [{"pool": "hangzhou", "priority": 1},
                                 {"pool": "frankfurt", "priority": 1}]}],
    }, sort_keys=False)


class Traffic:
    """Application requests to both gateways, about 40 a second each, until stopped."""

    def __init__(self, port):
        self.port = port
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_event.is_set():
            for addr in (HZ, FR):
                try:
                    urllib.request.urlopen(f"http://{addr}:{self.port}/app/reviews", timeout=2)
                except OSError:
                    pass  # 503s raise; they are the point
            self.stop_event.wait(0.025)

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=5)


def monitors_of(m):
    return {x["monitor"]: x for x in m["monitors"]}


def record(line):
    print("\n[promql timing] " + line)
    path = os.environ.get("GTM_PROBE_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def metric(g, name, **labels):
    text = urllib.request.urlopen(f"http://127.0.0.1:{g.http_port}/metrics", timeout=5).read()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.decode().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if line.startswith(name + " ") and not want:
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def stack(tmp_path, gateway_factory):
    if not os.access(PROMETHEUS_BIN, os.X_OK):
        pytest.fail(f"{PROMETHEUS_BIN} is missing: scripts/setup installs prometheus")
    gw, port = gateway_factory.start(lambda p: ["--listen", f"{HZ}:{p}", "--listen", f"{FR}:{p}"])
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    cfg = prom_dir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "mesh", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{gw.control_port}"]}]}],
    }))
    prom = Server("prometheus", prom_dir, lambda p: [
        PROMETHEUS_BIN, f"--config.file={cfg}", f"--storage.tsdb.path={prom_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{p}", f"--web.external-url=http://127.0.0.1:{p}/",
        "--log.level=info"])
    prom.start()
    traffic = Traffic(port)
    g = ApiGtmd(tmp_path / "gtmd", document(port, prom.url))
    try:
        g.start()
        yield {"gtmd": g, "gw": gw, "port": port, "prom": prom}
    finally:
        traffic.stop()
        if g.proc is not None:
            code = g.stop()
            assert code == 0, f"gtmd exit code {code}\n{g.logs()}"
        prom.stop()


def test_promql_takes_a_region_out_on_its_error_rate_while_its_http_probe_passes(stack):
    g, gw, prom = stack["gtmd"], stack["gw"], stack["prom"]

    def answers():
        return set(g.a(NAME))

    def promql_up(address):
        m = member(g.api.ok("GET", f"{V1}/explain?name={NAME}"), address)
        return monitors_of(m)["errors"]["verdict"] == "up"

    # 0 % errors: both regions serve, and both monitors say up.
    try:
        wait_for(lambda: promql_up(HZ) and promql_up(FR), timeout=DEADLINE_S, interval=0.2,
                 what="the promql monitor up for both gateways")
    except Exception:
        q = urllib.parse.urlencode({"query": ERROR_RATIO})
        print(http_json(f"{prom.url}/api/v1/query?{q}"))
        print(http_json(f"{prom.url}/api/v1/targets"))
        print(g.api.ok("GET", f"{V1}/health"))
        raise
    assert answers() == {HZ, FR}
    queries_before = metric(g, "gtm_promql_queries_total", monitor="errors")
    assert queries_before and queries_before >= 1, queries_before

    # 30 % of hangzhou's application requests fail; its health path keeps answering 200.
    t0 = time.monotonic()
    gw.control("POST", "/app", error_rate="0.3", addr=HZ)
    wait_for(lambda: answers() == {FR}, timeout=DEADLINE_S, interval=0.1,
             what="hangzhou out of the answers on its error rate")
    out_s = time.monotonic() - t0
    record(f"30 % errors -> region out of the answers: {out_s:.1f} s")
    m = member(g.api.ok("GET", f"{V1}/explain?name={NAME}"), HZ)
    mons = monitors_of(m)
    assert mons["web"]["verdict"] == "up", m  # the http probe still passes
    assert mons["errors"]["verdict"] in ("down", "up") and mons["errors"]["decided"], m
    assert m["decided_by"] == "errors" and m["combine"] == "all", m
    assert mons["errors"]["reason"] == "threshold", m
    assert "> 0.1" in mons["errors"]["evidence"]["detail"], m
    events = wait_for(lambda: [e for e in g.api.events() if e["monitor"] == "errors"
                               and e["address"] == HZ and e["to"] == "down"],
                      timeout=DEADLINE_S, what="the verdict event of the promql monitor")
    assert events[-1]["reason"] == "threshold", events
    assert not [e for e in g.api.events() if e["monitor"] == "web" and e["to"] == "down"]

    # A configuration change while the errors go on: the threshold raised through the API
    # brings the region back (the monitor's new plan, its targets' decisions kept); lowered
    # again, it leaves again.
    mon = g.api.ok("GET", f"{V1}/monitors/errors")
    assert mon["fail_if"] == "> 0.1", mon
    mon["fail_if"] = "> 0.6"
    g.api.ok("PUT", f"{V1}/monitors/errors", mon)
    wait_for(lambda: answers() == {HZ, FR}, timeout=DEADLINE_S, interval=0.1,
             what="hangzhou back under a threshold its error rate does not reach")
    mon["fail_if"] = "> 0.1"
    g.api.ok("PUT", f"{V1}/monitors/errors", mon)
    wait_for(lambda: answers() == {FR}, timeout=DEADLINE_S, interval=0.1,
             what="hangzhou out again under the old threshold")

    # Back to 0 %: it returns (the rate window, rise and hold_down).
    t1 = time.monotonic()
    gw.control("POST", "/app", error_rate="0", addr=HZ)
    wait_for(lambda: answers() == {HZ, FR}, timeout=DEADLINE_S, interval=0.1,
             what="hangzhou back once its errors stopped")
    record(f"0 % errors -> region back: {time.monotonic() - t1:.1f} s")

    # One query per interval for both members: not one per member.
    q0 = metric(g, "gtm_promql_queries_total", monitor="errors")
    time.sleep(4.0)  # measuring a rate: a fixed window is the point here
    q1 = metric(g, "gtm_promql_queries_total", monitor="errors")
    # About 4 (one a second; a busy ASan run delays some); one per member would be 8.
    assert 2 <= q1 - q0 <= 5, (q0, q1)

    # Prometheus stopped: every query fails, nothing moves.
    last_event = max([e["id"] for e in g.api.events(type=None)] or [0])
    errors_before = metric(g, "gtm_promql_query_errors_total", monitor="errors") or 0
    prom.stop()
    prom.proc = None
    wait_for(lambda: (metric(g, "gtm_promql_query_errors_total", monitor="errors") or 0)
             >= errors_before + 5, timeout=DEADLINE_S, interval=0.2,
             what="five failed queries with Prometheus stopped")
    assert answers() == {HZ, FR}
    changes = [e for e in g.api.events(after=last_event, type=None) if e["type"] == "verdict"]
    assert changes == [], changes
    m = member(g.api.ok("GET", f"{V1}/explain?name={NAME}"), HZ)
    assert monitors_of(m)["errors"]["verdict"] == "up", m
    results = metric(g, "gtm_probe_results_total", monitor="errors", reason="query_error")
    assert results and results >= 5, results
    assert "promql monitor errors: query failed" in g.logs()


# ---------------------------------------------------------------------------------------------
# GtmPromqlQueriesFailing: the shipped alert, in a real Prometheus, while the monitor is blind


def ops_prometheus(workdir, gtmd_http_port):
    """A Prometheus that scrapes gtmd (job "gtmd", every second) and evaluates the project's
    rules every second: every `for:` FOR_IN_TEST, GtmPromqlQueriesFailing's 60 s NO_ANSWER_S."""
    workdir.mkdir()
    rules = workdir / "rules.yml"
    rules.write_text(yaml.safe_dump(shipped_rules(FOR_IN_TEST, {
        "GtmPromqlQueriesFailing": [("> 60", f"> {NO_ANSWER_S}")]}), sort_keys=False))
    subprocess.run(["promtool", "check", "rules", str(rules)], check=True, capture_output=True,
                   timeout=60)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "gtmd", "static_configs": [
            {"targets": [f"127.0.0.1:{gtmd_http_port}"]}]}],
    }, sort_keys=False))
    return Server("prometheus-ops", workdir, lambda p: [
        PROMETHEUS_BIN, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{p}", f"--web.external-url=http://127.0.0.1:{p}/",
        "--log.level=info"]).start()


def rule_alerts(prom, alertname):
    """The alerts of `alertname` that Prometheus's rules hold now (pending or firing)."""
    return [a for a in http_json(prom.url + "/api/v1/alerts")["data"]["alerts"]
            if a["labels"].get("alertname") == alertname]


def prom_value(prom, expr):
    q = urllib.parse.urlencode({"query": expr})
    body = http_json(f"{prom.url}/api/v1/query?{q}")
    assert body["status"] == "success", body
    return [float(r["value"][1]) for r in body["data"]["result"]]


def test_gtm_promql_queries_failing_fires_when_prometheus_is_gone_and_no_verdict_moves(
        stack, tmp_path):
    g, prom = stack["gtmd"], stack["prom"]
    ops = ops_prometheus(tmp_path / "prometheus-ops", g.http_port)
    try:
        _queries_failing_alert(g, prom, ops)
    finally:
        ops.stop()


def _queries_failing_alert(g, prom, ops):
    def answers():
        return set(g.a(NAME))

    def monitor_states():
        """Per member: each monitor's (verdict, suspect), and whether it is in the answers."""
        ex = g.api.ok("GET", f"{V1}/explain?name={NAME}")
        out = {}
        for addr in (HZ, FR):
            m = member(ex, addr)
            out[addr] = {x["monitor"]: (x["verdict"], x.get("suspect")) for x in m["monitors"]}
        return out

    def ops_state():
        try:
            return (f"ops alerts: {http_json(ops.url + '/api/v1/alerts')['data']['alerts']}\n"
                    f"ops targets: {http_json(ops.url + '/api/v1/targets')['data']}")
        except (OSError, ValueError) as e:
            return f"(ops Prometheus API: {e})"

    def wait(what, predicate, timeout=DEADLINE_S):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.1, what=what)
        except GtmdError as e:
            raise GtmdError(f"{e}\n{ops_state()}\ngtmd log:\n{g.logs()[-3000:]}") from None

    # Both members up by both monitors (0 % errors), and the ops Prometheus has seen the monitor
    # answer: no alert, not even pending.
    wait("both monitors up for both gateways", lambda: all(
        s == {"web": ("up", False), "errors": ("up", False)}
        for s in monitor_states().values()))
    assert answers() == {HZ, FR}
    wait("the ops Prometheus to scrape gtmd's promql metrics", lambda: [
        v for v in prom_value(ops, 'gtm_promql_last_success_timestamp_seconds'
                                   '{job="gtmd",monitor="errors"}') if v > 0])
    assert not rule_alerts(ops, "GtmPromqlQueriesFailing")
    before = monitor_states()
    last_event = max([e["id"] for e in g.api.events(type=None)] or [0])
    changes_before = metric(g, "gtm_member_verdict_changes_total", pool="hangzhou")

    # The mesh Prometheus goes away: every query of the monitor fails from now on.
    mesh_port = prom.port
    t_stop = time.monotonic()
    prom.stop()
    firing = wait("GtmPromqlQueriesFailing firing in the ops Prometheus", lambda: [
        a for a in rule_alerts(ops, "GtmPromqlQueriesFailing") if a["state"] == "firing"])
    record(f"mesh Prometheus stopped -> GtmPromqlQueriesFailing firing: "
           f"{time.monotonic() - t_stop:.1f} s (no answer > {NO_ANSWER_S} s, for "
           f"{FOR_IN_TEST})")
    assert len(firing) == 1, firing
    alert = firing[0]
    assert alert["labels"]["monitor"] == "errors", alert
    assert alert["labels"]["severity"] == "warning", alert
    assert alert["labels"]["job"] == "gtmd", alert
    assert alert["labels"]["instance"] == f"127.0.0.1:{g.http_port}", alert
    assert alert["annotations"]["description"].startswith(
        f"promql monitor errors on 127.0.0.1:{g.http_port} has had no answer"), alert
    assert alert["annotations"]["runbook_url"] == \
        "configs/prometheus/RUNBOOK.md#gtmpromqlqueriesfailing", alert

    # While it fires: the queries do fail (counted, logged), and nothing moved — both members
    # keep every monitor's verdict, both regions are answered, no verdict event, no change.
    assert metric(g, "gtm_promql_query_errors_total", monitor="errors") >= 1
    assert "promql monitor errors: query failed" in g.logs()
    assert monitor_states() == before, (before, monitor_states())
    assert answers() == {HZ, FR}
    assert [e for e in g.api.events(after=last_event, type=None) if e["type"] == "verdict"] == []
    assert metric(g, "gtm_member_verdict_changes_total", pool="hangzhou") == changes_before
    assert not [a for a in rule_alerts(ops, "GtmMemberDown") + rule_alerts(ops, "GtmPoolDown")]

    # The mesh Prometheus back on the port the monitor queries: answers again, alert resolved.
    t_back = time.monotonic()
    prom.start(port=mesh_port)
    wait("gtmd's promql monitor to answer again",
         lambda: "promql monitor errors: queries answer again" in g.logs())
    wait("GtmPromqlQueriesFailing to resolve in the ops Prometheus",
         lambda: not rule_alerts(ops, "GtmPromqlQueriesFailing"))
    record(f"mesh Prometheus back -> GtmPromqlQueriesFailing resolved: "
           f"{time.monotonic() - t_back:.1f} s")
    assert monitor_states() == before, (before, monitor_states())
    assert answers() == {HZ, FR}
    assert [e for e in g.api.events(after=last_event, type=None) if e["type"] == "verdict"] == []
