"""The drill's analysis (scripts/gtmdrill) on saved records: no sockets, no processes started
except `scripts/drill analyse` itself, well under a second.

tests/data/drill/ holds five short drills as they were run (see its README.md), two of them on a
cluster of gtmd nodes (--nodes) and one region-degraded (http alone against http + promql):
each one's raw records (records.json), the report it printed (report.txt) and the JSON it wrote
(report.json).
Analysing the records again must give that report exactly, and its figures — errors, the error
window, each region's share before, during and after the fault, when the dead address left
gtmd's answers and the resolver's — are checked against values worked out from the raw rows
here, and against the numbers the run printed. A synthetic run pins the definitions at their
edges.
"""

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "drill"
DRILL = ROOT / "scripts" / "drill"

sys.dont_write_bytecode = True  # no __pycache__ under scripts/
sys.path.insert(0, str(ROOT / "scripts"))
from gtmdrill.analysis import analyse, presence  # noqa: E402
from gtmdrill.cli import parse_args  # noqa: E402
from gtmdrill.records import RegionInfo, Records  # noqa: E402
from gtmdrill.report import report_text  # noqa: E402

SAMPLES = ["region-down", "recover", "node-down", "region-down-2nodes", "region-degraded"]


def sample(name):
    rec = Records.load(str(DATA / name / "records.json"))
    return rec, analyse(rec)


# -- the same report as the run ------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_same_report_as_the_run(name):
    rec, r = sample(name)
    # as a JSON document (the analysis has tuples where JSON has lists)
    assert json.loads(json.dumps(r)) == json.loads((DATA / name / "report.json").read_text())
    assert report_text(rec, r) + "\n" == (DATA / name / "report.txt").read_text()


@pytest.mark.parametrize("name", SAMPLES)
def test_records_round_trip(name, tmp_path):
    rec, r = sample(name)
    rec.save(str(tmp_path / "again.json"))
    assert analyse(Records.load(str(tmp_path / "again.json"))) == r


def test_analyse_command(tmp_path):
    name = "region-down"
    out = tmp_path / "report.json"
    p = subprocess.run([str(DRILL), "analyse", str(DATA / name / "records.json"), "--json",
                        str(out)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == (DATA / name / "report.txt").read_text()
    assert json.loads(out.read_text()) == json.loads((DATA / name / "report.json").read_text())

    p = subprocess.run([str(DRILL), "analyse", str(DATA / name / "records.json"),
                        "--no-timeline"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Timeline" not in p.stdout and "figures that matter" in p.stdout

    # the --json report is not a records file: said so, exit 2
    p = subprocess.run([str(DRILL), "analyse", str(DATA / name / "report.json")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "records" in p.stderr and p.stdout == ""


# -- the figures, from the raw rows --------------------------------------------------------------


def failing(rec):
    return [q for q in rec.requests if q[2] != "200"]


def shares_from_rows(rec, lo, hi):
    sel = [q for q in rec.requests if lo <= q[0] < hi]
    return {rg.address: round(100.0 * sum(1 for q in sel if q[1] == rg.address) / len(sel), 1)
            for rg in rec.regions}


def gone_from_rows(rec, dead, fault, until=math.inf):
    seen = sorted((t, a) for t, src, a, _, _ in rec.resolutions if a is not None)
    last = max(t for t, a in seen if fault <= t < until and dead in a)
    return next(t for t, a in seen if t > last and dead not in a)


def removed_from_rows(rec, dead, fault):
    return next(t for t, table, _ in rec.tables if t >= fault and dead not in table)


def test_region_down_figures():
    rec, r = sample("region-down")
    dead, fault = "127.0.0.102", 10.913283547999981
    assert rec.victim == "region2" and r["dead_address"] == dead
    assert r["fault_at_s"] == round(fault, 3) == 10.913

    # errors: the rows that failed, all connect_refused on the dead address
    fails = failing(rec)
    assert r["errors"] == len(fails) == 11
    assert r["total"] == len(rec.requests) == 400 and r["error_pct"] == 2.75
    assert r["codes"] == {"200": 389, "connect_refused": 11}
    assert {q[1] for q in fails} == {dead} and r["errors_not_to_dead_address"] == 0

    # error window: first to last second with a failure, both included
    secs = sorted({int(q[0]) for q in fails})
    assert r["error_window_s"] == secs[-1] - secs[0] + 1 == 2
    assert (r["first_error_s"], r["last_error_s"]) == (10.9, 11.4)

    # when the dead address left gtmd's table, and new resolutions through unbound
    assert r["gtmd_removed_at_s"] == round(removed_from_rows(rec, dead, fault), 3) == 11.174
    assert r["gtmd_removed_s"] == 0.26
    gone = gone_from_rows(rec, dead, fault)
    assert r["dead_address_gone_at_s"] == round(gone, 3) == 11.452
    assert r["dead_address_gone_s"] == round(gone - fault, 2) == 0.54
    last = max(q[0] for q in rec.requests if q[1] == dead and q[0] >= fault)
    assert r["last_request_to_dead_s"] == round(last, 3) == 11.4
    assert not r["dead_handed_out_after_removal"]

    # shares per region: before the fault, during it (until the second after the last request
    # to the dead address), after
    during_end = math.ceil(last)
    assert {ph: (s["from_s"], s["to_s"]) for ph, s in r["shares"].items()} == {
        "before": (0, 10.91), "during": (10.91, 12), "after": (12, 20.0)}
    expect = {"before": {"127.0.0.101": 77.2, dead: 22.8},
              "during": {"127.0.0.101": 52.4, dead: 47.6},
              "after": {"127.0.0.101": 100.0, dead: 0.0}}
    bounds = {"before": (0, fault), "during": (fault, during_end), "after": (during_end, 20)}
    for ph, (lo, hi) in bounds.items():
        assert r["shares"][ph]["share"] == shares_from_rows(rec, lo, hi) == expect[ph], ph
    assert [r["shares"][ph]["errors"] for ph in bounds] == [1, 10, 0]

    assert r["goals"] == {"errors under 1 %": False, "error window under 10 s": True,
                          "dead address never handed out after removal": True,
                          "every failure went to the faulty region": True}


def test_recover_figures():
    rec, r = sample("recover")
    dead = "127.0.0.102"
    fault, ret = 6.013819553000076, 14.124379436000027
    assert (r["fault_at_s"], r["return_at_s"]) == (6.014, 14.124)

    fails = failing(rec)
    assert r["errors"] == len(fails) == 49 and r["total"] == 600
    secs = sorted({int(q[0]) for q in fails})
    assert r["error_window_s"] == secs[-1] - secs[0] + 1 == 3
    assert r["errors_after_return"] == sum(1 for q in fails if q[0] >= ret) == 0

    assert r["gtmd_removed_at_s"] == round(removed_from_rows(rec, dead, fault), 3) == 6.615
    gone = gone_from_rows(rec, dead, fault, ret)
    assert r["dead_address_gone_at_s"] == round(gone, 3) == 8.451
    assert r["dead_address_gone_s"] == 2.44
    # back in gtmd's table after the return, at a tenth of its share (slow start), then full
    back = next(t for t, table, _ in rec.tables if t >= ret and dead in table)
    assert r["back_in_answers_at_s"] == round(back, 3) == 16.691
    ramp = r["slow_start_ramp"]
    assert ramp["full_share"] == 0.5 and ramp["first_share"] == 0.0909
    assert ramp["full_share_after_s"] == 9.63

    # during = from the fault to the return
    expect = {"before": {"127.0.0.101": 40.5, dead: 59.5},
              "during": {"127.0.0.101": 70.4, dead: 29.6},
              "after": {"127.0.0.101": 77.6, dead: 22.4}}
    for ph, (lo, hi) in {"before": (0, fault), "during": (fault, ret),
                         "after": (ret, 30)}.items():
        assert r["shares"][ph]["share"] == shares_from_rows(rec, lo, hi) == expect[ph], ph
    assert all(r["goals"].values()), r["goals"]


# -- the definitions at their edges, on a run made up here ---------------------------------------


def made_up():
    """4 s at 2 requests a second; region1 (127.0.0.101) is killed at 1.9 s and its two
    requests at 2.0 and 2.5 fail; the client moves to region2 at 3.0."""
    a, b = "127.0.0.101", "127.0.0.102"
    args = parse_args(["region-down", "--duration", "4", "--rate", "2", "--fault-at", "1.9",
                       "--seed", "1", "--workdir", "/nonexistent"])
    rec = Records(args=args, regions=[RegionInfo("region1", a, 8080, 50, "region1"),
                                      RegionInfo("region2", b, 8080, 50, "region2")],
                  victim="region1", resolver_port=5353, gtmd_dns_port=5300,
                  workdir="/nonexistent")
    rec.events = [(1.9, "fault", "gateway of region1 (127.0.0.101) killed (SIGKILL)")]
    rec.tables = [(-0.1, {a: 0.5, b: 0.5}, "normal"), (2.3, {b: 1.0}, "normal")]
    rec.resolutions = [(0.0, "client", [a], 5, "ok"), (1.0, "unbound", [a], 4, "ok"),
                       (2.2, "unbound", [a], 2, "ok"), (2.6, "unbound", [b], 5, "ok"),
                       (2.8, "unbound", [b], 5, "ok"), (3.0, "client", [b], 5, "ok")]
    rec.gtmd_answers = [(2.0, [a]), (2.4, [b])]
    codes = {2.0: "connect_refused", 2.5: "connect_refused"}
    rec.requests = [(t, a if t < 3.0 else b, codes.get(t, "200"), 0.001, t + 0.001)
                    for t in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)]
    return rec


def test_definitions():
    rec = made_up()
    r = analyse(rec)
    assert (r["errors"], r["error_pct"], r["error_window_s"]) == (2, 25.0, 1)
    assert r["gtmd_removed_at_s"] == 2.3 and r["gtmd_removed_s"] == 0.4
    # the first resolution after the last one (during the fault) that still returned it
    assert r["dead_address_gone_at_s"] == 2.6 and r["dead_address_gone_s"] == 0.7
    assert r["gtmd_dead_answers_during_fault"] == [2.0]
    assert r["last_request_to_dead_s"] == 2.5
    assert {ph: (s["from_s"], s["to_s"], s["requests"], s["errors"], s["share"]["127.0.0.101"])
            for ph, s in r["shares"].items()} == {
        "before": (0, 1.9, 4, 0, 100.0), "during": (1.9, 3, 2, 2, 100.0),
        "after": (3, 4.0, 2, 0, 0.0)}
    assert [row["errors"] for row in r["timeline"]] == [0, 0, 2, 0]

    # nothing failed: window 0; no resolution returned it after the fault: gone at the fault
    ok = copy.deepcopy(rec)
    ok.requests = [(t, addr, "200", lat, end) for t, addr, _, lat, end in ok.requests]
    ok.resolutions = [x for x in ok.resolutions if x[0] < 1.9 or "127.0.0.101" not in x[2]]
    r = analyse(ok)
    assert (r["errors"], r["error_window_s"], r["first_error_s"]) == (0, 0, None)
    assert r["dead_address_gone_s"] == 0.0
    assert "client-visible error window : 0 s (no failed request)" in report_text(ok, r)

    # gtmd put it back while it was down: removed only from the last table without it on
    flap = copy.deepcopy(rec)
    flap.tables.insert(2, (2.5, {"127.0.0.101": 0.5, "127.0.0.102": 0.5}, "normal"))
    flap.tables.append((2.9, {"127.0.0.102": 1.0}, "normal"))
    assert analyse(flap)["gtmd_removed_at_s"] == 2.9


# -- --nodes N > 1 ---------------------------------------------------------------------------------


def counter(rec, node, t):
    """unbound's queries to `node` answered up to t (its UDP query counter), from the rows."""
    rows = [(tt, q) for tt, n, q in rec.node_queries if n == node]
    before = [q for tt, q in rows if tt <= t]
    return before[-1] if before else rows[0][1]


def test_single_node_records_stay_as_they_were(tmp_path):
    # a single-node drill's file has no cluster keys, and its args no --nodes (older drill)
    for name in ("region-down", "recover"):
        raw = json.loads((DATA / name / "records.json").read_text())
        assert "nodes" not in raw and "node_answers" not in raw and "nodes" not in raw["args"]
        rec, r = sample(name)
        assert not rec.cluster and "cluster" not in r and "nodes" not in r["params"]
        assert all("resolver_queries" not in row for row in r["timeline"])
        rec.save(str(tmp_path / "again.json"))
        again = json.loads((tmp_path / "again.json").read_text())
        assert set(again) == set(raw)


def test_node_down_figures():
    rec, r = sample("node-down")
    assert [n["name"] for n in rec.nodes] == ["ns1", "ns2", "ns3"] and rec.args.nodes == 3
    fault = next(t for t, k, _ in rec.events if k == "fault")
    assert rec.victim_node == r["victim_node"] == "ns2" and r["fault_at_s"] == round(fault, 3)

    # no request failed: the resolver asked another nameserver
    assert r["errors"] == len(failing(rec)) == 0 and r["total"] == len(rec.requests) == 400
    assert r["error_window_s"] == 0

    # unbound's queries per node, before and after the kill, from the counters
    end = rec.args.duration
    for ph, (lo, hi) in {"before": (0, fault), "after": (fault, end)}.items():
        assert r["cluster"]["resolver_queries"][ph] == {
            n: counter(rec, n, hi) - counter(rec, n, lo) for n in ("ns1", "ns2", "ns3")}, ph
    assert r["cluster"]["resolver_queries"]["after"]["ns2"] == 0  # dead: nothing answered
    assert r["cluster"]["resolver_queries"]["after"] == {"ns1": 4, "ns2": 0, "ns3": 1}
    # the first query after the kill that another node answered
    moved = min(t for t, n, q in rec.node_queries
                if t >= fault and n != "ns2" and q > counter(rec, n, fault))
    assert r["resolver_moved_at_s"] == round(moved, 3) and r["resolver_moved_s"] == 0.81

    # every resolution the client made after the kill succeeded; the slowest is unbound's retry
    after = [x for x in rec.lookups if x[0] >= fault]
    slowest = max(after, key=lambda x: x[1])
    assert r["lookups_after_fault"]["count"] == len(after) == 39
    assert r["lookups_after_fault"]["failed"] == 0 and all(x[2] == "ok" for x in after)
    assert r["lookups_after_fault"]["max_ms"] == round(1000 * slowest[1], 2) == 865.28

    # the other nodes answered every query of the watcher after the kill; ns2 is not watched
    assert r["other_nodes_failed_answers"] == {"ns1": 0, "ns3": 0}
    assert not [row for row in rec.node_answers if row[0] >= fault and row[1] == "ns2"]
    assert all(row[2] is not None for row in rec.node_answers if row[1] != "ns2")

    # ns2's votes left each other node's tally about one lease TTL (5 s) after the kill
    for n in ("ns1", "ns3"):
        gone = next(t for t, nm, v in rec.node_vantages if nm == n and t >= fault
                    and "ns2" not in v)
        assert r["votes_gone_s"][n] == round(gone - fault, 2)
    assert r["votes_gone_s"] == {"ns1": 4.49, "ns3": 4.5}
    assert all(r["goals"].values()), r["goals"]


def test_region_down_on_two_nodes_figures():
    rec, r = sample("region-down-2nodes")
    dead, fault = "127.0.0.102", next(t for t, k, _ in rec.events if k == "fault")
    assert rec.args.nodes == 2 and r["params"]["nodes"] == 2 and r["dead_address"] == dead
    # the single-node figures, from node 1's series
    assert r["errors"] == len(failing(rec)) == 15 and r["error_window_s"] == 2
    assert r["gtmd_removed_at_s"] == round(removed_from_rows(rec, dead, fault), 3)
    assert r["dead_address_gone_s"] == round(gone_from_rows(rec, dead, fault) - fault, 2) == 0.74
    assert {q[1] for q in failing(rec)} == {dead}
    # each node's own table: both stopped answering it once both vantages saw it fail
    for n in ("ns1", "ns2"):
        t = next(t for t, nm, table, _ in rec.node_tables if nm == n and t >= fault
                 and dead not in table)
        assert r["cluster"]["gtmd_removed_s"][n] == round(t - fault, 2)
    assert r["cluster"]["gtmd_removed_s"] == {"ns1": 0.83, "ns2": 0.84}
    # node 1's table is the single-node series
    assert [(t, table) for t, table, _ in rec.tables] == [
        (t, table) for t, nm, table, _ in rec.node_tables if nm == "ns1"]
    # per second, unbound's queries per node add up to the counters' difference
    assert sum(row["resolver_queries"]["ns1"] for row in r["timeline"]) == (
        counter(rec, "ns1", rec.args.duration) - counter(rec, "ns1", 0))
    assert r["cluster"]["node_answer_failures"] == {"ns1": 0, "ns2": 0}


# -- region-degraded ---------------------------------------------------------------------------


def test_region_degraded_figures():
    rec, r = sample("region-degraded")
    addr = "127.0.0.101"
    fault = next(t for t, k, _ in rec.events if k == "fault")
    ret = next(t for t, k, _ in rec.events if k == "return")
    assert rec.degraded and rec.victim == "region1" and r["dead_address"] == addr
    assert (r["fault_at_s"], r["return_at_s"]) == (6.003, 14.01)
    d = r["degraded"]
    http, both = d["configs"]["http"], d["configs"]["http+promql"]

    # http alone: its table never went without the region
    assert all(addr in table for _, table, _ in rec.http_tables)
    assert (http["left_s"], http["back_s"], http["returns_during_fault"]) == (None, None, 0)
    # http + promql: the first table after the fault without it, the first after the return
    # with it again (at a tenth of its share: slow start)
    left = next(t for t, table, _ in rec.tables if t >= fault and addr not in table)
    back = next(t for t, table, _ in rec.tables if t >= ret and addr in table)
    assert both["left_at_s"] == round(left, 3) == 9.706 and both["left_s"] == 3.7
    assert both["back_at_s"] == round(back, 3) == 18.586 and both["back_s"] == 4.58
    assert both["returns_during_fault"] == 0
    assert not [t for t, table, _ in rec.tables if left <= t < ret and addr in table]

    # each client's errors, from its own rows: all 503s of the degraded region
    for c, rows in ((both, rec.requests), (http, rec.http_requests)):
        fails = [q for q in rows if q[2] != "200"]
        assert c["errors"] == len(fails) and c["total"] == len(rows) == 480
        assert {q[1] for q in fails} == {addr} and {q[2] for q in fails} == {"503"}
        secs = sorted({int(q[0]) for q in fails})
        assert c["error_window_s"] == secs[-1] - secs[0] + 1
    assert (both["errors"], http["errors"]) == (31, 21)
    # per second, the http-alone client's errors beside the main client's
    assert [row["http_errors"] for row in r["timeline"]] == [
        sum(1 for q in rec.http_requests if int(q[0]) == s and q[2] != "200") for s in range(24)]

    # the region's own traffic met the error rate during the fault only
    own = [q for q in rec.region_requests if q[1] == addr and fault <= q[0] < ret]
    assert d["region_traffic"]["during"] == {
        "requests": len(own), "errors": sum(1 for q in own if q[2] != "200"),
        "error_pct": 25.0}
    assert d["region_traffic"]["before"]["errors"] == d["region_traffic"]["after"]["errors"] == 0

    # the promql monitor's verdict events; the http monitor never went down
    assert [(e["monitor"], e["from"], e["to"], e["reason"]) for e in d["verdict_events"]] == [
        ("gateway", "unknown", "up", "ok"), ("errors", "unknown", "up", "ok"),
        ("errors", "up", "down", "threshold"), ("errors", "down", "up", "ok")]

    # in this short run the main client was on the region when it failed and the other mostly
    # not: the comparison's last goal is missed, and said so
    assert r["goals"] == {
        "the http probe alone kept it in the answers (its blind spot)": True,
        "http + promql took it out": True,
        "http + promql kept it out while the errors lasted": True,
        "http + promql put it back once the errors stopped": True,
        "fewer client errors with http + promql": False,
        "dead address never handed out after removal": True,
        "every failure went to the faulty region": True}
    text = (DATA / "region-degraded" / "report.txt").read_text()
    assert "left the answers after errors began     never                       3.70 s" in text


def test_region_degraded_presence():
    a, b = "127.0.0.101", "127.0.0.102"
    both, one = {a: 0.5, b: 0.5}, {b: 1.0}
    # left at 2, back at 7 (the return at 5)
    assert presence([(0, both, "normal"), (2, one, "normal"), (7, both, "normal")],
                    a, 1.0, 5.0) == (2, 0, 7)
    # never left: no time to leave, none to come back
    assert presence([(0, both, "normal"), (3, both, "normal")], a, 1.0, 5.0) == (None, 0, None)
    # left, came back twice while the fault lasted (0/0 reads as passing), in at the return:
    # the first departure counts, and it is not "back" after the return
    tables = [(0, both, "n"), (2, one, "n"), (3, both, "n"), (3.5, one, "n"), (4, both, "n"),
              (6, both, "n")]
    assert presence(tables, a, 1.0, 5.0) == (2, 2, None)
    # out at the end, never back
    assert presence([(0, both, "n"), (2, one, "n")], a, 1.0, 5.0) == (2, 0, None)


def test_region_degraded_arguments():
    a = parse_args(["region-degraded", "--duration", "100", "--seed", "1"])
    assert (a.error_rate, a.error_threshold, a.promql_window, a.region_rate) == (0.3, 0.1, 5.0,
                                                                                 10.0)
    assert 20 <= a.fault_at <= 25 and a.return_at == 50  # as recover: a fifth, and half
    for bad in (["--nodes", "2"], ["--error-rate", "0"], ["--error-rate", "1.5"],
                ["--promql-window", "1s"], ["--region-rate", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(["region-degraded", *bad])


def test_node_down_needs_nodes():
    with pytest.raises(SystemExit):
        parse_args(["node-down"])
    with pytest.raises(SystemExit):
        parse_args(["node-down", "--nodes", "2", "--victim-node", "3"])
    a = parse_args(["node-down", "--nodes", "3", "--seed", "1"])
    assert a.nodes == 3 and a.lease_ttl == 5.0 and a.victim_node is None
