"""The operator's intent survives restarts and careless inputs (issue 10, "Apply semantics").

The model: `--apply` (at start and on SIGHUP) applies its file only when the file changed since it
was last applied; a changed file is applied whole, except that members it lists without `admin`
keep their admin state (drains are runtime state, not configuration). A document without any
zone never deletes everything unless `--prune` (or `?prune=true`) says so; an unreadable file, a
directory or an empty file is an error: exit 2 at start, the old state kept on SIGHUP.
"""

import os
import time
from pathlib import Path
import subprocess

from apihelp import ADMIN_SECRET, BASE_DOC, GTMCTL_BIN, api_servers  # noqa: F401 (a fixture)
from harness import wait_for

V1 = "/api/v1"
BAL = "bookinfo.gtm.example.com"
ADMIN = V1 + "/pools/hangzhou/members/{}/admin"


def run_to_exit(g, *extra):
    return subprocess.run(g.argv() + list(extra), cwd=g.dir, capture_output=True, text=True,
                          timeout=30, env=dict(os.environ, GTMD_ADMIN_TOKEN=ADMIN_SECRET))


def test_a_drain_survives_a_restart_with_the_same_apply_file_and_a_sighup(api_servers):
    g = api_servers.start()
    g.api.ok("PUT", ADMIN.format("127.0.0.12"), {"admin": "drain"})
    g.api.ok("POST", f"{V1}/pools/hangzhou/members", {"address": "127.0.0.13"})
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.13"]
    g.restart(apply=True)  # the shipped configs/gtmd.yaml sets --apply: a restart does this
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.13"], g.logs()
    assert "is unchanged since it was last applied" in g.logs()
    g.sighup()
    wait_for(lambda: g.logs().count("is unchanged since it was last applied") >= 2,
             what="the SIGHUP handled")
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.13"]


def test_a_changed_file_is_applied_but_keeps_the_admin_states_it_does_not_set(api_servers):
    g = api_servers.start()
    g.api.ok("PUT", ADMIN.format("127.0.0.12"), {"admin": "drain"})
    g.write_document(BASE_DOC.replace("{address: 127.0.0.21}", "{address: 127.0.0.22}"))
    g.sighup()
    wait_for(lambda: g.api.ok("GET", f"{V1}/pools/frankfurt")["members"][0]["address"] ==
             "127.0.0.22", what="the changed file applied")
    assert g.a(BAL) == ["127.0.0.11"]  # still drained
    # The apply logs what it kept after it has published: wait for the line, not only the answer.
    wait_for(lambda: "hangzhou/127.0.0.12 keeps its admin state" in g.logs(),
             what="the kept admin state logged")
    # A file that sets the admin state wins.
    g.write_document(BASE_DOC.replace("{address: 127.0.0.12}",
                                      "{address: 127.0.0.12, admin: auto}"))
    g.sighup()
    wait_for(lambda: g.a(BAL) == ["127.0.0.11", "127.0.0.12"], what="the file's admin state")


def test_an_empty_or_unreadable_document_at_start_is_refused_and_changes_nothing(api_servers):
    g = api_servers.start()
    rows = g.state_rows()
    g.stop()
    cases = {
        "empty file": lambda: g.doc_path.write_text(""),
        "only a comment": lambda: g.doc_path.write_text("# truncated\n"),
    }
    for name, make in cases.items():
        make()
        p = run_to_exit(g)
        assert p.returncode == 2, (name, p)
        assert "no zone" in p.stderr and "--apply" in p.stderr, (name, p.stderr)
        assert g.state_rows() == rows, name
    for name, path in (("/dev/null", "/dev/null"), ("a directory", str(g.dir)),
                       ("a missing file", str(g.dir / "nope.yaml"))):
        args = g.argv()
        args[args.index("--apply") + 1] = path
        p = subprocess.run(args, cwd=g.dir, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, GTMD_ADMIN_TOKEN=ADMIN_SECRET))
        assert p.returncode == 2, (name, p)
        assert path in p.stderr, (name, p.stderr)
        assert g.state_rows() == rows, name
    # --prune means it.
    g.doc_path.write_text("")
    g.extra_args = ["--prune"]
    g.start()
    assert g.api.config()["zones"] == []
    assert g.answer(BAL)[0] == "REFUSED"



def test_a_truncated_document_on_sighup_keeps_serving_the_old_state(api_servers):
    g = api_servers.start()
    rows = g.state_rows()
    g.doc_path.write_text("")
    g.sighup()
    wait_for(lambda: "reload failed" in g.logs(), what="the refused reload")
    assert "no zone" in g.logs()
    assert g.state_rows() == rows
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    assert g.proc.poll() is None


def test_put_config_without_zones_needs_prune(api_servers):
    g = api_servers.start()
    r = g.api.put(f"{V1}/config", {})
    assert r.status == 422 and r.field == "zones", r
    assert g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    ok = g.api.ok("PUT", f"{V1}/config?prune=true", {})
    assert ok["changes"], ok
    assert g.api.config()["zones"] == []


def test_a_short_gtmd_admin_token_is_refused(api_servers):
    g = api_servers.create(admin_secret="short-secret")
    p = subprocess.run(g.argv(), cwd=g.dir, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, GTMD_ADMIN_TOKEN="short-secret"))
    assert p.returncode == 2, p
    assert "GTMD_ADMIN_TOKEN must be at least 16 bytes" in p.stderr, p.stderr


BOMB = (Path(__file__).parent.parent / "fuzz" / "corpus" / "document" / "alias_bomb").read_text()


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_yaml_alias_bomb_is_refused_at_once_by_sighup_apply_and_gtmctl(api_servers, tmp_path):
    # 9^9 values from 342 bytes: refused before expansion, the API answering meanwhile, memory
    # as it was. (It used to block every API call for 40 s and leave 1.95 GB resident.)
    g = api_servers.start()
    rows = g.state_rows()
    base = rss_kb(g.proc.pid)
    g.write_document(BOMB)
    t0 = time.monotonic()
    g.sighup()
    wait_for(lambda: "reload failed" in g.logs(), timeout=5, interval=0.01,
             what="the refused reload")
    took = time.monotonic() - t0
    assert g.api.get("/healthz").status == 200
    assert g.state_rows() == rows and g.a(BAL) == ["127.0.0.11", "127.0.0.12"]
    grown = rss_kb(g.proc.pid) - base
    print(f"\n[intent] alias bomb by SIGHUP: refused in {took * 1000:.0f} ms (with the log "
          f"poll), RSS +{grown} kB")
    assert took < 1.0 and grown < 8192, (took, grown)
    line = [l for l in g.logs().splitlines() if "reload failed" in l][-1]
    assert "alias" in line, line
    # gtmctl checks the file locally first: exit 2 at once, nothing sent.
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB)
    t0 = time.monotonic()
    p = subprocess.run([GTMCTL_BIN, "--server", f"http://127.0.0.1:{g.http_port}", "--token",
                        ADMIN_SECRET, "apply", "-f", str(f)], capture_output=True, text=True,
                       timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 2 and str(f) in p.stderr and "alias" in p.stderr, p
    assert took < 2.0, took
    # --apply at start: exit 2, the stored state untouched.
    g.stop()
    p = run_to_exit(g)
    assert p.returncode == 2 and "alias" in p.stderr, p
    assert g.state_rows() == rows
