"""The drill's environment: the regions (gateway processes), gtmd, unbound, the nft table and
(region-degraded) a Prometheus scraping the gateways, their set-up, and their removal.

Every process is started through Resources.spawn: in its own session, and with
PR_SET_PDEATHSIG so that it dies with the drill even when the drill is SIGKILLed. cleanup()
stops them all (SIGTERM, then SIGKILL) and deletes the nft table; it runs on exit, on failure
and on SIGINT/SIGTERM/SIGHUP (cli.main), and a table left by a SIGKILLed drill is removed by the
next drill's start."""

import asyncio
import ctypes
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from . import net
from .common import BODY_MARK, HTTP_NAME, NAME, PATH, ROOT, ZONE, DrillError, dur_text, log

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from gtmcluster.local import ClusterError, LocalCluster  # noqa: E402
from .net import dns, dns_query, http_call, pick_port, port_free

DEFAULT_GATEWAY = os.path.join(ROOT, "tests", "gateway", "gtm-test-gateway")
DEFAULT_PROMETHEUS = "/usr/bin/prometheus"  # Debian's package (scripts/setup installs it)
# an existing build of gtmd, in this order, when neither --gtmd nor $GTMD_BIN names one
GTMD_BUILDS = [("dev", os.path.join(ROOT, "build", "dev", "gtmd", "gtmd")),
               ("release", os.path.join(ROOT, "build", "release", "gtmd", "gtmd"))]

START_DEADLINE_S = 30.0
BINARY_DEADLINE_S = 180.0  # the engineer may be relinking gtmd
BUILD_DEADLINE_S = 3600.0

# ---------------------------------------------------------------------------------------------
# Processes and the nft table: everything started is tracked and removed by cleanup()

_libc = None


def _child_setup():
    """In the child: die with the drill (PR_SET_PDEATHSIG), even if the drill is SIGKILLed."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Resources:
    def __init__(self):
        global _libc
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _libc = None
        self.procs = []  # (name, Popen)
        self.nft_table = None
        self.cleaned = False

    def spawn(self, name, argv, log_path, env=None, cwd=None):
        out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    env=env, cwd=cwd, start_new_session=True,
                                    preexec_fn=_child_setup)
        finally:
            out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc, sig=signal.SIGTERM, wait=5.0):
        """Signals one process we started and reaps it; SIGKILL if it outlives `wait`."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    async def astop(self, proc, sig=signal.SIGTERM, wait=5.0):
        """stop() without blocking the event loop (the load keeps its ticks)."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            for _ in range(int(wait / 0.01)):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.01)
        return self.stop(proc, signal.SIGKILL, wait=5.0)

    def nft(self, script):
        r = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True,
                           timeout=10)
        if r.returncode != 0:
            raise DrillError(f"nft failed: {r.stderr.strip()}")

    def nft_create(self, rules):
        name = f"gtm_drill_{os.getpid()}"
        self.nft_table = name  # set first: cleanup removes it even if the load below fails
        script = (f"add table inet {name}\n"
                  f"add chain inet {name} input {{ type filter hook input priority -5; "
                  f"policy accept; }}\n")
        for r in rules:
            script += f"add rule inet {name} input {r}\n"
        self.nft(script)

    def nft_remove(self):
        if self.nft_table is None:
            return
        name, self.nft_table = self.nft_table, None
        r = subprocess.run(["nft", "delete", "table", "inet", name], capture_output=True,
                           text=True, timeout=10)
        if r.returncode != 0 and "No such file" not in r.stderr:
            log(f"could not remove nft table inet {name}: {r.stderr.strip()}")

    @staticmethod
    def remove_stale_tables():
        """Tables of earlier drills that were SIGKILLed (their pid is gone)."""
        if shutil.which("nft") is None:
            return
        try:
            r = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                               timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "inet" and parts[2].startswith("gtm_drill_"):
                pid = parts[2][len("gtm_drill_"):]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    subprocess.run(["nft", "delete", "table", "inet", parts[2]],
                                   capture_output=True, timeout=10)
                    log(f"removed stale nft table inet {parts[2]} (its drill is gone)")

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        try:
            self.nft_remove()
        except Exception as e:  # never let cleanup stop halfway
            log(f"nft cleanup: {e}")
        for name, proc in reversed(self.procs):
            try:
                self.stop(proc, signal.SIGTERM, wait=5.0)
            except Exception as e:
                log(f"stopping {name}: {e}")


async def wait_file_json(path, proc, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise DrillError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise DrillError(f"{what} not ready after {deadline_s:.0f}s")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# The regions


class Region:
    def __init__(self, env, index, address, port, weight):
        self.env = env
        self.index = index
        self.name = f"region{index}"
        self.address = address
        self.port = port
        self.weight = weight
        self.pool = "regions" if env.args.one_pool else self.name
        self.proc = None
        self.control = None
        self.starts = 0

    async def start(self):
        env = self.env
        self.starts += 1
        ports = os.path.join(env.workdir, f"{self.name}.ports.{self.starts}.json")
        argv = ["/usr/bin/python3", env.args.gateway, "--listen", f"{self.address}:{self.port}",
                "--control", "127.0.0.1:0", "--ports-file", ports]
        self.proc = env.res.spawn(self.name, argv, os.path.join(env.workdir, f"{self.name}.log"))
        info = await wait_file_json(ports, self.proc, 15.0, f"gateway {self.name}")
        self.control = info["control"]

    async def kill(self):
        """The region is deleted: SIGKILL, no goodbye."""
        return await self.env.res.astop(self.proc, signal.SIGKILL)

    async def stop(self):
        """A planned stop: SIGTERM."""
        return await self.env.res.astop(self.proc, signal.SIGTERM)

    async def set_mode(self, mode):
        status, body = await http_call("127.0.0.1", self.control, "POST",
                                       f"/mode?mode={mode}&addr={self.address}&port={self.port}")
        if status != 200:
            raise DrillError(f"gateway {self.name}: mode {mode}: {status} {body[:200]!r}")

    async def set_app_error_rate(self, rate):
        """The share of application requests (/app/...) answered 503; the health path is left
        alone."""
        status, body = await http_call(
            "127.0.0.1", self.control, "POST",
            f"/app?error_rate={rate:g}&addr={self.address}&port={self.port}")
        if status != 200:
            raise DrillError(f"gateway {self.name}: error_rate {rate:g}: {status} {body[:200]!r}")


# ---------------------------------------------------------------------------------------------
# gtmd


def find_gtmd(given, log=log):
    """Which gtmd the drill starts: --gtmd, else $GTMD_BIN, else an existing dev or release
    build, else the release preset built now (scripts/build release gtmd).
    Returns (path, where it came from). scripts/cluster uses it too, with its own `log`."""
    if given:
        return given, "--gtmd"
    if os.environ.get("GTMD_BIN"):
        return os.environ["GTMD_BIN"], "$GTMD_BIN"
    for preset, path in GTMD_BUILDS:
        if os.access(path, os.X_OK):
            return path, f"the {preset} build"
    preset, path = GTMD_BUILDS[-1]
    build = os.path.join(ROOT, "scripts", "build")
    log(f"no gtmd binary ($GTMD_BIN is not set, no {os.path.relpath(GTMD_BUILDS[0][1], ROOT)} "
        f"or {os.path.relpath(path, ROOT)}): building it with scripts/build {preset} gtmd")
    try:
        # its output goes to stderr: stdout is the report's
        r = subprocess.run(["nice", "-n", "10", build, preset, "gtmd"], cwd=ROOT,
                           stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr,
                           timeout=BUILD_DEADLINE_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DrillError(f"scripts/build {preset} gtmd failed: {e}") from None
    if r.returncode != 0:
        raise DrillError(f"scripts/build {preset} gtmd failed (exit {r.returncode}); after "
                         f"scripts/setup, build it or point GTMD_BIN at a gtmd binary")
    if not os.access(path, os.X_OK):
        raise DrillError(f"scripts/build {preset} gtmd did not produce {path}")
    return path, f"built now: scripts/build {preset} gtmd"


def error_ratio_query(window_s):
    """region-degraded's promql query: the share of application requests answered 5xx per
    gateway over the window (configs/traffic.yaml's, with a drill-sized window). A gateway
    without a 5xx yet has no 5xx series: `or ... * 0` makes its ratio 0 rather than no data; a
    gateway without any request in the window is 0/0 = NaN, which never fails."""
    w = dur_text(window_s)
    return (f'(sum by (gateway) (rate(istio_requests_total{{response_code=~"5.."}}[{w}]))'
            f' or sum by (gateway) (rate(istio_requests_total[{w}])) * 0)'
            f' / sum by (gateway) (rate(istio_requests_total[{w}]))')


def desired_state(args, regions, prometheus_url=None):
    """The desired-state document for gtmd (JSON is YAML). region-degraded: see
    degraded_state."""
    if args.scenario == "region-degraded":
        return degraded_state(args, regions, prometheus_url)
    return base_state(args, regions)


def base_state(args, regions):
    """One http monitor, one pool per region (or --one-pool), one balancer NAME."""
    return {
        "zones": [{
            "name": ZONE,
            "soa": {"mname": f"ns1.{ZONE}", "rname": f"hostmaster.{ZONE}", "minimum": 1},
            "ns": [f"ns1.{ZONE}"],
            "records": ["ns1 3600 A 127.0.0.1"],
        }],
        "monitors": [{
            "name": "gateway",
            "type": "http",
            "port": regions[0].port,
            "path": PATH,
            "host": NAME,
            "expect_status": ["200-399"],
            "expect_body": BODY_MARK.decode(),
            "interval": dur_text(args.interval),
            "timeout": dur_text(args.probe_timeout),
            "fall": args.fall,
            "rise": args.rise,
            "hold_down": dur_text(args.hold_down),
        }],
        "pools": ([{
            "name": "regions",
            "monitor": "gateway",
            "min_healthy": 1,
            "slow_start": dur_text(args.slow_start),
            "members": [{"address": r.address, "weight": r.weight} for r in regions],
        }] if args.one_pool else [{
            "name": r.pool,
            "monitor": "gateway",
            "min_healthy": 1,
            "slow_start": dur_text(args.slow_start),
            "members": [{"address": r.address, "weight": 100}],
        } for r in regions]),
        "balancers": [{
            "name": NAME,
            "ttl": args.ttl,
            "degraded_ttl": max(1, min(args.ttl, 5)),
            "max_answers": args.max_answers,
            "when_all_down": "fail_open",
            "pools": ([{"pool": "regions", "priority": 1, "weight": 100}] if args.one_pool else
                      [{"pool": r.pool, "priority": 1, "weight": r.weight} for r in regions]),
        }],
    }


def degraded_state(args, regions, prometheus_url):
    """region-degraded: two configurations of the same regions, side by side in one gtmd.
    NAME's pools judge each gateway by the http probe AND the promql monitor `errors` (the
    gateway's 5xx ratio from Prometheus, combine: all); HTTP_NAME's pools (`<pool>-http`) by the
    http probe alone. The http targets are shared: both see the very same probes."""
    doc = base_state(args, regions)
    http = doc["monitors"][0]
    doc["monitors"].append({
        "name": "errors",
        "type": "promql",
        "url": prometheus_url,
        "query": error_ratio_query(args.promql_window),
        "match_label": "gateway",
        "match_value": "{{address}}",
        "fail_if": f"> {args.error_threshold:g}",
        "no_data": "unknown",
        "interval": http["interval"],
        "timeout": http["timeout"],
        "fall": args.fall,
        "rise": args.rise,
        "hold_down": http["hold_down"],
    })
    combined = doc["pools"]
    alone = [dict(p, name=p["name"] + "-http") for p in combined]
    for p in combined:
        del p["monitor"]
        p["monitors"] = [http["name"], "errors"]
        p["combine"] = "all"
    doc["pools"] = combined + alone
    b = doc["balancers"][0]
    doc["balancers"].append(dict(b, name=HTTP_NAME, pools=[
        dict(x, pool=x["pool"] + "-http") for x in b["pools"]]))
    return doc


class Gtmd:
    def __init__(self, env):
        self.env = env
        self.proc = None
        self.dns_port = None
        self.http_port = None
        self.token = secrets.token_hex(16)

    async def start(self):
        env = self.env
        doc = os.path.join(env.workdir, "desired.json")
        with open(doc, "w") as f:
            json.dump(desired_state(env.args, env.regions,
                                    env.prometheus.url if env.prometheus else None), f, indent=2)
        binary = env.args.gtmd
        deadline = time.monotonic() + BINARY_DEADLINE_S
        announced = False
        attempt = 0
        while True:
            if os.access(binary, os.X_OK):
                attempt += 1
                ports = os.path.join(env.workdir, f"gtmd.ports.{attempt}.json")
                penv = dict(os.environ, GTMD_ADMIN_TOKEN=self.token)
                argv = [binary, "--apply", doc, "--dns-listen", "127.0.0.1:0",
                        "--http-listen", "127.0.0.1:0",
                        "--data-dir", os.path.join(env.workdir, "gtmd-data"),
                        "--ports-file", ports, "--workers", "2"]
                try:
                    self.proc = env.res.spawn("gtmd", argv, os.path.join(env.workdir, "gtmd.log"),
                                              env=penv, cwd=env.workdir)
                    info = await wait_file_json(ports, self.proc, START_DEADLINE_S, "gtmd")
                    self.dns_port, self.http_port = info["dns"], info["http"]
                    return
                except (OSError, DrillError) as e:
                    # the binary may be half-written during a relink: retry until the deadline
                    if time.monotonic() > deadline or attempt >= 5:
                        raise DrillError(f"gtmd did not start ({e}); see "
                                         f"{os.path.join(env.workdir, 'gtmd.log')}") from None
                    log(f"gtmd did not start ({e}); retrying")
                    await asyncio.sleep(2.0)
                    continue
            if time.monotonic() > deadline:
                raise DrillError(f"{binary} is missing (set GTMD_BIN or build it)")
            if not announced:
                log(f"waiting for {binary} to exist (being rebuilt?)")
                announced = True
            await asyncio.sleep(1.0)

    async def api(self, method, path, body=None, timeout=5.0):
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        status, rbody = await http_call("127.0.0.1", self.http_port, method, "/api/v1" + path,
                                        headers, body, timeout=timeout)
        try:
            obj = json.loads(rbody) if rbody else None
        except ValueError:
            obj = {"raw": rbody.decode(errors="replace")}
        return status, obj

    async def table(self, name=NAME):
        """The live answer table of a balancer: {address: share}, from /api/v1/status."""
        status, obj = await self.api("GET", "/status", timeout=2.0)
        if status != 200:
            raise DrillError(f"/api/v1/status: {status} {obj}")
        for b in obj.get("balancers", []):
            if b.get("name", "").rstrip(".") == name:
                return {m["address"]: m["share"] for m in b["A"]["answers"]}, b["A"].get("mode")
        return {}, None


class GtmdNode(Gtmd):
    """One gtmd node of the drill's cluster (--nodes N > 1): the same API as Gtmd, on the node's
    own ports; started and stopped through gtmcluster (its processes are the drill's)."""

    def __init__(self, env, node):
        super().__init__(env)
        self.node = node
        self.name = node.name
        self.token = node.cluster.token
        self.expected_dead = False  # killed by the scenario (node-down)
        self.sync()

    def sync(self):
        self.proc = self.node.proc
        self.dns_port, self.http_port = self.node.dns_port, self.node.http_port

    async def restart(self, deadline_s=START_DEADLINE_S):
        """Starts the node again on its ports (node-down --return-at), without blocking the load."""
        self.node.spawn()
        self.proc = self.node.proc
        self.expected_dead = False
        deadline = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise DrillError(f"{self.name} exited with code {self.proc.returncode} at its "
                                 f"restart; see {self.node.log_path}")
            try:
                with open(self.node.ports_file) as f:
                    json.load(f)
                status, _ = await self.api("GET", "/status", timeout=1.0)
                if status == 200:
                    return
            except (OSError, ValueError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise DrillError(f"{self.name} not ready {deadline_s:.0f}s after its restart")
            await asyncio.sleep(0.1)

    async def resolver_queries(self):
        """The UDP queries this node answered (gtm_dns_queries_total{transport="udp"}, summed):
        unbound's, since the drill's own watcher asks the nodes over TCP in cluster mode."""
        status, body = await http_call("127.0.0.1", self.http_port, "GET", "/metrics",
                                       {"Authorization": f"Bearer {self.token}"}, timeout=2.0)
        if status != 200:
            raise DrillError(f"/metrics: {status}")
        total = 0.0
        for line in body.decode(errors="replace").splitlines():
            if line.startswith("gtm_dns_queries_total{") and 'transport="udp"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    async def vantages(self):
        """The nodes whose votes this node counts (its /api/v1/health)."""
        status, obj = await self.api("GET", "/health", timeout=2.0)
        if status != 200:
            raise DrillError(f"/api/v1/health: {status}")
        return sorted({v["node"] for t in obj.get("targets", []) for v in t.get("vantages", [])})


class DrillCluster:
    """--nodes N > 1: a 3-member etcd and N gtmd nodes (gtmcluster), node 1 applying the
    document; every process through the drill's Resources (PR_SET_PDEATHSIG, cleanup)."""

    def __init__(self, env):
        self.env = env
        a = env.args
        self.local = LocalCluster(os.path.join(env.workdir, "cluster"), a.gtmd, nodes=a.nodes,
                                  spawner=env.res, lease_ttl=dur_text(a.lease_ttl),
                                  workers=2 if a.nodes <= 2 else 1)
        self.nodes = []

    def start(self, doc):
        try:
            self.local.start(doc)
        except ClusterError as e:
            raise DrillError(str(e)) from None
        self.nodes = [GtmdNode(self.env, n) for n in self.local.nodes]
        return self.nodes

    def etcd_procs(self):
        return [(f"etcd {n}", p) for n, p in zip(self.local.etcd.names, self.local.etcd.procs)
                if p is not None]


# ---------------------------------------------------------------------------------------------
# unbound

UNBOUND_CONF = """# Written by scripts/drill: loopback only, no trust anchor, nothing fetched at start-up.
server:
    interface: 127.0.0.1@{port}
    port: {port}
    access-control: 127.0.0.0/8 allow
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    do-not-query-localhost: no
    local-zone: "test." nodefault
    outgoing-interface: 127.0.0.1
    cache-max-negative-ttl: 1
    prefetch: no
    serve-expired: no
stub-zone:
    name: "{zone}."
{stubs}
stub-zone:
    name: "."
{stubs}
remote-control:
    control-enable: no
"""


def ensure_unbound(path):
    """unbound from Debian when missing, without letting the package start a service (which
    would fetch a trust anchor from the Internet)."""
    if os.access(path, os.X_OK):
        return path
    found = shutil.which("unbound")
    if found:
        return found
    if os.geteuid() != 0:
        raise DrillError("unbound is missing: apt-get install -y unbound (as root)")
    log("unbound is missing: installing the Debian package (services are not started)")
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# scripts/drill: no service starts during this install\nexit 101\n")
        os.chmod(policy, 0o755)
        made_policy = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, timeout=300)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                            "unbound"], env=env, timeout=600)
        if r.returncode != 0:
            raise DrillError("apt-get install unbound failed")
    finally:
        if made_policy:
            os.unlink(policy)
    found = shutil.which("unbound") or ("/usr/sbin/unbound" if os.access("/usr/sbin/unbound",
                                                                         os.X_OK) else None)
    if not found:
        raise DrillError("unbound still missing after apt-get install")
    return found


class Unbound:
    def __init__(self, env):
        self.env = env
        self.proc = None
        self.port = None

    async def start(self, gtmd_ports):
        """gtmd_ports: one port, or a list of them: the stub zones list every node, so unbound
        spreads its queries over them and retries another when one does not answer."""
        env = self.env
        ports = gtmd_ports if isinstance(gtmd_ports, list) else [gtmd_ports]
        stubs = "\n".join(f"    stub-addr: 127.0.0.1@{p}" for p in ports)
        binary = ensure_unbound(env.args.unbound)
        for attempt in range(5):
            self.port = pick_port(["127.0.0.1"], udp_too=True)
            conf = os.path.join(env.workdir, "unbound.conf")
            with open(conf, "w") as f:
                f.write(UNBOUND_CONF.format(port=self.port, dir=env.workdir, zone=ZONE,
                                            stubs=stubs))
            self.proc = env.res.spawn("unbound", [binary, "-d", "-c", conf],
                                      os.path.join(env.workdir, "unbound.log"), cwd=env.workdir)
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    rcode, addrs, _ = await dns_query("127.0.0.1", self.port, NAME, 1.0)
                    if rcode == dns.rcode.NOERROR and addrs:
                        return
                except (dns.exception.DNSException, OSError):
                    pass
                await asyncio.sleep(0.1)
            if self.proc.poll() is None:
                raise DrillError(f"unbound on 127.0.0.1:{self.port} does not resolve {NAME}; see "
                                 f"{os.path.join(env.workdir, 'unbound.log')}")
            log(f"unbound exited ({self.proc.returncode}) on port {self.port}; another port")
        raise DrillError("unbound did not start; see " + os.path.join(env.workdir, "unbound.log"))


# ---------------------------------------------------------------------------------------------
# Prometheus (region-degraded)

PROMETHEUS_CONF = """# Written by scripts/drill: scrapes the regions' gateways (their Istio-like
# counters) on loopback every second; nothing else, no remote write, no alerting.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mesh
    static_configs:
      - targets: [{targets}]
"""


class Prometheus:
    """The mesh's Prometheus for region-degraded: Debian's binary on 127.0.0.1, its data in the
    workdir, scraping every region gateway's control /metrics (istio_requests_total by gateway
    and response code) every second. gtmd's promql monitor queries it."""

    def __init__(self, env):
        self.env = env
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    async def start(self):
        env = self.env
        binary = env.args.prometheus
        if not os.access(binary, os.X_OK):
            raise DrillError(f"{binary} is missing: apt-get install -y prometheus (scripts/setup "
                             "installs it with its service stopped), or --prometheus PATH")
        workdir = os.path.join(env.workdir, "prometheus")
        os.makedirs(workdir, exist_ok=True)
        conf = os.path.join(workdir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write(PROMETHEUS_CONF.format(targets=", ".join(
                f'"127.0.0.1:{r.control}"' for r in env.regions)))
        log_path = os.path.join(env.workdir, "prometheus.log")
        for _ in range(5):
            self.port = pick_port(["127.0.0.1"])
            self.proc = env.res.spawn("prometheus", [
                binary, f"--config.file={conf}", f"--storage.tsdb.path={workdir}/data",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url=http://127.0.0.1:{self.port}/", "--log.level=warn"],
                log_path, cwd=workdir)
            deadline = time.monotonic() + START_DEADLINE_S
            while self.proc.poll() is None and time.monotonic() < deadline:
                if await self.answers("/-/ready") is not None:
                    return await self.wait_scraped()
                await asyncio.sleep(0.1)
            if self.proc.poll() is None:
                raise DrillError(f"Prometheus on 127.0.0.1:{self.port} not ready after "
                                 f"{START_DEADLINE_S:.0f}s; see {log_path}")
            log(f"Prometheus exited ({self.proc.returncode}) on port {self.port}; another port")
        raise DrillError(f"Prometheus did not start; see {log_path}")

    async def answers(self, path):
        """The body of a 200 answer to GET path, else None."""
        try:
            status, body = await http_call("127.0.0.1", self.port, "GET", path, timeout=2.0)
        except (OSError, asyncio.TimeoutError, ValueError):
            return None
        return body if status == 200 else None

    async def wait_scraped(self, deadline_s=20.0):
        """Every gateway scraped once: their series exist before the load starts."""
        deadline = time.monotonic() + deadline_s
        while True:
            body = await self.answers("/api/v1/targets")
            try:
                targets = json.loads(body)["data"]["activeTargets"] if body else []
            except (ValueError, KeyError, TypeError):
                targets = []
            if targets and len(targets) == len(self.env.regions) and all(
                    t.get("health") == "up" for t in targets):
                return
            if time.monotonic() > deadline:
                raise DrillError(f"Prometheus does not scrape every gateway after "
                                 f"{deadline_s:.0f}s: {targets}")
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# All of it


class Environment:
    """The regions, gtmd and unbound of one drill, in `workdir`; cleanup() removes everything
    it started."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.res = Resources()
        self.regions = []
        self.gtmd = None  # a single gtmd, or with --nodes N > 1 the first node
        self.nodes = []  # --nodes N > 1: every node (GtmdNode)
        self.cluster = None
        self.unbound = None
        self.prometheus = None  # region-degraded only

    async def setup(self):
        a = self.args
        if net.dns is None:
            raise DrillError("dnspython is missing: apt-get install -y python3-dnspython and run "
                             "with /usr/bin/python3")
        if a.scenario == "region-blackhole" and shutil.which("nft") is None:
            raise DrillError("region-blackhole needs nft (apt-get install -y nftables)")
        Resources.remove_stale_tables()
        first = ipaddress.ip_address(a.first_address)
        addrs = [str(first + i) for i in range(a.regions)]
        port = a.port or pick_port(addrs)
        if not port_free(addrs, port):
            raise DrillError(f"port {port} is taken on one of {', '.join(addrs)}")
        self.regions = [Region(self, i + 1, addrs[i], port, a.weights[i])
                        for i in range(a.regions)]
        for r in self.regions:
            await r.start()
        if a.scenario == "region-degraded":
            self.prometheus = Prometheus(self)
            await self.prometheus.start()
        if a.nodes > 1:
            doc = os.path.join(self.workdir, "desired.json")
            with open(doc, "w") as f:
                json.dump(desired_state(a, self.regions), f, indent=2)
            self.cluster = DrillCluster(self)
            self.nodes = self.cluster.start(doc)  # blocks a few seconds: nothing runs yet
            self.gtmd = self.nodes[0]
        else:
            self.gtmd = Gtmd(self)
            await self.gtmd.start()
        # every region in the answers before the load starts
        deadline = time.monotonic() + 20.0
        for g in self.nodes or [self.gtmd]:
            while True:
                table, _ = await g.table()
                if all(r.address in table for r in self.regions if r.weight > 0):
                    break
                if time.monotonic() > deadline:
                    raise DrillError(f"gtmd does not serve every region after 20s: {table}")
                await asyncio.sleep(0.2)
        self.unbound = Unbound(self)
        await self.unbound.start([g.dns_port for g in self.nodes] if self.nodes
                                 else self.gtmd.dns_port)

    def cleanup(self):
        self.res.cleanup()
