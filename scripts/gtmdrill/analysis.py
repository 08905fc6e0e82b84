"""The analysis: a drill's records (records.Records) -> the report's figures, the dict that
`--json` writes. A pure function of the records: no sockets, no clock, no randomness, so a
saved run analysed again gives the same figures."""

import math

from .common import HTTP_NAME, NAME

# fortio's histogram bucket edges (seconds)
BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.011,
           0.012, 0.014, 0.016, 0.018, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07,
           0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
           0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0]
PERCENTILES = (50, 75, 90, 99, 99.9)


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(sorted_values) - 1)
    return sorted_values[f] + (sorted_values[c] - sorted_values[f]) * (k - f)


def histogram(values):
    rows = []
    if not values:
        return rows
    vs = sorted(values)
    n = len(vs)
    lo = vs[0]
    i = 0
    cum = 0
    edges = BUCKETS + [float("inf")]
    prev = 0.0
    for e in edges:
        count = 0
        while i < n and vs[i] <= e:
            count += 1
            i += 1
        if count:
            start = max(prev, lo)
            end = min(e, vs[-1]) if e == float("inf") else e
            cum += count
            rows.append({"start": round(start, 6), "end": round(end, 6),
                         "mid": round((start + end) / 2, 6),
                         "percent": round(100.0 * cum / n, 2), "count": count})
        prev = e
        if i >= n:
            break
    return rows


def runs(observations):
    """[(t, [addrs])] -> [{"from", "to", "answer", "count"}] merging equal consecutive answers."""
    out = []
    for t, addrs in observations:
        key = sorted(addrs) if addrs is not None else None
        if out and out[-1]["answer"] == key:
            out[-1]["to"] = round(t, 3)
            out[-1]["count"] += 1
        else:
            out.append({"from": round(t, 3), "to": round(t, 3), "answer": key, "count": 1})
    return out


def client_runs(resolutions):
    """The client's resolutions, consecutive equal answers merged. unbound serves a cached answer
    with TTL 0 during its last second, so the client (which does not cache a TTL of 0) asks once
    per request then: those show as one run with ttl 0."""
    out = []
    for t, src, addrs, ttl, outcome in resolutions:
        if src != "client":
            continue
        key = (sorted(addrs) if addrs is not None else None, ttl, outcome)
        if out and (out[-1]["answer"], out[-1]["ttl"], out[-1]["outcome"]) == key:
            out[-1]["to"] = round(t, 3)
            out[-1]["count"] += 1
        else:
            out.append({"from": round(t, 3), "to": round(t, 3), "answer": key[0], "ttl": ttl,
                        "outcome": outcome, "count": 1})
    return out


def count_answers(obs):
    c = {}
    for _, addrs in obs:
        for x in addrs:
            c[x] = c.get(x, 0) + 1
    return {"queries": len(obs), "by_address": c}


def stats(vs):
    """count, avg, stddev, min, max, sum of sorted values (fortio's 'Aggregated' line)."""
    if not vs:
        return {"count": 0}
    avg = sum(vs) / len(vs)
    sd = math.sqrt(sum((x - avg) ** 2 for x in vs) / len(vs))
    return {"count": len(vs), "avg": avg, "stddev": sd, "min": vs[0], "max": vs[-1],
            "sum": sum(vs)}


def timeline(requests, duration):
    """Per second of the load: ok, errors, requests and errors per address."""
    nsec = int(math.ceil(duration))
    rows = [{"t": s, "ok": 0, "errors": 0, "by_address": {}, "errors_by_address": {}}
            for s in range(nsec)]
    for t, addr, code, _, _ in requests:
        s = min(int(t), nsec - 1)
        row = rows[s]
        key = addr or "(no address)"
        row["by_address"][key] = row["by_address"].get(key, 0) + 1
        if code == "200":
            row["ok"] += 1
        else:
            row["errors"] += 1
            row["errors_by_address"][key] = row["errors_by_address"].get(key, 0) + 1
    return rows


def gtmd_removed_at(tables, dead, fault, down_until):
    """gtmd's table (the authority): the first table after the fault without the dead address,
    staying so while it is down."""
    removed_at = None
    if fault is not None:
        for t, table, _ in tables:
            if t < fault:
                continue
            if dead not in table and removed_at is None:
                removed_at = t
            elif dead in table and t < down_until:
                removed_at = None
    return removed_at


def dead_address_gone_at(resolutions, dead, fault, down_until):
    """New resolutions (unbound watcher and client): the first one after the last one during the
    fault that still returned the dead address; the fault itself if none did."""
    ub = [(t, addrs) for t, src, addrs, _, _ in resolutions if src in ("unbound", "client")
          and addrs is not None]
    ub.sort(key=lambda x: x[0])
    if fault is None:
        return None
    last_dead_resolution = None
    for t, addrs in ub:
        if fault <= t < down_until and dead in addrs:
            last_dead_resolution = t
    if last_dead_resolution is None:
        return fault
    return next((t for t, addrs in ub if t > last_dead_resolution and dead not in addrs), None)


def phase_shares(requests, regions, phases):
    """Each phase's requests, errors and share of requests per region address (%)."""
    shares = {}
    for ph, (lo, hi) in phases.items():
        sel = [r for r in requests if lo <= r[0] < hi]
        n = len(sel)
        counts = {r.address: 0 for r in regions}
        errs = 0
        for r in sel:
            if r[1] in counts:
                counts[r[1]] += 1
            if r[2] != "200":
                errs += 1
        shares[ph] = {"from_s": round(lo, 2), "to_s": round(hi, 2), "requests": n,
                      "errors": errs,
                      "share": {addr: round(100.0 * c / n, 1) if n else 0.0
                                for addr, c in counts.items()}}
    return shares


# --- region-degraded -----------------------------------------------------------------------------


def presence(tables, addr, fault, ret):
    """How one name's answer table treated `addr` from the fault on: when it first left
    (None: never), how often it came back while the fault lasted, and when it was back after the
    return (None: it never left, or was already back at the return, or never came back)."""
    end = ret if ret is not None else float("inf")
    left = None
    returns = 0
    present = True
    for t, table, _ in tables:
        if t < fault:
            present = addr in table
            continue
        if t >= end:
            break
        if present and addr not in table:
            left = t if left is None else left
        elif not present and addr in table:
            returns += 1
        present = addr in table
    back = None
    if ret is not None and left is not None and not present:
        back = next((t for t, table, _ in tables if t >= ret and addr in table), None)
    return left, returns, back


def config_figures(requests, tables, addr, fault, ret, phases, regions, name):
    """One configuration of region-degraded: its client's errors and shares, and when its
    table let the degraded address go and took it back."""
    left, returns, back = presence(tables, addr, fault, ret)
    errors = [r for r in requests if r[2] != "200"]
    secs = sorted({int(r[0]) for r in errors})
    return {
        "name": name,
        "left_s": round(left - fault, 2) if left is not None else None,
        "left_at_s": round(left, 3) if left is not None else None,
        "returns_during_fault": returns,
        "back_s": round(back - ret, 2) if back is not None else None,
        "back_at_s": round(back, 3) if back is not None else None,
        "total": len(requests),
        "errors": len(errors),
        "error_pct": round(100.0 * len(errors) / len(requests), 3) if requests else 0.0,
        "error_window_s": secs[-1] - secs[0] + 1 if secs else 0,
        "errors_not_to_region": sum(1 for r in errors if r[1] != addr),
        "shares": phase_shares(requests, regions, phases),
    }


def degraded_figures(rec, addr, fault, ret, phases):
    """region-degraded: the two configurations side by side (NAME: http + promql; HTTP_NAME:
    http alone), the error ratio the region's own traffic met per phase, and the verdict events
    of the degraded address."""
    a = rec.args
    own = {}
    for ph, (lo, hi) in phases.items():
        sel = [r for r in rec.region_requests if r[1] == addr and lo <= r[0] < hi]
        errs = sum(1 for r in sel if r[2] != "200")
        own[ph] = {"requests": len(sel), "errors": errs,
                   "error_pct": round(100.0 * errs / len(sel), 1) if sel else None}
    return {
        "error_rate": a.error_rate, "error_threshold": a.error_threshold,
        "promql_window_s": a.promql_window, "region_rate": a.region_rate,
        "prometheus": f"127.0.0.1:{rec.prometheus_port}",
        "configs": {
            "http": config_figures(rec.http_requests, rec.http_tables, addr, fault, ret, phases,
                                   rec.regions, HTTP_NAME),
            "http+promql": config_figures(rec.requests, rec.tables, addr, fault, ret, phases,
                                          rec.regions, NAME),
        },
        "region_traffic": own,
        "verdict_events": [e for e in rec.health_events if e["address"] == addr],
    }


# --- --nodes N > 1 -------------------------------------------------------------------------------


def counter_at(series, node, t):
    """A node's running total (node_queries) at time t: its last value at or before t (its first
    value when none is that early, so that counting starts when watching did)."""
    rows = [(tt, q) for tt, n, q in series if n == node]
    if not rows:
        return 0
    v = rows[0][1]
    for tt, q in rows:
        if tt > t:
            break
        v = q
    return v


def resolver_queries(rec, lo, hi):
    """unbound's queries to each node in [lo, hi), from the nodes' UDP query counters."""
    return {n["name"]: counter_at(rec.node_queries, n["name"], hi)
            - counter_at(rec.node_queries, n["name"], lo) for n in rec.nodes}


def per_second_queries(rec, nsec):
    """unbound's queries to each node, per second of the load."""
    return [{n["name"]: counter_at(rec.node_queries, n["name"], s + 1)
             - counter_at(rec.node_queries, n["name"], s) for n in rec.nodes}
            for s in range(nsec)]


def lookup_stats(rows):
    lat = sorted(r[1] for r in rows)
    failed = [r for r in rows if r[2] != "ok"]
    return {"count": len(rows), "failed": len(failed),
            "p50_ms": round(1000 * percentile(lat, 50), 2) if lat else None,
            "p99_ms": round(1000 * percentile(lat, 99), 2) if lat else None,
            "max_ms": round(1000 * lat[-1], 2) if lat else None,
            "slowest_at_s": round(max(rows, key=lambda r: r[1])[0], 3) if rows else None}


def cluster_figures(rec, phases, fault=None, dead=None, down_until=float("inf")):
    """What every node did: unbound's queries to it per phase, its own answers that failed, the
    vantages it counted, and (region scenarios) when it stopped answering the dead address."""
    a = rec.args
    out = {"nodes": [n["name"] for n in rec.nodes], "lease_ttl_s": getattr(a, "lease_ttl", None),
           "resolver_queries": {ph: resolver_queries(rec, lo, hi)
                                for ph, (lo, hi) in phases.items()},
           "lookups": {ph: lookup_stats([r for r in rec.lookups if lo <= r[0] < hi])
                       for ph, (lo, hi) in phases.items()},
           "node_answer_failures": {n["name"]: sum(1 for _, nm, addrs in rec.node_answers
                                                   if nm == n["name"] and addrs is None)
                                    for n in rec.nodes},
           "vantages": [{"t": round(t, 3), "node": nm, "vantages": v}
                        for t, nm, v in rec.node_vantages]}
    if dead is not None:
        removed = {}
        for n in rec.nodes:
            tables = [(t, table, mode) for t, nm, table, mode in rec.node_tables if nm == n["name"]]
            at = gtmd_removed_at(tables, dead, fault, down_until)
            removed[n["name"]] = round(at - fault, 2) if at is not None else None
        out["gtmd_removed_s"] = removed
    return out


def analyse(rec):
    """records.Records -> the report (the --json document)."""
    a = rec.args
    if a.scenario == "node-down":
        return analyse_node_down(rec)
    res = rec.requests
    v = rec.victim_region()
    dead = v.address
    fault = next((t for t, k, _ in rec.events if k == "fault"), None)
    ret = next((t for t, k, _ in rec.events if k == "return"), None)
    stop_t = next((t for t, k, _ in rec.events if k == "stop"), None)
    end = a.duration

    total = len(res)
    errors = [r for r in res if r[2] != "200"]
    codes = {}
    for r in res:
        codes[r[2]] = codes.get(r[2], 0) + 1
    by_address = {}
    for r in res:
        key = r[1] or "(no address)"
        e = by_address.setdefault(key, {"requests": 0, "errors": 0})
        e["requests"] += 1
        if r[2] != "200":
            e["errors"] += 1

    per_second = timeline(res, a.duration)
    err_secs = [row["t"] for row in per_second if row["errors"]]
    error_window = (err_secs[-1] - err_secs[0] + 1) if err_secs else 0

    # When did the dead address leave the answers?
    down_until = ret if ret is not None else float("inf")
    removed_at = gtmd_removed_at(rec.tables, dead, fault, down_until)
    back_in_table = None
    if ret is not None:
        back_in_table = next((t for t, table, _ in rec.tables if t >= ret and dead in table),
                             None)
    gone_at = dead_address_gone_at(rec.resolutions, dead, fault, down_until)
    dead_gone_s = round(gone_at - fault, 2) if (gone_at is not None and fault is not None) else None

    gtmd_dead_seen = [t for t, addrs in rec.gtmd_answers
                      if fault is not None and fault <= t < down_until and dead in addrs]
    # anything handed out while down, after gtmd had removed it (must be empty)
    handed_after_removal = []
    if removed_at is not None:
        handed_after_removal += [{"t": round(t, 3), "source": "gtmd"}
                                 for t in gtmd_dead_seen if t > removed_at + 0.05]
        handed_after_removal += [{"t": round(t, 3), "source": src}
                                 for t, src, addrs, ttl, _ in rec.resolutions
                                 if addrs and dead in addrs and gone_at is not None
                                 and gone_at <= t < down_until]

    # the last request the client sent to the dead address during the fault
    to_dead = [r for r in res if r[1] == dead and fault is not None and fault <= r[0] < down_until]
    last_to_dead = max((r[0] for r in to_dead), default=None)

    # phases
    if fault is None:
        phases = {"before": (0, end)}
    else:
        if ret is not None:
            mid_end = ret
        elif a.scenario == "planned-drain":
            mid_end = stop_t if stop_t is not None else end
        else:
            mid_end = max(fault, math.ceil(last_to_dead) if last_to_dead is not None else fault)
            mid_end = min(mid_end, end)
        phases = {"before": (0, fault), "during": (fault, mid_end), "after": (mid_end, end)}
    shares = phase_shares(res, rec.regions, phases)

    lat = sorted(r[3] for r in res)
    ok_lat = sorted(r[3] for r in res if r[2] == "200")
    err_lat = sorted(r[3] for r in errors)

    ramp = None
    if ret is not None:
        full = v.weight / sum(rg.weight for rg in rec.regions)
        pts = [(round(t - ret, 2), round(table.get(dead, 0.0), 4)) for t, table, _ in rec.tables
               if t >= ret]
        first_share = next((sh for _, sh in pts if sh > 0), None)
        full_after = next((t for t, sh in pts if sh >= full - 1e-3), None)
        bins = []
        b0 = ret
        while b0 < end:
            sel = [r for r in res if b0 <= r[0] < min(b0 + 10, end)]
            if sel:
                bins.append({"from_s": round(b0 - ret, 1),
                             "share": round(100.0 * sum(1 for r in sel if r[1] == dead)
                                            / len(sel), 1)})
            b0 += 10
        ramp = {"full_share": round(full, 4), "first_share": first_share,
                "full_share_after_s": full_after, "table_shares": pts,
                "request_share_per_10s": bins}

    out = {
        "scenario": a.scenario,
        "total": total,
        "errors": len(errors),
        "error_pct": round(100.0 * len(errors) / total, 3) if total else 0.0,
        "error_window_s": error_window,
        "dead_address_gone_s": dead_gone_s,
        "by_address": by_address,
        "timeline": per_second,
        "codes": dict(sorted(codes.items())),
        "first_error_s": round(min(r[0] for r in errors), 3) if errors else None,
        "last_error_s": round(max(r[0] for r in errors), 3) if errors else None,
        "errors_not_to_dead_address": sum(1 for r in errors if r[1] != dead),
        "dead_address": dead,
        "fault_at_s": round(fault, 3) if fault is not None else None,
        "return_at_s": round(ret, 3) if ret is not None else None,
        "gateway_stop_at_s": round(stop_t, 3) if stop_t is not None else None,
        "gtmd_removed_s": round(removed_at - fault, 2) if removed_at is not None else None,
        "gtmd_removed_at_s": round(removed_at, 3) if removed_at is not None else None,
        "dead_address_gone_at_s": round(gone_at, 3) if gone_at is not None else None,
        "last_request_to_dead_s": round(last_to_dead, 3) if last_to_dead is not None else None,
        "dead_handed_out_after_removal": handed_after_removal,
        "back_in_answers_at_s": round(back_in_table, 3) if back_in_table is not None else None,
        "errors_after_return": (sum(1 for r in errors if r[0] >= ret) if ret is not None
                                else None),
        "shares": shares,
        "slow_start_ramp": ramp,
        "latency": {"all": stats(lat), "ok": stats(ok_lat), "errors": stats(err_lat),
                    "percentiles": {str(p): percentile(lat, p) for p in PERCENTILES},
                    "histogram": histogram(lat)},
        "sockets_used": rec.sockets_opened,
        "late_ticks": rec.late_ticks,
        "failures": [{"t": round(r[0], 3), "address": r[1], "code": r[2],
                      "latency": round(r[3], 4)} for r in errors],
        "client_resolutions": client_runs(rec.resolutions),
        "unbound_answers": runs([(t, addrs) for t, src, addrs, _, _ in rec.resolutions
                                 if src == "unbound"]),
        "gtmd_dead_answers_during_fault": [round(t, 3) for t in gtmd_dead_seen],
        "gtmd_answer_counts": count_answers(rec.gtmd_answers),
        "gtmd_tables": [{"t": round(t, 3), "mode": mode,
                         "shares": {k: round(v2, 4) for k, v2 in table.items()}}
                        for t, table, mode in rec.tables],
        "health_events": rec.health_events,
        "events": [{"t": round(t, 3), "kind": k, "detail": det} for t, k, det in rec.events],
        "watch_errors": rec.watch_errors,
        "problems": rec.problems,
        "params": {
            "duration_s": a.duration, "rate": a.rate, "ttl_s": a.ttl, "regions": a.regions,
            "weights": a.weights, "victim": v.name, "fault_at_s": a.fault_at,
            "return_at_s": a.return_at, "drain_wait_s": a.drain_wait if a.scenario ==
            "planned-drain" else None, "interval_s": a.interval, "fall": a.fall,
            "rise": a.rise, "probe_timeout_s": a.probe_timeout, "hold_down_s": a.hold_down,
            "slow_start_s": a.slow_start, "max_answers": a.max_answers,
            "request_timeout_s": a.timeout, "keepalive": not a.no_keepalive, "seed": a.seed,
            "victim_given": a.victim, "fault_when_used": a.victim is not None and
            a.fault_when_used, "one_pool": a.one_pool,
            "addresses": {r.name: r.address for r in rec.regions}, "port": rec.regions[0].port,
            "name": NAME, "resolver": f"unbound 127.0.0.1:{rec.resolver_port}",
            "gtmd_dns": f"127.0.0.1:{rec.gtmd_dns_port}", "workdir": rec.workdir,
        },
    }
    if rec.degraded:
        out["degraded"] = degraded_figures(rec, dead, fault, ret, phases) if fault is not None \
            else None
        for row, h in zip(per_second, timeline(rec.http_requests, a.duration)):
            row["http_errors"] = h["errors"]
        out["params"].update(error_rate=a.error_rate, error_threshold=a.error_threshold,
                             promql_window_s=a.promql_window, region_rate=a.region_rate,
                             http_name=HTTP_NAME)
    if rec.cluster:
        out["params"]["nodes"] = len(rec.nodes)
        out["params"]["lease_ttl_s"] = a.lease_ttl
        out["cluster"] = cluster_figures(rec, phases, fault, dead, down_until)
        sec = per_second_queries(rec, len(per_second))
        for row, q in zip(per_second, sec):
            row["resolver_queries"] = q
    out["goals"] = goals(out)
    return out


def analyse_node_down(rec):
    """node-down: one gtmd node of N killed under load; every region stays up. The figures: the
    client's errors (none expected), unbound's queries per node before and after, how long the
    resolutions took, whether every other node answered throughout, and when the dead node's
    votes left the others' tally."""
    a = rec.args
    res = rec.requests
    end = a.duration
    fault = next((t for t, k, _ in rec.events if k == "fault"), None)
    ret = next((t for t, k, _ in rec.events if k == "return"), None)
    victim = rec.victim_node
    total = len(res)
    errors = [r for r in res if r[2] != "200"]
    codes = {}
    by_address = {}
    for r in res:
        codes[r[2]] = codes.get(r[2], 0) + 1
        e = by_address.setdefault(r[1] or "(no address)", {"requests": 0, "errors": 0})
        e["requests"] += 1
        if r[2] != "200":
            e["errors"] += 1
    per_second = timeline(res, a.duration)
    err_secs = [row["t"] for row in per_second if row["errors"]]
    error_window = (err_secs[-1] - err_secs[0] + 1) if err_secs else 0
    for row, q in zip(per_second, per_second_queries(rec, len(per_second))):
        row["resolver_queries"] = q

    if fault is None:
        phases = {"before": (0, end)}
    elif ret is None:
        phases = {"before": (0, fault), "after": (fault, end)}
    else:
        phases = {"before": (0, fault), "during": (fault, ret), "after": (ret, end)}
    cl = cluster_figures(rec, phases)
    down_until = ret if ret is not None else float("inf")
    others = [n["name"] for n in rec.nodes if n["name"] != victim]

    # the first query unbound sent after the kill, answered by another node
    moved_at = None
    if fault is not None:
        for t, nm, q in rec.node_queries:
            if t >= fault and nm in others and q > counter_at(rec.node_queries, nm, fault):
                moved_at = t
                break
    # the other nodes' own answers while the victim was down: each must have answered
    other_failures = {nm: sum(1 for t, n2, addrs in rec.node_answers if n2 == nm and addrs is None
                              and fault is not None and t >= fault) for nm in others}
    # when each other node stopped counting the victim's votes (its lease expired), and, after a
    # return, when it counted them again
    gone, back = {}, {}
    for nm in others:
        rows = [(t, v) for t, n2, v in rec.node_vantages if n2 == nm]
        g = next((t for t, v in rows if fault is not None and fault <= t < down_until
                  and victim not in v), None)
        gone[nm] = round(g - fault, 2) if g is not None else None
        if ret is not None:
            b = next((t for t, v in rows if t >= ret and victim in v), None)
            back[nm] = round(b - ret, 2) if b is not None else None
    after = [r for r in rec.lookups if fault is not None and fault <= r[0] < down_until]
    lat = sorted(r[3] for r in res)
    ok_lat = sorted(r[3] for r in res if r[2] == "200")
    err_lat = sorted(r[3] for r in errors)
    out = {
        "scenario": a.scenario,
        "total": total,
        "errors": len(errors),
        "error_pct": round(100.0 * len(errors) / total, 3) if total else 0.0,
        "error_window_s": error_window,
        "by_address": by_address,
        "timeline": per_second,
        "codes": dict(sorted(codes.items())),
        "first_error_s": round(min(r[0] for r in errors), 3) if errors else None,
        "last_error_s": round(max(r[0] for r in errors), 3) if errors else None,
        "victim_node": victim,
        "fault_at_s": round(fault, 3) if fault is not None else None,
        "return_at_s": round(ret, 3) if ret is not None else None,
        "resolver_moved_s": round(moved_at - fault, 2) if moved_at is not None else None,
        "resolver_moved_at_s": round(moved_at, 3) if moved_at is not None else None,
        "other_nodes_failed_answers": other_failures,
        "votes_gone_s": gone,
        "votes_back_s": back if ret is not None else None,
        "lookups_after_fault": lookup_stats(after),
        "shares": phase_shares(res, rec.regions, phases),
        "cluster": cl,
        "latency": {"all": stats(lat), "ok": stats(ok_lat), "errors": stats(err_lat),
                    "percentiles": {str(p): percentile(lat, p) for p in PERCENTILES},
                    "histogram": histogram(lat)},
        "sockets_used": rec.sockets_opened,
        "late_ticks": rec.late_ticks,
        "failures": [{"t": round(r[0], 3), "address": r[1], "code": r[2],
                      "latency": round(r[3], 4)} for r in errors],
        "client_resolutions": client_runs(rec.resolutions),
        "unbound_answers": runs([(t, addrs) for t, src, addrs, _, _ in rec.resolutions
                                 if src == "unbound"]),
        "gtmd_tables": [{"t": round(t, 3), "node": nm, "mode": mode,
                         "shares": {k: round(v2, 4) for k, v2 in table.items()}}
                        for t, nm, table, mode in rec.node_tables],
        "health_events": rec.health_events,
        "events": [{"t": round(t, 3), "kind": k, "detail": det} for t, k, det in rec.events],
        "watch_errors": rec.watch_errors,
        "problems": rec.problems,
        "params": {
            "duration_s": a.duration, "rate": a.rate, "ttl_s": a.ttl, "regions": a.regions,
            "weights": a.weights, "nodes": len(rec.nodes), "victim_node": victim,
            "victim_node_given": a.victim_node, "fault_at_s": a.fault_at,
            "return_at_s": a.return_at, "lease_ttl_s": a.lease_ttl, "interval_s": a.interval,
            "fall": a.fall, "rise": a.rise, "probe_timeout_s": a.probe_timeout,
            "max_answers": a.max_answers, "request_timeout_s": a.timeout,
            "keepalive": not a.no_keepalive, "seed": a.seed,
            "addresses": {r.name: r.address for r in rec.regions}, "port": rec.regions[0].port,
            "name": NAME, "resolver": f"unbound 127.0.0.1:{rec.resolver_port}",
            "gtmd_dns": ", ".join(f"{n['name']} 127.0.0.1:{n['dns']}" for n in rec.nodes),
            "workdir": rec.workdir,
        },
    }
    out["goals"] = goals(out)
    return out


def goals(r):
    s = r["scenario"]
    g = {}
    if s == "region-down":
        g["errors under 1 %"] = r["error_pct"] < 1.0
        g["error window under 10 s"] = r["error_window_s"] < 10
    elif s == "planned-drain":
        g["zero errors"] = r["errors"] == 0
    elif s == "node-down":
        g["zero errors"] = r["errors"] == 0
        if r["fault_at_s"] is not None:
            g["every other node answered throughout"] = not any(
                r["other_nodes_failed_answers"].values())
            ttl = r["params"]["lease_ttl_s"]
            g[f"its votes left every tally within lease_ttl + 2 s ({ttl + 2:g} s)"] = all(
                x is not None and x <= ttl + 2 for x in r["votes_gone_s"].values())
        return g
    elif s == "region-degraded" and r.get("degraded"):
        http, both = r["degraded"]["configs"]["http"], r["degraded"]["configs"]["http+promql"]
        g["the http probe alone kept it in the answers (its blind spot)"] = http["left_s"] is None
        g["http + promql took it out"] = both["left_s"] is not None
        g["http + promql kept it out while the errors lasted"] = (
            both["left_s"] is not None and both["returns_during_fault"] == 0)
        g["http + promql put it back once the errors stopped"] = both["back_s"] is not None
        g["fewer client errors with http + promql"] = both["errors"] < http["errors"]
    elif s == "recover":
        g["no errors after the region returned"] = r["errors_after_return"] == 0
        g["region carries traffic again"] = (r["shares"].get("after", {}).get("share", {})
                                             .get(r["dead_address"], 0) > 0)
    if r["fault_at_s"] is not None:
        g["dead address never handed out after removal"] = not r["dead_handed_out_after_removal"]
        g["every failure went to the faulty region"] = r["errors_not_to_dead_address"] == 0
    return g
