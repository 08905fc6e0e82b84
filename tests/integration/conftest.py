"""pytest fixtures: gtmd processes on loopback, stopped with SIGTERM and checked to exit 0."""

import pytest

import documents
from harness import Gateway, GatewayBindError, Gtmd, Nft, random_port


class _Servers:
    """Starts gtmd processes and stops every one of them at teardown, failing the test if any
    of them does not exit with 0 on SIGTERM."""

    def __init__(self, base):
        self.base = base
        self.started = []

    def start(self, document, config=None, **kwargs):
        g = Gtmd(self.base / f"gtmd{len(self.started)}", document, config=config, **kwargs)
        self.started.append(g)
        return g.start()

    def create(self, document, config=None, **kwargs):
        """A Gtmd that is not started (for tests that expect it to fail to start)."""
        g = Gtmd(self.base / f"gtmd{len(self.started)}", document, config=config, **kwargs)
        return g

    def stop_all(self):
        failures = []
        for g in self.started:
            code = g.stop()
            if code not in (0, None):
                failures.append(f"{g.dir}: exit code {code} after SIGTERM\n{g.logs()}")
        assert not failures, "\n".join(failures)


@pytest.fixture
def gtmd_factory(tmp_path):
    servers = _Servers(tmp_path)
    yield servers
    servers.stop_all()


def _module_server(tmp_path_factory, name, document, config=None, **kwargs):
    servers = _Servers(tmp_path_factory.mktemp(name))
    g = servers.start(document, config=config, **kwargs)
    return servers, g


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gtmd serving documents.MAIN with the default server settings."""
    servers, g = _module_server(tmp_path_factory, "main", documents.MAIN)
    yield g
    servers.stop_all()


@pytest.fixture(scope="module")
def identity_server(tmp_path_factory):
    """gtmd serving documents.MAIN with NSID, version and identity configured."""
    servers, g = _module_server(tmp_path_factory, "identity", documents.MAIN,
                                config=documents.IDENTITY_CONFIG)
    yield g
    servers.stop_all()


class _Gateways:
    """Starts gtm-test-gateway processes on a random port (retrying when it is taken) and stops
    every one at teardown, failing the test if one does not exit with 0 on SIGTERM."""

    def __init__(self, base):
        self.base = base
        self.started = []

    def start(self, args_for_port, attempts=8):
        """`args_for_port(port)` returns the listener arguments; ports port..port+9 are the
        test's to use. Returns (gateway, port)."""
        last = None
        for _ in range(attempts):
            port = random_port()
            gw = Gateway(self.base / f"gateway{len(self.started)}", args_for_port(port))
            try:
                gw.start()
            except GatewayBindError as e:
                last = e
                continue
            self.started.append(gw)
            return gw, port
        raise last

    def stop_all(self):
        failures = []
        for gw in self.started:
            try:
                code = gw.stop()
            except AssertionError as e:
                failures.append(str(e))
                continue
            if code not in (0, None):
                failures.append(f"{gw.dir}: gateway exit code {code} after SIGTERM\n{gw.log()}")
        assert not failures, "\n".join(failures)


@pytest.fixture
def gateway_factory(tmp_path):
    gateways = _Gateways(tmp_path)
    yield gateways
    gateways.stop_all()


@pytest.fixture
def nft():
    """An nft table of the test's own; deleted, with its rules, whatever the test's outcome."""
    n = Nft()
    yield n
    n.close()
