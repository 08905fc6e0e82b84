"""What every part of the drill shares: names, constants, the set-up error, the log line and
duration syntax."""

import argparse
import ipaddress
import os
import sys
import time

# the repository (scripts/gtmdrill/ is two levels down)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCENARIOS = ("region-down", "region-blackhole", "region-hang", "recover", "planned-drain",
             "node-down", "region-degraded")
ZONE = "gtm.test"
NAME = "bookinfo.gtm.test"
PATH = "/productpage"
BODY_MARK = b"Simple Bookstore App"
# region-degraded: the clients send application requests (the gateway fails its error share of
# these while its health path, PATH, answers 200), and a second name serves the same regions
# judged by the http monitor alone, for comparison with NAME (http + promql, combine all).
APP_PATH = "/app/productpage"
HTTP_NAME = "bookinfo-http.gtm.test"


class DrillError(Exception):
    """Set-up failed (exit code 2): the message says what and where to look."""


def log(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + "drill: " + msg + "\n")
    sys.stderr.flush()


def parse_duration(text):
    """'5', '5s', '500ms', '2m' -> seconds (float)."""
    t = str(text).strip().lower()
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1000.0
        if t.endswith("s"):
            return float(t[:-1])
        if t.endswith("m"):
            return float(t[:-1]) * 60.0
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 5s, 500ms, 2m)") from None


def dur_text(seconds):
    """Seconds as gtmd's duration syntax."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def loopback(addr):
    ip = ipaddress.ip_address(addr)
    if ip.version != 4 or not ip.is_loopback:
        raise argparse.ArgumentTypeError(f"{addr} is not in 127.0.0.0/8: the drill never leaves "
                                         "loopback")
    return str(ip)
