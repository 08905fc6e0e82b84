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


def test_tier_all_down_admin_and_config_changes_are_events(gateway_factory, gtmd_factory):
    from apihelp import Api
    p1, s1 = net(47, 30), net(47, 31)
    gw, port = gateway_factory.start(lambda p: http_args(p, p1, s1))
    g = gtmd_factory.start(document(
        [monitor("web", port)], [pool("prim", [p1]), pool("sec", [s1])],
        [balancer("ev", [{"pool": "prim", "priority": 1}, {"pool": "sec", "priority": 2}],
                  when_all_down="fail_closed")]))
    api = Api(g.ports["http"], (g.dir / "data" / "admin.token").read_text().strip())
    wait_probed(gw, port, [p1, s1])

    def events(kind):
        return api.events(type=kind)

    api.ok("PUT", f"/api/v1/pools/sec/members/{s1}/admin", {"admin": "drain"})
    api.ok("PUT", f"/api/v1/pools/sec/members/{s1}/admin", {"admin": "auto"})
    # Events are written by the event writer after the change is served: wait for them.
    want = [(s1, "auto", "drain"), (s1, "drain", "auto")]
    wait_for(lambda: [(e["member"], e["from"], e["to"]) for e in events("admin")] == want,
             timeout=5, what="both admin events")
    wait_for(lambda: len(events("config")) >= 3, timeout=5,
             what="the config events of the --apply and the two admin changes")
    gw.set_mode("refuse", p1, port)
    tier = wait_for(lambda: events("tier"), timeout=GONE_LIMIT_S, what="a tier event")
    assert (tier[0]["balancer"], tier[0]["from_priority"], tier[0]["to_priority"]) == (
        "ev.gtm.example.com", 1, 2), tier
    gw.set_mode("refuse", s1, port)
    down = wait_for(lambda: events("all_down"), timeout=GONE_LIMIT_S, what="all down")
    assert (down[0]["state"], down[0]["policy"]) == ("enter", "fail_closed"), down
    gw.set_mode("ok")
    wait_for(lambda: [e for e in events("all_down") if e["state"] == "leave"],
             timeout=30, what="all down left")
