"""Robust under abuse (issue 14): response rate limiting against a real flood from one loopback
source, the amplification of ANY and balancer answers, and the DNS TCP limits (idle and slow
connections, a per-source cap) with a real gtmd and real sockets."""

import resource
import socket
import struct
import subprocess
import threading
import time

import dns.message
import dns.rcode

import documents
from harness import Gtmd, parse_header, raw_query, read_tcp_message, run_until_exit, \
    wait_for, wait_for_binary, wait_for_eof
from test_metrics import samples, scrape

ZONE = "gtm.example.com"
RATE = 100
SLIP = 2
FLOOD_SOURCE = "127.0.0.77"
EXEMPT_SOURCE = "127.0.0.88"
OTHER_SOURCE = "127.0.1.5"  # another /24

RRL_CONFIG = f"""\
dns:
  rrl:
    enabled: true
    rate: {RATE}
    slip: {SLIP}
    exempt: [{EXEMPT_SOURCE}]
"""


def flood(port, source, qname, rate, seconds, qtype=1):
    """Sends `rate` queries a second for `seconds` from `source` (a bounded count, paced in 5 ms
    steps) and collects the replies until 0.5 s after the last query. Returns (sent, replies),
    each reply (arrival time from the start, header dict)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    replies = []
    done = threading.Event()
    start = time.monotonic()

    def receive():
        sock.settimeout(0.1)
        while True:
            try:
                data = sock.recv(65535)
            except socket.timeout:
                if done.is_set():
                    return
                continue
            replies.append((time.monotonic() - start, parse_header(data)))

    receiver = threading.Thread(target=receive)
    receiver.start()
    total = int(rate * seconds)
    per_step = max(1, rate // 200)
    sent = 0
    try:
        while sent < total:
            due = start + sent / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            for _ in range(min(per_step, total - sent)):
                sock.send(raw_query(qname, qtype, qid=sent & 0xFFFF))
                sent += 1
        time.sleep(0.5)  # the last replies (bounded: the flood has ended)
    finally:
        done.set()
        receiver.join()
        sock.close()
    return sent, replies


def test_a_flood_from_one_source_is_limited_and_other_sources_are_not(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=RRL_CONFIG)
    qname = "bookinfo." + ZONE

    # A well-behaved client in another /24 asks during the flood, one query every 20 ms.
    other = {"asked": 0, "full": 0, "tc": 0}
    stop_other = threading.Event()

    def well_behaved():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((OTHER_SOURCE, 0))
            s.settimeout(2.0)
            s.connect(("127.0.0.1", g.dns_port))
            while not stop_other.is_set():
                other["asked"] += 1
                s.send(raw_query(qname, qid=other["asked"]))
                h = parse_header(s.recv(65535))
                other["tc" if h["tc"] else "full"] += 1
                time.sleep(0.02)

    t = threading.Thread(target=well_behaved)
    t.start()
    try:
        seconds = 3
        sent, replies = flood(g.dns_port, FLOOD_SOURCE, qname, 2000, seconds)
    finally:
        stop_other.set()
        t.join()

    full = [at for at, h in replies if not h["tc"] and h["an"] > 0]
    truncated = [h for _, h in replies if h["tc"]]
    assert all(h["an"] == 0 and h["qd"] == 1 for h in truncated)
    limited = sent - len(full)
    per_second = [sum(1 for at in full if s <= at < s + 1) for s in range(seconds)]
    print(f"flood: {sent} sent, {len(full)} full ({per_second} per second), "
          f"{len(truncated)} truncated, {limited - len(truncated)} dropped; "
          f"other source: {other}")
    assert sent == 2000 * seconds
    # Full answers per second stay within 1.5x the limit, and the limit is not stricter than
    # configured (a bucket holds half a second's worth: 0.5 + 3 s of answers at most).
    assert max(per_second) <= 1.5 * RATE, per_second
    assert len(full) >= 0.8 * RATE * seconds, per_second
    # Every slip-th limited answer is sent truncated, the rest dropped.
    assert abs(len(truncated) - limited / SLIP) <= 0.05 * limited / SLIP + 2, \
        (len(truncated), limited)
    # The other source was answered in full every time.
    assert other["asked"] >= 50 and other["full"] == other["asked"] and other["tc"] == 0, other

    # Counted: every limited answer, by action.
    text = scrape(g)
    counted = samples(text, "gtm_dns_rrl_limited_total")
    by_action = {"dropped": 0.0, "truncated": 0.0}
    for labels, v in counted.items():
        by_action[dict(labels)["action"]] += v
    assert by_action["truncated"] == len(truncated), by_action
    assert by_action["dropped"] == limited - len(truncated), by_action
    answer = {k: v for k, v in counted.items() if dict(k)["class"] == "answer"}
    assert sum(answer.values()) == limited, counted

    # TCP is never limited, even for the flooding source, right after the flood.
    with socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                  source_address=(FLOOD_SOURCE, 0)) as s:
        wire = raw_query(qname)
        for _ in range(2 * RATE):
            s.sendall(struct.pack("!H", len(wire)) + wire)
        for _ in range(2 * RATE):
            h = parse_header(read_tcp_message(s))
            assert h["an"] == 1 and not h["tc"], h


def test_an_exempt_source_is_never_limited(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=RRL_CONFIG)
    sent, replies = flood(g.dns_port, EXEMPT_SOURCE, "bookinfo." + ZONE, 2000, 1.5)
    full = sum(1 for _, h in replies if not h["tc"] and h["an"] == 1)
    assert full == sent == 3000, (full, sent)
    text = scrape(g)
    assert sum(samples(text, "gtm_dns_rrl_limited_total").values()) == 0


def test_rate_limiting_is_off_by_default(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN)
    sent, replies = flood(g.dns_port, FLOOD_SOURCE, "bookinfo." + ZONE, 2000, 1)
    assert sum(1 for _, h in replies if not h["tc"] and h["an"] == 1) == sent


def test_metrics_with_rate_limiting_are_promtool_clean(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=RRL_CONFIG)
    flood(g.dns_port, FLOOD_SOURCE, "nope." + ZONE, 1000, 0.5)
    text = scrape(g)
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    nx = samples(text, "gtm_dns_rrl_limited_total")
    assert sum(v for k, v in nx.items() if dict(k)["class"] == "nxdomain") > 0, nx


# ---------------------------------------------------------------------------------------------
# Amplification: answer bytes over query bytes, UDP without EDNS


AMPLIFICATION_DOC = """\
zones:
  - name: gtm.example.com
    soa: {mname: ns1.gtm.example.com, rname: hostmaster.example.com, minimum: 60}
    ns: [ns1.gtm.example.com, ns2.gtm.example.com]
    records:
      - "ns1 3600 A 127.0.0.53"
      - "ns2 3600 A 127.0.0.54"
      - "@ 300 MX 10 mail"
      - "mail 300 A 127.0.0.25"
%s
pools:
  - name: v4
    members: [%s]
  - name: v6
    members: [%s]
balancers:
  - {name: a.gtm.example.com, max_answers: 16, pools: [{pool: v4}]}
  - {name: b.gtm.example.com, max_answers: 16, pools: [{pool: v6}]}
""" % (
    "\n".join(f"      - 'big 300 TXT \"{i:02d}{'t' * 200}\"'" for i in range(10)),
    ", ".join(f"{{address: 127.0.2.{i}}}" for i in range(1, 17)),
    ", ".join(f"{{address: \"::1:{i}\"}}" for i in range(1, 17)),
)


def test_any_and_the_largest_balancer_answers_amplify_less_than_ten_times(gtmd_factory):
    g = gtmd_factory.start(AMPLIFICATION_DOC)
    ratios = {}
    for name, qtype in (("a." + ZONE, 1), ("b." + ZONE, 28), ("a." + ZONE, 255),
                        ("b." + ZONE, 255), (ZONE, 255), ("big." + ZONE, 255),
                        ("big." + ZONE, 16)):
        q = raw_query(name, qtype)
        reply = g.raw_udp(q)
        assert reply is not None, name
        h = parse_header(reply)
        assert h["rcode"] == dns.rcode.NOERROR, (name, h)
        ratios[(name, qtype)] = round(len(reply) / len(q), 2)
        if qtype != 16:  # the static TXT set: TC when it does not fit 512 bytes
            assert len(reply) < 10 * len(q), (name, qtype, len(reply), len(q))
        if qtype in (1, 28):
            assert h["an"] >= 1 and not h["tc"], (name, h)  # fewer addresses, not TC
    print("answer/query bytes:", ratios)
    # Over TCP the whole answer: 16 addresses.
    r = g.query("b." + ZONE, "AAAA", tcp=True)
    assert sum(len(rrset) for rrset in r.answer) == 16


# ---------------------------------------------------------------------------------------------
# DNS over TCP: idle and slow connections, the per-source cap


TCP_CONFIG = """\
dns:
  tcp_idle_timeout: 2s
  tcp_read_timeout: 500ms
  tcp_max_connections: 1024
  tcp_max_connections_per_source: 20
"""


def close_wait_sockets(port):
    out = subprocess.run(["ss", "-tanH", "state", "close-wait", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_300_idle_tcp_connections_do_not_delay_a_new_client_and_close_at_the_idle_timeout(
        gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=TCP_CONFIG)
    idle = []
    try:
        # 300 idle connections from 15 addresses (20 each: the per-source cap).
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                         source_address=(f"127.0.3.{1 + i // 20}", 0))
            idle.append(s)
        opened = time.monotonic()
        text = wait_for(lambda: (t := scrape(g)) and
                        samples(t, "gtm_dns_tcp_connections").get(frozenset()) == 300 and t,
                        timeout=10, what="300 open connections")
        # A new client is answered at once, over TCP and over UDP.
        wire = raw_query(ZONE, 6)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                      source_address=("127.0.4.1", 0)) as c:
            c.sendall(struct.pack("!H", len(wire)) + wire)
            h = parse_header(read_tcp_message(c))
        tcp_ms = (time.monotonic() - started) * 1000
        started = time.monotonic()
        assert parse_header(g.raw_udp(wire))["an"] == 1
        udp_ms = (time.monotonic() - started) * 1000
        print(f"with 300 idle TCP connections: TCP answer in {tcp_ms:.1f} ms, "
              f"UDP in {udp_ms:.1f} ms")
        assert h["an"] == 1 and tcp_ms < 100, (h, tcp_ms)
        assert udp_ms < 100
        # The idle ones are closed at the idle timeout (2 s), not long after.
        for s in idle:
            assert wait_for_eof(s, timeout=5.0), "an idle connection stayed open"
        closed_after = time.monotonic() - opened
        assert closed_after < 2 + 2.5, closed_after
        for s in idle:
            s.close()
        idle = []
        assert wait_for(lambda: not close_wait_sockets(g.dns_port), timeout=5,
                        what="no CLOSE_WAIT left")
        text = scrape(g)
        closed = samples(text, "gtm_dns_tcp_connections_closed_total")
        assert closed[frozenset({("reason", "idle")})] >= 300, closed
        assert samples(text, "gtm_dns_tcp_connections").get(frozenset()) == 0
    finally:
        for s in idle:
            s.close()
    g.assert_answers()


def test_one_source_cannot_hold_more_than_its_share_of_tcp_connections(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=TCP_CONFIG)
    mine = []
    try:
        for _ in range(20):
            mine.append(socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                                 source_address=("127.0.5.1", 0)))
        wait_for(lambda: samples(scrape(g), "gtm_dns_tcp_connections").get(frozenset()) == 20,
                 timeout=10, what="20 open connections")
        # The 21st from that address is refused (closed at once); its 20 still answer.
        extra = socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                         source_address=("127.0.5.1", 0))
        assert wait_for_eof(extra, timeout=3.0), "the 21st connection was kept"
        extra.close()
        wire = raw_query(ZONE, 6)
        mine[0].sendall(struct.pack("!H", len(wire)) + wire)
        assert parse_header(read_tcp_message(mine[0]))["an"] == 1
        # Another address is served.
        with socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                      source_address=("127.0.5.2", 0)) as c:
            c.sendall(struct.pack("!H", len(wire)) + wire)
            assert parse_header(read_tcp_message(c))["an"] == 1
        closed = samples(scrape(g), "gtm_dns_tcp_connections_closed_total")
        assert closed[frozenset({("reason", "source_limit")})] == 1, closed
    finally:
        for s in mine:
            s.close()


def test_a_message_trickled_in_is_cut_at_the_read_timeout(gtmd_factory):
    g = gtmd_factory.start(documents.MAIN, config=TCP_CONFIG)
    wire = raw_query(ZONE, 6)
    framed = struct.pack("!H", len(wire)) + wire
    with g.tcp_connect() as s:
        started = time.monotonic()
        s.sendall(framed[:3])  # a message begun, then one byte every 200 ms
        eof = False
        for b in framed[3:]:
            time.sleep(0.2)
            try:
                s.sendall(bytes([b]))
            except OSError:
                eof = True
                break
            if wait_for_eof(s, timeout=0.01):
                eof = True
                break
        if not eof:
            eof = wait_for_eof(s, timeout=3.0)
        elapsed = time.monotonic() - started
        assert eof and elapsed < 0.5 + 0.5, elapsed  # the read timeout, not the idle one (2 s)
    closed = samples(scrape(g), "gtm_dns_tcp_connections_closed_total")
    assert closed[frozenset({("reason", "read_timeout")})] == 1, closed
    # A whole message sent slowly between queries is fine: pipelined queries keep answering.
    with g.tcp_connect() as s:
        for _ in range(3):
            s.sendall(framed)
            assert parse_header(read_tcp_message(s))["an"] == 1
            time.sleep(0.6)  # longer than the read timeout, shorter than the idle timeout
    g.assert_answers()


# ---------------------------------------------------------------------------------------------
# File descriptors and bad settings


class LowFdGtmd(Gtmd):
    """gtmd started under `ulimit -n nofile` (soft and hard: it cannot raise it)."""

    def __init__(self, *args, nofile, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def spawn(self):
        wait_for_binary()
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        limit = (self.nofile, self.nofile)
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
            cwd=self.dir, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
        return self.proc


def test_a_low_ulimit_lowers_the_tcp_connection_limit_with_one_line_and_keeps_answering(
        gtmd_factory):
    g = LowFdGtmd(gtmd_factory.base / "lowfd", documents.MAIN, nofile=64)
    gtmd_factory.started.append(g)
    g.start()
    lines = [line for line in g.log_lines() if "file descriptor limit 64" in line]
    assert len(lines) == 2, g.logs()  # one for probes, one for DNS over TCP
    assert "health.max_probes_in_flight lowered from 4096 to" in lines[0], g.logs()
    assert "dns.tcp_max_connections lowered from 1024 to" in lines[1], g.logs()
    g.assert_answers()
    # More connections than it can hold: the longest-idle ones make room, nothing crashes, and
    # a new client is still answered over TCP.
    wire = raw_query(ZONE, 6)
    conns = []
    try:
        for i in range(60):
            conns.append(socket.create_connection(("127.0.0.1", g.dns_port), timeout=3,
                                                  source_address=(f"127.0.6.{1 + i}", 0)))
        with socket.create_connection(("127.0.0.1", g.dns_port), timeout=3) as c:
            c.sendall(struct.pack("!H", len(wire)) + wire)
            assert parse_header(read_tcp_message(c))["an"] == 1
    finally:
        for c in conns:
            c.close()
    g.assert_answers()
    assert g.proc.poll() is None


def test_too_few_file_descriptors_to_start_is_one_line_and_exit_code_2(tmp_path):
    g = Gtmd(tmp_path / "nofd", documents.MAIN)
    wait_for_binary()
    p = subprocess.run(g.argv(), cwd=g.dir, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20)))
    assert p.returncode == 2, p.stderr
    assert "file descriptor limit 20 (ulimit -n) is too low" in p.stderr, p.stderr
    assert "terminate called" not in p.stderr


def test_a_bad_rate_limiting_setting_stops_the_start_with_file_line_and_key(tmp_path):
    g = Gtmd(tmp_path / "badrrl", documents.MAIN,
             config="dns:\n  rrl:\n    enabled: true\n    exempt: [10.1.2.3/8]\n")
    code, _, err = run_until_exit(g.argv(), cwd=g.dir)
    assert code == 2, err
    assert "gtmd.yaml:4: dns.rrl.exempt[0]: '10.1.2.3/8' has address bits set beyond /8" in err, \
        err
