"""The raw records of one drill: what the load client and the watchers saw, with the set-up
needed to read them. The analysis and the report work from these alone. Times are seconds from
the start of the load."""

import argparse
from dataclasses import dataclass, field


@dataclass
class RegionInfo:
    name: str
    address: str
    port: int
    weight: int
    pool: str


@dataclass
class Records:
    args: argparse.Namespace  # the command line, defaults resolved (fault time, seed, ...)
    regions: list  # [RegionInfo]
    victim: str = None  # the name of the region faulted, None if the fault never came
    resolver_port: int = None  # unbound's
    gtmd_dns_port: int = None
    workdir: str = None
    sockets_opened: int = 0
    late_ticks: int = 0
    watch_errors: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    health_events: list = field(default_factory=list)  # gtmd's verdict changes (dicts)
    events: list = field(default_factory=list)  # (t, kind, detail)
    tables: list = field(default_factory=list)  # (t, {address: share}, mode) when it changed
    gtmd_answers: list = field(default_factory=list)  # (t, [addresses]): gtmd's own answers
    resolutions: list = field(default_factory=list)  # (t, client|unbound, [addrs], ttl, outcome)
    requests: list = field(default_factory=list)  # (t due, address, code, latency, t_end)

    def victim_region(self):
        """The faulted region (or, if the fault never came, the one it would have hit)."""
        for r in self.regions:
            if r.name == self.victim:
                return r
        return self.regions[(self.args.victim or 1) - 1]
