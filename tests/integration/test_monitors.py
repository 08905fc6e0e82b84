"""Issue 15, item 2: several monitors per pool, combined by `all`, `any` or `{quorum: N}`.

Real gateways (the project's test gateway) answer an http monitor on one port and a tcp monitor
on another; each pool lists both. Breaking one monitor's listener takes a member out under
`all` and not under `any`; explain shows each monitor's verdict and which one decided. Bad
combinations through the API are 422 naming the field, nothing applied. Only 127.0.0.0/8 is used.
"""

from apihelp import ApiGtmd, explained_member as member
from harness import wait_for

ZONE = "gtm.example.com"
NAME = f"shop.{ZONE}"
STRICT = "127.0.95.1"  # pool strict: combine all
LENIENT = "127.0.95.11"  # pool lenient: combine any
# A second tier of healthy gateways: with them, the monitors failing in this test are never
# "more than half of everything" (the isolation guard would rightly hold them).
STEADY = ["127.0.95.21", "127.0.95.22", "127.0.95.23", "127.0.95.24"]
DEADLINE_S = 30.0
V1 = "/api/v1"


def document(port):
    return f"""\
zones:
  - name: {ZONE}
    soa: {{mname: ns1.{ZONE}, rname: hostmaster.example.com, minimum: 30}}
    ns: [ns1.{ZONE}]
    records: ["ns1 3600 A 127.0.0.53"]
monitors:
  - {{name: web, type: http, port: {port}, path: /productpage, interval: 1s, timeout: 500ms,
      fall: 1, rise: 1, hold_down: 0s}}
  - {{name: conn, type: tcp, port: {port + 1}, interval: 1s, timeout: 500ms, fall: 1, rise: 1,
      hold_down: 0s}}
pools:
  - name: strict
    monitors: [web, conn]
    members: [{{address: {STRICT}}}]
  - name: lenient
    monitors: [web, conn]
    combine: any
    members: [{{address: {LENIENT}}}]
  - name: steady
    monitors: [web, conn]
    members: [{", ".join("{address: " + a + "}" for a in STEADY)}]
balancers:
  - name: {NAME}
    ttl: 5
    max_answers: 16
    pools: [{{pool: strict, priority: 1}}, {{pool: lenient, priority: 1}},
            {{pool: steady, priority: 2}}]
"""


def verdicts(m):
    return {x["monitor"]: x["verdict"] for x in m["monitors"]}


def test_all_and_any_combine_two_monitors_and_explain_names_the_one_that_decided(
        tmp_path, gateway_factory):
    gw, port = gateway_factory.start(lambda p: [
        "--listen", f"{STRICT}:{p}", "--listen", f"{LENIENT}:{p}",
        "--tcp-listen", f"{STRICT}:{p + 1}", "--tcp-listen", f"{LENIENT}:{p + 1}"]
        + [a for m in STEADY for a in ("--listen", f"{m}:{p}", "--tcp-listen", f"{m}:{p + 1}")])
    g = ApiGtmd(tmp_path / "gtmd", document(port))
    g.start()
    try:
        def answers():
            return set(g.a(NAME))

        def explain():
            return g.api.ok("GET", f"{V1}/explain?name={NAME}")

        wait_for(lambda: all(set(verdicts(member(explain(), a)).values()) == {"up"}
                             for a in (STRICT, LENIENT)), timeout=DEADLINE_S,
                 what="both monitors up for both members")
        assert answers() == {STRICT, LENIENT}
        m = member(explain(), STRICT)
        assert m["combine"] == "all" and m["decided_by"] is None, m  # every monitor agrees
        assert member(explain(), LENIENT)["combine"] == "any"

        # The tcp listeners refuse: under `all` the member leaves, under `any` it stays.
        for a in (STRICT, LENIENT):
            gw.set_mode("refuse", addr=a, port=port + 1)
        wait_for(lambda: answers() == {LENIENT}, timeout=DEADLINE_S,
                 what="strict out, lenient in, with the tcp monitor failing")
        strict = member(explain(), STRICT)
        assert verdicts(strict) == {"web": "up", "conn": "down"}, strict
        assert strict["decided_by"] == "conn" and strict["status"] == "verdict_down", strict
        assert strict["reason"] == "connect_refused", strict
        assert [x["decided"] for x in strict["monitors"]] == [False, True], strict
        lenient = member(explain(), LENIENT)
        wait_for(lambda: verdicts(member(explain(), LENIENT))["conn"] == "down",
                 timeout=DEADLINE_S, what="lenient's tcp monitor down too")
        lenient = member(explain(), LENIENT)
        assert lenient["decided_by"] == "web" and lenient["status"] == "serving", lenient
        # The monitors' own series: one gtm_member_up per monitor.
        up = {}
        for line in g.api.get("/metrics").text.splitlines():
            if line.startswith("gtm_member_up{") and f'member="{STRICT}"' in line:
                monitor = line.split('monitor="', 1)[1].split('"', 1)[0]
                up[monitor] = line.rsplit(" ", 1)[1]
        assert up == {"web": "1", "conn": "0"}, up

        # Its http monitor failing too: `any` has nothing left.
        gw.set_mode("503", addr=LENIENT, port=port)
        try:
            wait_for(lambda: answers() == set(STEADY), timeout=DEADLINE_S,
                     what="lenient out once both of its monitors fail: the second tier serves")
        except Exception:
            print(member(explain(), LENIENT), answers())
            raise
        assert member(explain(), LENIENT)["decided_by"] == "web"

        # Healed: both back.
        gw.set_mode("ok")
        wait_for(lambda: answers() == {STRICT, LENIENT}, timeout=DEADLINE_S,
                 what="both back once healed")

        # quorum: 2 of 2 is `all` again; 3 of 2 is refused, nothing applied.
        before = g.api.ok("GET", f"{V1}/config")
        body = {"name": "strict", "monitors": ["web", "conn"], "combine": {"quorum": 3},
                "members": [{"address": STRICT}]}
        r = g.api.put(f"{V1}/pools/strict", body)
        assert r.status == 422, r
        assert r.field.endswith(".combine.quorum"), r
        assert "3 is more than the pool's 2 monitors" in r.error, r
        body["combine"] = "most"
        r = g.api.put(f"{V1}/pools/strict", body)
        assert r.status == 422 and r.field in ("combine", "pools[0].combine"), r
        body["combine"] = "any"
        body["monitor"] = "web"
        r = g.api.put(f"{V1}/pools/strict", body)
        assert r.status == 422 and r.field in ("monitors", "pools[0].monitors"), r
        assert "not both" in r.error
        del body["monitor"]
        body["monitors"] = ["web", "nope"]
        r = g.api.put(f"{V1}/pools/strict", body)
        assert r.status == 422 and r.field.endswith(".monitors[1]"), r
        assert g.api.ok("GET", f"{V1}/config") == before
        body["monitors"] = ["web", "conn"]
        body["combine"] = {"quorum": 1}
        g.api.ok("PUT", f"{V1}/pools/strict", body)
        exported = [p for p in g.api.ok("GET", f"{V1}/config")["pools"] if p["name"] == "strict"]
        assert exported[0]["monitors"] == ["web", "conn"], exported
        assert exported[0]["combine"] == {"quorum": 1}, exported
        assert member(explain(), STRICT)["combine"] == "quorum 1"
    finally:
        code = g.stop()
        assert code == 0, f"gtmd exit code {code}\n{g.logs()}"
