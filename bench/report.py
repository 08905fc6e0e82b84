#!/usr/bin/python3
"""Helpers of dns-bench: CPU time of a process tree, parsing of dnsperf and callgrind output,
and the final table (markdown on stdout, JSON to a file).

    report.py cpu PID                        seconds of CPU (user+system) of PID and descendants
    report.py record --server S --round R --dnsperf F [--latency F] --cpu0 X --cpu1 Y
                                             one JSON line for one saturated run
    report.py cgrecord --server S --with F.. --idle F.. --driver F
                                             one JSON line for one callgrind pair
    report.py table RESULTS.jsonl [--json OUT] [--meta META.json]
"""
import argparse
import json
import os
import re
import statistics
import sys

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ["knot", "nsd", "gdnsd"]
ORDER = ["gtmd", "knot", "nsd", "gdnsd", "null"]


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
    p = sub.add_parser("cgrecord")
    p.add_argument("--server", required=True)
    p.add_argument("--with", dest="with_files", nargs="+", required=True)
    p.add_argument("--idle", dest="idle_files", nargs="+", required=True)
    p.add_argument("--driver", required=True, help="latprobe JSON or dnsperf output")
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
        print(json.dumps({"kind": "callgrind", "server": a.server, "queries": n,
                          "sent": sent, "ir_with_queries": ir_n, "ir_idle": ir_0,
                          "ir_per_q": (ir_n - ir_0) / n if n else None}))
    elif a.cmd == "table":
        table(a)


if __name__ == "__main__":
    sys.exit(main())
