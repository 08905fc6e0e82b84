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

Only 127.0.0.0/8 is used.
"""

import os
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from apihelp import ApiGtmd
from harness import wait_for
from promhelp import PROMETHEUS_BIN, Server, http_json

pytestmark = pytest.mark.slow

ZONE = "gtm.example.com"
NAME = f"shop.{ZONE}"
HZ = "127.0.94.1"  # hangzhou's gateway
FR = "127.0.94.11"  # frankfurt's gateway
DEADLINE_S = 40.0
V1 = "/api/v1"
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


def member(explain, address):
    for tier in explain["tiers"]:
        for p in tier["pools"]:
            for m in p["members"]:
                if m["address"] == address:
                    return m
    raise AssertionError(f"{address} not in {explain}")


def monitors_of(m):
    return {x["monitor"]: x for x in m["monitors"]}


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
    print(f"\n[promql] 30 % errors -> region out of the answers: {out_s:.1f} s")
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
    print(f"[promql] 0 % errors -> region back: {time.monotonic() - t1:.1f} s")

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
