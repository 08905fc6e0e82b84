"""The command line of scripts/drill:

    scripts/drill SCENARIO [options]          run a drill (scenarios.SCENARIOS)
    scripts/drill analyse RECORDS [options]   the report again from a run's saved records

Exit codes: 0 done; 2 set-up failed (or the records could not be read); 3 done, but gtmd
misbehaved (listed under `problems`); 130 interrupted."""

import argparse
import asyncio
import atexit
import ipaddress
import json
import os
import random
import shutil
import signal
import sys

from .analysis import analyse
from .common import DrillError, log, loopback, parse_duration
from .environment import DEFAULT_GATEWAY, DEFAULT_PROMETHEUS, find_gtmd
from .records import Records
from .report import report_text
from .runner import Drill
from .scenarios import SCENARIOS

RECORDS_FILE = "records.json"  # in the workdir, unless --records says otherwise


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="drill",
        description="Region failover drill for gtmd, on loopback: regions (gateways on 127.0.0.x), "
                    "gtmd (or --nodes N gtmd nodes on one etcd cluster), unbound and a load "
                    "client that resolves through unbound and honours the TTL. See "
                    "scripts/DRILL.md.",
        epilog="scripts/drill analyse RECORDS [--json FILE] prints the report of a finished "
               "drill again from its saved records (WORKDIR/records.json, or --records).")
    p.add_argument("scenario", choices=tuple(SCENARIOS))
    p.add_argument("--duration", type=parse_duration, default=300.0,
                   help="load duration (default 300s)")
    p.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    p.add_argument("--ttl", type=int, default=5, help="balancer TTL in seconds (default 5)")
    p.add_argument("--regions", type=int, default=2, help="number of regions, 2-8 (default 2)")
    p.add_argument("--weights", default=None,
                   help="comma-separated pool weights, one per region (default equal: 50,50)")
    p.add_argument("--json", dest="json_file", default=None, help="write the JSON report here")
    p.add_argument("--records", dest="records_file", default=None,
                   help="write the raw records here, for scripts/drill analyse (default "
                        f"WORKDIR/{RECORDS_FILE})")
    p.add_argument("--victim", type=int, default=None,
                   help="which region (1-based) fails or is drained (default: the one the "
                        "client is using at the fault time)")
    p.add_argument("--fault-at", type=parse_duration, default=None,
                   help="when the fault is injected, seconds into the load (default: half the "
                        "duration plus a random offset within one TTL; recover and "
                        "region-degraded: a fifth of it)")
    p.add_argument("--return-at", type=parse_duration, default=None,
                   help="when the region comes back (recover and region-degraded: default half "
                        "the duration; other scenarios: never unless given)")
    p.add_argument("--fault-anytime", dest="fault_when_used", action="store_false",
                   help="with --victim: fault at --fault-at whatever address the client uses "
                        "(default: wait, at most 60s, for a random moment at which the client's "
                        "answer is the victim's; without --victim the victim is the region in "
                        "use)")
    p.add_argument("--drain-wait", type=parse_duration, default=None,
                   help="planned-drain: wait this long after the drain before stopping the "
                        "gateway (default TTL + 2s: one TTL, plus the resolver's 1-second clock "
                        "and one request timeout)")
    p.add_argument("--interval", type=parse_duration, default=1.0,
                   help="monitor interval (default 1s)")
    p.add_argument("--fall", type=int, default=2, help="monitor fall (default 2)")
    p.add_argument("--rise", type=int, default=3, help="monitor rise (default 3)")
    p.add_argument("--probe-timeout", type=parse_duration, default=1.0,
                   help="monitor timeout (default 1s)")
    p.add_argument("--hold-down", type=parse_duration, default=60.0,
                   help="monitor hold_down (default 60s, gtmd's default)")
    p.add_argument("--slow-start", type=parse_duration, default=60.0,
                   help="pools' slow_start (default 60s)")
    p.add_argument("--one-pool", action="store_true",
                   help="put every region in one pool as members weighted like the regions "
                        "(default: one pool per region, as DESIGN.md models regions)")
    p.add_argument("--max-answers", type=int, default=1,
                   help="balancer max_answers (default 1); with more, the client falls back to "
                        "the next address when a connect fails, as most HTTP clients do")
    p.add_argument("--timeout", type=parse_duration, default=1.0,
                   help="per-request timeout: resolution, connect and answer (default 1s)")
    p.add_argument("--no-keepalive", action="store_true",
                   help="one connection per request (default: HTTP/1.1 keep-alive, as fortio)")
    p.add_argument("--first-address", type=loopback, default="127.0.0.101",
                   help="region N listens on this address + N-1 (default 127.0.0.101)")
    p.add_argument("--port", type=int, default=0,
                   help="the gateways' HTTP port (default: a free random port)")
    p.add_argument("--seed", type=int, default=None, help="seed for the fault-time offset")
    p.add_argument("--workdir", default=None,
                   help="where configs, logs, the database and the records go (default: a new "
                        "/tmp dir, kept)")
    p.add_argument("--gtmd", default=None,
                   help="gtmd binary (default $GTMD_BIN, else build/dev/gtmd/gtmd or "
                        "build/release/gtmd/gtmd, whichever exists first, else the release "
                        "preset is built: scripts/build release gtmd)")
    p.add_argument("--gateway", default=os.environ.get("GTM_TEST_GATEWAY", DEFAULT_GATEWAY),
                   help="gateway program (default tests/gateway/gtm-test-gateway)")
    p.add_argument("--unbound", default=shutil.which("unbound") or "/usr/sbin/unbound",
                   help="unbound binary")
    p.add_argument("--nodes", type=int, default=1,
                   help="gtmd nodes, 1-9 (default 1: one gtmd on sqlite). With more, a 3-member "
                        "etcd (Debian's etcd, loopback) and N gtmd nodes in cluster mode, each "
                        "probing from its own 127.0.1.n address; unbound's stub zones list "
                        "every node")
    p.add_argument("--victim-node", type=int, default=None,
                   help="node-down: which node (1-based) is killed (default: the node unbound "
                        "asked last)")
    p.add_argument("--lease-ttl", type=parse_duration, default=5.0,
                   help="with --nodes: cluster.lease_ttl (default 5s): a dead node's votes "
                        "vanish this long after it died")
    g = p.add_argument_group(
        "region-degraded",
        "The region's gateway answers its health path 200 but fails a share of its application "
        "requests. One gtmd serves two names over the same regions: bookinfo.gtm.test judged by "
        "the http probe and a promql monitor of each gateway's 5xx ratio (combine: all), "
        "bookinfo-http.gtm.test by the http probe alone; a client of each sends application "
        "requests at --rate, and a real Prometheus (Debian's) scrapes the gateways every second. "
        "The report compares the two: when the region left the answers after the errors began, "
        "when it came back after they stopped, and the errors each client saw.")
    g.add_argument("--error-rate", type=float, default=0.3,
                   help="share of the region's application requests answered 503 during the "
                        "fault (default 0.3)")
    g.add_argument("--error-threshold", type=float, default=0.1,
                   help="the promql monitor's fail_if: a 5xx ratio above this fails (default "
                        "0.1)")
    g.add_argument("--promql-window", type=parse_duration, default=5.0,
                   help="the rate() window of the promql query (default 5s; Prometheus scrapes "
                        "every 1s)")
    g.add_argument("--region-rate", type=float, default=10.0,
                   help="requests per second sent straight to each region's gateway, whatever "
                        "DNS answers: the rest of the region's traffic, which its error ratio "
                        "is measured on while the clients avoid it (default 10; 0: none — a "
                        "region without traffic reads 0/0, which passes)")
    g.add_argument("--prometheus", default=DEFAULT_PROMETHEUS,
                   help=f"Prometheus binary (default {DEFAULT_PROMETHEUS})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-timeline", action="store_true",
                   help="leave the per-second timeline out of the printed report (JSON keeps it)")
    a = p.parse_args(argv)
    if not 2 <= a.regions <= 8:
        p.error("--regions must be 2-8")
    if not 1 <= a.nodes <= 9:
        p.error("--nodes must be 1-9")
    if a.scenario == "node-down" and a.nodes < 2:
        p.error("node-down needs --nodes 2 or more")
    if a.scenario == "region-degraded" and a.nodes > 1:
        p.error("region-degraded runs one gtmd (no --nodes)")
    if not 0.0 < a.error_rate <= 1.0:
        p.error("--error-rate must be in (0, 1]")
    if not 0.0 <= a.error_threshold < 1.0:
        p.error("--error-threshold must be in [0, 1)")
    if not 2.0 <= a.promql_window <= 600.0:
        p.error("--promql-window must be 2s-10m (Prometheus scrapes every second)")
    if a.region_rate < 0 or a.region_rate > 500:
        p.error("--region-rate must be in [0, 500]")
    if a.victim_node is not None and not 1 <= a.victim_node <= a.nodes:
        p.error("--victim-node must name one of the nodes")
    if not 2.0 <= a.lease_ttl <= 300.0:
        p.error("--lease-ttl must be 2s-5m")
    if a.victim is not None and not 1 <= a.victim <= a.regions:
        p.error("--victim must name one of the regions")
    if a.rate <= 0 or a.rate > 2000:
        p.error("--rate must be in (0, 2000]")
    if a.duration <= 0 or a.duration > 3600:
        p.error("--duration must be in (0, 3600] seconds")
    if a.ttl < 0 or a.ttl > 3600:
        p.error("--ttl must be 0-3600")
    if a.timeout <= 0 or a.timeout > 30:
        p.error("--timeout must be in (0, 30] seconds")
    if a.weights is None:
        a.weights = [50] * a.regions
    else:
        try:
            a.weights = [int(w) for w in a.weights.split(",")]
        except ValueError:
            p.error("--weights: integers, comma-separated")
        if len(a.weights) != a.regions:
            p.error(f"--weights needs {a.regions} values")
    last = ipaddress.ip_address(a.first_address) + (a.regions - 1)
    if not last.is_loopback:
        p.error("the region addresses must stay in 127.0.0.0/8")
    rng = random.Random(a.seed)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 30)
        rng = random.Random(a.seed)
    returns = a.scenario in ("recover", "region-degraded")
    if a.fault_at is None:
        base = a.duration / 5 if returns else a.duration / 2
        a.fault_at = round(base + rng.uniform(0, max(a.ttl, 1)), 2)
    if returns and a.return_at is None:
        a.return_at = a.duration / 2
    if a.return_at is not None and a.return_at <= a.fault_at:
        p.error("--return-at must come after --fault-at")
    if a.fault_at >= a.duration:
        p.error("--fault-at must fall inside the duration")
    if a.drain_wait is None:
        a.drain_wait = a.ttl + 2.0
    return a


def parse_analyse_args(argv):
    p = argparse.ArgumentParser(
        prog="drill analyse",
        description="The report of a finished drill, again, from its saved records (the "
                    "records.json in the drill's workdir, or its --records file): the same "
                    "printed report and the same --json document as the run itself. Offline: "
                    "nothing is started or sent.")
    p.add_argument("records", help="a records file written by scripts/drill")
    p.add_argument("--json", dest="json_file", default=None, help="write the JSON report here")
    p.add_argument("--timeline", action=argparse.BooleanOptionalAction, default=None,
                   help="print the per-second timeline or not (default: as the run did)")
    return p.parse_args(argv)


def write_json(path, report):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, path)


def main_analyse(argv):
    a = parse_analyse_args(argv)
    try:
        rec = Records.load(a.records)
    except (OSError, ValueError, KeyError, TypeError) as e:
        log(f"error: cannot read {a.records}: {e}")
        return 2
    if a.timeline is not None:
        rec.args.no_timeline = not a.timeline
    report = analyse(rec)
    print(report_text(rec, report))
    if a.json_file:
        write_json(a.json_file, report)
    return 3 if report["problems"] else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["analyse"], ["analyze"]):
        return main_analyse(argv[1:])
    args = parse_args(argv)
    for ip in [str(ipaddress.ip_address(args.first_address) + i) for i in range(args.regions)]:
        loopback(ip)
    drill = Drill(args)
    atexit.register(drill.env.cleanup)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    code = 0
    rec = report = None
    try:
        args.gtmd, how = find_gtmd(args.gtmd)
        log(f"gtmd binary: {args.gtmd} ({how})")

        async def go():
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(s, task.cancel)
            await drill.run()
        asyncio.run(go())
        rec = drill.records()
        report = analyse(rec)
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: cleaning up")
        code = 130
    except DrillError as e:
        log(f"error: {e}")
        code = 2
    finally:
        drill.env.cleanup()
    if report is not None:
        path = args.records_file or os.path.join(drill.workdir, RECORDS_FILE)
        try:
            rec.save(path)
            if not args.quiet:
                log(f"records: {path} (scripts/drill analyse {path} prints this report again)")
        except OSError as e:
            log(f"could not write the records to {path}: {e}")
        print(report_text(rec, report))
        if args.json_file:
            write_json(args.json_file, report)
        if report["problems"]:
            code = 3
    return code
