"""The watchers: while the load runs they record what a new resolution through unbound returns
(5 a second), what gtmd itself answers (10 a second) and gtmd's live answer table (4 a second,
kept when it changes), and stop the drill when gtmd or unbound exits. Their records are the
"dead address gone" and "gtmd stopped answering it" figures' raw material."""

import asyncio

from .common import NAME, DrillError
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


async def watch_gtmd_table(drill, stop):
    """gtmd's live answer table (members and shares) four times a second."""
    last = None
    while not stop.is_set():
        try:
            table, mode = await drill.env.gtmd.table()
            t = drill.now()
            key = (tuple(sorted((k, round(v, 4)) for k, v in table.items())), mode)
            if key != last:
                drill.tables.append((t, table, mode))
                last = key
        except (OSError, asyncio.TimeoutError, DrillError, ValueError):
            drill.watch_errors["gtmd_api"] += 1
        await asyncio.sleep(0.25)


async def watch_processes(drill, stop):
    """gtmd and unbound must live through the drill."""
    env = drill.env
    while not stop.is_set():
        for name, proc in (("gtmd", env.gtmd.proc), ("unbound", env.unbound.proc)):
            if proc.poll() is not None:
                msg = f"{name} exited with code {proc.returncode} during the drill"
                drill.problems.append(msg)
                drill.event("error", msg)
                stop.set()
                return
        await asyncio.sleep(0.5)


WATCHERS = (watch_unbound, watch_gtmd_dns, watch_gtmd_table, watch_processes)
