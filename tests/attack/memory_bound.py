#!/usr/bin/env python3
"""Memory bound under attack: runs examples/echo_server and measures its peak RSS while hostile
clients hold it busy. Python 3 standard library only; Linux (reads /proc/PID/status).

    tests/attack/memory_bound.py [--server PATH] [--blocking] [--conns N] [--seconds S]

Three attacks, each against a fresh server started with --max-message-size LIMIT (1 MiB):

  trickle  N connections each send a frame header declaring LIMIT bytes, then one payload byte
           every 50 ms: the slowloris of frames. The server must not reserve the declared size up
           front: its peak RSS must stay far under N x LIMIT (we require under 1/8 of it).
  fill     N/4 connections each send a whole LIMIT-byte message in 64 KiB writes and never read
           the echo: the server holds at most a message and a write buffer per connection, so the
           peak must stay under (N/4) x (LIMIT + write buffer limit + read buffer) plus a base.
  idle     N connections complete the handshake and go quiet: a few KiB each (the tokio
           adapter gives back its buffers), plus a thread's touched stack with --blocking.

Prints one line per attack with the peak RSS growth and its bound, and exits non-zero if any bound
is exceeded or the server died. Every wait is bounded; the server listens on 127.0.0.1 port 0.
"""

import argparse
import base64
import os
import select
import socket
import struct
import subprocess
import sys
import time

LIMIT = 1 << 20  # --max-message-size for the server
WRITE_BUFFER = 1 << 20  # Config::default().write_buffer_limit
READ_BUFFER = 256 << 10  # the adapters' largest read


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/%d/status" % (field, pid))


def start_server(path, blocking, flags=("--max-message-size", str(LIMIT)), stderr=subprocess.DEVNULL):
    """Starts examples/echo_server on 127.0.0.1 port 0 with `flags`; returns (process, (host, port))."""
    args = [path, "--addr", "127.0.0.1:0", *flags]
    if blocking:
        args.append("--blocking")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("echo_server did not start: %r" % line)
    host, port = line.split()[-1].rsplit(":", 1)
    return proc, (host, int(port))


def handshake(addr):
    sock = socket.create_connection(addr, timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError("handshake refused: %r" % head[:40])
    return sock


def frame_header(length):
    """A masked, final binary frame header declaring `length` bytes (mask key 0: payload as is)."""
    return struct.pack("!BBQ", 0x82, 0x80 | 127, length) + b"\0\0\0\0"


def run_attack(name, server, blocking, conns, seconds):
    proc, addr = start_server(server, blocking)
    try:
        time.sleep(0.2)
        base = rss_kib(proc.pid, "VmRSS")
        socks = []
        for _ in range(conns if name != "fill" else max(conns // 4, 1)):
            sock = handshake(addr)
            sock.setblocking(False)
            socks.append(sock)
        deadline = time.monotonic() + seconds
        if name == "trickle":
            for sock in socks:
                sock.send(frame_header(LIMIT))
            while time.monotonic() < deadline:
                for sock in socks:
                    try:
                        sock.send(b"x")
                    except BlockingIOError:
                        pass
                time.sleep(0.05)
            bound = conns * LIMIT // 1024 // 8
        elif name == "fill":
            payload = b"y" * (64 << 10)
            for sock in socks:
                sock.setblocking(True)
                sock.settimeout(10)
                sock.sendall(frame_header(LIMIT))
                sent = 0
                try:
                    while sent < LIMIT:
                        sent += sock.send(payload[: LIMIT - sent])
                except socket.timeout:
                    pass  # the server stopped reading: its buffers are full, as intended
            while time.monotonic() < deadline:
                time.sleep(0.1)
            per_conn = LIMIT + WRITE_BUFFER + READ_BUFFER
            bound = len(socks) * per_conn // 1024 + 16 * 1024
        else:  # idle
            while time.monotonic() < deadline:
                time.sleep(0.1)
            # KiB: the tokio adapter releases buffers while idle; the blocking adapter keeps them
            # and a thread per connection.
            bound = conns * (64 if blocking else 16)
        if proc.poll() is not None:
            raise RuntimeError("echo_server died during the %s attack" % name)
        peak = rss_kib(proc.pid, "VmHWM") - base
        for sock in socks:
            sock.close()
        ok = peak <= bound
        print("%-8s %4d connections  peak RSS growth %8d KiB  bound %8d KiB  %s"
              % (name, len(socks), peak, bound, "ok" if ok else "OVER THE BOUND"))
        return ok
    finally:
        proc.kill()
        proc.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="target/release/examples/echo_server")
    parser.add_argument("--blocking", action="store_true", help="the blocking adapter")
    parser.add_argument("--conns", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    results = [run_attack(name, args.server, args.blocking, args.conns, args.seconds)
               for name in ("trickle", "fill", "idle")]
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
