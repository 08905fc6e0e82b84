"""The scenarios: what happens to the victim region at the fault and at its return.

run() is the scenario's timeline inside a drill: at --fault-at it picks the victim (the region
the client is using then, or --victim, waiting for a random moment at which the client uses it
unless --fault-anytime), injects the fault, and at --return-at (moved with the fault when the
fault waited) brings the region back. Each step is a drill event ("wait", "fault", "stop",
"return"), which the analysis reads the fault and return times from."""

import asyncio
import random

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


SCENARIOS = {s.name: s for s in (RegionDown, RegionBlackhole, RegionHang, Recover, PlannedDrain)}


async def run(drill):
    """The scenario's timeline in a running drill (sets drill.victim)."""
    a = drill.args
    regions = drill.env.regions
    scenario = SCENARIOS[a.scenario]()
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
