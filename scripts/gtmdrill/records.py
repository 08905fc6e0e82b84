"""The raw records of one drill: what the load client and the watchers saw, with the set-up
needed to read them. The analysis and the report work from these alone, so a run saved with
save() can be analysed again offline: `scripts/drill analyse records.json`.

The file is JSON: a header (format, version, the drill's resolved command line as `args`, the
regions, the victim, ports, workdir, counters; with --nodes N > 1 also the nodes and the node
killed; region-degraded also its Prometheus's port) and one row per line for the series, with
their columns named under `columns` (and `cluster_columns`, `degraded_columns`). Times are
seconds from the start of the load, floats kept at full precision so that the analysis of a
loaded file equals the live one."""

import argparse
import json
import os
from dataclasses import asdict, dataclass, field

FORMAT = "gtm-drill-records"
VERSION = 1

# the series, their columns (one row per entry)
COLUMNS = {
    "events": ["t", "kind", "detail"],
    "tables": ["t", "shares", "mode"],  # gtmd's live answer table, when it changed
    "gtmd_answers": ["t", "addresses"],  # gtmd's own DNS answers (the watcher)
    "resolutions": ["t", "source", "addresses", "ttl", "outcome"],  # source: client | unbound
    "requests": ["t", "address", "code", "latency", "t_end"],  # t: when it was due
}
# with --nodes N > 1 only (absent from a single-node drill's file): each node's own DNS answers
# (None: no answer), its answer table when it changed, the queries it answered that did not come
# from the drill's own watcher (so: from unbound) as a running total, the vantages whose votes it
# counts when they changed; and every resolution the client made, with its latency.
CLUSTER_COLUMNS = {
    "node_answers": ["t", "node", "addresses"],
    "node_tables": ["t", "node", "shares", "mode"],
    "node_queries": ["t", "node", "resolver_queries"],
    "node_vantages": ["t", "node", "vantages"],
    "lookups": ["t", "latency", "outcome"],
}
# region-degraded only (absent from the other scenarios' files): the requests of the client that
# resolves HTTP_NAME (the http monitor alone), that name's answer table when it changed, and the
# requests sent straight to each region's gateway (the traffic its error ratio is measured on).
# The main series (requests, tables, resolutions, gtmd_answers) are NAME's: http + promql.
DEGRADED_COLUMNS = {
    "http_requests": ["t", "address", "code", "latency", "t_end"],
    "http_tables": ["t", "shares", "mode"],
    "region_requests": ["t", "address", "code", "latency", "t_end"],
}


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
    events: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    gtmd_answers: list = field(default_factory=list)
    resolutions: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    # --nodes N > 1: [{"name", "source", "dns", "http"}], the node killed (node-down), and the
    # CLUSTER_COLUMNS series
    nodes: list = field(default_factory=list)
    victim_node: str = None
    node_answers: list = field(default_factory=list)
    node_tables: list = field(default_factory=list)
    node_queries: list = field(default_factory=list)
    node_vantages: list = field(default_factory=list)
    lookups: list = field(default_factory=list)
    # region-degraded: the Prometheus the promql monitor queried, and the DEGRADED_COLUMNS series
    prometheus_port: int = None
    http_requests: list = field(default_factory=list)
    http_tables: list = field(default_factory=list)
    region_requests: list = field(default_factory=list)

    @property
    def cluster(self):
        return len(self.nodes) > 1

    @property
    def degraded(self):
        return self.args.scenario == "region-degraded"

    def victim_region(self):
        """The faulted region (or, if the fault never came, the one it would have hit)."""
        for r in self.regions:
            if r.name == self.victim:
                return r
        return self.regions[(self.args.victim or 1) - 1]

    # -- JSON -------------------------------------------------------------------------------

    def save(self, path):
        head = {
            "format": FORMAT,
            "version": VERSION,
            "about": "raw records of scripts/drill; re-analyse with: scripts/drill analyse FILE",
            "args": vars(self.args),
            "regions": [asdict(r) for r in self.regions],
            "victim": self.victim,
            "resolver_port": self.resolver_port,
            "gtmd_dns_port": self.gtmd_dns_port,
            "workdir": self.workdir,
            "sockets_opened": self.sockets_opened,
            "late_ticks": self.late_ticks,
            "watch_errors": self.watch_errors,
            "problems": self.problems,
            "health_events": self.health_events,
            "columns": COLUMNS,
        }
        series = dict(COLUMNS)
        if self.nodes:
            head["nodes"] = self.nodes
            head["victim_node"] = self.victim_node
            head["cluster_columns"] = CLUSTER_COLUMNS
            series.update(CLUSTER_COLUMNS)
        if self.degraded:
            head["prometheus_port"] = self.prometheus_port
            head["degraded_columns"] = DEGRADED_COLUMNS
            series.update(DEGRADED_COLUMNS)
        parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
        for name in series:
            rows = getattr(self, name)
            parts.append(f"{json.dumps(name)}: [" + ",".join("\n  " + json.dumps(list(r))
                                                              for r in rows)
                         + ("\n ]" if rows else "]"))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("{\n " + ",\n ".join(parts) + "\n}\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path):
        """Reads a file save() wrote; ValueError when it is not one."""
        with open(path) as f:
            obj = json.load(f)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"{path} is not a drill's records file (no \"format\": \"{FORMAT}\"; "
                             "the --json report cannot be re-analysed, its records file can)")
        if obj.get("version") != VERSION:
            raise ValueError(f"{path}: records version {obj.get('version')}, this drill reads "
                             f"{VERSION}")
        rec = cls(args=argparse.Namespace(**obj["args"]),
                  regions=[RegionInfo(**r) for r in obj["regions"]])
        for key in ("victim", "resolver_port", "gtmd_dns_port", "workdir", "sockets_opened",
                    "late_ticks", "watch_errors", "problems", "health_events"):
            setattr(rec, key, obj[key])
        rec.nodes = obj.get("nodes", [])
        rec.victim_node = obj.get("victim_node")
        series = dict(COLUMNS)
        if rec.nodes:
            series.update(CLUSTER_COLUMNS)
        if rec.degraded:
            rec.prometheus_port = obj.get("prometheus_port")
            series.update(DEGRADED_COLUMNS)
        for name, cols in series.items():
            rows = obj[name]
            if any(len(r) != len(cols) for r in rows):
                raise ValueError(f"{path}: {name} rows must have {len(cols)} columns {cols}")
            setattr(rec, name, [tuple(r) for r in rows])
        return rec
