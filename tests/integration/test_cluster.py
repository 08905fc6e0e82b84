"""Cluster mode (issue 12): three gtmd nodes on a real three-member etcd, on loopback, with real
gateways. A write on one node is in every node's answers; a member goes down only when a quorum
of the vantages sees it fail; etcd failures never stop DNS; a dead node's votes expire.

A vantage's broken path is an nft rule dropping what leaves its probe source address
(127.0.1.<n>) for a gateway, in a table this module owns and removes.
"""

import json
import os
import statistics
import subprocess
import threading
import time
import uuid

import pytest

from apihelp import TcpTarget
from clusterhelp import Cluster, EtcdCluster, wait_all
from harness import GtmdError, wait_for
from test_probing import http_args, monitor

ZONE = "gtm.example.com"
BAL = f"bookinfo.{ZONE}"
V1 = "/api/v1"

pytestmark = pytest.mark.cluster


def doc(port, regions):
    """Two regions (pools) of one member each behind one balancer, 50/50, fail_closed."""
    return {
        "zones": [{"name": ZONE, "soa": {"mname": f"ns1.{ZONE}", "rname": f"h.{ZONE}"},
                   "ns": [f"ns1.{ZONE}"], "records": ["ns1 3600 A 127.0.0.53"]}],
        "monitors": [monitor("web", port)],
        "pools": [{"name": f"r{i}", "monitor": "web", "members": [{"address": a}]}
                  for i, a in enumerate(regions)],
        "balancers": [{"name": BAL, "ttl": 5, "max_answers": 8, "when_all_down": "fail_closed",
                       "pools": [{"pool": f"r{i}"} for i in range(len(regions))]}],
    }


@pytest.fixture
def etcd(tmp_path):
    e = EtcdCluster(tmp_path / "etcd").start()
    yield e
    e.stop()


@pytest.fixture
def cluster(tmp_path, etcd):
    c = Cluster(tmp_path, etcd)
    yield c
    failures = c.stop_all()
    assert not failures, "\n".join(failures)


def start_nodes(cluster, document, n=3):
    first = cluster.add(document)
    first.start()
    for _ in range(n - 1):
        cluster.add().start()
    wait_all(cluster.nodes, lambda x: x.ready(), 20, "every node ready")
    return cluster.nodes


def answers(node):
    return set(node.a(BAL))


def metrics_of(node):
    """The cluster gauges of a node's /metrics, by name."""
    text = node.api.get("/metrics").text
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith("gtm_cluster_")}


def test_a_write_on_one_node_is_in_every_nodes_answers_within_a_second(cluster, gateway_factory):
    r1, r2 = "127.0.50.1", "127.0.50.2"
    gw, port = gateway_factory.start(lambda p: http_args(p, r1, r2))
    nodes = start_nodes(cluster, doc(port, [r1, r2]))
    wait_all(nodes, lambda x: answers(x) == {r1, r2}, 15, "both regions everywhere")
    wait_all(nodes, lambda x: metrics_of(x) == {"gtm_cluster_nodes": 3, "gtm_cluster_link_up": 1,
                                                "gtm_cluster_judging_alone": 0}, 10,
             "the cluster gauges")
    assert sorted(nodes[0].api.ok("GET", f"{V1}/health")["cluster"]["live_nodes"]) == [
        "ns1", "ns2", "ns3"]
    delays = []
    for i in range(20):
        state = "drain" if i % 2 == 0 else "auto"
        writer = nodes[i % 3]
        t0 = time.monotonic()
        writer.api.ok("PUT", f"{V1}/pools/r0/members/{r1}/admin", {"admin": state})
        want = {r2} if state == "drain" else {r1, r2}
        assert answers(writer) == want  # read your writes on the node written to
        wait_all(nodes, lambda x: answers(x) == want, 5, f"write {i} everywhere")
        delays.append(time.monotonic() - t0)
    delays.sort()
    print(f"\n[cluster] write -> every node's answers: p50 {statistics.median(delays) * 1000:.1f} ms"
          f", max {delays[-1] * 1000:.1f} ms over {len(delays)} writes")
    assert delays[-1] < 1.0, delays


def test_one_vantage_failing_pulls_nothing_and_two_do(cluster, gateway_factory, nft):
    r1, r2 = "127.0.50.11", "127.0.50.12"
    gw, port = gateway_factory.start(lambda p: http_args(p, r1, r2))
    nodes = start_nodes(cluster, doc(port, [r1, r2]))
    wait_all(nodes, lambda x: answers(x) == {r1, r2}, 15, "both regions everywhere")
    nft.drop(nodes[0].source, r1)  # node 1's path to region 1 breaks
    t_deadline = time.monotonic() + 6  # several probe rounds, well past fall
    seen_out = []
    while time.monotonic() < t_deadline:
        seen_out += [n.name for n in nodes if r1 not in answers(n)]
        time.sleep(0.1)
    assert not seen_out, f"one vantage's broken path pulled {r1} from {set(seen_out)}"
    h = nodes[1].api.ok("GET", f"{V1}/health")
    vantages = [t for t in h["targets"] if t["address"] == r1][0]["vantages"]
    assert {v["node"]: v["verdict"] for v in vantages}["ns1"] == "down", vantages
    t0 = time.monotonic()
    nft.drop(nodes[1].source, r1)  # and node 2's: a majority
    wait_all(nodes, lambda x: answers(x) == {r2}, 10, f"{r1} out everywhere")
    print(f"\n[cluster] second vantage fails -> out everywhere: {time.monotonic() - t0:.2f} s")
    def explained():
        ex = nodes[2].api.ok("GET", f"{V1}/explain?name={BAL}")
        return [m for t in ex["tiers"] for p in t["pools"] for m in p["members"]
                if m["address"] == r1][0]

    # Each vantage's own view, as Route 53 shows each checker's (ns2 confirms by fall).
    member = wait_for(lambda: (lambda m: m if {v["node"]: v["verdict"] for v in m["vantages"]} == {
        "ns1": "down", "ns2": "down", "ns3": "up"} else None)(explained()), timeout=5,
        what="the vantages in explain")
    assert member["verdict"] == "down" and member["status"] == "verdict_down", member
    nft.flush()
    wait_all(nodes, lambda x: answers(x) == {r1, r2}, 20, f"{r1} back everywhere")


def test_a_dead_nodes_votes_expire_and_a_restarted_node_serves_before_it_is_ready(
        cluster, gateway_factory, nft):
    r1, r2 = "127.0.50.21", "127.0.50.22"
    gw, port = gateway_factory.start(lambda p: http_args(p, r1, r2))
    nodes = start_nodes(cluster, doc(port, [r1, r2]))
    wait_all(nodes, lambda x: answers(x) == {r1, r2}, 15, "both regions everywhere")
    # ns1 and ns2 see r1 down: out everywhere. Then ns2 dies: its vote expires with its lease
    # (3 s), and of the two vantages alive one sees it down: not a majority, back in.
    nft.drop(nodes[0].source, r1)
    nft.drop(nodes[1].source, r1)
    wait_all(nodes, lambda x: answers(x) == {r2}, 10, f"{r1} out everywhere")
    nodes[1].kill9()
    t0 = time.monotonic()
    alive = [nodes[0], nodes[2]]
    wait_all(alive, lambda x: answers(x) == {r1, r2}, 15, "the dead node's vote to expire")
    print(f"\n[cluster] node killed -> its vote gone from the quorum: {time.monotonic() - t0:.2f} s")
    # Restarted (a write happened meanwhile): it serves the current config before it is ready.
    nodes[0].api.ok("PUT", f"{V1}/pools/r1/members/{r2}", {"address": r2, "weight": 7})
    nodes[1].start()
    wait_for(nodes[1].ready, timeout=20, what="ns2 ready again")
    assert nodes[1].api.ok("GET", f"{V1}/pools/r1/members/{r2}")["weight"] == 7


def test_etcd_leader_killed_then_quorum_lost_dns_keeps_answering(cluster, etcd, gateway_factory):
    r1, r2 = "127.0.50.31", "127.0.50.32"
    gw, port = gateway_factory.start(lambda p: http_args(p, r1, r2))
    nodes = start_nodes(cluster, doc(port, [r1, r2]))
    wait_all(nodes, lambda x: answers(x) == {r1, r2}, 15, "both regions everywhere")
    stop = threading.Event()
    dns_failures = []

    def ask_all():
        while not stop.is_set():
            for n in nodes:
                try:
                    if answers(n) != expected[0]:
                        dns_failures.append((n.name, time.monotonic()))
                except Exception as e:  # noqa: BLE001 - any failure to answer counts
                    dns_failures.append((n.name, repr(e)))
            time.sleep(0.02)

    expected = [{r1, r2}]
    t = threading.Thread(target=ask_all, daemon=True)
    t.start()
    try:
        # The leader dies: writes come back within a few seconds, none acknowledged is lost.
        leader = etcd.leader()
        etcd.kill(leader)
        t0 = time.monotonic()
        acked = []

        def write():
            r = nodes[0].api.put(f"{V1}/pools/r0/members/{r1}",
                                 {"address": r1, "weight": 50 + len(acked)})
            if r.status == 200:
                acked.append(50 + len(acked))
                return True
            return False

        wait_for(write, timeout=15, interval=0.2, what="a write after the leader's death")
        print(f"\n[cluster] etcd leader killed -> writes again after {time.monotonic() - t0:.2f} s")
        wait_all(nodes,
                 lambda x: x.api.ok("GET", f"{V1}/pools/r0/members/{r1}")["weight"] == acked[-1],
                 5, "the acknowledged write everywhere")
        # Two of three members gone: writes refused fast with 503, DNS unchanged.
        others = [i for i in range(3) if i != leader]
        etcd.kill(others[0])
        wait_for(lambda: nodes[0].api.put(f"{V1}/pools/r0/members/{r1}",
                                          {"address": r1, "weight": 9}).status == 503,
                 timeout=15, what="writes refused once quorum is lost")
        t1 = time.monotonic()
        r = nodes[1].api.put(f"{V1}/pools/r0/members/{r1}", {"address": r1, "weight": 9})
        took = time.monotonic() - t1
        assert r.status == 503, r
        assert took < 0.5, took  # hasleader: no 7-second hang
        print(f"[cluster] quorum lost -> a write refused in {took * 1000:.0f} ms")
        time.sleep(8)  # past fallback_after (6 s): judging alone, answers unchanged
        assert any("judging alone" in n.logs() for n in nodes), nodes[0].logs()[-2000:]
        # Shown where operators look: /metrics (alerted on) and the health view.
        # (Each node notices the lost quorum on its own: its watch's progress stops.)
        wait_all(nodes, lambda x: metrics_of(x) == {"gtm_cluster_nodes": 3,
                                                    "gtm_cluster_link_up": 0,
                                                    "gtm_cluster_judging_alone": 1}, 15,
                 "every node judging alone")
        for n in nodes:
            c = n.api.ok("GET", f"{V1}/health")["cluster"]
            assert c["node"] == n.name and not c["link_up"] and c["judging_alone"], c
        # Restored: converged, no flap.
        etcd.start_member(leader)
        etcd.start_member(others[0])
        wait_for(etcd.healthy, timeout=30, what="etcd back")
        wait_for(lambda: nodes[2].api.put(f"{V1}/pools/r0/members/{r1}",
                                          {"address": r1, "weight": 11}).status == 200,
                 timeout=30, interval=0.5, what="writes accepted again")
        wait_all(nodes, lambda x: x.api.ok("GET", f"{V1}/pools/r0/members/{r1}")["weight"] == 11,
                 10, "converged")
        wait_all(nodes, lambda x: metrics_of(x)["gtm_cluster_judging_alone"] == 0, 10,
                 "the quorum decides again")
        assert all(metrics_of(n)["gtm_cluster_link_up"] == 1 for n in nodes)
    finally:
        stop.set()
        t.join()
    assert not dns_failures, dns_failures[:10]


def test_if_match_across_nodes_and_racing_targeted_changes(cluster, gateway_factory):
    members = [f"127.0.50.{40 + i}" for i in range(4)]
    gw, port = gateway_factory.start(lambda p: http_args(p, *members))
    d = doc(port, members[:2])
    d["pools"][0]["members"] = [{"address": a} for a in members]
    nodes = start_nodes(cluster, d, n=2)
    # The same If-Match on two nodes: exactly one 2xx, one 412.
    rev = nodes[0].api.get(f"{V1}/config").headers.get("etag")
    assert rev, "no ETag on /config"
    results = []

    def put(node, weight):
        results.append(node.api.put(f"{V1}/pools/r0/members/{members[0]}",
                                    {"address": members[0], "weight": weight},
                                    headers={"If-Match": rev}).status)

    ts = [threading.Thread(target=put, args=(n, w)) for n, w in ((nodes[0], 3), (nodes[1], 4))]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    assert sorted(results) == [200, 412], results
    # 200 racing targeted changes (drains, weights) on two nodes without If-Match: all applied.
    done = []

    def race(node, member, count):
        for i in range(count):
            node.api.ok("PUT", f"{V1}/pools/r0/members/{member}",
                        {"address": member, "weight": i + 1})
        done.append((member, count))

    ts = [threading.Thread(target=race, args=(nodes[i % 2], members[i], 50)) for i in range(4)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    def weights(node):
        return {m["address"]: m["weight"]
                for m in node.api.ok("GET", f"{V1}/pools/r0/members")["members"]}

    # Every change was applied (none lost to a race), and both nodes serve the last of each.
    try:
        wait_all(nodes, lambda x: weights(x) == {m: 50 for m in members}, 10,
                 "both nodes serve every member's last weight")
    except GtmdError:
        raise AssertionError([(x.name, weights(x)) for x in nodes]) from None


def etcd_count(etcd, prefix):
    out = subprocess.run(["etcdctl", "--endpoints", etcd.urls[0], "get", prefix, "--prefix",
                          "--keys-only", "--limit", "1", "-w", "json"], check=True, capture_output=True,
                         text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}).stdout
    return json.loads(out).get("count", 0)


def test_thousands_of_votes_are_written_within_one_lease(tmp_path, gateway_factory):
    # 3,000 members come up at once: 3,000 votes, far more than one put per round trip writes
    # in the 3 s lease (they used to never all land: the lease expired mid-batch, again and
    # again). In txns of 128 with the keepalive between them they all land, on one lease.
    n = 3000
    members = [f"127.0.{64 + i // 250}.{1 + i % 250}" for i in range(n)]
    target = TcpTarget("127.0.0.1")
    nat = f"gtmvotes{uuid.uuid4().hex[:6]}"
    nft = ["nft"]
    subprocess.run(nft + ["add", "table", "ip", nat], check=True)
    try:
        subprocess.run(nft + ["add", "chain", "ip", nat, "out",
                              "{ type nat hook output priority -100 ; }"], check=True)
        # Every member's address:port reaches the one listener on 127.0.0.1 (loopback only).
        subprocess.run(nft + ["add", "rule", "ip", nat, "out", "ip", "daddr", "127.0.64.0/20",
                              "tcp", "dport", str(target.port), "redirect", "to",
                              f":{target.port}"], check=True)
        etcd = EtcdCluster(tmp_path / "etcd", members=1).start()
        c = Cluster(tmp_path, etcd)
        try:
            d = doc(target.port, ["127.0.50.61"])
            d["monitors"] = [monitor("raw", target.port, type="tcp")]
            d["pools"] = [{"name": "big", "monitor": "raw",
                           "members": [{"address": a} for a in members]}]
            d["balancers"][0]["pools"] = [{"pool": "big"}]
            node = c.add(d)
            node.start()
            t0 = time.monotonic()
            wait_for(lambda: etcd_count(etcd, "gtm/votes/") >= n, timeout=30, interval=0.5,
                     what=f"{n} votes in etcd")
            print(f"\n[cluster] {n} members up -> every vote in etcd: "
                  f"{time.monotonic() - t0:.1f} s from start")
            time.sleep(4)  # past one lease TTL: nothing expired, nothing re-granted
            assert etcd_count(etcd, "gtm/votes/") >= n
            assert etcd_count(etcd, "gtm/nodes/") == 1
            assert "a new lease" not in node.logs(), node.logs()[-2000:]
        finally:
            failures = c.stop_all()
            etcd.stop()
            assert not failures, failures
    finally:
        subprocess.run(nft + ["delete", "table", "ip", nat], capture_output=True)
        target.close()


def test_apply_on_a_second_node_keeps_the_changes_made_through_the_api(cluster, gateway_factory):
    r1, r2 = "127.0.50.71", "127.0.50.72"
    gw, port = gateway_factory.start(lambda p: http_args(p, r1, r2))
    d = doc(port, [r1, r2])
    first = cluster.add(d)
    first.start()
    wait_for(first.ready, timeout=20, what="ns1 ready")
    first.api.ok("PUT", f"{V1}/pools/r0/members/{r1}", {"address": r1, "weight": 9})
    second = cluster.add(d)  # the same document, its own copy of the file
    second.start()
    wait_for(second.ready, timeout=20, what="ns2 ready")
    assert "unchanged since it was last applied" in second.logs(), second.logs()[-2000:]
    for n in (first, second):
        assert n.api.ok("GET", f"{V1}/pools/r0/members/{r1}")["weight"] == 9
    # A document that differs is applied, as on a standalone node.
    d["pools"][1]["members"][0]["weight"] = 3
    second.write_document(d)
    second.sighup()
    wait_all([first, second],
             lambda x: x.api.ok("GET", f"{V1}/pools/r1/members/{r2}")["weight"] == 3, 10,
             "the changed document everywhere")


def test_etcd_refusing_a_too_large_state_is_507_and_nothing_changes(tmp_path, gateway_factory):
    etcd = EtcdCluster(tmp_path / "etcd", members=1,
                       extra_args=["--max-request-bytes", "65536"]).start()
    c = Cluster(tmp_path, etcd)
    try:
        r1, r2 = "127.0.50.81", "127.0.50.82"
        node = c.add(doc(9, [r1, r2]))
        node.start()
        wait_for(node.ready, timeout=20, what="ready")
        before = node.api.get(f"{V1}/config").headers.get("etag")
        members = [{"address": f"127.0.{80 + i // 250}.{1 + i % 250}"} for i in range(2000)]
        r = node.api.put(f"{V1}/pools/r0", {"name": "r0", "monitor": "web", "members": members})
        assert r.status == 507, r
        assert "etcd has no room" in r.body.decode(), r.body
        assert node.api.get(f"{V1}/config").headers.get("etag") == before
        assert len(node.api.ok("GET", f"{V1}/pools/r0/members")["members"]) == 1
        # Still writable for changes that fit.
        node.api.ok("PUT", f"{V1}/pools/r0/members/{r1}", {"address": r1, "weight": 4})
    finally:
        failures = c.stop_all()
        etcd.stop()
        assert not failures, failures


def test_import_from_a_missing_database_creates_nothing(tmp_path, etcd):
    missing = tmp_path / "nope" / "gtmd.db"
    (tmp_path / "nope").mkdir()
    c = Cluster(tmp_path, etcd)
    node = c.add()
    argv = node.argv() + ["--import-from", str(missing)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       env={**os.environ, "GTMD_ADMIN_TOKEN": node.admin_secret})
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "--import-from" in r.stderr and str(missing) in r.stderr, r.stderr[-2000:]
    assert not missing.exists()
