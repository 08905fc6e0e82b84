"""The load client: an application that resolves the name through unbound, keeps the answer
for the TTL it was given, connects to the address it got and makes one HTTP request per tick at
a fixed rate, each bounded by a timeout.

Its records are the drill's raw material: one (t, address, code, latency, t_end) per request
(LoadClient.results) and one entry per resolution (through the `record` callback).

region-degraded runs two of them, one per name (the two configurations), sending application
requests, and one per region that sends straight to its gateway (RegionResolver): the traffic the
region carries whatever this resolver answers, which its error ratio is measured on."""

import asyncio

from .common import NAME, PATH
from .net import dns, dns_query, read_response


class ResolveError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class ClientResolver:
    """What an application's resolver library with a TTL cache does: one resolution at a time,
    the answer kept for the TTL the resolver gave, asked again after expiry.

    record(source, addrs or None, ttl, outcome) is called for every resolution."""

    def __init__(self, record, server, port, on_lookup=None, name=NAME):
        self.record = record
        self.name = name
        self.on_lookup = on_lookup  # (t_start, latency, outcome) of every resolution, if given
        self.server = server
        self.port = port
        self.addrs = None
        self.expires = 0.0
        self.pending = None

    async def get(self, timeout):
        loop = asyncio.get_running_loop()
        if self.addrs is not None and loop.time() < self.expires:
            return self.addrs
        if self.pending is None:
            self.pending = asyncio.ensure_future(self._resolve(timeout))
        return await asyncio.shield(self.pending)

    def _looked_up(self, start, outcome):
        if self.on_lookup is not None:
            self.on_lookup(start, asyncio.get_running_loop().time() - start, outcome)

    async def _resolve(self, timeout):
        start = asyncio.get_running_loop().time()
        try:
            rcode, addrs, ttl = await dns_query(self.server, self.port, self.name, timeout)
        except dns.exception.Timeout:
            self._looked_up(start, "timeout")
            self.record("client", None, None, "timeout")
            raise ResolveError("dns_timeout")
        except (dns.exception.DNSException, OSError) as e:
            self._looked_up(start, type(e).__name__)
            self.record("client", None, None, type(e).__name__)
            raise ResolveError("dns_error")
        finally:
            self.pending = None
        self._looked_up(start, "ok" if rcode == dns.rcode.NOERROR and addrs
                        else dns.rcode.to_text(rcode))
        if rcode != dns.rcode.NOERROR or not addrs:
            self.record("client", [], ttl, dns.rcode.to_text(rcode))
            raise ResolveError("dns_" + dns.rcode.to_text(rcode).lower())
        self.record("client", addrs, ttl, "ok")
        self.addrs = addrs
        self.expires = asyncio.get_running_loop().time() + (ttl or 0)
        return addrs


class RegionResolver:
    """No resolution: always the one region's address (traffic that reaches the region whatever
    gtmd answers)."""

    def __init__(self, address):
        self.addrs = [address]

    async def get(self, timeout):
        return self.addrs


class LoadClient:
    """duration × rate requests on a fixed schedule (`rate` defaults to --rate), HTTP/1.1
    keep-alive like fortio (or one connection per request with --no-keepalive); GET `path` with
    Host `name`."""

    def __init__(self, args, port, resolver, rate=None, path=PATH, name=NAME):
        self.args = args
        self.resolver = resolver
        self.port = port
        self.rate = rate if rate is not None else args.rate
        self.t0 = None
        self.idle = {}  # address -> [(reader, writer)]
        self.sockets_opened = 0
        self.results = []  # (t_sched, address or None, code, latency, t_end)
        self.late_ticks = 0
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: gtm-drill\r\n"
                        f"Accept: */*\r\n"
                        + ("Connection: close\r\n" if self.args.no_keepalive else "")
                        + "\r\n").encode()

    async def run(self, t0, duration, stop_event):
        loop = asyncio.get_running_loop()
        self.t0 = t0
        n = int(round(duration * self.rate))
        tasks = set()
        for i in range(n):
            due = t0 + i / self.rate
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.05:
                self.late_ticks += 1
            if stop_event.is_set():
                break
            t = asyncio.ensure_future(self.one(due - t0))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=self.args.timeout + 5)

    async def one(self, t_rel):
        loop = asyncio.get_running_loop()
        start = loop.time()
        state = {"addr": None, "stage": "dns", "writer": None}
        try:
            code = await asyncio.wait_for(self._request(state), self.args.timeout)
        except asyncio.TimeoutError:
            code = {"dns": "dns_timeout", "connect": "connect_timeout"}.get(state["stage"],
                                                                           "timeout")
        except ResolveError as e:
            code = e.code
        except ConnectionRefusedError:
            code = "connect_refused"
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
            code = "reset"
        except OSError as e:
            code = "connect_error" if state["stage"] == "connect" else f"os_error_{e.errno}"
        except ValueError:
            code = "protocol"
        except Exception as e:  # never lose a request from the count
            code = "error_" + type(e).__name__
        if code != "200" and state["writer"] is not None:
            state["writer"].transport.abort()
        end = loop.time()
        self.results.append((t_rel, state["addr"], code, end - start, end - self.t0))

    async def _connect(self, addr, state):
        state["stage"] = "connect"
        reader, writer = await asyncio.open_connection(addr, self.port)
        self.sockets_opened += 1
        return reader, writer

    async def _request(self, state):
        addrs = await self.resolver.get(self.args.timeout)
        # try the addresses in order; fall back to the next one only when a connect fails
        conn = None
        for k, addr in enumerate(addrs):
            state["addr"] = addr
            reused = False
            conn = None
            pool = self.idle.get(addr)
            while pool:
                r, w = pool.pop()
                if not w.is_closing() and not r.at_eof():
                    conn, reused = (r, w), True
                    break
                w.close()
            if conn is None:
                try:
                    conn = await self._connect(addr, state)
                except (ConnectionRefusedError, OSError):
                    if k + 1 < len(addrs):
                        continue
                    raise
            break
        reader, writer = conn
        state["writer"] = writer
        state["stage"] = "response"
        for attempt in (0, 1):
            try:
                writer.write(self.request)
                status, headers, _ = await read_response(reader)
                break
            except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as e:
                # a kept-alive connection the server closed meanwhile: retry once on a new one,
                # as HTTP clients do for an idempotent request
                if attempt == 0 and reused and (not isinstance(e, asyncio.IncompleteReadError)
                                                or not e.partial):
                    writer.transport.abort()
                    reader, writer = await self._connect(state["addr"], state)
                    state["writer"] = writer
                    state["stage"] = "response"
                    continue
                raise
        keep = (not self.args.no_keepalive and status == 200
                and headers.get("connection", "").lower() != "close")
        if keep:
            self.idle.setdefault(state["addr"], []).append((reader, writer))
            state["writer"] = None
        else:
            writer.close()
            state["writer"] = None
        return str(status)

    def close(self):
        for pool in self.idle.values():
            for _, w in pool:
                w.transport.abort()
        self.idle.clear()
