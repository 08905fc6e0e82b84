"""Small asyncio clients: HTTP/1.1 (the API, the gateways' control, the load) and DNS (one A
query through dnspython), and free ports on the loopback addresses."""

import asyncio
import random
import socket

try:
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
except ImportError:  # pragma: no cover - reported at set-up (environment.Environment.setup)
    dns = None

from .common import DrillError


async def read_response(reader, head_only=False):
    """Reads one HTTP/1.1 response: (status, headers dict, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError("bad status line")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if head_only:
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        body = await reader.readexactly(n) if n else b""
    else:
        body = await reader.read()
    return status, headers, body


async def http_call(host, port, method, path, headers=None, body=None, timeout=5.0):
    """One request on a fresh connection (Connection: close): (status, body bytes)."""
    async def go():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            data = body.encode() if isinstance(body, str) else (body or b"")
            h = {"Host": f"{host}:{port}", "Connection": "close", "Content-Length": str(len(data))}
            h.update(headers or {})
            req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            writer.write(req.encode() + b"\r\n" + data)
            await writer.drain()
            status, _, rbody = await read_response(reader)
            return status, rbody
        finally:
            writer.close()
    return await asyncio.wait_for(go(), timeout)


async def dns_query(server, port, name, timeout):
    """One A query (recursion desired): (rcode, [addresses], ttl or None)."""
    q = dns.message.make_query(name, "A")
    r = await dns.asyncquery.udp(q, server, timeout=timeout, port=port, ignore_unexpected=True)
    addrs, ttl = [], None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            addrs.extend(rd.address for rd in rrset)
            ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
    return r.rcode(), addrs, ttl


def port_free(addrs, port, udp=False):
    for a in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_port(addrs, udp_too=False, rng=random):
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if port_free(addrs, port) and (not udp_too or port_free(addrs, port, udp=True)):
            return port
    raise DrillError("no free port found on the loopback addresses")
