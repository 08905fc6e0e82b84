"""/metrics from a real gtmd probing real gateways (issue 11): promtool-clean, the per-worker DNS
counters folded at scrape time, the health and balancer state as the answers are decided, and no
label taken from the wire."""

import re
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import wait_for
from test_probing import (GONE_LIMIT_S, ask, balancer, document, http_args, monitor, net, pool,
                          wait_probed)


def scrape(g):
    with urllib.request.urlopen(f"http://127.0.0.1:{g.ports['http']}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        return r.read().decode()


SAMPLE = re.compile(r'^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def samples(text, name):
    """{frozenset(label items): value} of one metric."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[frozenset(labels.items())] = float(m.group(3))
    return out


def value(text, name, **labels):
    for k, v in samples(text, name).items():
        if set(labels.items()) <= set(k):
            return v
    return None


def test_metrics_are_promtool_clean_and_follow_the_answers(gateway_factory, gtmd_factory):
    a1, a2, b1 = net(47, 1), net(47, 2), net(47, 3)
    gw, port = gateway_factory.start(lambda p: http_args(p, a1, a2, b1))
    g = gtmd_factory.start(document(
        [monitor("web", port)], [pool("a", [a1, a2]), pool("b", [b1])],
        [balancer("m", [{"pool": "a", "priority": 1}, {"pool": "b", "priority": 2}],
                  max_answers=1)]))
    wait_probed(gw, port, [a1, a2, b1])
    for _ in range(50):
        ask(g, "m")
    for i in range(20):
        g.query(f"random-{i}-label-from-the-wire.example.org", "A")  # REFUSED, never a label
    g.query("m.gtm.example.com", "A", tcp=True)
    text = scrape(g)
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr + text[:3000]
    assert "random-" not in text and "example.org" not in text
    # DNS: counted per worker, folded at scrape time.
    assert value(text, "gtm_dns_queries_total", transport="udp", qtype="A",
                 rcode="NOERROR") >= 50
    assert value(text, "gtm_dns_queries_total", transport="udp", rcode="REFUSED") == 20
    assert value(text, "gtm_dns_queries_total", transport="tcp", qtype="A", rcode="NOERROR") == 1
    answered = samples(text, "gtm_dns_answers_total")
    assert sum(answered.values()) == 51, answered
    assert set(dict(k)["member"] for k in answered) <= {a1, a2, b1}
    assert value(text, "gtm_dns_answer_duration_seconds_count", transport="udp") >= 50
    # State: as explain has it.
    assert value(text, "gtm_member_up", pool="a", member=a1) == 1
    assert value(text, "gtm_balancer_mode", balancer="m.gtm.example.com", family="ipv4",
                 mode="normal") == 1
    assert value(text, "gtm_balancer_serving_priority", balancer="m.gtm.example.com") == 1
    assert value(text, "gtm_pool_up", pool="a", family="ipv4") == 1
    assert value(text, "gtm_probe_results_total", monitor="web", reason="ok") >= 6
    assert value(text, "gtm_prober_last_probe_timestamp_seconds") > 1.7e9
    # The first tier fails: the metrics follow the decision.
    gw.set_mode("refuse", a1, port)
    gw.set_mode("refuse", a2, port)
    wait_for(lambda: ask(g, "m").addresses == {b1}, timeout=GONE_LIMIT_S, what="failover")

    def failed_over():
        t = scrape(g)
        return t if value(t, "gtm_balancer_mode", balancer="m.gtm.example.com",
                          mode="degraded") == 1 and value(t, "gtm_member_up", member=a1) == 0 \
            else None

    text = wait_for(failed_over, timeout=GONE_LIMIT_S, what="the metrics to show the failover")
    assert value(text, "gtm_balancer_serving_priority", balancer="m.gtm.example.com") == 2
    assert value(text, "gtm_pool_up", pool="a", family="ipv4") == 0
    assert value(text, "gtm_member_verdict_changes_total", pool="a", member=a1) >= 1
    assert value(text, "gtm_probe_results_total", monitor="web", reason="connect_refused") >= 2
    # Answer counts survive the recompiles (retired balancers are folded in, never lost).
    before = sum(samples(text, "gtm_dns_answers_total").values())
    for _ in range(10):
        ask(g, "m")
    after = sum(samples(scrape(g), "gtm_dns_answers_total").values())
    assert after == before + 10, (before, after)


def test_metrics_can_be_turned_off(gtmd_factory):
    g = gtmd_factory.start(document([], [pool("p", [net(47, 9)], monitor_name=None)],
                                    [balancer("off", ["p"])]), config="metrics: false\n")
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(g)
    assert e.value.code == 404


def test_json_logs_are_one_object_per_line(gateway_factory, gtmd_factory):
    import json
    a1 = net(47, 20)
    gw, port = gateway_factory.start(lambda p: http_args(p, a1))
    g = gtmd_factory.start(document([monitor("web", port)], [pool("j", [a1])],
                                    [balancer("j", ["j"])]),
                           extra_args=["--log-format", "json"])
    wait_probed(gw, port, [a1])
    gw.set_mode("refuse", a1, port)
    wait_for(lambda: '-> down' in g.stderr(), timeout=GONE_LIMIT_S, what="a verdict change logged")
    lines = [l for l in g.stderr().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    assert all({"time", "level", "message"} <= set(r) for r in records), records[:3]
    assert any(f"{a1} [j]: up -> down" in r["message"] for r in records), records
