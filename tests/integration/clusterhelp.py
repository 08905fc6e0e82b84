"""A real etcd cluster and gtmd nodes in cluster mode, on loopback, for tests and scripts/cluster.

EtcdCluster starts N etcd members (Debian's /usr/bin/etcd) on free 127.0.0.1 ports with their
data in a folder of the caller's, and can kill, stop and restart each by PID. GtmdNode is an
ApiGtmd whose gtmd.yaml points at the cluster, with its own node name and probe source address
(127.0.1.<n>). Every process started here dies with the test (SIGTERM at teardown, and the
kernel's parent-death signal should the test itself die).

Only 127.0.0.0/8 is ever addressed.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from apihelp import ADMIN_SECRET, ApiGtmd
from harness import GtmdError, wait_for

ETCD = "/usr/bin/etcd"
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class EtcdCluster:
    def __init__(self, workdir, members=3, token="gtmtest", extra_args=()):
        self.dir = Path(workdir)
        self.extra_args = list(extra_args)
        self.dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * members)
        self.client_ports = ports[:members]
        self.peer_ports = ports[members:]
        self.names = [f"e{i + 1}" for i in range(members)]
        self.token = token
        self.procs = [None] * members

    @property
    def urls(self):
        return [f"http://127.0.0.1:{p}" for p in self.client_ports]

    def _argv(self, i):
        initial = ",".join(f"{n}=http://127.0.0.1:{p}"
                           for n, p in zip(self.names, self.peer_ports))
        return [ETCD, "--name", self.names[i], "--data-dir", str(self.dir / self.names[i]),
                "--listen-client-urls", self.urls[i], "--advertise-client-urls", self.urls[i],
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                "--initial-cluster", initial, "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                "--experimental-watch-progress-notify-interval=1s",
                "--heartbeat-interval", "100", "--election-timeout", "1000"] + self.extra_args

    def start_member(self, i):
        log = open(self.dir / f"{self.names[i]}.log", "ab")
        self.procs[i] = subprocess.Popen(self._argv(i), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def start(self):
        for i in range(len(self.names)):
            self.start_member(i)
        wait_for(self.healthy, timeout=30, interval=0.2, what="etcd to elect a leader")
        return self

    def healthy(self, i=None):
        for j, url in enumerate(self.urls):
            if i is not None and j != i:
                continue
            if self.procs[j] is None or self.procs[j].poll() is not None:
                continue
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    if b'"true"' in r.read():
                        return True
            except OSError:
                continue
        return False

    def leader(self):
        """The index of the member that leads, or None."""
        import json
        ids = {}
        leader = None
        for j, url in enumerate(self.urls):
            if self.procs[j] is None or self.procs[j].poll() is not None:
                continue
            try:
                req = urllib.request.Request(url + "/v3/maintenance/status", data=b"{}",
                                             method="POST")
                with urllib.request.urlopen(req, timeout=1) as r:
                    st = json.loads(r.read())
                ids[st["header"]["member_id"]] = j
                leader = st.get("leader", leader)
            except (OSError, KeyError, ValueError):
                continue
        return ids.get(leader)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=30)
        self.procs[i] = None

    def stop(self):
        for i in range(len(self.procs)):
            self.kill(i, signal.SIGTERM)


CLUSTER_CONFIG = """\
node: {{name: {name}}}
health: {{source_address: {source}}}
cluster:
  etcd: [{urls}]
  prefix: {prefix}
  lease_ttl: {lease_ttl}
  quorum: majority
  fallback_after: {fallback_after}
"""


class GtmdNode(ApiGtmd):
    """A gtmd in cluster mode: node `name`, probes from `source`."""

    def __init__(self, workdir, etcd, name, source, document=None, prefix="gtm/",
                 lease_ttl="3s", fallback_after="6s", urls=None, **kwargs):
        config = CLUSTER_CONFIG.format(name=name, source=source,
                                       urls=", ".join(urls or etcd.urls), prefix=prefix,
                                       lease_ttl=lease_ttl, fallback_after=fallback_after)
        super().__init__(workdir, document or "", config=config, **kwargs)
        self.name = name
        self.source = source
        self.apply = document is not None

    def ready(self):
        try:
            return self.api.get("/readyz").status == 200
        except OSError:
            return False


class Cluster:
    """gtmd nodes on one etcd cluster; stopped (SIGTERM, exit 0 expected) at teardown."""

    def __init__(self, base, etcd):
        self.base = Path(base)
        self.etcd = etcd
        self.nodes = []

    def add(self, document=None, **kwargs):
        i = len(self.nodes) + 1
        node = GtmdNode(self.base / f"node{i}", self.etcd, f"ns{i}", f"127.0.1.{i}",
                        document=document, **kwargs)
        self.nodes.append(node)
        return node

    def stop_all(self):
        failures = []
        for n in self.nodes:
            if n.proc is None or n.returncode is not None or n.proc.poll() is not None:
                continue
            code = n.stop()
            if code not in (0, None):
                failures.append(f"{n.name}: exit {code}\n{n.logs()[-3000:]}")
        return failures


def wait_all(nodes, predicate, timeout, what):
    try:
        return wait_for(lambda: all(predicate(n) for n in nodes), timeout=timeout, interval=0.05,
                        what=what)
    except GtmdError as e:
        raise GtmdError(f"{e}\n" + "\n".join(f"--- {n.name} ---\n{n.logs()[-2500:]}"
                                             for n in nodes))
