"""The scenarios: what happens to the victim region (node-down: gtmd node) at the fault and at
its return.

run() is the scenario's timeline inside a drill: at --fault-at it picks the victim (the region
the client is using then, or --victim, waiting for a random moment at which the client uses it
unless --fault-anytime; node-down: --victim-node or the node unbound asked last), injects the
fault, and at --return-at (moved with the fault when the fault waited) brings it back. Each step is a drill event ("wait", "fault", "stop",
"return"), which the analysis reads the fault and return times from."""

import asyncio
import random
import signal

from .common import DrillError


class Scenario:
    name = None

    async def fault(self, drill, v):
        """Injects the fault on region v; returns the time of the "fault" event."""
        raise NotImplementedError

    async def back(self, drill, v):
        """Brings region v back (at --return-at)."""
        raise NotImplementedError


class RegionDown(Scenario):
    """The region's gateway is killed (SIGKILL): connections are refused, kept-alive ones
    reset; --return-at starts it again on the same address."""
    name = "region-down"

    async def fault(self, drill, v):
        await v.kill()
        return drill.event("fault", f"gateway of {v.name} ({v.address}) killed (SIGKILL)")

    async def back(self, drill, v):
        await v.start()
        drill.event("return", f"gateway of {v.name} ({v.address}) started again")


class Recover(RegionDown):
    """As region-down, and the region returns (by default at half the duration)."""
    name = "recover"


class RegionBlackhole(Scenario):
    """An nft table of the drill's own drops TCP to and from the region's address and port:
    probes and clients time out instead of being refused."""
    name = "region-blackhole"

    async def fault(self, drill, v):
        res = drill.env.res
        res.nft_create([f"ip daddr {v.address} tcp dport {v.port} drop",
                        f"ip saddr {v.address} tcp sport {v.port} drop"])
        return drill.event("fault", f"nft table inet {res.nft_table} drops TCP to "
                                    f"and from {v.address}:{v.port}")

    async def back(self, drill, v):
        drill.env.res.nft_remove()
        drill.event("return", f"nft drop rules for {v.address} removed")


class RegionHang(Scenario):
    """The gateway keeps accepting and reading requests but never answers."""
    name = "region-hang"

    async def fault(self, drill, v):
        await v.set_mode("hang")
        return drill.event("fault", f"gateway of {v.name} ({v.address}) accepts and "
                                    f"never answers")

    async def back(self, drill, v):
        await v.set_mode("ok")
        drill.event("return", f"gateway of {v.name} answers again")


class PlannedDrain(Scenario):
    """The member is drained through the API; --drain-wait later its gateway is stopped
    (SIGTERM). Goal: zero errors."""
    name = "planned-drain"

    async def fault(self, drill, v):
        a = drill.args
        status, obj = await drill.env.gtmd.api(
            "PUT", f"/pools/{v.pool}/members/{v.address}/admin", {"admin": "drain"})
        if status != 200:
            drill.problems.append(f"drain via the API answered {status}: {obj}")
            raise DrillError(f"drain failed: {status} {obj}")
        fault_t = drill.event("fault", f"{v.name} member {v.address} drained via the API")
        await asyncio.sleep(a.drain_wait)
        code = await v.stop()
        drill.event("stop", f"gateway of {v.name} stopped (SIGTERM, exit {code}) "
                            f"{a.drain_wait:.1f}s after the drain")
        return fault_t

    async def back(self, drill, v):
        await v.start()
        status, obj = await drill.env.gtmd.api(
            "PUT", f"/pools/{v.pool}/members/{v.address}/admin", {"admin": "auto"})
        if status != 200:
            drill.problems.append(f"undrain via the API answered {status}: {obj}")
        drill.event("return", f"gateway of {v.name} started and the member undrained")


class RegionDegraded(Scenario):
    """The region's gateway answers its health path 200 but fails --error-rate of its
    application requests (503), until --return-at. Two configurations judge it in the same run:
    NAME by the http probe and the promql error ratio (combine: all), HTTP_NAME by the http
    probe alone, which cannot see it."""
    name = "region-degraded"

    async def fault(self, drill, v):
        rate = drill.args.error_rate
        await v.set_app_error_rate(rate)
        return drill.event("fault", f"gateway of {v.name} ({v.address}) fails {rate:.0%} of its "
                                    f"application requests; its health path answers 200")

    async def back(self, drill, v):
        await v.set_app_error_rate(0.0)
        drill.event("return", f"gateway of {v.name} answers every application request again")


class NodeDown(Scenario):
    """--nodes N > 1: one gtmd node is killed (SIGKILL) under load. Every region stays up; the
    resolver's query to the dead nameserver fails and it asks another: no client error is
    expected. --return-at starts the node again. The victim is --victim-node, else the node
    unbound asked last (from the nodes' UDP query counters)."""
    name = "node-down"

    async def fault(self, drill, g):
        g.expected_dead = True
        await drill.env.res.astop(g.proc, signal.SIGKILL)
        return drill.event("fault", f"gtmd node {g.name} (DNS 127.0.0.1:{g.dns_port}) killed "
                                    "(SIGKILL)")

    async def back(self, drill, g):
        await g.restart()
        drill.event("return", f"gtmd node {g.name} started again")


SCENARIOS = {s.name: s for s in (RegionDown, RegionBlackhole, RegionHang, Recover, PlannedDrain,
                                 NodeDown, RegionDegraded)}


def node_in_use(drill):
    """The node unbound asked last (its UDP query counter changed last), else node 1."""
    nodes = drill.env.nodes
    changed = {}
    first = {}
    for t, name, q in drill.node_queries:
        if name not in first:
            first[name] = q
        elif q != first[name]:
            changed[name] = t
    if not changed:
        return nodes[0]
    last = max(changed, key=changed.get)
    return next(g for g in nodes if g.name == last)


async def run_node_down(drill, scenario):
    a = drill.args
    await drill.sleep_until(a.fault_at)
    nodes = drill.env.nodes
    g = nodes[a.victim_node - 1] if a.victim_node else node_in_use(drill)
    drill.victim_node = g.name
    fault_t = await scenario.fault(drill, g)
    if a.return_at is not None:
        await drill.sleep_until(a.return_at + max(0.0, fault_t - a.fault_at))
        await scenario.back(drill, g)


async def run(drill):
    """The scenario's timeline in a running drill (sets drill.victim)."""
    a = drill.args
    regions = drill.env.regions
    scenario = SCENARIOS[a.scenario]()
    if a.scenario == "node-down":
        return await run_node_down(drill, scenario)
    await drill.sleep_until(a.fault_at)
    resolver = drill.client.resolver
    if a.victim is None:
        # the region the client is using now (the fault time is random)
        in_use = [r for r in regions if resolver.addrs and r.address == resolver.addrs[0]]
        v = drill.victim = in_use[0] if in_use else regions[0]
    else:
        v = drill.victim = regions[a.victim - 1]
    if a.victim is not None and a.fault_when_used:
        # a random moment at which the client's answer is the victim's: random delays until one
        # lands in such a moment (not the first moment it is: that would always hit the start of
        # a cache period, the worst case)
        rng = random.Random(a.seed + 1)
        deadline = drill.now() + 60.0
        while drill.now() < deadline:
            if resolver.addrs and v.address == resolver.addrs[0]:
                break
            await asyncio.sleep(rng.uniform(0.05, a.ttl + 1.0))
        used = bool(resolver.addrs and v.address == resolver.addrs[0])
        drill.event("wait", (f"the client's answer is {v.address}" if used else
                             f"the client did not use {v.address} within 60s")
                    + f" ({drill.now() - a.fault_at:.2f}s after --fault-at)")
    fault_t = await scenario.fault(drill, v)
    if a.return_at is not None:
        # the outage lasts --return-at minus --fault-at, also when the fault waited
        await drill.sleep_until(a.return_at + max(0.0, fault_t - a.fault_at))
        await scenario.back(drill, v)
