"""One drill: the environment set up, then the load, the watchers and the scenario run together
for the duration; gtmd's health events collected; gtmd stopped (it must exit 0 on SIGTERM).
records() hands everything measured to the analysis.

region-degraded runs three loads at once: the client of NAME (http + promql), the client of
HTTP_NAME (http alone), both sending application requests at --rate through the same unbound,
and --region-rate requests a second straight to each region's gateway."""

import asyncio
import os
import signal
import tempfile
import time

from . import scenarios, watchers
from .common import APP_PATH, HTTP_NAME, NAME, PATH, log
from .environment import Environment
from .load import ClientResolver, LoadClient, RegionResolver
from .records import RegionInfo, Records


class Drill:
    def __init__(self, args):
        self.args = args
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="gtm-drill-")
        os.makedirs(self.workdir, exist_ok=True)
        self.env = Environment(args, self.workdir)
        self.t0 = None
        self.wall_t0 = None
        self.events = []  # (t, kind, detail)
        self.resolutions = []  # (t, source, [addrs] or None, ttl, outcome)
        self.tables = []  # (t, {addr: share}, mode)
        self.gtmd_answers = []  # (t, [addrs]) direct DNS queries to gtmd
        self.health_events = []
        self.watch_errors = {"unbound": 0, "gtmd_dns": 0, "gtmd_api": 0}
        self.problems = []  # gtmd (or setup) problems seen, reported at the end
        self.client = None
        self.victim = None  # chosen at the fault time
        self.victim_node = None  # node-down: the node killed
        # --nodes N > 1 (records.CLUSTER_COLUMNS)
        self.node_answers = []
        self.node_tables = []
        self.node_queries = []
        self.node_vantages = []
        self.lookups = []
        # region-degraded (records.DEGRADED_COLUMNS)
        self.http_tables = []
        self.http_client = None
        self.region_clients = []

    # -- bookkeeping -----------------------------------------------------------------------

    def now(self):
        return asyncio.get_running_loop().time() - self.t0 if self.t0 is not None else 0.0

    def event(self, kind, detail):
        t = self.now()
        self.events.append((t, kind, detail))
        if not self.args.quiet:
            log(f"t={t:7.2f}s {kind}: {detail}")
        return t

    def record_resolution(self, source, addrs, ttl, outcome):
        if self.t0 is None:
            return
        self.resolutions.append((self.now(), source, addrs, ttl, outcome))

    def record_lookup(self, start, latency, outcome):
        if self.t0 is not None:
            self.lookups.append((start - self.t0, latency, outcome))

    async def sleep_until(self, t):
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- run -----------------------------------------------------------------------------------

    async def run(self):
        a = self.args
        env = self.env
        await env.setup()
        vname = "the region in use" if a.victim is None else env.regions[a.victim - 1].name
        if a.scenario == "node-down":
            vname = (f"ns{a.victim_node}" if a.victim_node else
                     "the gtmd node unbound uses most")
        if not a.quiet:
            log("regions: " + ", ".join(f"{r.name} {r.address}:{r.port} (weight {r.weight})"
                                         for r in env.regions))
            if env.nodes:
                log("gtmd nodes on etcd " + ", ".join(env.cluster.local.etcd.urls) + ": "
                    + "; ".join(f"{g.name} DNS 127.0.0.1:{g.dns_port} API 127.0.0.1:"
                                f"{g.http_port} probes from {g.node.source}" for g in env.nodes))
                log(f"unbound 127.0.0.1:{env.unbound.port} (its stub zones list every node); "
                    f"workdir {self.workdir}")
            else:
                log(f"gtmd: DNS 127.0.0.1:{env.gtmd.dns_port}, API 127.0.0.1:{env.gtmd.http_port}; "
                    f"unbound 127.0.0.1:{env.unbound.port}; workdir {self.workdir}")
            log(f"{a.scenario}: {a.rate:g} req/s for {a.duration:g}s, TTL {a.ttl}s, fault on "
                f"{vname} at t={a.fault_at:g}s"
                + (f", return at t={a.return_at:g}s" if a.return_at is not None else ""))
            if env.prometheus is not None:
                log(f"Prometheus {env.prometheus.url} scrapes the gateways every 1s; {NAME}: http "
                    f"+ promql (5xx ratio over {a.promql_window:g}s > {a.error_threshold:g}, "
                    f"combine all), {HTTP_NAME}: http alone; a client of each at {a.rate:g} "
                    f"req/s, and {a.region_rate:g} req/s straight to each region")
        if (a.return_at is not None and a.scenario in ("recover", "region-down", "region-degraded")
                and a.return_at - a.fault_at < a.hold_down + a.interval * a.fall + 2):
            log(f"note: hold_down {a.hold_down:g}s keeps {vname} out until about "
                f"t={a.fault_at + a.interval * a.fall + a.hold_down:.0f}s")
        loop = asyncio.get_running_loop()
        resolver = ClientResolver(self.record_resolution, "127.0.0.1", env.unbound.port,
                                  self.record_lookup if env.nodes else None)
        degraded = a.scenario == "region-degraded"
        port = env.regions[0].port
        self.client = LoadClient(a, port, resolver, path=APP_PATH if degraded else PATH)
        loads = [self.client]
        if degraded:
            self.http_client = LoadClient(
                a, port, ClientResolver(lambda *x: None, "127.0.0.1", env.unbound.port,
                                        name=HTTP_NAME), path=APP_PATH, name=HTTP_NAME)
            self.region_clients = [LoadClient(a, port, RegionResolver(r.address),
                                              rate=a.region_rate, path=APP_PATH)
                                   for r in env.regions] if a.region_rate > 0 else []
            loads += [self.http_client] + self.region_clients
        stop = asyncio.Event()
        self.t0 = loop.time() + 0.2
        self.wall_t0 = time.time() + (self.t0 - loop.time())
        watching = [asyncio.ensure_future(w(self, stop)) for w in
                    (watchers.CLUSTER_WATCHERS if env.nodes else
                     watchers.DEGRADED_WATCHERS if degraded else watchers.WATCHERS)]
        scen = asyncio.ensure_future(scenarios.run(self))
        progress = asyncio.ensure_future(self.progress(stop))
        try:
            load = asyncio.ensure_future(asyncio.gather(
                *(c.run(self.t0, a.duration, stop) for c in loads)))
            done, _ = await asyncio.wait([load, scen], return_when=asyncio.FIRST_EXCEPTION)
            if scen in done and scen.exception() is not None:
                stop.set()
                await asyncio.wait([load], timeout=a.timeout + 6)
                raise scen.exception()
            await load
        finally:
            stop.set()
            if not scen.done():
                scen.cancel()
            for w in watching + [progress]:
                w.cancel()
            await asyncio.gather(*watching, progress, scen, return_exceptions=True)
            for c in loads:
                c.close()
        await self.collect_events()
        # gtmd must stop cleanly on SIGTERM (every node the scenario did not kill)
        if env.nodes:
            for g in env.nodes:
                if g.expected_dead:
                    continue
                code = env.res.stop(g.proc, signal.SIGTERM, wait=15.0)
                if code != 0:
                    self.problems.append(f"gtmd {g.name} exited with code {code} on SIGTERM "
                                         "(expected 0)")
            return
        code = env.res.stop(env.gtmd.proc, signal.SIGTERM, wait=15.0)
        if code != 0:
            self.problems.append(f"gtmd exited with code {code} on SIGTERM (expected 0)")

    async def progress(self, stop):
        if self.args.quiet:
            return
        last = 0
        while not stop.is_set():
            await asyncio.sleep(10.0)
            res = self.client.results
            n = len(res)
            errs = sum(1 for r in res if r[2] != "200")
            log(f"t={self.now():7.1f}s {n} calls, {errs} errors, +{n - last} in the last 10s")
            last = n

    async def collect_events(self):
        """gtmd's health events for the region addresses (verdict changes with reasons)."""
        self.health_events = []
        g = next((x for x in self.env.nodes if not x.expected_dead), self.env.gtmd)
        try:
            status, obj = await g.api("GET", "/events?type=verdict&limit=1000")
            if status == 200:
                for e in obj.get("events", []):
                    t = e["at_ms"] / 1000.0 - self.wall_t0
                    self.health_events.append({"t": round(t, 3), "address": e["address"],
                                               "monitor": e.get("monitor"),
                                               "from": e["from"], "to": e["to"],
                                               "reason": e["reason"], "detail": e["detail"]})
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            self.problems.append(f"could not read /api/v1/events: {e}")

    # -- what it measured ------------------------------------------------------------------------

    def records(self):
        env = self.env
        return Records(
            args=self.args,
            regions=[RegionInfo(r.name, r.address, r.port, r.weight, r.pool)
                     for r in env.regions],
            victim=self.victim.name if self.victim is not None else None,
            resolver_port=env.unbound.port,
            gtmd_dns_port=env.gtmd.dns_port,
            workdir=self.workdir,
            sockets_opened=self.client.sockets_opened,
            late_ticks=self.client.late_ticks,
            watch_errors=self.watch_errors,
            problems=self.problems,
            health_events=self.health_events,
            events=self.events,
            tables=self.tables,
            gtmd_answers=self.gtmd_answers,
            resolutions=self.resolutions,
            requests=self.client.results,
            nodes=[{"name": g.name, "source": g.node.source, "dns": g.dns_port,
                    "http": g.http_port} for g in env.nodes],
            victim_node=self.victim_node,
            node_answers=self.node_answers,
            node_tables=self.node_tables,
            node_queries=self.node_queries,
            node_vantages=self.node_vantages,
            lookups=self.lookups,
            prometheus_port=env.prometheus.port if env.prometheus is not None else None,
            http_requests=self.http_client.results if self.http_client is not None else [],
            http_tables=self.http_tables,
            region_requests=sorted((r for c in self.region_clients for r in c.results),
                                   key=lambda r: r[0]),
        )
