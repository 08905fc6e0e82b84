"""gtm_drill: the region failover drill (issue 5), driven by scripts/drill.

One machine, loopback only. It starts:

  * one gtm-test-gateway process per region, each on its own 127.0.0.x address (same port),
    serving the Bookinfo product page;
  * gtmd with a balancer over the regions (weights 50/50 by default), one http monitor;
  * unbound as the recursive resolver, pinned to loopback (stub zones for gtm.test. and for the
    root, both pointing at gtmd; see shared/reference/unbound-test.conf);
  * a load client that behaves like an application: it resolves the name through unbound, keeps
    the answer for the TTL it was given and re-resolves after expiry, connects to the address it
    got and makes one HTTP request per tick at a fixed rate, each bounded by a timeout;
  * watchers that record what unbound and gtmd answer (for the "dead address gone" figures).

Then it injects the scenario's fault, runs the load for the duration, prints a report in the
shape of fortio's and writes the same as JSON. Everything it started (processes, the nft table)
is removed on exit, on failure and on SIGINT/SIGTERM/SIGHUP.

Standard library plus dnspython (python3-dnspython); run it with Debian's /usr/bin/python3.
"""

import argparse
import asyncio
import atexit
import ctypes
import ipaddress
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
except ImportError:  # pragma: no cover - reported at start-up
    dns = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GTMD = os.path.join(ROOT, "build", "dev", "gtmd", "gtmd")
DEFAULT_GATEWAY = os.path.join(ROOT, "tests", "gateway", "gtm-test-gateway")

SCENARIOS = ("region-down", "region-blackhole", "region-hang", "recover", "planned-drain")
ZONE = "gtm.test"
NAME = "bookinfo.gtm.test"
PATH = "/productpage"
BODY_MARK = b"Simple Bookstore App"

# fortio's histogram bucket edges (seconds)
BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.011,
           0.012, 0.014, 0.016, 0.018, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07,
           0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
           0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0]
PERCENTILES = (50, 75, 90, 99, 99.9)

START_DEADLINE_S = 30.0
BINARY_DEADLINE_S = 180.0  # the engineer may be relinking gtmd


class DrillError(Exception):
    pass


def log(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + "drill: " + msg + "\n")
    sys.stderr.flush()


def parse_duration(text):
    """'5', '5s', '500ms', '2m' -> seconds (float)."""
    t = str(text).strip().lower()
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1000.0
        if t.endswith("s"):
            return float(t[:-1])
        if t.endswith("m"):
            return float(t[:-1]) * 60.0
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 5s, 500ms, 2m)") from None


def dur_text(seconds):
    """Seconds as gtmd's duration syntax."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def loopback(addr):
    ip = ipaddress.ip_address(addr)
    if ip.version != 4 or not ip.is_loopback:
        raise argparse.ArgumentTypeError(f"{addr} is not in 127.0.0.0/8: the drill never leaves "
                                         "loopback")
    return str(ip)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="drill",
        description="Region failover drill for gtmd, on loopback: regions (gateways on 127.0.0.x), "
                    "gtmd, unbound and a load client that resolves through unbound and honours "
                    "the TTL. See scripts/DRILL.md.")
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--duration", type=parse_duration, default=300.0,
                   help="load duration (default 300s)")
    p.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    p.add_argument("--ttl", type=int, default=5, help="balancer TTL in seconds (default 5)")
    p.add_argument("--regions", type=int, default=2, help="number of regions, 2-8 (default 2)")
    p.add_argument("--weights", default=None,
                   help="comma-separated pool weights, one per region (default equal: 50,50)")
    p.add_argument("--json", dest="json_file", default=None, help="write the JSON report here")
    p.add_argument("--victim", type=int, default=None,
                   help="which region (1-based) fails or is drained (default: the one the "
                        "client is using at the fault time)")
    p.add_argument("--fault-at", type=parse_duration, default=None,
                   help="when the fault is injected, seconds into the load (default: half the "
                        "duration plus a random offset within one TTL; recover: a fifth of it)")
    p.add_argument("--return-at", type=parse_duration, default=None,
                   help="when the region comes back (recover: default half the duration; other "
                        "scenarios: never unless given)")
    p.add_argument("--fault-anytime", dest="fault_when_used", action="store_false",
                   help="with --victim: fault at --fault-at whatever address the client uses "
                        "(default: wait, at most 60s, for a random moment at which the client's "
                        "answer is the victim's; without --victim the victim is the region in "
                        "use)")
    p.add_argument("--drain-wait", type=parse_duration, default=None,
                   help="planned-drain: wait this long after the drain before stopping the "
                        "gateway (default TTL + 2s: one TTL, plus the resolver's 1-second clock "
                        "and one request timeout)")
    p.add_argument("--interval", type=parse_duration, default=1.0,
                   help="monitor interval (default 1s)")
    p.add_argument("--fall", type=int, default=2, help="monitor fall (default 2)")
    p.add_argument("--rise", type=int, default=3, help="monitor rise (default 3)")
    p.add_argument("--probe-timeout", type=parse_duration, default=1.0,
                   help="monitor timeout (default 1s)")
    p.add_argument("--hold-down", type=parse_duration, default=60.0,
                   help="monitor hold_down (default 60s, gtmd's default)")
    p.add_argument("--slow-start", type=parse_duration, default=60.0,
                   help="pools' slow_start (default 60s)")
    p.add_argument("--one-pool", action="store_true",
                   help="put every region in one pool as members weighted like the regions "
                        "(default: one pool per region, as DESIGN.md models regions)")
    p.add_argument("--max-answers", type=int, default=1,
                   help="balancer max_answers (default 1); with more, the client falls back to "
                        "the next address when a connect fails, as most HTTP clients do")
    p.add_argument("--timeout", type=parse_duration, default=1.0,
                   help="per-request timeout: resolution, connect and answer (default 1s)")
    p.add_argument("--no-keepalive", action="store_true",
                   help="one connection per request (default: HTTP/1.1 keep-alive, as fortio)")
    p.add_argument("--first-address", type=loopback, default="127.0.0.101",
                   help="region N listens on this address + N-1 (default 127.0.0.101)")
    p.add_argument("--port", type=int, default=0,
                   help="the gateways' HTTP port (default: a free random port)")
    p.add_argument("--seed", type=int, default=None, help="seed for the fault-time offset")
    p.add_argument("--workdir", default=None,
                   help="where configs, logs and the database go (default: a new /tmp dir, kept)")
    p.add_argument("--gtmd", default=os.environ.get("GTMD_BIN", DEFAULT_GTMD),
                   help="gtmd binary (default $GTMD_BIN or build/dev/gtmd/gtmd)")
    p.add_argument("--gateway", default=os.environ.get("GTM_TEST_GATEWAY", DEFAULT_GATEWAY),
                   help="gateway program (default tests/gateway/gtm-test-gateway)")
    p.add_argument("--unbound", default=shutil.which("unbound") or "/usr/sbin/unbound",
                   help="unbound binary")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-timeline", action="store_true",
                   help="leave the per-second timeline out of the printed report (JSON keeps it)")
    a = p.parse_args(argv)
    if not 2 <= a.regions <= 8:
        p.error("--regions must be 2-8")
    if a.victim is not None and not 1 <= a.victim <= a.regions:
        p.error("--victim must name one of the regions")
    if a.rate <= 0 or a.rate > 2000:
        p.error("--rate must be in (0, 2000]")
    if a.duration <= 0 or a.duration > 3600:
        p.error("--duration must be in (0, 3600] seconds")
    if a.ttl < 0 or a.ttl > 3600:
        p.error("--ttl must be 0-3600")
    if a.timeout <= 0 or a.timeout > 30:
        p.error("--timeout must be in (0, 30] seconds")
    if a.weights is None:
        a.weights = [50] * a.regions
    else:
        try:
            a.weights = [int(w) for w in a.weights.split(",")]
        except ValueError:
            p.error("--weights: integers, comma-separated")
        if len(a.weights) != a.regions:
            p.error(f"--weights needs {a.regions} values")
    last = ipaddress.ip_address(a.first_address) + (a.regions - 1)
    if not last.is_loopback:
        p.error("the region addresses must stay in 127.0.0.0/8")
    rng = random.Random(a.seed)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 30)
        rng = random.Random(a.seed)
    if a.fault_at is None:
        base = a.duration / 5 if a.scenario == "recover" else a.duration / 2
        a.fault_at = round(base + rng.uniform(0, max(a.ttl, 1)), 2)
    if a.scenario == "recover" and a.return_at is None:
        a.return_at = a.duration / 2
    if a.return_at is not None and a.return_at <= a.fault_at:
        p.error("--return-at must come after --fault-at")
    if a.fault_at >= a.duration:
        p.error("--fault-at must fall inside the duration")
    if a.drain_wait is None:
        a.drain_wait = a.ttl + 2.0
    return a


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


# ---------------------------------------------------------------------------------------------
# Small async HTTP/1.1 client (for the API, the gateway control, and the load)


async def read_response(reader, head_only=False):
    """Reads one HTTP/1.1 response: (status, headers dict, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError("bad status line")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if head_only:
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        body = await reader.readexactly(n) if n else b""
    else:
        body = await reader.read()
    return status, headers, body


async def http_call(host, port, method, path, headers=None, body=None, timeout=5.0):
    """One request on a fresh connection (Connection: close): (status, body bytes)."""
    async def go():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            data = body.encode() if isinstance(body, str) else (body or b"")
            h = {"Host": f"{host}:{port}", "Connection": "close", "Content-Length": str(len(data))}
            h.update(headers or {})
            req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            writer.write(req.encode() + b"\r\n" + data)
            await writer.drain()
            status, _, rbody = await read_response(reader)
            return status, rbody
        finally:
            writer.close()
    return await asyncio.wait_for(go(), timeout)


# ---------------------------------------------------------------------------------------------
# The parts


def port_free(addrs, port, udp=False):
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_port(addrs, udp_too=False, rng=random):
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if port_free(addrs, port) and (not udp_too or port_free(addrs, port, udp=True)):
            return port
    raise DrillError("no free port found on the loopback addresses")


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


class Region:
    def __init__(self, drill, index, address, port, weight):
        self.drill = drill
        self.index = index
        self.name = f"region{index}"
        self.address = address
        self.port = port
        self.weight = weight
        self.pool = "regions" if drill.args.one_pool else self.name
        self.proc = None
        self.control = None
        self.starts = 0

    async def start(self):
        d = self.drill
        self.starts += 1
        ports = os.path.join(d.workdir, f"{self.name}.ports.{self.starts}.json")
        argv = ["/usr/bin/python3", d.args.gateway, "--listen", f"{self.address}:{self.port}",
                "--control", "127.0.0.1:0", "--ports-file", ports]
        self.proc = d.res.spawn(self.name, argv, os.path.join(d.workdir, f"{self.name}.log"))
        info = await wait_file_json(ports, self.proc, 15.0, f"gateway {self.name}")
        self.control = info["control"]

    async def kill(self):
        """The region is deleted: SIGKILL, no goodbye."""
        return await self.drill.res.astop(self.proc, signal.SIGKILL)

    async def stop(self):
        """A planned stop: SIGTERM."""
        return await self.drill.res.astop(self.proc, signal.SIGTERM)

    async def set_mode(self, mode):
        status, body = await http_call("127.0.0.1", self.control, "POST",
                                       f"/mode?mode={mode}&addr={self.address}&port={self.port}")
        if status != 200:
            raise DrillError(f"gateway {self.name}: mode {mode}: {status} {body[:200]!r}")


def desired_state(args, regions):
    """The desired-state document for gtmd (JSON is YAML)."""
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


class Gtmd:
    def __init__(self, drill):
        self.drill = drill
        self.proc = None
        self.dns_port = None
        self.http_port = None
        self.token = secrets.token_hex(16)

    async def start(self):
        d = self.drill
        doc = os.path.join(d.workdir, "desired.json")
        with open(doc, "w") as f:
            json.dump(desired_state(d.args, d.regions), f, indent=2)
        binary = d.args.gtmd
        deadline = time.monotonic() + BINARY_DEADLINE_S
        announced = False
        attempt = 0
        while True:
            if os.access(binary, os.X_OK):
                attempt += 1
                ports = os.path.join(d.workdir, f"gtmd.ports.{attempt}.json")
                env = dict(os.environ, GTMD_ADMIN_TOKEN=self.token)
                argv = [binary, "--apply", doc, "--dns-listen", "127.0.0.1:0",
                        "--http-listen", "127.0.0.1:0",
                        "--data-dir", os.path.join(d.workdir, "gtmd-data"),
                        "--ports-file", ports, "--workers", "2"]
                try:
                    self.proc = d.res.spawn("gtmd", argv, os.path.join(d.workdir, "gtmd.log"),
                                            env=env, cwd=d.workdir)
                    info = await wait_file_json(ports, self.proc, START_DEADLINE_S, "gtmd")
                    self.dns_port, self.http_port = info["dns"], info["http"]
                    return
                except (OSError, DrillError) as e:
                    # the binary may be half-written during a relink: retry until the deadline
                    if time.monotonic() > deadline or attempt >= 5:
                        raise DrillError(f"gtmd did not start ({e}); see "
                                         f"{os.path.join(d.workdir, 'gtmd.log')}") from None
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

    async def table(self):
        """The live answer table: {address: share}, from /api/v1/status."""
        status, obj = await self.api("GET", "/status", timeout=2.0)
        if status != 200:
            raise DrillError(f"/api/v1/status: {status} {obj}")
        for b in obj.get("balancers", []):
            if b.get("name", "").rstrip(".") == NAME:
                return {m["address"]: m["share"] for m in b["A"]["answers"]}, b["A"].get("mode")
        return {}, None


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
    stub-addr: 127.0.0.1@{gtmd}
stub-zone:
    name: "."
    stub-addr: 127.0.0.1@{gtmd}
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


async def dns_query(server, port, name, timeout):
    """One A query (recursion desired): (rcode, [addresses], ttl or None)."""
    q = dns.message.make_query(name, "A")
    r = await dns.asyncquery.udp(q, server, timeout=timeout, port=port, ignore_unexpected=True)
    addrs, ttl = [], None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            addrs.extend(rd.address for rd in rrset)
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    return r.rcode(), addrs, ttl


class Unbound:
    def __init__(self, drill):
        self.drill = drill
        self.proc = None
        self.port = None

    async def start(self, gtmd_port):
        d = self.drill
        binary = ensure_unbound(d.args.unbound)
        for attempt in range(5):
            self.port = pick_port(["127.0.0.1"], udp_too=True)
            conf = os.path.join(d.workdir, "unbound.conf")
            with open(conf, "w") as f:
                f.write(UNBOUND_CONF.format(port=self.port, dir=d.workdir, zone=ZONE,
                                            gtmd=gtmd_port))
            self.proc = d.res.spawn("unbound", [binary, "-d", "-c", conf],
                                    os.path.join(d.workdir, "unbound.log"), cwd=d.workdir)
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
                                 f"{os.path.join(d.workdir, 'unbound.log')}")
            log(f"unbound exited ({self.proc.returncode}) on port {self.port}; another port")
        raise DrillError("unbound did not start; see " + os.path.join(d.workdir, "unbound.log"))


# ---------------------------------------------------------------------------------------------
# The load client


class ClientResolver:
    """What an application's resolver library with a TTL cache does: one resolution at a time,
    the answer kept for the TTL the resolver gave, asked again after expiry."""

    def __init__(self, drill, server, port):
        self.drill = drill
        self.server = server
        self.port = port
        self.addrs = None
        self.expires = 0.0
        self.pending = None
        self.log = []  # (t, [addrs] or None, ttl, outcome)

    async def get(self, timeout):
        loop = asyncio.get_running_loop()
        if self.addrs is not None and loop.time() < self.expires:
            return self.addrs
        if self.pending is None:
            self.pending = asyncio.ensure_future(self._resolve(timeout))
        return await asyncio.shield(self.pending)

    async def _resolve(self, timeout):
        d = self.drill
        try:
            rcode, addrs, ttl = await dns_query(self.server, self.port, NAME, timeout)
        except dns.exception.Timeout:
            d.record_resolution("client", None, None, "timeout")
            raise ResolveError("dns_timeout")
        except (dns.exception.DNSException, OSError) as e:
            d.record_resolution("client", None, None, type(e).__name__)
            raise ResolveError("dns_error")
        finally:
            self.pending = None
        if rcode != dns.rcode.NOERROR or not addrs:
            d.record_resolution("client", [], ttl, dns.rcode.to_text(rcode))
            raise ResolveError("dns_" + dns.rcode.to_text(rcode).lower())
        d.record_resolution("client", addrs, ttl, "ok")
        self.addrs = addrs
        self.expires = asyncio.get_running_loop().time() + (ttl or 0)
        return addrs


class ResolveError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class LoadClient:
    def __init__(self, drill, resolver):
        self.drill = drill
        self.resolver = resolver
        self.args = drill.args
        self.port = drill.regions[0].port
        self.idle = {}  # address -> [(reader, writer)]
        self.sockets_opened = 0
        self.results = []  # (t_sched, address or None, code, latency, t_end)
        self.late_ticks = 0
        self.request = (f"GET {PATH} HTTP/1.1\r\nHost: {NAME}\r\nUser-Agent: gtm-drill\r\n"
                        f"Accept: */*\r\n"
                        + ("Connection: close\r\n" if self.args.no_keepalive else "")
                        + "\r\n").encode()

    async def run(self, t0, duration, stop_event):
        loop = asyncio.get_running_loop()
        n = int(round(duration * self.args.rate))
        tasks = set()
        for i in range(n):
            due = t0 + i / self.args.rate
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.05:
                self.late_ticks += 1
            if stop_event.is_set():
                break
            t = asyncio.ensure_future(self.one(due - t0))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=self.args.timeout + 5)

    async def one(self, t_rel):
        loop = asyncio.get_running_loop()
        start = loop.time()
        state = {"addr": None, "stage": "dns", "writer": None}
        try:
            code = await asyncio.wait_for(self._request(state), self.args.timeout)
        except asyncio.TimeoutError:
            code = {"dns": "dns_timeout", "connect": "connect_timeout"}.get(state["stage"],
                                                                           "timeout")
        except ResolveError as e:
            code = e.code
        except ConnectionRefusedError:
            code = "connect_refused"
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
            code = "reset"
        except OSError as e:
            code = "connect_error" if state["stage"] == "connect" else f"os_error_{e.errno}"
        except ValueError:
            code = "protocol"
        except Exception as e:  # never lose a request from the count
            code = "error_" + type(e).__name__
        if code != "200" and state["writer"] is not None:
            state["writer"].transport.abort()
        end = loop.time()
        self.results.append((t_rel, state["addr"], code, end - start, end - self.drill.t0))

    async def _connect(self, addr, state):
        state["stage"] = "connect"
        reader, writer = await asyncio.open_connection(addr, self.port)
        self.sockets_opened += 1
        return reader, writer

    async def _request(self, state):
        addrs = await self.resolver.get(self.args.timeout)
        # try the addresses in order; fall back to the next one only when a connect fails
        conn = None
        for k, addr in enumerate(addrs):
            state["addr"] = addr
            reused = False
            conn = None
            pool = self.idle.get(addr)
            while pool:
                r, w = pool.pop()
                if not w.is_closing() and not r.at_eof():
                    conn, reused = (r, w), True
                    break
                w.close()
            if conn is None:
                try:
                    conn = await self._connect(addr, state)
                except (ConnectionRefusedError, OSError):
                    if k + 1 < len(addrs):
                        continue
                    raise
            break
        reader, writer = conn
        state["writer"] = writer
        state["stage"] = "response"
        for attempt in (0, 1):
            try:
                writer.write(self.request)
                status, headers, _ = await read_response(reader)
                break
            except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as e:
                # a kept-alive connection the server closed meanwhile: retry once on a new one,
                # as HTTP clients do for an idempotent request
                if attempt == 0 and reused and (not isinstance(e, asyncio.IncompleteReadError)
                                                or not e.partial):
                    writer.transport.abort()
                    reader, writer = await self._connect(state["addr"], state)
                    state["writer"] = writer
                    state["stage"] = "response"
                    continue
                raise
        keep = (not self.args.no_keepalive and status == 200
                and headers.get("connection", "").lower() != "close")
        if keep:
            self.idle.setdefault(state["addr"], []).append((reader, writer))
            state["writer"] = None
        else:
            writer.close()
            state["writer"] = None
        return str(status)

    def close(self):
        for pool in self.idle.values():
            for _, w in pool:
                w.transport.abort()
        self.idle.clear()


# ---------------------------------------------------------------------------------------------
# The drill


class Drill:
    def __init__(self, args):
        self.args = args
        self.res = Resources()
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="gtm-drill-")
        os.makedirs(self.workdir, exist_ok=True)
        self.regions = []
        self.gtmd = None
        self.unbound = None
        self.t0 = None
        self.events = []  # (t, kind, detail)
        self.resolutions = []  # (t, source, [addrs] or None, ttl, outcome)
        self.tables = []  # (t, {addr: share}, mode)
        self.gtmd_answers = []  # (t, [addrs]) direct DNS queries to gtmd
        self.watch_errors = {"unbound": 0, "gtmd_dns": 0, "gtmd_api": 0}
        self.problems = []  # gtmd (or setup) problems seen, reported at the end
        self.client = None
        self.victim = None  # chosen at the fault time

    # -- bookkeeping -----------------------------------------------------------------------

    def now(self):
        return asyncio.get_running_loop().time() - self.t0 if self.t0 is not None else 0.0

    def event(self, kind, detail):
        t = self.now()
        self.events.append((t, kind, detail))
        if not self.args.quiet:
            log(f"t={t:7.2f}s {kind}: {detail}")
        return t

    def record_resolution(self, source, addrs, ttl, outcome):
        if self.t0 is None:
            return
        self.resolutions.append((self.now(), source, addrs, ttl, outcome))

    # -- set-up ------------------------------------------------------------------------------

    async def setup(self):
        a = self.args
        if dns is None:
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
        self.gtmd = Gtmd(self)
        await self.gtmd.start()
        # every region in the answers before the load starts
        deadline = time.monotonic() + 20.0
        while True:
            table, _ = await self.gtmd.table()
            if all(r.address in table for r in self.regions if r.weight > 0):
                break
            if time.monotonic() > deadline:
                raise DrillError(f"gtmd does not serve every region after 20s: {table}")
            await asyncio.sleep(0.2)
        self.unbound = Unbound(self)
        await self.unbound.start(self.gtmd.dns_port)

    # -- watchers ----------------------------------------------------------------------------

    async def watch_unbound(self, stop):
        """What a new resolution through unbound returns, five times a second."""
        while not stop.is_set():
            try:
                rcode, addrs, ttl = await dns_query("127.0.0.1", self.unbound.port, NAME, 1.0)
                self.record_resolution("unbound", addrs if rcode == 0 else [], ttl,
                                       "ok" if rcode == 0 else dns.rcode.to_text(rcode))
            except (dns.exception.DNSException, OSError):
                self.watch_errors["unbound"] += 1
            await asyncio.sleep(0.2)

    async def watch_gtmd_dns(self, stop):
        """What gtmd itself answers, ten times a second (its answers are drawn at random)."""
        while not stop.is_set():
            try:
                t = self.now()
                q = dns.message.make_query(NAME, "A", flags=0)
                r = await dns.asyncquery.udp(q, "127.0.0.1", timeout=1.0,
                                             port=self.gtmd.dns_port, ignore_unexpected=True)
                addrs = [rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
                         for rd in rrset]
                self.gtmd_answers.append((t, addrs))
            except (dns.exception.DNSException, OSError):
                self.watch_errors["gtmd_dns"] += 1
            await asyncio.sleep(0.1)

    async def watch_gtmd_table(self, stop):
        """gtmd's live answer table (members and shares) four times a second."""
        last = None
        while not stop.is_set():
            try:
                table, mode = await self.gtmd.table()
                t = self.now()
                key = (tuple(sorted((k, round(v, 4)) for k, v in table.items())), mode)
                if key != last:
                    self.tables.append((t, table, mode))
                    last = key
            except (OSError, asyncio.TimeoutError, DrillError, ValueError):
                self.watch_errors["gtmd_api"] += 1
            await asyncio.sleep(0.25)

    async def watch_processes(self, stop):
        """gtmd and unbound must live through the drill."""
        while not stop.is_set():
            for name, proc in (("gtmd", self.gtmd.proc), ("unbound", self.unbound.proc)):
                if proc.poll() is not None:
                    msg = f"{name} exited with code {proc.returncode} during the drill"
                    self.problems.append(msg)
                    self.event("error", msg)
                    stop.set()
                    return
            await asyncio.sleep(0.5)

    # -- the scenario ------------------------------------------------------------------------

    async def sleep_until(self, t):
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    async def scenario(self):
        a = self.args
        await self.sleep_until(a.fault_at)
        resolver = self.client.resolver
        if a.victim is None:
            # the region the client is using now (the fault time is random)
            in_use = [r for r in self.regions if resolver.addrs and r.address == resolver.addrs[0]]
            v = self.victim = in_use[0] if in_use else self.regions[0]
        else:
            v = self.victim = self.regions[a.victim - 1]
        if a.victim is not None and a.fault_when_used:
            # a random moment at which the client's answer is the victim's: random delays
            # until one lands in such a moment (not the first moment it is: that would always
            # hit the start of a cache period, the worst case)
            rng = random.Random(a.seed + 1)
            deadline = self.now() + 60.0
            while self.now() < deadline:
                if resolver.addrs and v.address == resolver.addrs[0]:
                    break
                await asyncio.sleep(rng.uniform(0.05, a.ttl + 1.0))
            used = bool(resolver.addrs and v.address == resolver.addrs[0])
            self.event("wait", (f"the client's answer is {v.address}" if used else
                                f"the client did not use {v.address} within 60s")
                       + f" ({self.now() - a.fault_at:.2f}s after --fault-at)")
        if a.scenario in ("region-down", "recover"):
            await v.kill()
            fault_t = self.event("fault",
                                 f"gateway of {v.name} ({v.address}) killed (SIGKILL)")
        elif a.scenario == "region-blackhole":
            self.res.nft_create([f"ip daddr {v.address} tcp dport {v.port} drop",
                                 f"ip saddr {v.address} tcp sport {v.port} drop"])
            fault_t = self.event("fault", f"nft table inet {self.res.nft_table} drops TCP to "
                                          f"and from {v.address}:{v.port}")
        elif a.scenario == "region-hang":
            await v.set_mode("hang")
            fault_t = self.event("fault", f"gateway of {v.name} ({v.address}) accepts and "
                                          f"never answers")
        elif a.scenario == "planned-drain":
            status, obj = await self.gtmd.api(
                "PUT", f"/pools/{v.pool}/members/{v.address}/admin", {"admin": "drain"})
            if status != 200:
                self.problems.append(f"drain via the API answered {status}: {obj}")
                raise DrillError(f"drain failed: {status} {obj}")
            fault_t = self.event("fault", f"{v.name} member {v.address} drained via the API")
            await asyncio.sleep(a.drain_wait)
            code = await v.stop()
            self.event("stop", f"gateway of {v.name} stopped (SIGTERM, exit {code}) "
                               f"{a.drain_wait:.1f}s after the drain")
        if a.return_at is not None:
            # the outage lasts --return-at minus --fault-at, also when the fault waited
            await self.sleep_until(a.return_at + max(0.0, fault_t - a.fault_at))
            if a.scenario in ("region-down", "recover"):
                await v.start()
                self.event("return", f"gateway of {v.name} ({v.address}) started again")
            elif a.scenario == "region-blackhole":
                self.res.nft_remove()
                self.event("return", f"nft drop rules for {v.address} removed")
            elif a.scenario == "region-hang":
                await v.set_mode("ok")
                self.event("return", f"gateway of {v.name} answers again")
            elif a.scenario == "planned-drain":
                await v.start()
                status, obj = await self.gtmd.api(
                    "PUT", f"/pools/{v.pool}/members/{v.address}/admin", {"admin": "auto"})
                if status != 200:
                    self.problems.append(f"undrain via the API answered {status}: {obj}")
                self.event("return", f"gateway of {v.name} started and the member undrained")

    # -- run -----------------------------------------------------------------------------------

    async def run(self):
        a = self.args
        await self.setup()
        vname = "the region in use" if a.victim is None else self.regions[a.victim - 1].name
        if not a.quiet:
            log("regions: " + ", ".join(f"{r.name} {r.address}:{r.port} (weight {r.weight})"
                                         for r in self.regions))
            log(f"gtmd: DNS 127.0.0.1:{self.gtmd.dns_port}, API 127.0.0.1:{self.gtmd.http_port}; "
                f"unbound 127.0.0.1:{self.unbound.port}; workdir {self.workdir}")
            log(f"{a.scenario}: {a.rate:g} req/s for {a.duration:g}s, TTL {a.ttl}s, fault on "
                f"{vname} at t={a.fault_at:g}s"
                + (f", return at t={a.return_at:g}s" if a.return_at is not None else ""))
        if (a.return_at is not None and a.scenario in ("recover", "region-down")
                and a.return_at - a.fault_at < a.hold_down + a.interval * a.fall + 2):
            log(f"note: hold_down {a.hold_down:g}s keeps {vname} out until about "
                f"t={a.fault_at + a.interval * a.fall + a.hold_down:.0f}s")
        loop = asyncio.get_running_loop()
        resolver = ClientResolver(self, "127.0.0.1", self.unbound.port)
        self.client = LoadClient(self, resolver)
        stop = asyncio.Event()
        self.t0 = loop.time() + 0.2
        self.wall_t0 = time.time() + (self.t0 - loop.time())
        watchers = [asyncio.ensure_future(w(stop)) for w in
                    (self.watch_unbound, self.watch_gtmd_dns, self.watch_gtmd_table,
                     self.watch_processes)]
        scen = asyncio.ensure_future(self.scenario())
        progress = asyncio.ensure_future(self.progress(stop))
        try:
            load = asyncio.ensure_future(self.client.run(self.t0, a.duration, stop))
            done, _ = await asyncio.wait([load, scen], return_when=asyncio.FIRST_EXCEPTION)
            if scen in done and scen.exception() is not None:
                stop.set()
                await asyncio.wait([load], timeout=a.timeout + 6)
                raise scen.exception()
            await load
        finally:
            stop.set()
            if not scen.done():
                scen.cancel()
            for w in watchers + [progress]:
                w.cancel()
            await asyncio.gather(*watchers, progress, scen, return_exceptions=True)
            self.client.close()
        self.t_end = self.now()
        await self.collect_events()
        # gtmd must stop cleanly on SIGTERM
        code = self.res.stop(self.gtmd.proc, signal.SIGTERM, wait=15.0)
        if code != 0:
            self.problems.append(f"gtmd exited with code {code} on SIGTERM (expected 0)")

    async def progress(self, stop):
        if self.args.quiet:
            return
        last = 0
        while not stop.is_set():
            await asyncio.sleep(10.0)
            res = self.client.results
            n = len(res)
            errs = sum(1 for r in res if r[2] != "200")
            log(f"t={self.now():7.1f}s {n} calls, {errs} errors, +{n - last} in the last 10s")
            last = n

    async def collect_events(self):
        """gtmd's health events for the region addresses (verdict changes with reasons)."""
        self.health_events = []
        try:
            status, obj = await self.gtmd.api("GET", "/events?limit=1000")
            if status == 200:
                for e in obj.get("events", []):
                    t = e["at_ms"] / 1000.0 - self.wall_t0
                    self.health_events.append({"t": round(t, 3), "address": e["address"],
                                               "from": e["from"], "to": e["to"],
                                               "reason": e["reason"], "detail": e["detail"]})
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            self.problems.append(f"could not read /api/v1/events: {e}")


# ---------------------------------------------------------------------------------------------
# Analysis


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(sorted_values) - 1)
    return sorted_values[f] + (sorted_values[c] - sorted_values[f]) * (k - f)


def histogram(values):
    rows = []
    if not values:
        return rows
    vs = sorted(values)
    n = len(vs)
    lo = vs[0]
    i = 0
    cum = 0
    edges = BUCKETS + [float("inf")]
    prev = 0.0
    for e in edges:
        count = 0
        while i < n and vs[i] <= e:
            count += 1
            i += 1
        if count:
            start = max(prev, lo)
            end = min(e, vs[-1]) if e == float("inf") else e
            cum += count
            rows.append({"start": round(start, 6), "end": round(end, 6),
                         "mid": round((start + end) / 2, 6),
                         "percent": round(100.0 * cum / n, 2), "count": count})
        prev = e
        if i >= n:
            break
    return rows


def runs(observations):
    """[(t, [addrs])] -> [{"from", "to", "answer", "count"}] merging equal consecutive answers."""
    out = []
    for t, addrs in observations:
        key = sorted(addrs) if addrs is not None else None
        if out and out[-1]["answer"] == key:
            out[-1]["to"] = round(t, 3)
            out[-1]["count"] += 1
        else:
            out.append({"from": round(t, 3), "to": round(t, 3), "answer": key, "count": 1})
    return out


def analyse(d):
    a = d.args
    res = d.client.results
    v = d.victim or d.regions[(a.victim or 1) - 1]
    dead = v.address
    fault = next((t for t, k, _ in d.events if k == "fault"), None)
    ret = next((t for t, k, _ in d.events if k == "return"), None)
    stop_t = next((t for t, k, _ in d.events if k == "stop"), None)
    end = a.duration

    total = len(res)
    errors = [r for r in res if r[2] != "200"]
    codes = {}
    for r in res:
        codes[r[2]] = codes.get(r[2], 0) + 1
    by_address = {}
    for r in res:
        key = r[1] or "(no address)"
        e = by_address.setdefault(key, {"requests": 0, "errors": 0})
        e["requests"] += 1
        if r[2] != "200":
            e["errors"] += 1

    nsec = int(math.ceil(a.duration))
    timeline = [{"t": s, "ok": 0, "errors": 0, "by_address": {}, "errors_by_address": {}}
                for s in range(nsec)]
    for t, addr, code, _, _ in res:
        s = min(int(t), nsec - 1)
        row = timeline[s]
        key = addr or "(no address)"
        row["by_address"][key] = row["by_address"].get(key, 0) + 1
        if code == "200":
            row["ok"] += 1
        else:
            row["errors"] += 1
            row["errors_by_address"][key] = row["errors_by_address"].get(key, 0) + 1

    err_secs = [row["t"] for row in timeline if row["errors"]]
    error_window = (err_secs[-1] - err_secs[0] + 1) if err_secs else 0

    # When did the dead address leave the answers?
    down_until = ret if ret is not None else float("inf")
    # gtmd's table (the authority): first table after the fault without it, staying so
    removed_at = None
    if fault is not None:
        for t, table, _ in d.tables:
            if t < fault:
                continue
            if dead not in table and removed_at is None:
                removed_at = t
            elif dead in table and t < down_until:
                removed_at = None
    back_in_table = None
    if ret is not None:
        back_in_table = next((t for t, table, _ in d.tables if t >= ret and dead in table), None)

    # unbound (new resolutions): last one after the fault that still returned it
    ub = [(t, addrs) for t, src, addrs, _, _ in d.resolutions if src in ("unbound", "client")
          and addrs is not None]
    ub.sort(key=lambda x: x[0])
    gone_at = None
    last_dead_resolution = None
    if fault is not None:
        for t, addrs in ub:
            if fault <= t < down_until and dead in addrs:
                last_dead_resolution = t
        if last_dead_resolution is None:
            gone_at = fault
        else:
            gone_at = next((t for t, addrs in ub if t > last_dead_resolution and dead not in addrs),
                           None)
    dead_gone_s = round(gone_at - fault, 2) if (gone_at is not None and fault is not None) else None

    gtmd_dead_seen = [t for t, addrs in d.gtmd_answers
                      if fault is not None and fault <= t < down_until and dead in addrs]
    # anything handed out while down, after gtmd had removed it (must be empty)
    handed_after_removal = []
    if removed_at is not None:
        handed_after_removal += [{"t": round(t, 3), "source": "gtmd"}
                                 for t in gtmd_dead_seen if t > removed_at + 0.05]
        handed_after_removal += [{"t": round(t, 3), "source": src}
                                 for t, src, addrs, ttl, _ in d.resolutions
                                 if addrs and dead in addrs and gone_at is not None
                                 and gone_at <= t < down_until]

    # the last request the client sent to the dead address during the fault
    to_dead = [r for r in res if r[1] == dead and fault is not None and fault <= r[0] < down_until]
    last_to_dead = max((r[0] for r in to_dead), default=None)

    # phases
    if fault is None:
        phases = {"before": (0, end)}
    else:
        if ret is not None:
            mid_end = ret
        elif a.scenario == "planned-drain":
            mid_end = stop_t if stop_t is not None else end
        else:
            mid_end = max(fault, math.ceil(last_to_dead) if last_to_dead is not None else fault)
            mid_end = min(mid_end, end)
        phases = {"before": (0, fault), "during": (fault, mid_end), "after": (mid_end, end)}
    shares = {}
    for ph, (lo, hi) in phases.items():
        sel = [r for r in res if lo <= r[0] < hi]
        n = len(sel)
        counts = {r.address: 0 for r in d.regions}
        errs = 0
        for r in sel:
            if r[1] in counts:
                counts[r[1]] += 1
            if r[2] != "200":
                errs += 1
        shares[ph] = {"from_s": round(lo, 2), "to_s": round(hi, 2), "requests": n,
                      "errors": errs,
                      "share": {addr: round(100.0 * c / n, 1) if n else 0.0
                                for addr, c in counts.items()}}

    lat = sorted(r[3] for r in res)
    ok_lat = sorted(r[3] for r in res if r[2] == "200")
    err_lat = sorted(r[3] for r in errors)

    def stats(vs):
        if not vs:
            return {"count": 0}
        avg = sum(vs) / len(vs)
        sd = math.sqrt(sum((x - avg) ** 2 for x in vs) / len(vs))
        return {"count": len(vs), "avg": avg, "stddev": sd, "min": vs[0], "max": vs[-1],
                "sum": sum(vs)}

    ramp = None
    if ret is not None:
        full = v.weight / sum(rg.weight for rg in d.regions)
        pts = [(round(t - ret, 2), round(table.get(dead, 0.0), 4)) for t, table, _ in d.tables
               if t >= ret]
        first_share = next((sh for _, sh in pts if sh > 0), None)
        full_after = next((t for t, sh in pts if sh >= full - 1e-3), None)
        bins = []
        b0 = ret
        while b0 < end:
            sel = [r for r in res if b0 <= r[0] < min(b0 + 10, end)]
            if sel:
                bins.append({"from_s": round(b0 - ret, 1),
                             "share": round(100.0 * sum(1 for r in sel if r[1] == dead)
                                            / len(sel), 1)})
            b0 += 10
        ramp = {"full_share": round(full, 4), "first_share": first_share,
                "full_share_after_s": full_after, "table_shares": pts,
                "request_share_per_10s": bins}

    out = {
        "scenario": a.scenario,
        "total": total,
        "errors": len(errors),
        "error_pct": round(100.0 * len(errors) / total, 3) if total else 0.0,
        "error_window_s": error_window,
        "dead_address_gone_s": dead_gone_s,
        "by_address": by_address,
        "timeline": timeline,
        "codes": dict(sorted(codes.items())),
        "first_error_s": round(min(r[0] for r in errors), 3) if errors else None,
        "last_error_s": round(max(r[0] for r in errors), 3) if errors else None,
        "errors_not_to_dead_address": sum(1 for r in errors if r[1] != dead),
        "dead_address": dead,
        "fault_at_s": round(fault, 3) if fault is not None else None,
        "return_at_s": round(ret, 3) if ret is not None else None,
        "gateway_stop_at_s": round(stop_t, 3) if stop_t is not None else None,
        "gtmd_removed_s": round(removed_at - fault, 2) if removed_at is not None else None,
        "gtmd_removed_at_s": round(removed_at, 3) if removed_at is not None else None,
        "dead_address_gone_at_s": round(gone_at, 3) if gone_at is not None else None,
        "last_request_to_dead_s": round(last_to_dead, 3) if last_to_dead is not None else None,
        "dead_handed_out_after_removal": handed_after_removal,
        "back_in_answers_at_s": round(back_in_table, 3) if back_in_table is not None else None,
        "errors_after_return": (sum(1 for r in errors if r[0] >= ret) if ret is not None
                                else None),
        "shares": shares,
        "slow_start_ramp": ramp,
        "latency": {"all": stats(lat), "ok": stats(ok_lat), "errors": stats(err_lat),
                    "percentiles": {str(p): percentile(lat, p) for p in PERCENTILES},
                    "histogram": histogram(lat)},
        "sockets_used": d.client.sockets_opened,
        "late_ticks": d.client.late_ticks,
        "failures": [{"t": round(r[0], 3), "address": r[1], "code": r[2],
                      "latency": round(r[3], 4)} for r in errors],
        "client_resolutions": client_runs(d.resolutions),
        "unbound_answers": runs([(t, addrs) for t, src, addrs, _, _ in d.resolutions
                                 if src == "unbound"]),
        "gtmd_dead_answers_during_fault": [round(t, 3) for t in gtmd_dead_seen],
        "gtmd_answer_counts": _count_answers(d.gtmd_answers),
        "gtmd_tables": [{"t": round(t, 3), "mode": mode,
                         "shares": {k: round(v2, 4) for k, v2 in table.items()}}
                        for t, table, mode in d.tables],
        "health_events": getattr(d, "health_events", []),
        "events": [{"t": round(t, 3), "kind": k, "detail": det} for t, k, det in d.events],
        "watch_errors": d.watch_errors,
        "problems": d.problems,
        "params": {
            "duration_s": a.duration, "rate": a.rate, "ttl_s": a.ttl, "regions": a.regions,
            "weights": a.weights, "victim": v.name, "fault_at_s": a.fault_at,
            "return_at_s": a.return_at, "drain_wait_s": a.drain_wait if a.scenario ==
            "planned-drain" else None, "interval_s": a.interval, "fall": a.fall,
            "rise": a.rise, "probe_timeout_s": a.probe_timeout, "hold_down_s": a.hold_down,
            "slow_start_s": a.slow_start, "max_answers": a.max_answers,
            "request_timeout_s": a.timeout, "keepalive": not a.no_keepalive, "seed": a.seed,
            "victim_given": a.victim, "fault_when_used": a.victim is not None and
            a.fault_when_used, "one_pool": a.one_pool,
            "addresses": {r.name: r.address for r in d.regions}, "port": d.regions[0].port,
            "name": NAME, "resolver": f"unbound 127.0.0.1:{d.unbound.port}",
            "gtmd_dns": f"127.0.0.1:{d.gtmd.dns_port}", "workdir": d.workdir,
        },
    }
    out["goals"] = goals(out)
    return out


def client_runs(resolutions):
    """The client's resolutions, consecutive equal answers merged. unbound serves a cached answer
    with TTL 0 during its last second, so the client (which does not cache a TTL of 0) asks once
    per request then: those show as one run with ttl 0."""
    out = []
    for t, src, addrs, ttl, outcome in resolutions:
        if src != "client":
            continue
        key = (sorted(addrs) if addrs is not None else None, ttl, outcome)
        if out and (out[-1]["answer"], out[-1]["ttl"], out[-1]["outcome"]) == key:
            out[-1]["to"] = round(t, 3)
            out[-1]["count"] += 1
        else:
            out.append({"from": round(t, 3), "to": round(t, 3), "answer": key[0], "ttl": ttl,
                        "outcome": outcome, "count": 1})
    return out


def _count_answers(obs):
    c = {}
    for _, addrs in obs:
        for x in addrs:
            c[x] = c.get(x, 0) + 1
    return {"queries": len(obs), "by_address": c}


def goals(r):
    s = r["scenario"]
    g = {}
    if s == "region-down":
        g["errors under 1 %"] = r["error_pct"] < 1.0
        g["error window under 10 s"] = r["error_window_s"] < 10
    elif s == "planned-drain":
        g["zero errors"] = r["errors"] == 0
    elif s == "recover":
        g["no errors after the region returned"] = r["errors_after_return"] == 0
        g["region carries traffic again"] = (r["shares"].get("after", {}).get("share", {})
                                             .get(r["dead_address"], 0) > 0)
    if r["fault_at_s"] is not None:
        g["dead address never handed out after removal"] = not r["dead_handed_out_after_removal"]
        g["every failure went to the faulty region"] = r["errors_not_to_dead_address"] == 0
    return g


# ---------------------------------------------------------------------------------------------
# The report (fortio's shape, then the timeline and the closing figures)


def fmt_s(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def report_text(d, r):
    a = d.args
    L = []
    p = r["params"]
    L.append(f"gtm-drill {r['scenario']}: {a.rate:g} queries per second, {a.duration:g}s: "
             f"http://{NAME}:{p['port']}{PATH} resolved through {p['resolver']} "
             f"(gtmd at {p['gtmd_dns']}, TTL {a.ttl}s)")
    L.append("Regions: " + ", ".join(f"{rg.name} {rg.address} (weight {rg.weight})"
                                     for rg in d.regions)
             + f"; monitor http every {dur_text(a.interval)}, timeout {dur_text(a.probe_timeout)},"
               f" fall {a.fall}, rise {a.rise}, hold_down {dur_text(a.hold_down)}; "
               f"slow_start {dur_text(a.slow_start)}; max_answers {a.max_answers}")
    for e in r["events"]:
        L.append(f"  t={e['t']:7.2f}s {e['kind']}: {e['detail']}")
    lat = r["latency"]["all"]
    L.append(f"Ended after {a.duration:g}s : {r['total']} calls. qps="
             f"{r['total'] / a.duration:.2f}")
    if lat["count"]:
        L.append(f"Aggregated Function Time : count {lat['count']} avg {lat['avg']:.6f} +/- "
                 f"{lat['stddev']:.4g} min {lat['min']:.6f} max {lat['max']:.6f} sum "
                 f"{lat['sum']:.3f}")
        L.append("# range, mid point, percentile, count")
        for h in r["latency"]["histogram"]:
            L.append(f">= {h['start']:.6g} <= {h['end']:.6g} , {h['mid']:.6g} , "
                     f"{h['percent']:.2f}, {h['count']}")
        for pc in PERCENTILES:
            L.append(f"# target {pc:g}% {r['latency']['percentiles'][str(pc)]:.6g}")
    el = r["latency"]["errors"]
    if el["count"]:
        L.append(f"Error cases : count {el['count']} avg {el['avg']:.6f} +/- {el['stddev']:.4g} "
                 f"min {el['min']:.6f} max {el['max']:.6f} sum {el['sum']:.3f}")
    else:
        L.append("Error cases : no data")
    L.append(f"Sockets used: {r['sockets_used']} (for perfect keepalive, would be "
             f"{len(d.regions)})" if not a.no_keepalive else
             f"Sockets used: {r['sockets_used']} (one per request)")
    L.append("IP addresses distribution:")
    for addr, e in sorted(r["by_address"].items()):
        L.append(f"{addr}:{p['port']}: {e['requests']}"
                 + (f" ({e['errors']} errors)" if e["errors"] else ""))
    for code, n in r["codes"].items():
        pct = 100.0 * n / r["total"] if r["total"] else 0
        if code.isdigit():
            L.append(f"Code {code} : {n} ({pct:.1f} %)")
        else:
            L.append(f"Code -1 : {n} ({pct:.1f} %) [{code}]")
    avg_ms = lat["avg"] * 1000 if lat["count"] else 0
    L.append(f"All done {r['total']} calls (plus 0 warmup) {avg_ms:.3f} ms avg, "
             f"{r['total'] / a.duration:.1f} qps")

    if not a.no_timeline:
        L.append("")
        L.append("Timeline (per second; requests per address; x = errors):")
        addrs = [rg.address for rg in d.regions]
        L.append("     t     ok  err  " + "  ".join(f"{x:>15}" for x in addrs))
        marks = {}
        for e in r["events"]:
            marks.setdefault(int(e["t"]), []).append(e["kind"])
        if r["gtmd_removed_at_s"] is not None:
            marks.setdefault(int(r["gtmd_removed_at_s"]), []).append("gtmd-removed")
        if r["dead_address_gone_at_s"] is not None and r["fault_at_s"] is not None:
            marks.setdefault(int(r["dead_address_gone_at_s"]), []).append("resolver-gone")
        if r["back_in_answers_at_s"] is not None:
            marks.setdefault(int(r["back_in_answers_at_s"]), []).append("back-in-answers")
        for row in r["timeline"]:
            cells = []
            for x in addrs:
                n = row["by_address"].get(x, 0)
                en = row["errors_by_address"].get(x, 0)
                cells.append(f"{n:>15}" if not en else f"{f'{n} ({en}x)':>15}")
            note = ("  <- " + ", ".join(marks[row["t"]])) if row["t"] in marks else ""
            L.append(f"{row['t']:6d} {row['ok']:6d} {row['errors']:4d}  " + "  ".join(cells)
                     + note)

    L.append("")
    L.append(f"=== {r['scenario']}: the figures that matter")
    if r["errors"]:
        L.append(f"client-visible error window : {r['error_window_s']} s (seconds "
                 f"{int(r['first_error_s'])}..{int(r['last_error_s'])})")
    else:
        L.append("client-visible error window : 0 s (no failed request)")
    L.append(f"errors                      : {r['errors']} of {r['total']} "
             f"({r['error_pct']:.2f} %)" + (f"; {r['errors_after_return']} after the region "
                                              f"returned" if r["errors_after_return"] is not None
                                              else ""))
    if r["fault_at_s"] is not None:
        L.append(f"dead address gone           : {fmt_s(r['dead_address_gone_s'])} s after the "
                 f"fault (no new resolution through unbound returned {r['dead_address']} after "
                 f"t={fmt_s(r['dead_address_gone_at_s'])} s)")
        L.append(f"gtmd stopped answering it   : {fmt_s(r['gtmd_removed_s'])} s after the fault")
        if r["last_request_to_dead_s"] is not None:
            L.append(f"last request sent to it     : "
                     f"{r['last_request_to_dead_s'] - r['fault_at_s']:.2f} s after the fault")
        if r["back_in_answers_at_s"] is not None:
            back = r["back_in_answers_at_s"] - r["return_at_s"]
            L.append(f"back in gtmd's answers      : {back:.2f} s after it returned")
    rp = r.get("slow_start_ramp")
    if rp is not None and rp["first_share"] is not None:
        if rp["first_share"] < rp["full_share"] - 1e-3:
            L.append(f"slow start                  : gtmd's share for it began at "
                     f"{100 * rp['first_share']:.1f} % and reached its full "
                     f"{100 * rp['full_share']:.0f} % after {fmt_s(rp['full_share_after_s'], 1)} s")
        else:
            L.append(f"slow start                  : NO RAMP: gtmd gave it its full "
                     f"{100 * rp['full_share']:.0f} % share at once (slow_start "
                     f"{dur_text(a.slow_start)})")
        L.append("its share of requests, per 10 s after it returned: "
                 + " ".join(f"{b['share']:.0f}%" for b in rp["request_share_per_10s"]))
    L.append("share of traffic per region  " + "  ".join(f"{ph:>20}" for ph in r["shares"]))
    for rg in d.regions:
        cells = []
        for ph, s in r["shares"].items():
            cells.append(f"{s['share'][rg.address]:>19.1f}%")
        L.append(f"  {rg.name} {rg.address:<15}" + "  ".join(cells))
    L.append("  (phase, seconds)          " + "  ".join(
        f"{s['from_s']:>8.1f}-{s['to_s']:<8.1f}   " for s in r["shares"].values()))
    for k, ok in r["goals"].items():
        L.append(f"goal: {k:<45} {'met' if ok else 'MISSED'}")
    for prob in r["problems"]:
        L.append(f"problem: {prob}")
    L.append(f"logs and configs: {d.workdir}")
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for ip in [str(ipaddress.ip_address(args.first_address) + i) for i in range(args.regions)]:
        loopback(ip)
    drill = Drill(args)
    atexit.register(drill.res.cleanup)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    code = 0
    report = None
    try:
        async def go():
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(s, task.cancel)
            await drill.run()
        asyncio.run(go())
        report = analyse(drill)
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: cleaning up")
        code = 130
    except DrillError as e:
        log(f"error: {e}")
        code = 2
    finally:
        drill.res.cleanup()
    if report is not None:
        print(report_text(drill, report))
        if args.json_file:
            tmp = args.json_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(report, f, indent=1)
            os.replace(tmp, args.json_file)
        if report["problems"]:
            code = 3
    return code
