#!/usr/bin/python3
"""Helpers of dns-bench: CPU time of a process tree, parsing of dnsperf and callgrind output,
and the final table (markdown on stdout, JSON to a file).

    report.py cpu PID                        seconds of CPU (user+system) of PID and descendants
    report.py record --server S --round R --dnsperf F [--latency F] --cpu0 X --cpu1 Y
                                             one JSON line for one saturated run
    report.py cgrecord --server S --with F.. --idle F.. --driver F
                                             one JSON line for one callgrind pair
    report.py scrape URL --out F [--interval S] [--count N] [--ready F]
                                             GET URL every S seconds (at most N times) until
                                             SIGTERM; writes a JSON summary of the scrapes to F.
                                             With --ready: writes that file once started, and
                                             waits for SIGUSR1 before the first GET
    report.py http-status URL                the HTTP status of one GET (0: no answer)
    report.py metric-sum URL NAME            the sum of metric NAME's samples in a /metrics page
                                             (exit 1 when it has none)
    report.py table RESULTS.jsonl [--json OUT] [--meta META.json]
"""
import argparse
import json
import os
import re
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ["knot", "nsd", "gdnsd"]
ORDER = ["gtmd", "gtmd-nometrics", "gtmd-rrl", "knot", "nsd", "gdnsd", "null"]
METRICS_COST_GOAL = 0.03  # issue 11: metrics on (scraped) cost under 3 % CPU per query
RRL_COST_GOAL = 0.03  # issue 14: RRL on, nothing limited: CPU per query within 3 % of off


# ---------------------------------------------------------------------------------------- cpu
def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    rest = s[s.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state)


def tree_cpu_seconds(root):
    """utime+stime+cutime+cstime of root and every live descendant (all threads included)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            f = _stat_fields(d)
        except (OSError, ValueError):
            continue
        children.setdefault(int(f[1]), []).append(int(d))
    total, todo, seen = 0, [int(root)], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            f = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        # fields 14..17 (utime stime cutime cstime) are rest[11..14]
        total += sum(int(x) for x in f[11:15])
        todo.extend(children.get(pid, []))
    return total / CLK_TCK


# ------------------------------------------------------------------------------------ parsing
def parse_dnsperf(path):
    txt = open(path, errors="replace").read()

    def num(pattern, default=None, cast=float):
        m = re.search(pattern, txt)
        return cast(m.group(1)) if m else default

    r = {
        "sent": num(r"Queries sent:\s+(\d+)", 0, int),
        "completed": num(r"Queries completed:\s+(\d+)", 0, int),
        "lost": num(r"Queries lost:\s+(\d+)", 0, int),
        "qps": num(r"Queries per second:\s+([\d.]+)", 0.0),
        "run_s": num(r"Run time \(s\):\s+([\d.]+)", 0.0),
        "lat_avg_us": None,
        "lat_sd_us": None,
        "req_bytes": num(r"Average packet size:\s+request (\d+)", None, int),
        "resp_bytes": num(r"Average packet size:.*response (\d+)", None, int),
        "rcodes": {},
    }
    v = num(r"Average Latency \(s\):\s+([\d.]+)")
    r["lat_avg_us"] = v * 1e6 if v is not None else None
    v = num(r"Latency StdDev \(s\):\s+([\d.]+)")
    r["lat_sd_us"] = v * 1e6 if v is not None else None
    m = re.search(r"Response codes:\s+(.*)", txt)
    if m:
        for code, n in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            r["rcodes"][code] = int(n)
    r["lost_pct"] = 100.0 * r["lost"] / r["sent"] if r["sent"] else None
    return r


def parse_latency(path):
    """latprobe output: one JSON object of round-trip percentiles (µs)."""
    with open(path) as f:
        return json.load(f)


def callgrind_ir(paths):
    """Sum of the Ir totals of callgrind output files (one per process)."""
    total = 0
    for p in paths:
        with open(p, errors="replace") as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    total += int(line.split()[1])
                    break
    return total


# ------------------------------------------------------------------------------------ scrape
class _Stop(Exception):
    pass


def _stop(signum, frame):
    raise _Stop()


_go = False


def _go_handler(signum, frame):
    global _go
    _go = True


def http_get(url, timeout):
    """(status, body bytes); status 0 when there was no HTTP answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, len(r.read())
    except urllib.error.HTTPError as e:
        return e.code, 0
    except (OSError, ValueError):
        return 0, 0


def scrape(args):
    """A Prometheus-like scraper: one GET every `interval` seconds on a fixed schedule (a slow
    answer delays the next one, never adds one), the first at once, until SIGTERM or `count`
    scrapes. Writes {scrapes, ok, failed, bytes, mean_ms, max_ms} to args.out at the end."""
    n = ok = 0
    size = 0
    times = []
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGUSR1, _go_handler)
    try:
        if args.ready:
            # Python's start-up (~0.1 s of CPU, more on a busy machine) happens before the
            # measured window: on the client CPU it would take from dnsperf.
            with open(args.ready, "w") as f:
                f.write("ready\n")
            while not _go:
                signal.pause()
        next_t = time.monotonic()
        while args.count is None or n < args.count:
            t0 = time.monotonic()
            status, nbytes = http_get(args.url, max(args.interval, 5.0))  # valgrind is slow
            times.append((time.monotonic() - t0) * 1e3)
            n += 1
            if status == 200 and nbytes > 0:
                ok += 1
                size = nbytes
            next_t += args.interval
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()
        if args.count is not None:
            while True:
                signal.pause()  # the count is reached: wait for SIGTERM like an endless run
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(args.out, "w") as f:
            json.dump({"url": args.url, "interval_s": args.interval, "scrapes": n, "ok": ok,
                       "failed": n - ok, "bytes": size,
                       "mean_ms": statistics.mean(times) if times else None,
                       "max_ms": max(times) if times else None}, f)
            f.write("\n")


def metric_sum(url, name):
    """The sum of every sample of metric `name` (any labels) in the Prometheus text at `url`;
    None when the page has no sample of it."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def load_scrape(path):
    if not path:
        return None
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------------------------- table
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=0):
    if v is None:
        return "—"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def metrics_cost(summary):
    """Issue 11: gtmd with /metrics scraped vs the same binary with `metrics: false`, from the
    same run. None unless both ran."""
    g, n = summary.get("gtmd"), summary.get("gtmd-nometrics")
    if not g or not n:
        return None
    cpu_ratio = ratio(g["cpu_us_per_q"], n["cpu_us_per_q"])
    # Each round runs the two back to back: the ratio within a round shares the machine's load.
    per_round = []
    for r in g["runs"]:
        m = [x for x in n["runs"] if x["round"] == r["round"]]
        if m and r["cpu_us_per_q"] and m[0]["cpu_us_per_q"]:
            per_round.append(r["cpu_us_per_q"] / m[0]["cpu_us_per_q"])
    ir_ratio = ratio(g["ir_per_q"], n["ir_per_q"])
    scrapes = [r["scrape"] for r in g["runs"] if r.get("scrape")]
    loads = [x for r in g["runs"] + n["runs"] for x in (r.get("loadavg"), r.get("loadavg_end"))
             if x is not None]
    ir_scrape = None
    gc = g["callgrind"][0] if g["callgrind"] else None
    nc = n["callgrind"][0] if n["callgrind"] else None
    cg_scrapes = None
    if gc and gc.get("scrape_idle") and gc.get("scrape_with"):
        cg_scrapes = (gc["scrape_with"]["ok"], gc["scrape_idle"]["ok"])
        if nc and gc["scrape_idle"]["ok"]:
            # Both idle runs last as long as their run with queries: roughly the same wall
            # time, the same start-up; the difference is the scrapes (and metrics' set-up).
            ir_scrape = (gc["ir_idle"] - nc["ir_idle"]) / gc["scrape_idle"]["ok"]
    res = {
        "cpu_us_per_q_on": g["cpu_us_per_q"], "cpu_us_per_q_off": n["cpu_us_per_q"],
        "cpu_ratio": cpu_ratio, "cpu_ratio_per_round": per_round,
        "ir_per_q_on": g["ir_per_q"], "ir_per_q_off": n["ir_per_q"], "ir_ratio": ir_ratio,
        "ir_per_scrape_approx": ir_scrape,
        "scrapes_saturated": {"runs": len(scrapes), "scrapes": sum(x["scrapes"] for x in scrapes),
                              "ok": sum(x["ok"] for x in scrapes),
                              "bytes": max((x["bytes"] for x in scrapes), default=None),
                              "mean_ms": med([x["mean_ms"] for x in scrapes])},
        "scrapes_callgrind_with_idle": cg_scrapes,
        "loadavg_min_max": [min(loads), max(loads)] if loads else None,
        "goal_under_3pct": None if cpu_ratio is None else cpu_ratio - 1 < METRICS_COST_GOAL,
    }
    sc = res["scrapes_saturated"]
    pr = ", ".join(f"{x:.3f}" for x in per_round) or "—"
    verdict = "n/a" if res["goal_under_3pct"] is None else ("met" if res["goal_under_3pct"] else "NOT met")
    if scrapes:
        how = ("with /metrics scraped every %s s during each saturated run (%d scrapes, %d "
               "answered 200, %s bytes each, median %s ms)" % (
                   scrapes[0]["interval_s"], sc["scrapes"], sc["ok"], fmt(sc["bytes"]),
                   fmt(sc["mean_ms"], 1)))
    else:
        how = "(counting on, /metrics not scraped: --scrape 0)"
    notes = [
        "Metrics cost (issue 11): gtmd %s vs gtmd-nometrics "
        "(`metrics: false`): CPU/query %s / %s µs = %s× (per round: %s); instructions/query %s / "
        "%s = %s×%s; load average %s. Goal: cost < %d %% of CPU/query: %s." % (
            how,
            fmt(g["cpu_us_per_q"], 3), fmt(n["cpu_us_per_q"], 3),
            "—" if cpu_ratio is None else f"{cpu_ratio:.3f}", pr,
            fmt(g["ir_per_q"]), fmt(n["ir_per_q"]), "—" if ir_ratio is None else f"{ir_ratio:.3f}",
            "" if ir_scrape is None else f" (both callgrind runs of gtmd scraped {cg_scrapes[0]}/"
            f"{cg_scrapes[1]} times, which cancels; one scrape ≈ {ir_scrape:,.0f} instructions)",
            "—" if not loads else f"{min(loads):.2f}–{max(loads):.2f}",
            round(METRICS_COST_GOAL * 100), verdict),
    ]
    if sc["scrapes"] != sc["ok"]:
        notes.append(f"WARNING: {sc['scrapes'] - sc['ok']} scrape(s) of gtmd's /metrics failed")
    if cg_scrapes and cg_scrapes[0] != cg_scrapes[1]:
        notes.append("WARNING: gtmd's two callgrind runs were scraped a different number of times "
                     f"({cg_scrapes[0]} / {cg_scrapes[1]}): its instructions/query include the "
                     "difference")
    res["notes"] = notes
    return res


def rrl_cost(summary):
    """Issue 14: gtmd with response rate limiting on and nothing limited (gtmd-rrl) vs gtmd, from
    the same run. None unless both ran."""
    g, r = summary.get("gtmd"), summary.get("gtmd-rrl")
    if not g or not r:
        return None
    cpu_ratio = ratio(r["cpu_us_per_q"], g["cpu_us_per_q"])
    # Each round runs the two back to back: the ratio within a round shares the machine's load.
    per_round = []
    for x in r["runs"]:
        m = [y for y in g["runs"] if y["round"] == x["round"]]
        if m and x["cpu_us_per_q"] and m[0]["cpu_us_per_q"]:
            per_round.append(x["cpu_us_per_q"] / m[0]["cpu_us_per_q"])
    ir_ratio = ratio(r["ir_per_q"], g["ir_per_q"])
    loads = [x for y in g["runs"] + r["runs"] for x in (y.get("loadavg"), y.get("loadavg_end"))
             if x is not None]
    res = {
        "cpu_us_per_q_off": g["cpu_us_per_q"], "cpu_us_per_q_on": r["cpu_us_per_q"],
        "cpu_ratio": cpu_ratio, "cpu_ratio_per_round": per_round,
        "cpu_ratio_per_round_median": med(per_round),
        "ir_per_q_off": g["ir_per_q"], "ir_per_q_on": r["ir_per_q"], "ir_ratio": ir_ratio,
        "loadavg_min_max": [min(loads), max(loads)] if loads else None,
        # A cost, so one-sided (like metrics_cost): on measured cheaper than off is noise.
        "goal_under_3pct": None if cpu_ratio is None else cpu_ratio - 1 < RRL_COST_GOAL,
    }
    pr = ", ".join(f"{x:.3f}" for x in per_round) or "—"
    verdict = "n/a" if res["goal_under_3pct"] is None else (
        "met" if res["goal_under_3pct"] else "NOT met")
    res["notes"] = [
        "RRL cost (issue 14): gtmd-rrl (RRL on, nothing limited) vs gtmd (RRL off): CPU/query "
        "%s / %s µs = %s× (per round: %s; their median %s×); instructions/query %s / %s = %s×; "
        "load average %s. Goal: cost < %d %% of CPU/query: %s." % (
            fmt(r["cpu_us_per_q"], 3), fmt(g["cpu_us_per_q"], 3),
            "—" if cpu_ratio is None else f"{cpu_ratio:.3f}", pr,
            fmt(res["cpu_ratio_per_round_median"], 3),
            fmt(r["ir_per_q"]), fmt(g["ir_per_q"]), "—" if ir_ratio is None else f"{ir_ratio:.3f}",
            "—" if not loads else f"{min(loads):.2f}–{max(loads):.2f}",
            round(RRL_COST_GOAL * 100), verdict),
    ]
    return res


def table(args):
    runs, cgs = [], []
    for line in open(args.results):
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        (cgs if rec.get("kind") == "callgrind" else runs).append(rec)
    meta = json.load(open(args.meta)) if args.meta else {}
    labels = meta.get("labels", {})
    servers = [s for s in ORDER if any(r["server"] == s for r in runs + cgs)]

    summary = {}
    for s in servers:
        rs = [r for r in runs if r["server"] == s]
        cg = [c for c in cgs if c["server"] == s]
        rcodes = {}
        for r in rs:
            for k, v in r["rcodes"].items():
                rcodes[k] = rcodes.get(k, 0) + v
        summary[s] = {
            "label": labels.get(s, s),
            "rounds": len(rs),
            "qps": med([r["qps"] for r in rs]),
            "lost_pct": med([r["lost_pct"] for r in rs]),
            "lat_avg_us": med([r["lat_avg_us"] for r in rs]),
            "lat_p50_us": med([r.get("lat", {}).get("p50_us") for r in rs]),
            "lat_p999_us": med([r.get("lat", {}).get("p999_us") for r in rs]),
            "lat_p99_us": med([r.get("lat", {}).get("p99_us") for r in rs]),
            "cpu_us_per_q": med([r["cpu_us_per_q"] for r in rs]),
            "resp_bytes": med([r["resp_bytes"] for r in rs]),
            "ir_per_q": med([c["ir_per_q"] for c in cg]),
            "rcodes": rcodes,
            "runs": rs,
            "callgrind": cg,
        }

    metrics = ["qps", "lost_pct", "lat_avg_us", "lat_p99_us", "cpu_us_per_q", "ir_per_q"]
    ratios = {}
    if "gtmd" in summary:
        g = summary["gtmd"]
        for s in servers:
            if s == "gtmd":
                continue
            ratios[s] = {m: ratio(g[m], summary[s][m]) for m in metrics}

    head = ["server", "queries/s", "lost %", "avg latency µs (saturated)",
            "p50 / p99 latency µs (unloaded)", "server CPU µs/query",
            "user-space instr./query", "answer bytes"]
    digits = {"qps": 0, "lost_pct": 3, "lat_avg_us": 0, "lat_p99_us": 0, "cpu_us_per_q": 2,
              "ir_per_q": 0}
    out = []
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for s in servers:
        row = [summary[s]["label"]]
        for m in metrics:
            cell = fmt(summary[s][m], digits[m])
            if m == "lat_p99_us":
                cell = fmt(summary[s]["lat_p50_us"]) + " / " + cell
            r = ratios.get(s, {}).get(m)
            if s != "gtmd" and summary.get("gtmd"):
                cell += f" ({r:.2f}×)" if r is not None else " (—)"
            row.append(cell)
        row.append(fmt(summary[s]["resp_bytes"]))
        out.append("| " + " | ".join(row) + " |")

    notes = [
        "",
        "Medians over %s round(s) of %s s each; (N×) = gtmd ÷ that server (for latency: of the "
        "p99). queries/s: higher is better; every other column: lower is better." % (meta.get("settings", {}).get("rounds", "?"),
                                                         meta.get("settings", {}).get("duration", "?")),
    ]
    goals = {}
    g = summary.get("gtmd")
    peers = [p for p in PEERS if p in summary]
    if g and peers:
        def best(metric, fn):
            vals = [(summary[p][metric], p) for p in peers if summary[p][metric] is not None]
            return fn(vals) if vals else (None, None)

        bq, bqp = best("qps", max)
        bc, bcp = best("cpu_us_per_q", min)
        bi, bip = best("ir_per_q", min)
        goals = {
            "qps_at_least_fastest_peer": None if g["qps"] is None or bq is None else g["qps"] >= bq,
            "cpu_at_most_lowest_peer": None if g["cpu_us_per_q"] is None or bc is None
            else g["cpu_us_per_q"] <= bc,
            "instr_under_half_lowest_peer": None if g["ir_per_q"] is None or bi is None
            else g["ir_per_q"] < 0.5 * bi,
        }

        def verdict(v):
            return "n/a" if v is None else ("met" if v else "NOT met")

        notes.append("Goals (issue 2): queries/s ≥ fastest peer (%s, %s): %s; CPU/query ≤ lowest "
                     "peer (%s, %s µs): %s; instructions/query < ½ lowest peer (%s, %s): %s." % (
                         labels.get(bqp, bqp), fmt(bq), verdict(goals["qps_at_least_fastest_peer"]),
                         labels.get(bcp, bcp), fmt(bc, 2), verdict(goals["cpu_at_most_lowest_peer"]),
                         labels.get(bip, bip), fmt(bi), verdict(goals["instr_under_half_lowest_peer"])))
    cost = metrics_cost(summary)
    if cost:
        notes.extend(cost.pop("notes"))
    rrl = rrl_cost(summary)
    if rrl:
        notes.extend(rrl.pop("notes"))
    for s in servers:
        if any(not r.get("post_load_answer_ok", True) for r in summary[s]["runs"]):
            notes.append(f"WARNING: {summary[s]['label']} did not answer app.bench.test A "
                         "correctly right after a saturated run")
        bad = {k: v for k, v in summary[s]["rcodes"].items() if k != "NOERROR"}
        if bad:
            notes.append(f"WARNING: {summary[s]['label']} answered non-NOERROR rcodes: {bad}")
    text = "\n".join(out + notes)
    print(text)
    if args.json:
        doc = {"meta": meta, "servers": summary, "ratios_gtmd_over": ratios, "goals": goals,
               "table_markdown": text}
        if cost:
            doc["metrics_cost"] = cost
        if rrl:
            doc["rrl_cost"] = rrl
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


# -------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cpu")
    p.add_argument("pid")
    p = sub.add_parser("record")
    p.add_argument("--server", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--dnsperf", required=True)
    p.add_argument("--latency")
    p.add_argument("--cpu0", type=float, required=True)
    p.add_argument("--cpu1", type=float, required=True)
    p.add_argument("--post-ok", type=int, default=1)
    p.add_argument("--load", type=float, default=0.0)
    p.add_argument("--load-end", type=float)
    p.add_argument("--scrape", help="summary written by `report.py scrape` during the run")
    p = sub.add_parser("cgrecord")
    p.add_argument("--server", required=True)
    p.add_argument("--with", dest="with_files", nargs="+", required=True)
    p.add_argument("--idle", dest="idle_files", nargs="+", required=True)
    p.add_argument("--driver", required=True, help="latprobe JSON or dnsperf output")
    p.add_argument("--scrape-with", help="scrape summary of the run with queries")
    p.add_argument("--scrape-idle", help="scrape summary of the idle run")
    p = sub.add_parser("scrape")
    p.add_argument("url")
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--count", type=int)
    p.add_argument("--ready", help="write this file once ready, then wait for SIGUSR1")
    p = sub.add_parser("http-status")
    p.add_argument("url")
    p = sub.add_parser("metric-sum")
    p.add_argument("url")
    p.add_argument("name")
    p = sub.add_parser("table")
    p.add_argument("results")
    p.add_argument("--json")
    p.add_argument("--meta")
    a = ap.parse_args()

    if a.cmd == "cpu":
        print(f"{tree_cpu_seconds(a.pid):.2f}")
    elif a.cmd == "record":
        r = parse_dnsperf(a.dnsperf)
        r.update(server=a.server, round=a.round, cpu_s=a.cpu1 - a.cpu0,
                 post_load_answer_ok=bool(a.post_ok), loadavg=a.load)
        r["cpu_us_per_q"] = (a.cpu1 - a.cpu0) * 1e6 / r["completed"] if r["completed"] else None
        if a.load_end is not None:
            r["loadavg_end"] = a.load_end
        if a.scrape:
            r["scrape"] = load_scrape(a.scrape)
        if a.latency:
            r["lat"] = parse_latency(a.latency)
        print(json.dumps(r))
    elif a.cmd == "cgrecord":
        try:
            d = parse_latency(a.driver)
            n, sent = d["n"], d["sent"]
        except ValueError:
            d = parse_dnsperf(a.driver)
            n, sent = d["completed"], d["sent"]
        ir_n, ir_0 = callgrind_ir(a.with_files), callgrind_ir(a.idle_files)
        rec = {"kind": "callgrind", "server": a.server, "queries": n,
               "sent": sent, "ir_with_queries": ir_n, "ir_idle": ir_0,
               "ir_per_q": (ir_n - ir_0) / n if n else None}
        if a.scrape_with or a.scrape_idle:
            rec["scrape_with"] = load_scrape(a.scrape_with)
            rec["scrape_idle"] = load_scrape(a.scrape_idle)
        print(json.dumps(rec))
    elif a.cmd == "scrape":
        scrape(a)
    elif a.cmd == "http-status":
        print(http_get(a.url, 5)[0])
    elif a.cmd == "metric-sum":
        total = metric_sum(a.url, a.name)
        if total is None:
            sys.exit(f"report.py: no {a.name} in {a.url}")
        print(f"{total:g}")
    elif a.cmd == "table":
        table(a)


if __name__ == "__main__":
    sys.exit(main())
