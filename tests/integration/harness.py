"""Runs the real gtmd on loopback with OS-chosen ports and talks to it.

Gtmd writes the desired-state document (and an optional server config) into a private
directory, starts the binary, waits for its ports file on a deadline, and offers queries through
dnspython, raw UDP/TCP packets and the real clients dig and kdig. Every wait polls a condition
with a deadline; nothing here sleeps for a fixed time to let the server "settle".

Only 127.0.0.0/8 and ::1 are ever addressed.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

GTMD_BIN = os.environ.get("GTMD_BIN", "/work/main/build/dev/gtmd/gtmd")

START_DEADLINE_S = 20.0  # also covers a binary briefly missing during a rebuild
QUERY_TIMEOUT_S = 3.0
NO_REPLY_WAIT_S = 1.0  # how long "no reply" is listened for
STOP_DEADLINE_S = 15.0


class GtmdError(AssertionError):
    pass


def wait_for(condition, timeout=10.0, interval=0.02, what="condition"):
    """Polls `condition` until it returns a truthy value; returns it or fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise GtmdError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_binary(timeout=START_DEADLINE_S):
    """The engineer may be relinking the binary: wait until it exists and is executable."""
    wait_for(lambda: os.access(GTMD_BIN, os.X_OK), timeout=timeout, interval=0.2,
             what=f"{GTMD_BIN} to exist")


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def write_atomically(path, text):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Raw packets


def name_wire(name):
    """A name in wire format, letter case kept as given."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0, opcode=0):
    flags |= (opcode & 0xF) << 11
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def question(name, qtype=1, qclass=1):
    return name_wire(name) + struct.pack("!HH", qtype, qclass)


def opt_rr(udp_size=1232, ext_rcode=0, version=0, flags=0, options=b""):
    """An OPT pseudo-record (RFC 6891 §6.1.2); `options` is the raw rdata."""
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return b"\x00" + struct.pack("!HHIH", 41, udp_size, ttl, len(options)) + options


def edns_option(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


def raw_query(name, qtype=1, qclass=1, qid=0x1234, flags=0, edns=None):
    """A well-formed query; `edns` is the bytes of an OPT record or None."""
    ar = 1 if edns is not None else 0
    return header(qid, flags, 1, 0, 0, ar) + question(name, qtype, qclass) + (edns or b"")


def parse_header(reply):
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", reply[:12])
    return {
        "id": qid,
        "qr": bool(flags & 0x8000),
        "opcode": (flags >> 11) & 0xF,
        "aa": bool(flags & 0x0400),
        "tc": bool(flags & 0x0200),
        "rd": bool(flags & 0x0100),
        "rcode": flags & 0xF,
        "qd": qd,
        "an": an,
        "ns": ns,
        "ar": ar,
    }


# ---------------------------------------------------------------------------------------------


class Gtmd:
    """One gtmd process. Start with start(); stop() sends SIGTERM and returns the exit code."""

    def __init__(self, workdir, document, config=None, listen=("127.0.0.1:0",), workers=2,
                 extra_args=()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.doc_path = self.dir / "desired.yaml"
        self.config_path = self.dir / "gtmd.yaml" if config is not None else None
        self.ports_path = self.dir / "ports.json"
        self.stdout_path = self.dir / "stdout.log"
        self.stderr_path = self.dir / "stderr.log"
        self.listen = list(listen)
        self.workers = workers
        self.extra_args = list(extra_args)
        self.proc = None
        self.ports = None
        self.returncode = None
        self.write_document(document)
        if config is not None:
            self.config_path.write_text(config)

    # --- process --------------------------------------------------------------------------

    def argv(self):
        args = [GTMD_BIN, "--apply", str(self.doc_path)]
        for l in self.listen:
            args += ["--dns-listen", l]
        args += ["--http-listen", "127.0.0.1:0", "--data-dir", str(self.dir / "data"),
                 "--ports-file", str(self.ports_path), "--workers", str(self.workers)]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        return args + self.extra_args

    def spawn(self):
        wait_for_binary()
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, cwd=self.dir)
        return self.proc

    def start(self):
        if self.ports_path.exists():
            self.ports_path.unlink()  # a restart: wait for the new one, not the last run's
        self.spawn()

        def ready():
            if self.proc.poll() is not None:
                raise GtmdError(f"gtmd exited with {self.proc.returncode} before binding:\n"
                                + self.logs())
            if not self.ports_path.exists():
                return None
            try:
                return json.loads(self.ports_path.read_text())
            except ValueError:
                return None  # never expected: the file is renamed into place

        self.ports = wait_for(ready, timeout=START_DEADLINE_S, what="the ports file")
        return self

    def wait_exit(self, timeout=STOP_DEADLINE_S):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise GtmdError(f"gtmd did not exit within {timeout}s:\n" + self.logs())
        finally:
            self._close_logs()
        return self.returncode

    def stop(self):
        """SIGTERM, then the exit code (None if it was already reaped)."""
        if self.proc is None:
            return None
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_logs()

    def _close_logs(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def write_document(self, text):
        if isinstance(text, dict):
            text = json.dumps(text, indent=2)  # JSON is YAML
        write_atomically(self.doc_path, text)

    # --- logs -------------------------------------------------------------------------------

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def logs(self):
        """Everything the process wrote, stderr first."""
        return self.stderr() + self.stdout()

    def log_lines(self):
        return [l for l in self.logs().splitlines() if l.strip()]

    # --- addresses ------------------------------------------------------------------------

    @property
    def dns_port(self):
        return self.ports["dns"]

    @property
    def dns_ports(self):
        return self.ports.get("dns_all", [self.ports["dns"]])

    # --- dnspython queries ----------------------------------------------------------------

    def make_query(self, qname, rdtype="A", rdclass="IN", **kwargs):
        kwargs.setdefault("flags", 0)  # an authoritative server gets non-recursive queries
        return dns.message.make_query(qname, rdtype, rdclass, **kwargs)

    def send(self, msg, tcp=False, host="127.0.0.1", port=None, timeout=QUERY_TIMEOUT_S):
        port = port or self.dns_port
        if tcp:
            return dns.query.tcp(msg, host, timeout=timeout, port=port)
        return dns.query.udp(msg, host, timeout=timeout, port=port, ignore_unexpected=True)

    def query(self, qname, rdtype="A", rdclass="IN", tcp=False, host="127.0.0.1", port=None,
              **kwargs):
        """One query with dnspython over UDP (or TCP); kwargs go to make_query (use_edns,
        payload, options, ednsflags, ...)."""
        return self.send(self.make_query(qname, rdtype, rdclass, **kwargs), tcp=tcp, host=host,
                         port=port)

    def addresses(self, qname, rdtype="A", **kwargs):
        r = self.query(qname, rdtype, **kwargs)
        return sorted(rd.address for rrset in r.answer for rd in rrset
                      if rrset.rdtype == dns.rdatatype.from_text(rdtype))

    def assert_answers(self):
        """A normal query is answered: the server survived whatever came before."""
        r = self.query(self.probe_name, "SOA")
        assert r.rcode() == dns.rcode.NOERROR, r
        assert r.answer and r.answer[0].rdtype == dns.rdatatype.SOA, r
        return r

    probe_name = "gtm.example.com"

    # --- raw packets ------------------------------------------------------------------------

    def raw_udp(self, packet, host="127.0.0.1", port=None, timeout=NO_REPLY_WAIT_S * 2):
        """Sends `packet` as one datagram; returns the reply's bytes, or None when nothing came
        back within `timeout`."""
        port = port or self.dns_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((host, port))
            s.send(packet)
            try:
                return s.recv(65535)
            except socket.timeout:
                return None

    def tcp_connect(self, host="127.0.0.1", port=None, timeout=QUERY_TIMEOUT_S):
        port = port or self.dns_port
        s = socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def raw_tcp(self, packet, host="127.0.0.1", port=None, timeout=QUERY_TIMEOUT_S):
        """Sends `packet` with its 2-byte length on a fresh connection; returns the reply's
        bytes, or None on timeout or EOF."""
        with self.tcp_connect(host, port, timeout) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            return read_tcp_message(s)

    # --- real clients --------------------------------------------------------------------------

    def dig(self, *args, port=None):
        cmd = ["dig", "@127.0.0.1", "-p", str(port or self.dns_port), "+tries=1", "+time=3",
               *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout

    def kdig(self, *args, port=None):
        cmd = ["kdig", "@127.0.0.1", "-p", str(port or self.dns_port), "+retry=0",
               "+timeout=3", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout


def recv_exact(sock, n):
    """Reads exactly n bytes; None on EOF or timeout."""
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_tcp_message(sock):
    size = recv_exact(sock, 2)
    if size is None:
        return None
    return recv_exact(sock, struct.unpack("!H", size)[0])


def wait_for_eof(sock, timeout=10.0):
    """True once the peer closed `sock` (EOF or reset) within `timeout`; False otherwise.
    Data that arrives meanwhile is discarded."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not chunk:
            return True


def run_until_exit(argv, cwd, timeout=STOP_DEADLINE_S):
    """Runs gtmd expecting it to exit on its own (a bad config); returns (code, stdout, stderr).
    """
    wait_for_binary()
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------------------------
# The project's test gateway (tests/gateway/gtm-test-gateway): fake ingress gateways on
# 127.0.0.x whose behaviour a test switches at run time.

GATEWAY_BIN = os.environ.get(
    "GTM_TEST_GATEWAY", str(Path(__file__).resolve().parents[1] / "gateway" / "gtm-test-gateway"))

GATEWAY_PORT_RANGE = (20000, 32000)  # below the kernel's ephemeral range (32768-60999)


class GatewayBindError(GtmdError):
    pass


def random_port():
    import random
    return random.randint(*GATEWAY_PORT_RANGE)


class Gateway:
    """One gtm-test-gateway process. `args` are its listener arguments (--listen ..., etc.)."""

    def __init__(self, workdir, args):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.ports_path = self.dir / "gateway-ports.json"
        self.stderr_path = self.dir / "gateway.log"
        self.proc = None
        self.control_port = None
        self.returncode = None

    def start(self):
        if self.ports_path.exists():
            self.ports_path.unlink()
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [GATEWAY_BIN, "--control", "127.0.0.1:0", "--ports-file", str(self.ports_path),
             *self.args], stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err)

        def ready():
            if self.proc.poll() is not None:
                self._err.close()
                text = self.log()
                if self.proc.returncode == 2 and "cannot listen" in text:
                    raise GatewayBindError(text)
                raise GtmdError(f"gtm-test-gateway exited with {self.proc.returncode}:\n{text}")
            if not self.ports_path.exists():
                return None
            return json.loads(self.ports_path.read_text())

        ports = wait_for(ready, timeout=30.0, interval=0.02, what="the gateway's ports file")
        self.control_port = ports["control"]
        return self

    def log(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self):
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise GtmdError("gtm-test-gateway did not exit on SIGTERM:\n" + self.log())
        finally:
            if not self._err.closed:
                self._err.close()
        return self.returncode

    # --- control -----------------------------------------------------------------------------

    def control(self, method, path, **query):
        import http.client
        import urllib.parse
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            conn.request(method, path + ("?" + q if q else ""))
            r = conn.getresponse()
            body = json.loads(r.read() or b"{}")
        finally:
            conn.close()
        if r.status != 200:
            raise GtmdError(f"gateway {method} {path}?{q}: {r.status} {body}")
        return body

    def set_mode(self, mode, addr=None, port=None):
        """Switches the matching listeners; returns time.monotonic() once the switch is done."""
        self.control("POST", "/mode", mode=mode, addr=addr, port=port)
        return time.monotonic()

    def stats(self, addr=None, port=None):
        return self.control("GET", "/stats", addr=addr, port=port)

    def listener(self, addr, port):
        s = self.stats(addr, port)["listeners"]
        assert len(s) == 1, s
        return s[0]

    def requests(self, addr, port=None):
        return self.stats(addr, port)["total_requests"]

    def received(self, addr=None, port=None):
        """The requests with a body the matching listeners received, oldest first: each
        {"at", "mode", "head", "body", "listener"}."""
        return self.control("GET", "/received", addr=addr, port=port)["received"]

    def reset_counters(self, addr=None, port=None):
        self.control("POST", "/reset", addr=addr, port=port)


# ---------------------------------------------------------------------------------------------
# Network faults: nft rules in a table of the test's own (test_cluster.py, test_faults.py)


class Nft:
    """Drops, per rule, what a source address sends (to a destination, or anywhere), in an inet
    table of its own that close() deletes with every rule in it."""

    def __init__(self):
        self.table = f"gtmtest{uuid.uuid4().hex[:8]}"
        self._run(f"add table inet {self.table}")
        self._run(f"add chain inet {self.table} out {{ type filter hook output priority 0 ; }}")

    def _run(self, cmd):
        subprocess.run(["nft"] + cmd.split(), check=True, capture_output=True, text=True)

    def drop(self, source, dest=None):
        to = f" ip daddr {dest}" if dest is not None else ""
        self._run(f"add rule inet {self.table} out ip saddr {source}{to} drop")

    def flush(self):
        self._run(f"flush chain inet {self.table} out")

    def close(self):
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)
