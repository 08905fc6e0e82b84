"""Health decisions that hold (issue 8), watched in the DNS answers, not only in the events.

- a dead gateway is never served, at any moment, while the configuration changes around it (a
  new pool, a renamed pool, a member moved between pools, a pool's monitor swapped);
- a flapping gateway changes its presence in the answers at most twice a minute;
- our own network failing (4 of 5 members across two pools at once) never shrinks the answers and
  publishes no verdict change until the isolation guard lets go;
- a gateway that dies is out at its first failed probe;
- explain's answer set is the set of addresses the answers hold, whatever the state.

A Sampler queries a balancer every few milliseconds in a thread of its own for the whole of a
transition; the tests assert on every answer it saw.
"""

import threading
import time

import pytest

from apihelp import Api
from harness import GtmdError, wait_for
from test_probing import (BACK_LIMIT_S, GONE_LIMIT_S, ZONE, ask, balancer, document, http_args,
                          log_lines_with, log_time, monitor, net, pool, record, record_timing,
                          verdict_changes, wait_answer, wait_probed, wait_settled)


class Sampler:
    """Asks `label` every `every_s` until stopped; keeps (time, addresses, rcode)."""

    def __init__(self, g, label, every_s=0.01):
        self.g, self.label, self.every_s = g, label, every_s
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                a = ask(self.g, self.label)
                self.samples.append((time.monotonic(), frozenset(a.addresses), a.rcode))
            except GtmdError:
                pass  # a lost packet; the next one counts
            time.sleep(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def seen(self, after=0.0):
        return [s for t, s, _ in self.samples if t >= after]


def api_of(g):
    token = (g.dir / "data" / "admin.token").read_text().strip()
    return Api(g.ports["http"], token)


def presence_changes(samples, address):
    """Times at which `address` entered or left the answers."""
    out, last = [], None
    for t, addrs, _ in samples:
        present = address in addrs
        if last is not None and present != last:
            out.append(t)
        last = present
    return out


def most_in_a_minute(times):
    return max((len([u for u in times[i:] if u - t < 60.0]) for i, t in enumerate(times)),
               default=0)


# ---------------------------------------------------------------------------------------------
# A dead address is never served while the configuration changes


def test_a_dead_member_is_never_served_while_pools_are_added_renamed_moved_and_re_pointed(
        gateway_factory, gtmd_factory):
    dead, alive, other = net(40, 41), net(40, 42), net(40, 43)
    gw, port = gateway_factory.start(lambda p: [
        *http_args(p, dead, mode="refuse"), *http_args(p, alive, other),
        *http_args(p + 1, alive, other)])
    mon = monitor("web", port)
    mon2 = monitor("web2", port + 1)
    p1 = pool("p1", [dead, alive])
    g = gtmd_factory.start(document([mon, mon2], [p1, pool("p3", [other])],
                                    [balancer("b1", ["p1"]), balancer("b3", ["p3"])]))
    wait_settled(g, "b1", {alive})
    api = api_of(g)

    def apply(doc):
        api.ok("PUT", "/api/v1/config", doc)

    steps = [
        # issue 8's reproduction: a new pool with the same monitor and the dead member
        ("new pool", document([mon, mon2], [p1, pool("p2", [dead]), pool("p3", [other])],
                              [balancer("b1", ["p1"]), balancer("b2", ["p2"]),
                               balancer("b3", ["p3"])])),
        ("renamed pool", document([mon, mon2], [p1, pool("p2r", [dead]), pool("p3", [other])],
                                  [balancer("b1", ["p1"]), balancer("b2", ["p2r"]),
                                   balancer("b3", ["p3"])])),
        ("member moved", document([mon, mon2], [pool("p1", [alive]), pool("p2r", [dead]),
                                                pool("p3", [other, dead])],
                                  [balancer("b1", ["p1"]), balancer("b2", ["p2r"]),
                                   balancer("b3", ["p3"])])),
        ("monitor swapped", document([mon, mon2], [pool("p1", [alive]),
                                                   pool("p2r", [dead], monitor_name="web2"),
                                                   pool("p3", [other, dead])],
                                     [balancer("b1", ["p1"]), balancer("b2", ["p2r"]),
                                      balancer("b3", ["p3"])])),
    ]
    with Sampler(g, "b2") as b2, Sampler(g, "b3") as b3, Sampler(g, "b1") as b1:
        for name, doc in steps:
            t0 = time.monotonic()
            apply(doc)
            # Watch the answers for a while after each change (probes run every second).
            wait_for(lambda: time.monotonic() - t0 > 2.5, timeout=5, interval=0.05,
                     what="a while after the change")
            for s in (b1, b2, b3):
                bad = [x for x in s.seen(t0) if dead in x]
                assert not bad, (name, s.label, f"{len(bad)} answers held the dead {dead}",
                                 g.logs())
    assert b2.samples and b3.samples
    # ... and explain says the same as the answers.
    ex = api.ok("GET", f"/api/v1/explain?name=b2.{ZONE}")
    assert ex["answers"] == [] and ex["mode"] == "fail_closed", ex
    member = ex["tiers"][0]["pools"][0]["members"][0]
    assert member["verdict"] == "down" and member["status"] == "verdict_down", member
    assert ask(g, "b3").addresses == {other}


# ---------------------------------------------------------------------------------------------
# Flapping: at most two changes of presence a minute


@pytest.mark.slow
def test_a_flapping_gateway_changes_its_presence_in_the_answers_at_most_twice_a_minute(
        gateway_factory, gtmd_factory):
    flappers = {"flap=1": net(41, 1), "flap=2": net(41, 2), "random=0.5": net(41, 3)}
    steady = [net(41, 10 + i) for i in range(len(flappers))]
    ballast = [net(41, 100 + i) for i in range(4)]
    gw, port = gateway_factory.start(lambda p: [
        *[a for f, addr in flappers.items() for a in http_args(p, addr)],
        *http_args(p, *steady), *http_args(p, *ballast), "--seed", "11"])
    # interval 1 s, rise 2, fall 2 (the figures), the default hold_down (60 s).
    mon = monitor("web", port, hold_down=None)
    pools, balancers = [pool("ballast", ballast)], []
    for i, addr in enumerate(flappers.values()):
        pools.append(pool(f"f{i}", [addr, steady[i]]))
        balancers.append(balancer(f"f{i}", [f"f{i}"]))
    g = gtmd_factory.start(document([mon], pools, balancers))
    wait_probed(gw, port, list(flappers.values()) + steady + ballast)
    t0 = time.monotonic()
    for mode, addr in flappers.items():
        gw.set_mode(mode, addr, port)
    samplers = [Sampler(g, f"f{i}", every_s=0.05) for i in range(len(flappers))]
    for s in samplers:
        s.__enter__()
    try:
        wait_for(lambda: time.monotonic() - t0 >= 60.0 or g.proc.poll() is not None,
                 timeout=70, interval=0.5, what="a minute of flapping")
    finally:
        for s in samplers:
            s.__exit__(None, None, None)
    assert g.proc.poll() is None, g.logs()
    report = []
    for (mode, addr), s in zip(flappers.items(), samplers):
        listener = gw.listener(addr, port)
        assert listener["statuses"].get("503", 0) >= 10, listener  # it really flapped
        changes = presence_changes(s.samples, addr)
        report.append(f"{mode}: {len(changes)} presence changes, "
                      f"{[round(t - t0, 1) for t in changes]}, probes {listener['statuses']}")
        assert most_in_a_minute(changes) <= 2, (mode, changes, g.logs())
        assert all(steady[list(flappers).index(mode)] in x for x in s.seen()), mode
    print("\n[flapping presence] " + "\n[flapping presence] ".join(report))
    assert not log_lines_with(g, "isolation guard"), g.logs()


# ---------------------------------------------------------------------------------------------
# Our own network failing


def test_four_of_five_members_failing_at_once_never_shrink_the_answers_before_the_guard_lets_go(
        gateway_factory, gtmd_factory):
    a1, a2, b1, b2, c1 = (net(42, i) for i in (1, 2, 3, 4, 5))
    gw, port = gateway_factory.start(lambda p: http_args(p, a1, a2, b1, b2, c1))
    g = gtmd_factory.start(document(
        [monitor("web", port)],
        [pool("a", [a1, a2]), pool("b", [b1, b2]), pool("c", [c1])],
        [balancer("iso", ["a", "b"]), balancer("c", ["c"])]),
        config="health:\n  isolation_hold: 6s\n")
    everyone = {a1, a2, b1, b2}
    wait_probed(gw, port, [a1, a2, b1, b2, c1])
    wait_settled(g, "iso", everyone)
    with Sampler(g, "iso", every_s=0.005) as s:
        t_break, wall_break = time.monotonic(), time.time()
        for m in (a1, a2):
            gw.set_mode("hang", m, port)
        for m in (b1, b2):
            gw.set_mode("blackhole", m, port)
        released = wait_for(lambda: log_lines_with(g, "isolation guard: released"), timeout=30,
                            interval=0.05, what="the isolation hold to expire")
        t_release = time.monotonic()
    assert log_lines_with(g, "went down at once"), g.logs()
    before_release = [x for t, x, _ in s.samples if t_break <= t < t_release - 0.3]
    assert len(before_release) > 100, len(before_release)
    shrunk = [x for x in before_release if x != everyone]
    assert not shrunk, (f"{len(shrunk)} of {len(before_release)} answers shrank before the guard "
                        f"let go, e.g. {sorted(shrunk[0])}", g.logs())
    # No verdict was published while the guard held them: the first changes come with the
    # release.
    wall_release = log_time(released[0])
    early = [c for c in verdict_changes(g) if wall_break <= c.at < wall_release - 0.01]
    assert not early, (early, g.logs())
    record(f"isolation: {len(before_release)} answers sampled until the release, every one whole "
           f"({t_release - t_break:.1f} s held)")
    # Then the failure is accepted and the four leave.
    wait_answer(g, "iso", lambda x: not x.addresses, GONE_LIMIT_S, "the held members to go")
    gw.set_mode("ok")
    wait_answer(g, "iso", lambda x: x.addresses == everyone, BACK_LIMIT_S, "all to come back")


# ---------------------------------------------------------------------------------------------
# A gateway that dies is out at its first failed probe


@pytest.mark.parametrize("mode", ["refuse", "hang"])
def test_a_gateway_that_dies_is_out_of_the_answers_at_its_first_failed_probe(
        gateway_factory, gtmd_factory, mode):
    block = 43 if mode == "refuse" else 44
    victim, others = net(block, 1), [net(block, i) for i in (2, 3, 4)]
    gw, port = gateway_factory.start(lambda p: http_args(p, victim, *others))
    g = gtmd_factory.start(document(
        [monitor("web", port)], [pool("a", [victim, others[0]]), pool("b", others[1:])],
        [balancer("d", ["a", "b"])]))
    wait_probed(gw, port, [victim, *others])
    wait_settled(g, "d", {victim, *others})
    with Sampler(g, "d", every_s=0.005) as s:
        t0 = gw.set_mode(mode, victim, port)
        wait_for(lambda: any(victim not in x for x in s.seen(t0)), timeout=GONE_LIMIT_S,
                 interval=0.01, what=f"{victim} to leave the answers")
        gone = next(t for t, x, _ in s.samples if t >= t0 and victim not in x)
        down = wait_for(lambda: [c for c in verdict_changes(g, victim) if c.to == "down"],
                        timeout=GONE_LIMIT_S, what="the down verdict")
    record_timing(f"{mode}: break -> out of the answers", gone - t0)
    # interval 1 s + timeout 0.5 s is the latest a first failed probe can end: it left then, at
    # once, not when fall confirmed it.
    limit = 1.0 + (0.5 if mode == "hang" else 0.0) + 0.5
    assert gone - t0 <= limit, (gone - t0, g.logs())
    # It never came back meanwhile.
    assert not any(victim in x for t, x, _ in s.samples if t > gone), g.logs()
    assert down


# ---------------------------------------------------------------------------------------------
# Explain is the answer


def explained(api, label):
    ex = api.ok("GET", f"/api/v1/explain?name={label}.{ZONE}")
    return ex, {a["address"] for a in ex["answers"]}


def seen_over(g, label, n=200):
    out = set()
    for _ in range(n):
        out |= ask(g, label).addresses
    return out


def test_explain_names_exactly_the_addresses_the_answers_hold_in_every_state(gateway_factory,
                                                                           gtmd_factory):
    p1, p2, p3, s1, s2 = (net(45, i) for i in (1, 2, 3, 4, 5))
    gw, port = gateway_factory.start(lambda p: http_args(p, p1, p2, p3, s1, s2))
    mon = monitor("web", port, hold_down="30s")
    doc = document(
        [mon],
        [pool("primary", [p1, p2, p3], slow_start="60s"), pool("secondary", [s1, s2])],
        [balancer(name, [{"pool": "primary", "priority": 1},
                         {"pool": "secondary", "priority": 2}],
                  max_answers=2, when_all_down=policy, fallback=[net(45, 99)])
         for name, policy in (("fo", "fail_open"), ("fc", "fail_closed"), ("fb", "fallback"))])
    for b in doc["balancers"]:
        if b["when_all_down"] != "fallback":
            del b["fallback"]
    g = gtmd_factory.start(doc)
    api = api_of(g)
    wait_probed(gw, port, [p1, p2, p3, s1, s2])

    def check(state, labels=("fo", "fc", "fb")):
        for label in labels:
            ex, says = explained(api, label)
            seen = seen_over(g, label)
            assert says == seen, (state, label, sorted(says), sorted(seen), ex)
            # The shares are those of the served table, and sum to one when anything is served.
            if says:
                assert abs(sum(a["share"] for a in ex["answers"]) - 1.0) < 1e-9, ex
        return explained(api, labels[0])[0]

    wait_for(lambda: seen_over(g, "fo", 50) == {p1, p2, p3}, timeout=10, what="all up")
    check("all up")
    # Suspicion: one lost probe of p1 keeps it out for hold_down (30 s).
    gw.set_mode("503", p1, port)
    wait_for(lambda: p1 not in seen_over(g, "fo", 20), timeout=GONE_LIMIT_S, what="p1 suspect")
    gw.set_mode("ok", p1, port)
    ex = check("suspect")
    members = {m["address"]: m for m in ex["tiers"][0]["pools"][0]["members"]}
    assert members[p1]["status"] in ("avoided", "verdict_down"), members[p1]
    # Drain: p2 leaves.
    api.ok("PUT", f"/api/v1/pools/primary/members/{p2}/admin", {"admin": "drain"})
    check("drained")
    # Slow start: p2 undrained ramps from a tenth of its weight.
    api.ok("PUT", f"/api/v1/pools/primary/members/{p2}/admin", {"admin": "auto"})
    ex = check("slow start")
    members = {m["address"]: m for m in ex["tiers"][0]["pools"][0]["members"]}
    assert members[p2]["slow_start"] < 0.5, members[p2]
    # Tier failover: the primary tier down. (A suspect member still counts for its tier, and is
    # served when its tier has nothing better: p1 must fail too.)
    for m in (p1, p2, p3):
        gw.set_mode("refuse", m, port)
    wait_for(lambda: seen_over(g, "fo", 20) <= {s1, s2}, timeout=GONE_LIMIT_S,
             what="the second tier to serve")
    ex = check("tier failover")
    assert ex["mode"] == "degraded" and ex["serving_priority"] == 2, ex
    # Everything down: each all-down mode.
    gw.set_mode("refuse", s1, port)
    gw.set_mode("refuse", s2, port)
    wait_for(lambda: not seen_over(g, "fc", 5), timeout=GONE_LIMIT_S, what="everything down")
    ex = check("all down")
    assert ex["mode"] == "fail_open"
    assert explained(api, "fc")[0]["mode"] == "fail_closed"
    assert explained(api, "fb")[0]["mode"] == "fallback"
    assert explained(api, "fb")[1] == {net(45, 99)}
