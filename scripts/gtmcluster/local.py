"""A local gtmd cluster: etcd members and gtmd nodes on 127.0.0.1, started and stopped by PID.

    cluster = LocalCluster(workdir, gtmd="/path/to/gtmd", nodes=3)
    cluster.start(document="configs/demo.yaml")   # node 1 applies it; the others follow etcd
    cluster.nodes[1].api("GET", "/api/v1/status")
    cluster.stop()                                # SIGTERM, nodes first, then etcd

Every process is started through a spawner: spawn(name, argv, log_path, env=None, cwd=None) ->
subprocess.Popen. The default one starts each in its own session and, unless `detach`, with
PR_SET_PDEATHSIG so that it dies with the caller (scripts/drill passes its own Resources).
"""

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ETCD = "/usr/bin/etcd"
START_DEADLINE_S = 30.0
PR_SET_PDEATHSIG = 1

_libc = None


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ClusterError(Exception):
    """Set-up failed: the message says what and where to look."""


class Spawner:
    """Starts processes (each in its own session) and remembers them for stop_all()."""

    def __init__(self, detach=False):
        global _libc
        self.detach = detach
        self.procs = []
        if not detach and _libc is None:
            try:
                _libc = ctypes.CDLL("libc.so.6", use_errno=True)
            except OSError:
                _libc = None

    def spawn(self, name, argv, log_path, env=None, cwd=None):
        out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    env=env, cwd=cwd, start_new_session=True,
                                    preexec_fn=None if self.detach else _die_with_parent)
        finally:
            out.close()
        self.procs.append((name, proc))
        return proc


def stop_process(proc, sig=signal.SIGTERM, wait=10.0):
    """Signals one process this program started and reaps it; SIGKILL if it outlives `wait`.
    Returns its exit code (negative: the signal that ended it)."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def port_free(port, host="127.0.0.1", udp_too=False):
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp_too else [])
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(n, avoid=()):
    """n ports that are free on 127.0.0.1 now (TCP), none of them in `avoid`."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            p = s.getsockname()[1]
            if p not in avoid and p not in ports:
                ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports


def pick_ports(wanted, udp_too=False, taken=()):
    """`wanted` when every one is free, else as many free ports chosen by the OS."""
    if wanted and all(p not in taken and port_free(p, udp_too=udp_too) for p in wanted):
        return list(wanted), True
    return free_ports(len(wanted), avoid=set(taken)), False


def http(method, url, body=None, token=None, timeout=5.0, headers=None):
    """One HTTP request: (status, parsed JSON or raw text)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# etcd


class Etcd:
    """`members` etcd members on 127.0.0.1, data in workdir/<name>, logs in workdir/<name>.log,
    watch progress notifications every second (gtmd detects a stalled watch by them)."""

    def __init__(self, workdir, spawner, members=3, client_ports=None, peer_ports=None,
                 token=None):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.spawner = spawner
        self.names = [f"e{i + 1}" for i in range(members)]
        wanted = (client_ports or []) + (peer_ports or [])
        if len(wanted) == 2 * members:
            ports, _ = pick_ports(wanted)
        else:
            ports = free_ports(2 * members)
        self.client_ports = ports[:members]
        self.peer_ports = ports[members:]
        self.token = token or f"gtm-{secrets.token_hex(4)}"
        self.procs = [None] * members

    @property
    def urls(self):
        return [f"http://127.0.0.1:{p}" for p in self.client_ports]

    def argv(self, i):
        initial = ",".join(f"{n}=http://127.0.0.1:{p}"
                           for n, p in zip(self.names, self.peer_ports))
        return [ETCD, "--name", self.names[i], "--data-dir", os.path.join(self.dir, self.names[i]),
                "--listen-client-urls", self.urls[i], "--advertise-client-urls", self.urls[i],
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-cluster", initial, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                "--experimental-watch-progress-notify-interval=1s",
                "--heartbeat-interval", "100", "--election-timeout", "1000"]

    def log_path(self, i):
        return os.path.join(self.dir, f"{self.names[i]}.log")

    def start_member(self, i):
        if not os.access(ETCD, os.X_OK):
            raise ClusterError(f"{ETCD} is missing: scripts/setup installs etcd-server")
        self.procs[i] = self.spawner.spawn(self.names[i], self.argv(i), self.log_path(i))

    def start(self, deadline_s=START_DEADLINE_S):
        for i in range(len(self.names)):
            self.start_member(i)
        deadline = time.monotonic() + deadline_s
        while not self.healthy():
            for i, p in enumerate(self.procs):
                if p.poll() is not None:
                    raise ClusterError(f"etcd member {self.names[i]} exited with code "
                                       f"{p.returncode}; see {self.log_path(i)}")
            if time.monotonic() > deadline:
                raise ClusterError(f"etcd elected no leader within {deadline_s:.0f}s; see "
                                   f"{self.dir}/e*.log")
            time.sleep(0.2)
        return self

    def healthy(self, i=None):
        """Whether member i (or any member) answers /health true (it has a leader)."""
        for j, url in enumerate(self.urls):
            if (i is not None and j != i) or self.procs[j] is None or self.procs[j].poll() is not None:
                continue
            try:
                status, body = http("GET", url + "/health", timeout=1.0)
                if status == 200 and isinstance(body, dict) and body.get("health") == "true":
                    return True
            except OSError:
                continue
        return False

    def status(self, i):
        return http("POST", self.urls[i] + "/v3/maintenance/status", {}, timeout=2.0)[1]

    def kill(self, i, sig=signal.SIGKILL):
        if self.procs[i] is not None:
            stop_process(self.procs[i], sig)
        self.procs[i] = None

    def stop(self):
        for i in range(len(self.procs)):
            self.kill(i, signal.SIGTERM)


# ---------------------------------------------------------------------------------------------
# gtmd nodes

NODE_CONFIG = """\
# gtmd node {name} of a local cluster (written by scripts/gtmcluster). See configs/cluster/.
node: {{name: {name}}}
health: {{source_address: {source}}}   # this node's probes leave from here: its vantage
log_level: {log_level}
cluster:
  etcd: [{urls}]
  prefix: {prefix}
  lease_ttl: {lease_ttl}
  quorum: {quorum}
  fallback_after: {fallback_after}
"""


class Node:
    """One gtmd node: name ns<index>, probes from 127.0.1.<index>, its files in workdir."""

    def __init__(self, cluster, index, dns_port=0, http_port=0):
        self.cluster = cluster
        self.index = index
        self.name = f"ns{index}"
        self.source = f"127.0.1.{index}"
        self.dir = os.path.join(cluster.dir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "gtmd.yaml")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "gtmd.log")
        self.want_dns = dns_port
        self.want_http = http_port
        self.dns_port = None
        self.http_port = None
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self):
        c = self.cluster
        # the node's own etcd member first (co-located), then the others
        urls = c.etcd.urls
        k = (self.index - 1) % len(urls)
        mine = urls[k:] + urls[:k]
        with open(self.config_path, "w") as f:
            f.write(NODE_CONFIG.format(name=self.name, source=self.source,
                                       urls=", ".join(mine), prefix=c.prefix,
                                       lease_ttl=c.lease_ttl, quorum=c.quorum,
                                       fallback_after=c.fallback_after, log_level=c.log_level))

    def argv(self, ports_file, document=None):
        a = [self.cluster.gtmd, "--config", self.config_path,
             "--dns-listen", f"127.0.0.1:{self.dns_port or self.want_dns}",
             "--http-listen", f"127.0.0.1:{self.http_port or self.want_http}",
             "--data-dir", self.data_dir, "--ports-file", ports_file,
             "--workers", str(self.cluster.workers)]
        if document:
            a += ["--apply", os.path.abspath(document)]
        return a

    def spawn(self, document=None):
        """Starts gtmd; wait_ready() waits for it. A restart keeps the ports it had."""
        self.write_config()
        self.starts += 1
        ports = os.path.join(self.dir, f"ports.{self.starts}.json")
        env = dict(os.environ, GTMD_ADMIN_TOKEN=self.cluster.token)
        self.ports_file = ports
        self.proc = self.cluster.spawner.spawn(self.name, self.argv(ports, document),
                                               self.log_path, env=env, cwd=self.dir)
        return self.proc

    def wait_ready(self, deadline_s=START_DEADLINE_S):
        deadline = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise ClusterError(f"gtmd {self.name} exited with code {self.proc.returncode} "
                                   f"before it was ready; see {self.log_path}")
            try:
                with open(self.ports_file) as f:
                    info = json.load(f)
                self.dns_port, self.http_port = info["dns"], info["http"]
                if self.ready():
                    return self
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"gtmd {self.name} not ready after {deadline_s:.0f}s; see "
                                   f"{self.log_path}")
            time.sleep(0.1)

    def ready(self):
        try:
            return http("GET", self.url + "/readyz", timeout=1.0)[0] == 200
        except OSError:
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def api(self, method, path, body=None, timeout=10.0, headers=None):
        """(status, JSON) of one API call with the admin token."""
        return http(method, self.url + path, body, token=self.cluster.token, timeout=timeout,
                    headers=headers)

    def stop(self, sig=signal.SIGTERM, wait=15.0):
        if self.proc is None:
            return None
        return stop_process(self.proc, sig, wait)


class LocalCluster:
    """An etcd cluster and gtmd nodes in `workdir`; start() and stop() them together."""

    def __init__(self, workdir, gtmd, nodes=3, members=3, spawner=None, detach=False,
                 token=None, prefix="gtm/", lease_ttl="5s", quorum="majority",
                 fallback_after="30s", workers=1, log_level="info", dns_ports=None,
                 http_ports=None, etcd_client_ports=None, etcd_peer_ports=None):
        self.dir = os.path.abspath(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.gtmd = os.path.abspath(gtmd)
        self.spawner = spawner or Spawner(detach=detach)
        self.token = token or secrets.token_hex(16)
        self.prefix = prefix
        self.lease_ttl = lease_ttl
        self.quorum = quorum
        self.fallback_after = fallback_after
        self.workers = workers
        self.log_level = log_level
        self.etcd = Etcd(os.path.join(self.dir, "etcd"), self.spawner, members,
                         etcd_client_ports, etcd_peer_ports)
        taken = set(self.etcd.client_ports + self.etcd.peer_ports)
        dns = [0] * nodes
        web = [0] * nodes
        if dns_ports:
            dns, _ = pick_ports(dns_ports, udp_too=True, taken=taken)
            taken |= set(dns)
        if http_ports:
            web, _ = pick_ports(http_ports, taken=taken)
        self.nodes = [Node(self, i + 1, dns[i], web[i]) for i in range(nodes)]

    def start(self, document=None, deadline_s=START_DEADLINE_S):
        """etcd, then node 1 (applying `document` when given), then the others."""
        if not os.access(self.gtmd, os.X_OK):
            raise ClusterError(f"{self.gtmd} is not an executable gtmd")
        self.etcd.start(deadline_s)
        first, rest = self.nodes[0], self.nodes[1:]
        first.spawn(document)
        first.wait_ready(deadline_s)
        for n in rest:
            n.spawn()
        for n in rest:
            n.wait_ready(deadline_s)
        return self

    @staticmethod
    def vantages(node):
        """The nodes whose votes `node` counts (the live vantages of its /api/v1/health: a
        dead node's votes leave with its lease), or None when it does not answer."""
        try:
            status, h = node.api("GET", "/api/v1/health", timeout=2.0)
        except OSError:
            return None
        if status != 200 or not isinstance(h, dict):
            return None
        return sorted({v["node"] for t in h.get("targets", []) for v in t.get("vantages", [])})

    def stop(self):
        """SIGTERM to every node (exit codes returned by name), then to every etcd member."""
        codes = {}
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                codes[n.name] = n.stop()
            elif n.proc is not None:
                codes[n.name] = n.proc.returncode
        self.etcd.stop()
        return codes

    def describe(self):
        """What scripts/cluster saves in cluster.json (and `stop` reads the PIDs from)."""
        return {
            "dir": self.dir,
            "gtmd": self.gtmd,
            "token_file": os.path.join(self.dir, "admin.token"),
            "prefix": self.prefix,
            "lease_ttl": self.lease_ttl,
            "etcd": [{"name": name, "client_url": url,
                      "peer_url": f"http://127.0.0.1:{peer}",
                      "pid": p.pid if p is not None else None,
                      "log": self.etcd.log_path(i), "data_dir": os.path.join(self.etcd.dir, name)}
                     for i, (name, url, peer, p) in enumerate(zip(
                         self.etcd.names, self.etcd.urls, self.etcd.peer_ports, self.etcd.procs))],
            "nodes": [{"name": n.name, "source": n.source, "dns": n.dns_port, "http": n.http_port,
                       "url": n.url, "pid": n.proc.pid if n.proc is not None else None,
                       "config": n.config_path, "log": n.log_path, "data_dir": n.data_dir}
                      for n in self.nodes],
        }
