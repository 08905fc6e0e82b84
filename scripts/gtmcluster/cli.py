"""The command line of scripts/cluster:

    scripts/cluster [start] [--dir DIR] [--nodes N] [--document FILE] [--detach] [...]
    scripts/cluster stop [--dir DIR]
    scripts/cluster status [--dir DIR]

`start` (the default) starts a 3-member etcd and N gtmd nodes (ns1..nsN) on 127.0.0.1, node 1
applying the document (configs/demo.yaml by default, with the demo's gateways started too),
prints how to query each node and stays in the foreground until Ctrl-C, which stops everything
it started. With --detach it returns and leaves them running; `scripts/cluster stop` stops them
by the PIDs saved in DIR/cluster.json (each checked against its command line first).

Exit codes: 0 done; 2 set-up failed (message on stderr; everything started is stopped)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from .local import ClusterError, LocalCluster, Spawner, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(ROOT, "data", "cluster")
DEMO_DOC = os.path.join(ROOT, "configs", "demo.yaml")
GATEWAY = os.path.join(ROOT, "tests", "gateway", "gtm-test-gateway")
# the demo's regions (configs/demo.yaml): hangzhou .11/.12, frankfurt .21, singapore .31
DEMO_GATEWAYS = ["127.0.0.11:8080", "127.0.0.12:8080", "127.0.0.21:8080", "127.0.0.31:8080"]
STATE = "cluster.json"


def log(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + "cluster: " + msg + "\n")
    sys.stderr.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="cluster",
        description="A local gtmd cluster on loopback: a 3-member etcd (Debian's etcd) and N "
                    "gtmd nodes, each probing from its own 127.0.1.x address. Ctrl-C (or "
                    "scripts/cluster stop) stops everything it started.")
    p.add_argument("command", nargs="?", default="start", choices=("start", "stop", "status"))
    p.add_argument("--dir", default=DEFAULT_DIR,
                   help="where etcd's data, each node's config, data and log, the admin token and "
                        "cluster.json go (default data/cluster; start empties it first)")
    p.add_argument("--nodes", type=int, default=3, help="gtmd nodes, 1-9 (default 3)")
    p.add_argument("--document", default=None,
                   help="desired-state document node 1 applies (default configs/demo.yaml, with "
                        "its four demo gateways started on 127.0.0.11/.12/.21/.31:8080)")
    p.add_argument("--no-gateways", action="store_true",
                   help="do not start the demo gateways")
    p.add_argument("--detach", action="store_true",
                   help="return once everything is up and leave it running (stop it with "
                        "scripts/cluster stop)")
    p.add_argument("--lease-ttl", default="5s",
                   help="cluster.lease_ttl: a dead node's votes vanish this long after it "
                        "stopped (default 5s here; gtmd's default is 10s)")
    p.add_argument("--fallback-after", default="30s",
                   help="cluster.fallback_after (default 30s, gtmd's)")
    p.add_argument("--quorum", default="majority", help="cluster.quorum (default majority)")
    p.add_argument("--workers", type=int, default=1, help="DNS workers per node (default 1)")
    p.add_argument("--base-port", type=int, default=5300,
                   help="node n's DNS port is this + n (default 5300: 5301, 5302, ...); its API "
                        "is on 8053 + n; etcd's client ports 23791.., peer ports 23801..; any "
                        "taken: the OS chooses instead (printed)")
    p.add_argument("--gtmd", default=None,
                   help="gtmd binary (default $GTMD_BIN, else build/dev/gtmd/gtmd or "
                        "build/release/gtmd/gtmd, else the release preset is built)")
    p.add_argument("--no-setup", action="store_true",
                   help="do not run scripts/setup first (it installs etcd-server and the rest "
                        "when missing)")
    a = p.parse_args(argv)
    if not 1 <= a.nodes <= 9:
        p.error("--nodes must be 1-9")
    a.dir = os.path.abspath(a.dir)
    return a


# ---------------------------------------------------------------------------------------------
# stop and status: from cluster.json


def read_state(d):
    path = os.path.join(d, STATE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def ours(pid, d):
    """The process `pid` is still one this cluster started: alive, and its command line names
    the cluster's folder (a PID reused by another program is never signalled)."""
    c = cmdline(pid) if pid else None
    return c is not None and d in c


def stop_pid(name, pid, d, wait=15.0):
    if not ours(pid, d):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and ours(pid, d):
        try:
            # reaped by its parent (the foreground scripts/cluster) or by init (--detach)
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                break
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if ours(pid, d):
        log(f"{name} (pid {pid}) outlived SIGTERM by {wait:.0f}s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
    log(f"stopped {name} (pid {pid})")
    return True


def cmd_stop(a):
    st = read_state(a.dir)
    if st is None:
        log(f"no {os.path.join(a.dir, STATE)}: nothing started there (--dir?)")
        return 0
    d = st["dir"]
    stopped = 0
    # nodes first (they revoke their leases on the way out), then etcd, then the gateways;
    # the foreground scripts/cluster last (it then finds nothing left to stop)
    for n in st["nodes"]:
        stopped += stop_pid(n["name"], n["pid"], d)
    for m in st["etcd"]:
        stopped += stop_pid(f"etcd {m['name']}", m["pid"], d)
    if st.get("gateways"):
        stopped += stop_pid("the demo gateways", st["gateways"]["pid"], d)
    sup = st.get("supervisor")
    if sup and ours(sup, "cluster") and sup != os.getpid():
        try:
            os.kill(sup, signal.SIGTERM)
        except ProcessLookupError:
            pass
    log(f"{stopped} processes stopped; data and logs kept in {d}" if stopped else
        "nothing of it was running")
    try:
        os.unlink(os.path.join(d, STATE))
    except OSError:
        pass
    return 0


def cmd_status(a):
    from .local import http
    st = read_state(a.dir)
    if st is None:
        log(f"no {os.path.join(a.dir, STATE)}: nothing started there (--dir?)")
        return 1
    d = st["dir"]
    token = open(st["token_file"]).read().strip()
    for m in st["etcd"]:
        try:
            health = http("GET", m["client_url"] + "/health", timeout=1.0)[1]
        except OSError as e:
            health = f"unreachable ({e.__class__.__name__})"
        print(f"etcd {m['name']:<4} {m['client_url']:<24} pid {m['pid']:<7} "
              f"{'running' if ours(m['pid'], d) else 'NOT RUNNING'}  health {health}")
    for n in st["nodes"]:
        line = (f"{n['name']:<9} DNS 127.0.0.1:{n['dns']:<6} API {n['url']:<24} "
                f"pid {n['pid']:<7} {'running' if ours(n['pid'], d) else 'NOT RUNNING'}")
        try:
            ready = http("GET", n["url"] + "/readyz", timeout=1.0)[0]
            s, h = http("GET", n["url"] + "/api/v1/health", token=token, timeout=2.0)
            vs = sorted({v["node"] for t in h.get("targets", []) for v in t.get("vantages", [])})
            line += f"  readyz {ready}  counts the votes of {','.join(vs) or '-'}"
        except (OSError, AttributeError, ValueError):
            line += "  API unreachable"
        print(line)
    return 0


# ---------------------------------------------------------------------------------------------
# start


def find_binaries(a):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from gtmdrill.common import DrillError
    from gtmdrill.environment import find_gtmd
    try:
        gtmd, how = find_gtmd(a.gtmd, log=log)
    except DrillError as e:
        raise ClusterError(str(e)) from None
    gtmctl = os.path.join(os.path.dirname(os.path.dirname(gtmd)), "web", "gtmctl")
    if not os.access(gtmctl, os.X_OK):
        preset_dir = os.path.dirname(os.path.dirname(gtmd))
        preset = os.path.basename(preset_dir)
        if os.path.dirname(preset_dir) == os.path.join(ROOT, "build"):
            log(f"building gtmctl: scripts/build {preset} gtmctl")
            subprocess.run(["nice", "-n", "10", os.path.join(ROOT, "scripts", "build"), preset,
                            "gtmctl"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sys.stderr,
                           stderr=sys.stderr, check=False)
    if not os.access(gtmctl, os.X_OK):
        gtmctl = "gtmctl"
    return gtmd, how, gtmctl


def start_gateways(spawner, d, addrs):
    ports_file = os.path.join(d, "gateway.json")
    argv = ["/usr/bin/python3", GATEWAY]
    for x in addrs:
        argv += ["--listen", x]
    argv += ["--control", "127.0.0.1:0", "--ports-file", ports_file]
    proc = spawner.spawn("gateways", argv, os.path.join(d, "gateway.log"), cwd=d)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log(f"the demo gateways did not start (port 8080 taken on 127.0.0.x?); see "
                f"{os.path.join(d, 'gateway.log')}; going on without them")
            return None
        try:
            with open(ports_file) as f:
                return {"pid": proc.pid, "control": json.load(f)["control"], "proc": proc,
                        "listen": addrs}
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    stop_process(proc)
    log("the demo gateways did not start within 15s; going on without them")
    return None


def instructions(c, st, gtmctl, document, gateways):
    d = c.dir
    n1 = c.nodes[0]
    rel = os.path.relpath(gtmctl, ROOT) if os.path.isabs(gtmctl) else gtmctl
    endpoints = ",".join(u.replace("http://", "") for u in c.etcd.urls)
    L = [""]
    L.append(f"A local gtmd cluster is up: {len(c.etcd.names)} etcd members and "
             f"{len(c.nodes)} gtmd nodes (data, configs and logs in {d})")
    for m in st["etcd"]:
        L.append(f"  etcd {m['name']}   client {m['client_url']}   peer {m['peer_url']}   "
                 f"pid {m['pid']}")
    for n in c.nodes:
        L.append(f"  {n.name}       DNS 127.0.0.1:{n.dns_port}   API {n.url}   probes from "
                 f"{n.source}   pid {n.proc.pid}"
                 + (f"   (applied {os.path.relpath(document, ROOT)})" if n is n1 and document
                    else ""))
    ports = " ".join(str(n.dns_port) for n in c.nodes)
    name = "bookinfo.gtm.example.com" if document == DEMO_DOC else "NAME"
    L.append("")
    L.append(f"Try, from {ROOT}:")
    L.append(f"  for p in {ports}; do dig +short @127.0.0.1 -p $p {name} A; done"
             "    # every node answers")
    L.append(f"  export GTM_TOKEN=$(cat {d}/admin.token)")
    for n in c.nodes:
        L.append(f"  {rel} --server {n.url} status" + ("      # each node's API; the same admin "
                                                        "token on all" if n is n1 else ""))
    if document == DEMO_DOC:
        w = c.nodes[-1]
        L.append(f"  {rel} --server {w.url} drain frankfurt 127.0.0.21   # a write on "
                 f"{w.name} ...")
        L.append(f"  for p in {ports}; do dig +short @127.0.0.1 -p $p {name} A; done   # ... is in "
                 "every node's answers")
        L.append(f"  {rel} --server {w.url} undrain frankfurt 127.0.0.21")
        L.append(f"  {rel} --server {n1.url} explain {name}   # each vantage's vote per member")
        if gateways:
            L.append(f"  curl -s -XPOST 'http://127.0.0.1:{gateways['control']}/mode?"
                     "addr=127.0.0.21&port=8080&mode=refuse'   # frankfurt fails for every "
                     "vantage: out everywhere")
            L.append(f"  curl -s -XPOST 'http://127.0.0.1:{gateways['control']}/mode?"
                     "addr=127.0.0.21&port=8080&mode=ok'")
    L.append(f"  kill -9 {c.nodes[-1].proc.pid}   # {c.nodes[-1].name} dies: the others answer on, "
             f"its votes leave {c.lease_ttl} later")
    L.append(f"  etcdctl --endpoints={endpoints} get --prefix {c.prefix} --keys-only   # the keys "
             "(store/etcd_store.h)")
    L.append("  scripts/cluster status" + ("" if d == DEFAULT_DIR else f" --dir {d}"))
    L.append("")
    return L


def cmd_start(a):
    if not a.no_setup:
        r = subprocess.run([os.path.join(ROOT, "scripts", "setup")], stdin=subprocess.DEVNULL,
                           stdout=sys.stderr, stderr=sys.stderr)
        if r.returncode != 0:
            log("scripts/setup failed (run it as root)")
            return 2
    st = read_state(a.dir)
    if st is not None and any(ours(x["pid"], st["dir"]) for x in st["nodes"] + st["etcd"]):
        log(f"a cluster started from {a.dir} is still running: scripts/cluster stop"
            + ("" if a.dir == DEFAULT_DIR else f" --dir {a.dir}") + " first")
        return 2
    gtmd, how, gtmctl = find_binaries(a)
    log(f"gtmd binary: {gtmd} ({how})")
    # a fresh folder: etcd's data, each node's data and logs of the last run go — but only a
    # folder that is empty or one this script made (a mistyped --dir is never emptied)
    if os.path.isdir(a.dir) and os.listdir(a.dir):
        if not os.path.isdir(os.path.join(a.dir, "etcd")) or not os.path.exists(
                os.path.join(a.dir, "admin.token")):
            log(f"{a.dir} holds files that scripts/cluster did not write: give an empty or new "
                "--dir")
            return 2
        subprocess.run(["rm", "-rf", "--one-file-system", a.dir], check=True)
    os.makedirs(a.dir, exist_ok=True)
    document = os.path.abspath(a.document) if a.document else DEMO_DOC
    spawner = Spawner(detach=a.detach)
    n = a.nodes
    c = LocalCluster(a.dir, gtmd, nodes=n, spawner=spawner, lease_ttl=a.lease_ttl,
                     quorum=a.quorum, fallback_after=a.fallback_after, workers=a.workers,
                     dns_ports=[a.base_port + i + 1 for i in range(n)],
                     http_ports=[8053 + i + 1 for i in range(n)],
                     etcd_client_ports=[23791, 23792, 23793],
                     etcd_peer_ports=[23801, 23802, 23803])
    token_file = os.path.join(a.dir, "admin.token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(c.token + "\n")
    gateways = None
    state_path = os.path.join(a.dir, STATE)
    code = 0

    def save():
        st = c.describe()
        st["supervisor"] = None if a.detach else os.getpid()
        st["gateways"] = ({k: v for k, v in gateways.items() if k != "proc"}
                          if gateways else None)
        st["document"] = document
        st["gtmctl"] = gtmctl
        with open(state_path + ".tmp", "w") as f:
            json.dump(st, f, indent=1)
        os.replace(state_path + ".tmp", state_path)
        return st

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts this in the background ignores it otherwise
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        if document == DEMO_DOC and not a.no_gateways:
            gateways = start_gateways(spawner, a.dir, DEMO_GATEWAYS)
        log(f"starting etcd ({', '.join(c.etcd.urls)}) and {n} gtmd nodes in {a.dir}")
        c.etcd.start()
        save()
        first = c.nodes[0]
        first.spawn(document)
        save()
        first.wait_ready()
        for node in c.nodes[1:]:
            node.spawn()
        save()
        for node in c.nodes[1:]:
            node.wait_ready()
        st = save()
        print("\n".join(instructions(c, st, gtmctl, document, gateways)))
        if a.detach:
            print(f"Stop it: scripts/cluster stop" + ("" if a.dir == DEFAULT_DIR else
                                                      f" --dir {a.dir}"))
            sys.stdout.flush()
            return 0
        print("Stop it: Ctrl-C here, or scripts/cluster stop"
              + ("" if a.dir == DEFAULT_DIR else f" --dir {a.dir}") + " from another terminal")
        sys.stdout.flush()
        seen = set()
        while True:  # until Ctrl-C; say when something we started exits
            for name, p in spawner.procs:
                if p.poll() is not None and name not in seen:
                    seen.add(name)
                    log(f"{name} (pid {p.pid}) exited with code {p.returncode}")
            if all(p.poll() is not None for _, p in spawner.procs):
                log("everything it started has stopped")
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("stopping")
    except ClusterError as e:
        log(f"error: {e}")
        code = 2
    finally:
        if not a.detach or code != 0:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
            codes = c.stop()
            for name, rc in codes.items():
                if rc not in (0, None):
                    log(f"{name} exited with code {rc} (see {os.path.join(a.dir, name)}/gtmd.log)")
            if gateways:
                stop_process(gateways["proc"])
            try:
                os.unlink(state_path)
            except OSError:
                pass
            log(f"stopped; data and logs kept in {a.dir}")
    return code


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.command == "stop":
        return cmd_stop(a)
    if a.command == "status":
        return cmd_status(a)
    try:
        return cmd_start(a)
    except ClusterError as e:
        log(f"error: {e}")
        return 2
