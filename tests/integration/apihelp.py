"""Helpers for the REST API, store, gtmctl and fault integration tests (test_api.py,
test_store.py, test_gtmctl.py, test_faults.py).

ApiGtmd is a harness.Gtmd that knows its admin token, can start without --apply (so that a
restart serves what the store holds), restarts on the same data dir and reads its RSS. Api
talks HTTP with http.client from a chosen 127.0.0.x source address: the server counts failed
authentications per address, so every request meant to fail authentication comes from an
address of its own (fresh_source()) and never locks the test's own address out.

Only 127.0.0.0/8 is ever addressed.
"""

import contextlib
import http.client
import itertools
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.rcode
import dns.rdatatype
import pytest

from harness import GTMD_BIN, Gtmd, GtmdError, wait_for, wait_for_binary

GTMCTL_BIN = os.environ.get("GTMCTL_BIN", str(Path(GTMD_BIN).parents[1] / "web" / "gtmctl"))
ADMIN_SECRET = "test-admin-secret-1f0e2d3c"
HTTP_TIMEOUT_S = 30.0

# The desired state most API tests start from. Balancers answer up to 16 members so that a
# test sees every eligible member in one answer.
BASE_DOC = """\
zones:
  - name: gtm.example.com
    soa: {mname: ns1.gtm.example.com, rname: hostmaster.example.com, minimum: 30}
    ns: [ns1.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
      - "static 300 A 127.0.0.90"
pools:
  - name: hangzhou
    members: [{address: 127.0.0.11}, {address: 127.0.0.12}]
  - name: frankfurt
    members: [{address: 127.0.0.21}]
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 30
    max_answers: 16
    pools:
      - {pool: hangzhou, priority: 1}
      - {pool: frankfurt, priority: 2}
"""

_sources = (f"127.0.{b}.{c}" for b in itertools.count(100) for c in range(1, 255))
_sources_lock = threading.Lock()


def fresh_source():
    """A loopback source address no request used before (for requests that fail auth)."""
    with _sources_lock:
        return next(_sources)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def text(self):
        return self.body.decode(errors="replace")

    @property
    def error(self):
        return self.json.get("error") if isinstance(self.json, dict) else None

    @property
    def field(self):
        return self.json.get("field") if isinstance(self.json, dict) else None

    def __repr__(self):
        return f"<{self.status} {self.text[:600]!r}>"


class Api:
    """A small HTTP client of gtmd's API. `token` None sends no Authorization header."""

    _DEFAULT = object()

    def __init__(self, port, token=None, source="127.0.0.1", host="127.0.0.1"):
        self.port = port
        self.token = token
        self.source = source
        self.host = host

    def with_token(self, token, source=None):
        return Api(self.port, token, source or self.source, self.host)

    def request(self, method, path, body=None, token=_DEFAULT, content_type="application/json",
                headers=None, source=None, timeout=HTTP_TIMEOUT_S):
        token = self.token if token is Api._DEFAULT else token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h = {}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if body is not None and content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=(source or self.source, 0))
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Reply(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, body=None, expect=(200, 201), **kw):
        """The request, asserted to succeed; returns its JSON."""
        r = self.request(method, path, body, **kw)
        expect = (expect,) if isinstance(expect, int) else expect
        assert r.status in expect, f"{method} {path} {body!r}: {r}"
        return r.json

    def config(self):
        return self.ok("GET", "/api/v1/config")

    def audit(self, after=0):
        """Every audit entry with an id above `after` (paged: a page ends at 1,000 entries or
        at its byte limit; `more` says whether another follows, from `next_after`)."""
        return self._paged("audit", after)

    def _paged(self, view, after, extra=""):
        out = []
        while True:
            page = self.ok("GET", f"/api/v1/{view}?after={after}&limit=1000{extra}")
            out += page[view]
            more = page.get("more", len(page[view]) == 1000)
            if not more or not page[view]:
                return out
            after = page.get("next_after", page[view][-1]["id"])

    def last_audit_id(self):
        entries = self.audit()
        return entries[-1]["id"] if entries else 0

    def events(self, after=0, type="verdict"):
        """Events with an id above `after`, of one type ("verdict" by default; None: all)."""
        return self._paged("events", after, f"&type={type}" if type else "")


class ApiGtmd(Gtmd):
    """A gtmd with a known admin token ("admin" = ADMIN_SECRET, from GTMD_ADMIN_TOKEN), started
    with --apply the first time and, with apply=False, without it (the store's state)."""

    def __init__(self, workdir, document=BASE_DOC, config=None, admin_secret=ADMIN_SECRET,
                 env=None, **kwargs):
        super().__init__(workdir, document, config=config, **kwargs)
        self.admin_secret = admin_secret
        self.extra_env = dict(env or {})
        self.apply = True
        self.api = None

    @property
    def data_dir(self):
        return self.dir / "data"

    @property
    def db_path(self):
        return self.data_dir / "gtmd.db"

    @property
    def http_port(self):
        return self.ports["http"]

    def argv(self):
        args = super().argv()
        if not self.apply:
            i = args.index("--apply")
            del args[i:i + 2]
        return args

    def spawn(self):
        wait_for_binary()
        env = dict(os.environ)
        env.pop("GTMD_ADMIN_TOKEN", None)
        if self.admin_secret is not None:
            env["GTMD_ADMIN_TOKEN"] = self.admin_secret
        env.update(self.extra_env)
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, cwd=self.dir, env=env)
        return self.proc

    def start(self, apply=None):
        if apply is not None:
            self.apply = apply
        if self.ports_path.exists():
            self.ports_path.unlink()
        self.returncode = None
        super().start()
        self.api = Api(self.http_port, self.admin_secret)
        return self

    def restart(self, apply=False):
        """SIGTERM (exit 0 expected), then start on the same data dir."""
        code = self.stop()
        assert code == 0, f"gtmd exited with {code} on SIGTERM:\n{self.logs()}"
        return self.start(apply=apply)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.returncode = -9
        self._close_logs()

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise GtmdError("no VmRSS")

    # --- DNS ---------------------------------------------------------------------------------

    def answer(self, name, rdtype="A"):
        """(rcode text, sorted rdata texts of `rdtype` in the answer)."""
        r = self.query(name, rdtype)
        t = dns.rdatatype.from_text(rdtype)
        return (dns.rcode.to_text(r.rcode()),
                sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == t for rd in rrset))

    def a(self, name, rdtype="A"):
        rcode, data = self.answer(name, rdtype)
        assert rcode == "NOERROR", f"{name} {rdtype}: {rcode}"
        return data

    # --- the database --------------------------------------------------------------------------

    def sqlite(self, sql, check=True):
        return sqlite(self.db_path, sql, check=check)

    def state_rows(self):
        """The stored desired state and tokens, as the sqlite3 CLI prints them."""
        return self.sqlite(
            "SELECT 'zone', name, body FROM zones ORDER BY name;"
            "SELECT 'monitor', name, body FROM monitors ORDER BY name;"
            "SELECT 'pool', name, body FROM pools ORDER BY name;"
            "SELECT 'member', pool, address, seq, weight, admin FROM members "
            "ORDER BY pool, address;"
            "SELECT 'balancer', name, body FROM balancers ORDER BY name;"
            "SELECT 'token', name, role, hash FROM tokens ORDER BY name;")


def sqlite(db_path, sql, check=True, timeout=30):
    p = subprocess.run(["sqlite3", str(db_path), sql], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"sqlite3 {db_path} {sql!r}: {p.returncode} {p.stderr}"
    return p.stdout


class ApiServers:
    """Starts ApiGtmd processes and stops every one at teardown, failing the test when one that
    is still running does not exit with 0 on SIGTERM."""

    def __init__(self, base):
        self.base = Path(base)
        self.started = []

    def create(self, document=BASE_DOC, config=None, **kwargs):
        g = ApiGtmd(self.base / f"gtmd{len(self.started)}", document, config=config, **kwargs)
        self.started.append(g)
        return g

    def start(self, document=BASE_DOC, config=None, **kwargs):
        return self.create(document, config, **kwargs).start()

    def stop_all(self):
        failures = []
        for g in self.started:
            if g.proc is None or g.returncode is not None:
                continue
            code = g.stop()
            if code not in (0, None):
                failures.append(f"{g.dir}: exit code {code} after SIGTERM\n{g.logs()[-4000:]}")
        assert not failures, "\n".join(failures)


@pytest.fixture
def api_servers(tmp_path):
    servers = ApiServers(tmp_path)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One gtmd with BASE_DOC for a module's tests that leave the state as they found it."""
    servers = ApiServers(tmp_path_factory.mktemp("api"))
    g = servers.start()
    yield g
    servers.stop_all()


# ---------------------------------------------------------------------------------------------
# A TCP listener a tcp monitor probes: up while it accepts, refused once closed.


class TcpTarget:
    def __init__(self, addr, port=0):
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.peers = set()  # the source addresses of the connections accepted
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, peer = self.sock.accept()
                self.peers.add(peer[0])
                c.close()
            except (socket.timeout, OSError):
                continue

    def close(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()


def monitored_doc(port, interval="60s", rise=3, fall=1, members=("127.0.0.11", "127.0.0.12"),
                  extra_members=()):
    """BASE_DOC with the hangzhou pool probed by a tcp monitor on `port`."""
    ms = ", ".join(f"{{address: {a}}}" for a in list(members) + list(extra_members))
    return f"""\
zones:
  - name: gtm.example.com
    soa: {{mname: ns1.gtm.example.com, rname: hostmaster.example.com, minimum: 30}}
    ns: [ns1.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
monitors:
  - name: tcpcheck
    type: tcp
    port: {port}
    interval: {interval}
    timeout: 1s
    rise: {rise}
    fall: {fall}
pools:
  - name: hangzhou
    monitor: tcpcheck
    members: [{ms}]
  - name: frankfurt
    members: [{{address: 127.0.0.21}}]
balancers:
  - name: bookinfo.gtm.example.com
    ttl: 30
    max_answers: 16
    pools:
      - {{pool: hangzhou, priority: 1}}
      - {{pool: frankfurt, priority: 2}}
"""


def explained_member(explain, address, pool=None):
    """A member's entry in a GET /api/v1/explain answer (in `pool`, if given)."""
    for tier in explain["tiers"]:
        for p in tier["pools"]:
            for m in p["members"]:
                if m["address"] == address and (pool is None or p["pool"] == pool):
                    return m
    raise AssertionError(f"{address} not in {explain}")


def verdicts(api):
    """{address: verdict} from GET /api/v1/health."""
    return {t["address"]: t["verdict"] for t in api.ok("GET", "/api/v1/health")["targets"]}


def wait_verdicts(api, expected, timeout=15.0):
    def match():
        v = verdicts(api)
        return v if all(v.get(a) == e for a, e in expected.items()) else None
    return wait_for(match, timeout=timeout, interval=0.05, what=f"verdicts {expected}")


# ---------------------------------------------------------------------------------------------
# Writes under faults (test_store.py, test_faults.py)


class Writer(threading.Thread):
    """Writes until the server goes away; remembers what was acknowledged and what was tried.

    `make(k)` returns (method, path, body, key) for the k-th write. By default the first refusal
    (a non-2xx answer) ends it and is kept in `errors`; with `stop_on_refusal=False` it goes on
    until `stop()` or `max_writes`, and every answer's status is kept in `statuses` as
    (time.monotonic(), key, status)."""

    def __init__(self, api, make, stop_on_refusal=True, max_writes=100000, pause_s=0.0):
        super().__init__(daemon=True)
        self.api = api
        self.make = make
        self.stop_on_refusal = stop_on_refusal
        self.max_writes = max_writes
        self.pause_s = pause_s
        self.acked = []
        self.tried = []
        self.errors = []
        self.statuses = []
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()

    def run(self):
        for k in range(self.max_writes):
            if self._halt.is_set():
                return
            method, path, body, key = self.make(k)
            self.tried.append(key)
            try:
                r = self.api.request(method, path, body, timeout=10)
            except OSError:
                return  # killed: refused or reset
            except Exception as e:  # http.client's own errors (RemoteDisconnected, ...)
                if "Remote" in type(e).__name__ or "BadStatus" in type(e).__name__ \
                        or "Incomplete" in type(e).__name__:
                    return
                self.errors.append(repr(e))
                return
            self.statuses.append((time.monotonic(), key, r.status))
            if 200 <= r.status < 300:
                self.acked.append(key)
            elif self.stop_on_refusal:
                self.errors.append(f"{method} {path}: {r}")
                return
            if self.pause_s:
                self._halt.wait(self.pause_s)


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` (e.g. "2M") mounted on `path` for the block; always unmounted (lazily
    if something still holds it: stop gtmd inside the block)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True, timeout=30)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30)
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill_disk(directory):
    """Writes a filler file until the file system is full; returns its path."""
    path = Path(directory) / "filler"
    chunk = b"\0" * 65536
    # Unbuffered: a buffered file keeps the tail of the write that failed and raises ENOSPC
    # again when it is closed.
    with open(path, "wb", buffering=0) as f:
        for _ in range(10000):  # 640 MB at most; the tmpfs is a few MB
            try:
                f.write(chunk)
            except OSError:
                break
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    # Top up the last blocks byte-wise so that not even a partial page is left.
    with open(path, "ab", buffering=0) as f:
        for _ in range(8192):
            try:
                f.write(b"\0" * 512)
            except OSError:
                break
    return path


# ---------------------------------------------------------------------------------------------
# gtmctl


def gtmctl(*args, server=None, token=None, env=None, timeout=60):
    """Runs gtmctl; `server`/`token` go in as GTM_SERVER/GTM_TOKEN (None: unset). Returns the
    CompletedProcess."""
    wait_for(lambda: os.access(GTMCTL_BIN, os.X_OK), timeout=20, interval=0.2,
             what=f"{GTMCTL_BIN} to exist")
    e = {k: v for k, v in os.environ.items() if k not in ("GTM_SERVER", "GTM_TOKEN")}
    e.pop("http_proxy", None)
    e.pop("HTTP_PROXY", None)
    if server is not None:
        e["GTM_SERVER"] = server
    if token is not None:
        e["GTM_TOKEN"] = token
    e.update(env or {})
    return subprocess.run([GTMCTL_BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=e, stdin=subprocess.DEVNULL)


def closed_port():
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
