#!/usr/bin/python3
"""Writes the seed corpus of fuzz_query: well-formed queries and the malformed set of the
protocol tests. Run it again after changing it; the files are committed."""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "query")


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qname, qtype=1, qclass=1, flags=0, qd=1, an=0, ns=0, ar=0, tail=b""):
    return struct.pack("!HHHHHH", 0x1234, flags, qd, an, ns, ar) + name(qname) + struct.pack("!HH", qtype, qclass) + tail


def opt(size=1232, version=0, do=False, options=b""):
    return b"\0" + struct.pack("!HHBBHH", 41, size, 0, version, 0x8000 if do else 0, len(options)) + options


seeds = {
    "a": query("app.fuzz.test"),
    "aaaa_edns": query("app.fuzz.test", 28, ar=1, tail=opt()),
    "cname_loop": query("c1.fuzz.test"),
    "www": query("WwW.FuZz.TeSt"),
    "mx": query("fuzz.test", 15),
    "any": query("fuzz.test", 255),
    "nx": query("nope.fuzz.test"),
    "wild": query("x.y.wild.fuzz.test", 16),
    "referral": query("a.sub.fuzz.test"),
    "big_tc": query("big.fuzz.test", 16),
    "big_edns": query("big.fuzz.test", 16, ar=1, tail=opt(4096, do=True)),
    "nsid": query("app.fuzz.test", ar=1, tail=opt(options=b"\0\x03\0\0")),
    "badvers": query("app.fuzz.test", ar=1, tail=opt(version=1)),
    "two_opt": query("app.fuzz.test", ar=2, tail=opt() + opt()),
    "opt_overrun": query("app.fuzz.test", ar=1, tail=opt(options=b"\0\x0a\0\x20ab")),
    "ptr_loop": query("app.fuzz.test", ar=1, tail=b"\xc0\x1f" + struct.pack("!HHIH", 1, 1, 0, 0)),
    "trailing": query("app.fuzz.test") + b"\0\0\0",
    "qd2": query("app.fuzz.test", qd=2) + name("x") + b"\0\1\0\1",
    "qd0": struct.pack("!HHHHHH", 0x1234, 0, 0, 0, 0, 0),
    "notify": query("fuzz.test", 6, flags=4 << 11),
    "qr": query("app.fuzz.test", flags=0x8000),
    "short": b"\x12\x34\0\0\0\1\0\0\0\0\0",
    "truncated_name": query("app.fuzz.test")[:20],
    "chaos": query("version.bind", 16, 3),
    "axfr": query("fuzz.test", 252),
}

os.makedirs(HERE, exist_ok=True)
for key, data in seeds.items():
    with open(os.path.join(HERE, key), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {HERE}")
