"""health.source_address: this node's probes leave from its own address (its vantage), for
http and tcp monitors alike; a monitor's family picks the address of that family."""

import http.server
import threading

from apihelp import TcpTarget
from harness import wait_for
from test_probing import balancer, document, monitor, pool, wait_settled

SOURCE = "127.0.48.200"


class Recorder(http.server.ThreadingHTTPServer):
    """An HTTP target that answers 200 and records the clients' addresses."""

    def __init__(self, addr):
        self.peers = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.peers.add(self.client_address[0])
                body = b"Simple Bookstore App"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__((addr, 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


def test_probes_leave_from_the_configured_source_address(gtmd_factory):
    web = Recorder("127.0.48.1")
    tcp = TcpTarget("127.0.48.2")
    try:
        g = gtmd_factory.start(document(
            [monitor("web", web.server_address[1]),
             monitor("raw", tcp.port, type="tcp")],
            [pool("h", ["127.0.48.1"]), pool("t", ["127.0.48.2"], monitor_name="raw")],
            [balancer("h", ["h"]), balancer("t", ["t"])]),
            config=f"health:\n  source_address: {SOURCE}\n")
        wait_settled(g, "h", {"127.0.48.1"})
        wait_for(lambda: web.peers and tcp.peers, timeout=10, what="probes from gtmd")
        assert web.peers == {SOURCE}, web.peers
        assert tcp.peers == {SOURCE}, tcp.peers
    finally:
        web.close()
        tcp.close()


def test_a_second_source_address_of_one_family_is_refused(gtmd_factory):
    g = gtmd_factory.create(document([], [], []),
                            config="health:\n  source_address: [127.0.48.200, 127.0.48.201]\n")
    import subprocess
    p = subprocess.run(g.argv(), capture_output=True, text=True, timeout=30, cwd=g.dir)
    assert p.returncode == 2, p
    assert "health.source_address[1]: a second address of the same family" in p.stderr, p.stderr
