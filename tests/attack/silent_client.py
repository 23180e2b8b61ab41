#!/usr/bin/env python3
"""Heartbeat end to end: runs examples/echo_server with --ping-interval 1 --pong-timeout 1, opens a
raw TCP connection, completes the WebSocket handshake and then never sends another byte. The server
must ping it after 1 s of silence and, with no answer, drop it 1 s later: we require the TCP
connection to end between 1.5 s and 3 s after the handshake, and the frames before the end to be
the ping and a 1011 close. Python 3 standard library only.

    tests/attack/silent_client.py [--server PATH] [--blocking]

Exits non-zero on any failure. Every wait is bounded; the server listens on 127.0.0.1 port 0.
"""

import argparse
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory_bound import handshake, start_server  # noqa: E402


def frames(data):
    """Decodes unmasked server frames: [(opcode, payload)]; raises on a partial frame."""
    out = []
    while data:
        b0, b1 = data[0], data[1] & 0x7F
        at = 2
        if b1 == 126:
            (b1,) = struct.unpack("!H", data[2:4])
            at = 4
        elif b1 == 127:
            (b1,) = struct.unpack("!Q", data[2:10])
            at = 10
        if len(data) < at + b1:
            raise RuntimeError("partial frame at the end: %r" % data)
        out.append((b0 & 0x0F, data[at:at + b1]))
        data = data[at + b1:]
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "target", "release", "examples", "echo_server")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=default)
    parser.add_argument("--blocking", action="store_true")
    args = parser.parse_args()

    flags = ("--ping-interval", "1", "--pong-timeout", "1")
    proc, addr = start_server(args.server, args.blocking, flags, stderr=subprocess.PIPE)
    try:
        sock = handshake(addr)
        started = time.monotonic()
        sock.settimeout(10)
        wire = b""
        while True:
            chunk = sock.recv(4096)  # reading is not answering: the kernel would ACK anyway
            if not chunk:
                break
            wire += chunk
        waited = time.monotonic() - started
        got = frames(wire)
        adapter = "blocking" if args.blocking else "tokio"
        print("%s: silent client dropped after %.2f s; frames %s" % (adapter, waited, [(op, p[:2]) for op, p in got]))
        ok = True
        if not 1.5 <= waited <= 3.0:
            print("FAIL: expected the server to drop the silent client ~2 s after the handshake")
            ok = False
        if len(got) != 2 or got[0][0] != 0x9 or got[1][0] != 0x8 or got[1][1][:2] != struct.pack("!H", 1011):
            print("FAIL: expected a ping, then a close frame with code 1011")
            ok = False
        print("%d passed, %d failed" % (ok, not ok))
        return 0 if ok else 1
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        if err.strip():
            print("server said: %s" % err.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
