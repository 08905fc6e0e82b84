"""The watchers: while the load runs they record what a new resolution through unbound returns
(5 a second), what gtmd itself answers (10 a second) and gtmd's live answer table (4 a second,
kept when it changes), and stop the drill when gtmd or unbound exits. Their records are the
"dead address gone" and "gtmd stopped answering it" figures' raw material. With --nodes N > 1
the CLUSTER_WATCHERS watch every node instead (records.CLUSTER_COLUMNS); region-degraded adds
the table of the second name (HTTP_NAME, the http monitor alone)."""

import asyncio

from .common import HTTP_NAME, NAME, DrillError
from .net import dns, dns_query


async def watch_unbound(drill, stop):
    """What a new resolution through unbound returns, five times a second."""
    while not stop.is_set():
        try:
            rcode, addrs, ttl = await dns_query("127.0.0.1", drill.env.unbound.port, NAME, 1.0)
            drill.record_resolution("unbound", addrs if rcode == 0 else [], ttl,
                                    "ok" if rcode == 0 else dns.rcode.to_text(rcode))
        except (dns.exception.DNSException, OSError):
            drill.watch_errors["unbound"] += 1
        await asyncio.sleep(0.2)


async def watch_gtmd_dns(drill, stop):
    """What gtmd itself answers, ten times a second (its answers are drawn at random)."""
    while not stop.is_set():
        try:
            t = drill.now()
            q = dns.message.make_query(NAME, "A", flags=0)
            r = await dns.asyncquery.udp(q, "127.0.0.1", timeout=1.0,
                                         port=drill.env.gtmd.dns_port, ignore_unexpected=True)
            addrs = [rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
                     for rd in rrset]
            drill.gtmd_answers.append((t, addrs))
        except (dns.exception.DNSException, OSError):
            drill.watch_errors["gtmd_dns"] += 1
        await asyncio.sleep(0.1)


async def watch_gtmd_table(drill, stop, name=NAME, into=None):
    """gtmd's live answer table (members and shares) of `name` four times a second, appended to
    `into` (drill.tables) when it changed."""
    into = drill.tables if into is None else into
    last = None
    while not stop.is_set():
        try:
            table, mode = await drill.env.gtmd.table(name)
            t = drill.now()
            key = (tuple(sorted((k, round(v, 4)) for k, v in table.items())), mode)
            if key != last:
                into.append((t, table, mode))
                last = key
        except (OSError, asyncio.TimeoutError, DrillError, ValueError):
            drill.watch_errors["gtmd_api"] += 1
        await asyncio.sleep(0.25)


async def watch_http_table(drill, stop):
    """region-degraded: the answer table of HTTP_NAME (the same regions, http monitor alone)."""
    await watch_gtmd_table(drill, stop, HTTP_NAME, drill.http_tables)


async def watch_processes(drill, stop):
    """gtmd (every node but one the scenario killed), etcd and unbound must live through the
    drill."""
    env = drill.env
    while not stop.is_set():
        procs = [("gtmd", env.gtmd.proc), ("unbound", env.unbound.proc)]
        if env.prometheus is not None:
            procs.append(("prometheus", env.prometheus.proc))
        if env.nodes:
            procs = ([(f"gtmd {g.name}", g.proc) for g in env.nodes if not g.expected_dead]
                     + env.cluster.etcd_procs() + [("unbound", env.unbound.proc)])
        for name, proc in procs:
            if proc.poll() is not None:
                msg = f"{name} exited with code {proc.returncode} during the drill"
                drill.problems.append(msg)
                drill.event("error", msg)
                stop.set()
                return
        await asyncio.sleep(0.5)


# --- --nodes N > 1 ------------------------------------------------------------------------------


async def tcp_answers(port, timeout):
    q = dns.message.make_query(NAME, "A", flags=0)
    r = await dns.asyncquery.tcp(q, "127.0.0.1", timeout=timeout, port=port)
    return [rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset]


async def watch_nodes_dns(drill, stop):
    """What every node answers, ten times a second each, over TCP (so that the nodes' UDP query
    counters count unbound's queries only); node 1's answers are also the single-node series."""
    nodes = drill.env.nodes
    while not stop.is_set():
        t = drill.now()

        async def one(g):
            if g.expected_dead:
                return g, None
            try:
                return g, await tcp_answers(g.dns_port, 1.0)
            except (dns.exception.DNSException, OSError, EOFError):
                return g, None
        for g, addrs in await asyncio.gather(*(one(g) for g in nodes)):
            if g.expected_dead:
                continue
            drill.node_answers.append((t, g.name, addrs))
            if g is nodes[0]:
                if addrs is None:
                    drill.watch_errors["gtmd_dns"] += 1
                else:
                    drill.gtmd_answers.append((t, addrs))
        await asyncio.sleep(0.1)


async def watch_nodes_state(drill, stop):
    """Every node's answer table (4 a second, kept when it changes; node 1's is also the
    single-node series), the UDP queries it answered (unbound's, kept when they change) and the
    vantages it counts (kept when they change)."""
    nodes = drill.env.nodes
    last = {}
    while not stop.is_set():
        for g in nodes:
            if g.expected_dead:
                continue
            try:
                table, mode = await g.table()
                t = drill.now()
                key = (tuple(sorted((k, round(v, 4)) for k, v in table.items())), mode)
                if key != last.get((g.name, "table")):
                    drill.node_tables.append((t, g.name, table, mode))
                    if g is nodes[0]:
                        drill.tables.append((t, table, mode))
                    last[(g.name, "table")] = key
                q = await g.resolver_queries()
                if q != last.get((g.name, "queries")):
                    drill.node_queries.append((drill.now(), g.name, q))
                    last[(g.name, "queries")] = q
                v = await g.vantages()
                if v != last.get((g.name, "vantages")):
                    drill.node_vantages.append((drill.now(), g.name, v))
                    last[(g.name, "vantages")] = v
            except (OSError, asyncio.TimeoutError, DrillError, ValueError, KeyError):
                if g is nodes[0]:
                    drill.watch_errors["gtmd_api"] += 1
        await asyncio.sleep(0.25)


WATCHERS = (watch_unbound, watch_gtmd_dns, watch_gtmd_table, watch_processes)
DEGRADED_WATCHERS = WATCHERS + (watch_http_table,)
CLUSTER_WATCHERS = (watch_unbound, watch_nodes_dns, watch_nodes_state, watch_processes)
