"""The real Prometheus and Alertmanager of Debian's packages on 127.0.0.1 with free ports, for
the tests that use them (test_alerts.py, test_alertmanager.py, test_promql.py)."""

import json
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from harness import GtmdError, wait_for

PROMETHEUS_BIN = "/usr/bin/prometheus"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "prometheus"
START_DEADLINE_S = 30.0


def free_port():
    """A port the OS has just handed out on 127.0.0.1 (the servers take ports as flags; a
    start that finds it taken meanwhile is retried with another)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2.0) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return False


def shipped_rules(for_, edits=None):
    """configs/prometheus/gtmd-rules.yml as a document, with every `for:` set to `for_` (the
    production durations are minutes) and, per alert in `edits`, exact text replacements in its
    expression: {alertname: [(old, new), ...]}, each `old` found exactly once (a changed rule
    fails here rather than testing something else). Everything else is the project's."""
    doc = yaml.safe_load((CONFIGS / "gtmd-rules.yml").read_text())
    edits = dict(edits or {})
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_
            for old, new in edits.pop(rule.get("alert"), []):
                assert rule["expr"].count(old) == 1, (rule["alert"], old, rule["expr"])
                rule["expr"] = rule["expr"].replace(old, new)
    assert not edits, f"no such alerts in gtmd-rules.yml: {sorted(edits)}"
    return doc


# ---------------------------------------------------------------------------------------------
# The servers


class Server:
    """A Prometheus or an Alertmanager process on 127.0.0.1:<free port>. `argv_for(port)` gives
    its command line; ready when GET /-/ready answers 200."""

    def __init__(self, name, workdir, argv_for):
        self.name = name
        self.dir = Path(workdir)
        self.argv_for = argv_for
        self.proc = None
        self.port = None
        self.log_path = self.dir / f"{name}.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, attempts=5, port=None):
        """On a free port; with `port`, on that one (one attempt: a restart where clients
        already point)."""
        for _ in range(1 if port else attempts):
            self.port = port or free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.argv_for(self.port), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=self._log, cwd=self.dir)

            def ready():
                if self.proc.poll() is not None:
                    return "exited"
                return http_ok(self.url + "/-/ready") and "ready"

            state = wait_for(ready, timeout=START_DEADLINE_S, interval=0.1,
                             what=f"{self.name} to be ready")
            if state == "ready":
                return self
            self._log.close()
            if "address already in use" not in self.log():
                raise GtmdError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        raise GtmdError(f"{self.name}: no free port after {attempts} attempts:\n{self.log()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
