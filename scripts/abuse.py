#!/usr/bin/env python3
"""Idle-connection abuse against a running `confab serve`: opens idle TCP connections (silent
and with half-sent headers) and WebSockets that never say hello, from several loopback
addresses, and reports how many the service admitted and refused, how many survive its
deadlines, and its file descriptors and memory before, during and after.

    scripts/abuse.py --url http://127.0.0.1:8080 --pid 1234 --sockets 2000
"""
import argparse
import base64
import os
import socket
import sys
import time
import urllib.request


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def healthz(host, port):
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def open_one(kind, source, host, port):
    """Opens one idle connection of `kind` (without waiting for any reply)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect((host, port))
    if kind == "half":
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: confab\r\n")
    elif kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
    s.setblocking(False)
    return s


def first_reply(s):
    """The status of what the service answered straight away: 101 (a WebSocket), an error
    status (refused), or None (nothing yet: an idle connection held)."""
    try:
        data = s.recv(4096)
    except BlockingIOError:
        return None
    except OSError:
        return 0
    if not data:
        return 0
    try:
        return int(data.split(b" ")[1])
    except (IndexError, ValueError):
        return 0


def alive(s):
    """Whether the service still holds `s` open (reads what it sent, e.g. a close frame)."""
    s.setblocking(False)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--sources", type=int, default=5, help="loopback source addresses")
    p.add_argument("--deadline", type=float, default=10, help="the service's longest deadline (s)")
    a = p.parse_args()

    before = (fds(a.pid), rss_mib(a.pid))
    print(f"service before: {before[0]} fds, {before[1]:.1f} MiB")
    kinds = ["silent", "half", "ws"]
    sockets = []
    started = time.time()
    for n in range(a.sockets):
        kind = kinds[n % 3]
        source = f"127.0.0.{2 + n % a.sources}"
        sockets.append((kind, open_one(kind, source, a.host, a.port)))
    opened_by = time.time()
    time.sleep(0.5)
    held, refused = [], {}
    for kind, s in sockets:
        status = first_reply(s)
        if status is None or status == 101:
            held.append((kind, s))
        else:
            refused[status] = refused.get(status, 0) + 1
            s.close()
    during = (fds(a.pid), rss_mib(a.pid))
    print(
        f"opened {a.sockets} in {opened_by - started:.1f} s from {a.sources} addresses: "
        f"{len(held)} held by the service, refused at once by status: {refused or 'none'}"
    )
    print(f"service while held: {during[0]} fds, {during[1]:.1f} MiB; /healthz answers: {healthz(a.host, a.port)}")
    time.sleep(max(0.0, opened_by + a.deadline + 2 - time.time()))
    survivors = {k: 0 for k in kinds}
    for kind, s in held:
        if alive(s):
            survivors[kind] += 1
    for _, s in held:
        s.close()
    time.sleep(1)
    after = (fds(a.pid), rss_mib(a.pid))
    print(
        f"{a.deadline + 2:.0f} s after the last opened: {sum(survivors.values())} of {len(held)} still open ({survivors})"
    )
    print(f"service after: {after[0]} fds, {after[1]:.1f} MiB; /healthz answers: {healthz(a.host, a.port)}")
    return 1 if sum(survivors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
