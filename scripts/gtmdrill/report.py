"""The printed report: fortio's shape (calls, histogram, percentiles, error cases, sockets,
addresses, codes), then the per-second timeline with the events marked, then the figures that
matter. Made from the records' set-up and the analysis (analysis.analyse) alone."""

from .analysis import PERCENTILES
from .common import APP_PATH, HTTP_NAME, NAME, PATH, dur_text


def fmt_s(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def report_text(rec, r):
    """rec: records.Records (its args.no_timeline leaves the timeline out); r: its analysis."""
    a = rec.args
    L = []
    p = r["params"]
    gtmd = (f"gtmd at {p['gtmd_dns']}" if not rec.cluster else
            f"{len(rec.nodes)} gtmd nodes on one etcd: "
            + ", ".join(f"{n['name']} 127.0.0.1:{n['dns']}" for n in rec.nodes))
    L.append(f"gtm-drill {r['scenario']}: {a.rate:g} queries per second, {a.duration:g}s: "
             f"http://{NAME}:{p['port']}{APP_PATH if rec.degraded else PATH} resolved through "
             f"{p['resolver']} ({gtmd}, TTL {a.ttl}s)")
    L.append("Regions: " + ", ".join(f"{rg.name} {rg.address} (weight {rg.weight})"
                                     for rg in rec.regions)
             + f"; monitor http every {dur_text(a.interval)}, timeout {dur_text(a.probe_timeout)},"
               f" fall {a.fall}, rise {a.rise}, hold_down {dur_text(a.hold_down)}; "
               f"slow_start {dur_text(a.slow_start)}; max_answers {a.max_answers}")
    if rec.degraded:
        L.append(f"{NAME}: http + promql `errors` (5xx ratio over {dur_text(a.promql_window)} "
                 f"> {a.error_threshold:g}, Prometheus 127.0.0.1:{rec.prometheus_port} scraping "
                 f"every 1s; combine all); {HTTP_NAME}: http alone, its own client at "
                 f"{a.rate:g} queries per second; {a.region_rate:g} requests per second straight "
                 f"to each region. The report below is {NAME}'s client's; the comparison at "
                 f"the end")
    for e in r["events"]:
        L.append(f"  t={e['t']:7.2f}s {e['kind']}: {e['detail']}")
    lat = r["latency"]["all"]
    L.append(f"Ended after {a.duration:g}s : {r['total']} calls. qps="
             f"{r['total'] / a.duration:.2f}")
    if lat["count"]:
        L.append(f"Aggregated Function Time : count {lat['count']} avg {lat['avg']:.6f} +/- "
                 f"{lat['stddev']:.4g} min {lat['min']:.6f} max {lat['max']:.6f} sum "
                 f"{lat['sum']:.3f}")
        L.append("# range, mid point, percentile, count")
        for h in r["latency"]["histogram"]:
            L.append(f">= {h['start']:.6g} <= {h['end']:.6g} , {h['mid']:.6g} , "
                     f"{h['percent']:.2f}, {h['count']}")
        for pc in PERCENTILES:
            L.append(f"# target {pc:g}% {r['latency']['percentiles'][str(pc)]:.6g}")
    el = r["latency"]["errors"]
    if el["count"]:
        L.append(f"Error cases : count {el['count']} avg {el['avg']:.6f} +/- {el['stddev']:.4g} "
                 f"min {el['min']:.6f} max {el['max']:.6f} sum {el['sum']:.3f}")
    else:
        L.append("Error cases : no data")
    L.append(f"Sockets used: {r['sockets_used']} (for perfect keepalive, would be "
             f"{len(rec.regions)})" if not a.no_keepalive else
             f"Sockets used: {r['sockets_used']} (one per request)")
    L.append("IP addresses distribution:")
    for addr, e in sorted(r["by_address"].items()):
        L.append(f"{addr}:{p['port']}: {e['requests']}"
                 + (f" ({e['errors']} errors)" if e["errors"] else ""))
    for code, n in r["codes"].items():
        pct = 100.0 * n / r["total"] if r["total"] else 0
        if code.isdigit():
            L.append(f"Code {code} : {n} ({pct:.1f} %)")
        else:
            L.append(f"Code -1 : {n} ({pct:.1f} %) [{code}]")
    avg_ms = lat["avg"] * 1000 if lat["count"] else 0
    L.append(f"All done {r['total']} calls (plus 0 warmup) {avg_ms:.3f} ms avg, "
             f"{r['total'] / a.duration:.1f} qps")

    if not a.no_timeline:
        L.append("")
        L.append("Timeline (per second; requests per address; x = errors):")
        addrs = [rg.address for rg in rec.regions]
        names = [n["name"] for n in rec.nodes] if rec.cluster else []
        L.append("     t     ok  err  " + "  ".join(f"{x:>15}" for x in addrs)
                 + ("   unbound's queries: " + " ".join(f"{x:>4}" for x in names)
                    if names else "")
                 + ("  err(http alone)" if rec.degraded else ""))
        marks = {}
        for e in r["events"]:
            marks.setdefault(int(e["t"]), []).append(e["kind"])
        if r.get("gtmd_removed_at_s") is not None:
            marks.setdefault(int(r["gtmd_removed_at_s"]), []).append("gtmd-removed")
        if r.get("dead_address_gone_at_s") is not None and r["fault_at_s"] is not None:
            marks.setdefault(int(r["dead_address_gone_at_s"]), []).append("resolver-gone")
        if r.get("back_in_answers_at_s") is not None:
            marks.setdefault(int(r["back_in_answers_at_s"]), []).append("back-in-answers")
        if r.get("resolver_moved_at_s") is not None:
            marks.setdefault(int(r["resolver_moved_at_s"]), []).append("resolver-moved")
        for row in r["timeline"]:
            cells = []
            for x in addrs:
                n = row["by_address"].get(x, 0)
                en = row["errors_by_address"].get(x, 0)
                cells.append(f"{n:>15}" if not en else f"{f'{n} ({en}x)':>15}")
            if names:
                q = row.get("resolver_queries", {})
                cells.append("                    " + " ".join(f"{q.get(x, 0):>4}"
                                                              for x in names))
            if rec.degraded:
                cells.append(f"{row.get('http_errors', 0):>14}")
            note = ("  <- " + ", ".join(marks[row["t"]])) if row["t"] in marks else ""
            L.append(f"{row['t']:6d} {row['ok']:6d} {row['errors']:4d}  " + "  ".join(cells)
                     + note)

    L.append("")
    if r["scenario"] == "node-down":
        return "\n".join(L + node_down_figures(rec, r))
    if rec.degraded:
        return "\n".join(L + degraded_lines(rec, r))
    L.append(f"=== {r['scenario']}: the figures that matter")
    if r["errors"]:
        L.append(f"client-visible error window : {r['error_window_s']} s (seconds "
                 f"{int(r['first_error_s'])}..{int(r['last_error_s'])})")
    else:
        L.append("client-visible error window : 0 s (no failed request)")
    L.append(f"errors                      : {r['errors']} of {r['total']} "
             f"({r['error_pct']:.2f} %)" + (f"; {r['errors_after_return']} after the region "
                                              f"returned" if r["errors_after_return"] is not None
                                              else ""))
    if r["fault_at_s"] is not None:
        L.append(f"dead address gone           : {fmt_s(r['dead_address_gone_s'])} s after the "
                 f"fault (no new resolution through unbound returned {r['dead_address']} after "
                 f"t={fmt_s(r['dead_address_gone_at_s'])} s)")
        L.append(f"gtmd stopped answering it   : {fmt_s(r['gtmd_removed_s'])} s after the fault")
        if r["last_request_to_dead_s"] is not None:
            L.append(f"last request sent to it     : "
                     f"{r['last_request_to_dead_s'] - r['fault_at_s']:.2f} s after the fault")
        if r["back_in_answers_at_s"] is not None:
            back = r["back_in_answers_at_s"] - r["return_at_s"]
            L.append(f"back in gtmd's answers      : {back:.2f} s after it returned")
    L += slow_start_lines(a, r.get("slow_start_ramp"))
    L.append("share of traffic per region  " + "  ".join(f"{ph:>20}" for ph in r["shares"]))
    for rg in rec.regions:
        cells = []
        for ph, s in r["shares"].items():
            cells.append(f"{s['share'][rg.address]:>19.1f}%")
        L.append(f"  {rg.name} {rg.address:<15}" + "  ".join(cells))
    L.append("  (phase, seconds)          " + "  ".join(
        f"{s['from_s']:>8.1f}-{s['to_s']:<8.1f}   " for s in r["shares"].values()))
    if rec.cluster:
        L += cluster_lines(rec, r)
    for k, ok in r["goals"].items():
        L.append(f"goal: {k:<45} {'met' if ok else 'MISSED'}")
    for prob in r["problems"]:
        L.append(f"problem: {prob}")
    L.append(f"logs and configs: {rec.workdir}")
    return "\n".join(L)


def slow_start_lines(a, rp):
    """How a returning region ramped (recover; region-degraded's http + promql)."""
    L = []
    if rp is not None and rp["first_share"] is not None:
        if rp["first_share"] < rp["full_share"] - 1e-3:
            L.append(f"slow start                  : gtmd's share for it began at "
                     f"{100 * rp['first_share']:.1f} % and reached its full "
                     f"{100 * rp['full_share']:.0f} % after {fmt_s(rp['full_share_after_s'], 1)} s")
        else:
            L.append(f"slow start                  : NO RAMP: gtmd gave it its full "
                     f"{100 * rp['full_share']:.0f} % share at once (slow_start "
                     f"{dur_text(a.slow_start)})")
        L.append("its share of requests, per 10 s after it returned: "
                 + " ".join(f"{b['share']:.0f}%" for b in rp["request_share_per_10s"]))
    return L


def degraded_lines(rec, r):
    """region-degraded: the two configurations side by side."""
    a = rec.args
    L = ["=== region-degraded: the figures that matter"]
    d = r.get("degraded")
    if d is None:
        L.append("the fault never came")
    else:
        addr = r["dead_address"]
        fault, ret = r["fault_at_s"], r["return_at_s"]
        L.append(f"{rec.victim} {addr} failed {d['error_rate']:.0%} of its application requests "
                 f"from t={fault:.2f} s" + (f" to t={ret:.2f} s ({ret - fault:.1f} s)"
                                            if ret is not None else " to the end")
                 + "; its health path answered 200 throughout")
        own = d["region_traffic"]
        if a.region_rate > 0:
            L.append(f"its own traffic ({d['region_rate']:g} req/s straight to it) answered 5xx: "
                     + ", ".join(f"{ph} {fmt_s(x['error_pct'], 1)} % of {x['requests']}"
                                 for ph, x in own.items()))
        http, both = d["configs"]["http"], d["configs"]["http+promql"]

        def row(label, f):
            L.append(f"  {label:<40}{f(http):<28}{f(both)}")

        def left(c):
            return "never" if c["left_s"] is None else f"{c['left_s']:.2f} s"

        def back(c):
            if c["left_s"] is None:
                return "-"
            if c["back_s"] is None:
                return "already back" if c["returns_during_fault"] else "not back"
            return f"{c['back_s']:.2f} s"

        L.append(f"  {'':<40}{'http alone':<28}http + promql (combine all)")
        L.append(f"  {'':<40}{http['name']:<28}{both['name']}")
        row("left the answers after errors began", left)
        row("came back while errors lasted", lambda c: "-" if c["left_s"] is None
            else f"{c['returns_during_fault']} times")
        row("back after the errors stopped", back)
        row("client errors", lambda c: f"{c['errors']} of {c['total']} ({c['error_pct']:.2f} %)")
        row("client-visible error window", lambda c: f"{c['error_window_s']} s")
        for ph in both["shares"]:
            row(f"its share of requests {ph}", lambda c: f"{c['shares'][ph]['share'][addr]:.1f} %"
                f" ({c['shares'][ph]['errors']} failed)")
        for e in d["verdict_events"]:
            if e["t"] < fault:
                since = "before the errors"
            elif ret is not None and e["t"] >= ret:
                since = f"{e['t'] - ret:.2f} s after the errors stopped"
            else:
                since = f"{e['t'] - fault:.2f} s after the errors began"
            L.append(f"verdict event t={e['t']:7.2f} s ({since}): monitor "
                     f"{e.get('monitor') or '?'} {e['from']} -> {e['to']} ({e['reason']}"
                     + (f": {e['detail']})" if e["detail"] else ")"))
        L.append(f"degraded address gone       : {fmt_s(r['dead_address_gone_s'])} s after the "
                 f"errors began, through unbound ({NAME})")
        if both["back_s"] is not None:
            L += slow_start_lines(a, r.get("slow_start_ramp"))
    for k, ok in r["goals"].items():
        L.append(f"goal: {k:<60} {'met' if ok else 'MISSED'}")
    for prob in r["problems"]:
        L.append(f"problem: {prob}")
    L.append(f"logs and configs: {rec.workdir}")
    return L


def per_node(d):
    return ", ".join(f"{k} {v}" for k, v in d.items())


def lookups_text(x):
    if not x or not x["count"]:
        return "none"
    return (f"{x['count']}, {x['failed']} failed, p50 {x['p50_ms']:.1f} ms, max "
            f"{x['max_ms']:.1f} ms")


def cluster_lines(rec, r):
    """--nodes N > 1, region scenarios: what each node did."""
    c = r["cluster"]
    L = [f"gtmd nodes                  : {', '.join(c['nodes'])} on one 3-member etcd, "
         f"lease_ttl {dur_text(c['lease_ttl_s'])}; unbound's stub zones list them all"]
    if c.get("gtmd_removed_s"):
        L.append("each node stopped answering it: "
                 + ", ".join(f"{k} {fmt_s(v)} s" for k, v in c["gtmd_removed_s"].items())
                 + " after the fault")
    L.append("unbound's queries per node  : " + "; ".join(
        f"{ph} {per_node(q)}" for ph, q in c["resolver_queries"].items()))
    L.append("the client's resolutions    : " + "; ".join(
        f"{ph} {lookups_text(x)}" for ph, x in c["lookups"].items()))
    fails = {k: v for k, v in c["node_answer_failures"].items() if v}
    L.append("the nodes' own answers      : " + ("every query answered" if not fails else
                                                 "unanswered: " + per_node(fails)))
    return L


def node_down_figures(rec, r):
    a = rec.args
    L = [f"=== node-down: the figures that matter"]
    if r["errors"]:
        L.append(f"client-visible error window : {r['error_window_s']} s (seconds "
                 f"{int(r['first_error_s'])}..{int(r['last_error_s'])})")
    else:
        L.append("client-visible error window : 0 s (no failed request)")
    L.append(f"errors                      : {r['errors']} of {r['total']} "
             f"({r['error_pct']:.2f} %)")
    c = r["cluster"]
    L.append(f"gtmd nodes                  : {', '.join(c['nodes'])} on one 3-member etcd, "
             f"lease_ttl {dur_text(a.lease_ttl)}; unbound's stub zones list them all")
    if r["fault_at_s"] is not None:
        L.append(f"node killed                 : {r['victim_node']} at t={r['fault_at_s']:.2f} s "
                 "(SIGKILL)" + (f", started again at t={r['return_at_s']:.2f} s"
                                if r["return_at_s"] is not None else ""))
        L.append(f"resolver moved              : another node answered unbound's first query "
                 f"after the kill (when its cached answer expired) "
                 f"{fmt_s(r['resolver_moved_s'])} s after it")
        L.append(f"resolutions after the kill  : {lookups_text(r['lookups_after_fault'])}"
                 + (f" (the slowest at t={r['lookups_after_fault']['slowest_at_s']:.2f} s)"
                    if r["lookups_after_fault"]["count"] else ""))
        L.append("the other nodes' answers    : " + ", ".join(
            f"{k} {'all answered' if v == 0 else f'{v} unanswered'}"
            for k, v in r["other_nodes_failed_answers"].items()))
        L.append("its votes left the tally    : " + ", ".join(
            f"{k} {fmt_s(v)} s" for k, v in r["votes_gone_s"].items()) + " after the kill")
        if r["votes_back_s"] is not None:
            L.append("its votes counted again     : " + ", ".join(
                f"{k} {fmt_s(v)} s" for k, v in r["votes_back_s"].items())
                + " after it started again")
    L.append("unbound's queries per node  : " + "; ".join(
        f"{ph} {per_node(q)}" for ph, q in c["resolver_queries"].items()))
    L.append("the client's resolutions    : " + "; ".join(
        f"{ph} {lookups_text(x)}" for ph, x in c["lookups"].items()))
    L.append("share of traffic per region  " + "  ".join(f"{ph:>20}" for ph in r["shares"]))
    for rg in rec.regions:
        L.append(f"  {rg.name} {rg.address:<15}" + "  ".join(
            f"{s['share'][rg.address]:>19.1f}%" for s in r["shares"].values()))
    for k, ok in r["goals"].items():
        L.append(f"goal: {k:<45} {'met' if ok else 'MISSED'}")
    for prob in r["problems"]:
        L.append(f"problem: {prob}")
    L.append(f"logs and configs: {rec.workdir}")
    return L
