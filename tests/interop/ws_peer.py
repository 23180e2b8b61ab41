#!/usr/bin/env python3
"""Interop peer for rfc6455, built on the third-party Python `websockets` package.

Two roles, both with websockets' defaults (compression="deflate", i.e.
permessage-deflate offered by the client as `permessage-deflate;
client_max_window_bits`, and accepted by the server with 12-bit windows):

  client --url ws://HOST:PORT [--label NAME] [--ca CA.pem]
      Connects to an echo server, checks that permessage-deflate was
      negotiated, sends a fixed set of messages one at a time, checks every
      echo, closes with 1000 and checks the close code.

  server --port PORT --expect FILE [--timeout S] [--tls-cert CERT.pem --tls-key KEY.pem]
      Accepts exactly one connection, echoes every message, and checks that
      the messages received are the lines of FILE, in order, that
      permessage-deflate was negotiated, and that the peer closed with 1000.

Both roles record every byte the TCP transport carries in each direction and
decode it again here, independently of websockets: frame headers (RSV1,
opcode, lengths), unmasking, and raw inflate with the negotiated window size
and context-takeover mode. The payloads decoded from the wire must equal the
messages the application sent and received, and the large compressible
messages must be compressed (RSV1 set, far fewer bytes than their payload) in
both directions. Each run ends with one `summary:` line for the caller.

Over TLS (a wss:// URL, or --tls-cert/--tls-key) the bytes recorded are the
WebSocket bytes inside TLS: asyncio hands websockets the decrypted stream.
`--port 0` picks a free port; the `listening on` line shows it.

Exit status: 0 when every check passed, 1 on the first failed check (the
message says which), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import ssl
import sys
import time
import zlib
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import PerMessageDeflate

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
SYNC_TAIL = b"\x00\x00\xff\xff"


class CheckFailed(Exception):
    """A failed interop check."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --------------------------------------------------------------------------
# Recording the bytes on the wire


class Recorder:
    """Every byte read from and written to one TCP connection."""

    def __init__(self) -> None:
        self.read = bytearray()
        self.written = bytearray()


class RecordingTransport:
    """Stands in for an asyncio transport, keeping a copy of every write."""

    def __init__(self, inner: asyncio.Transport, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def write(self, data) -> None:
        self._recorder.written += data
        self._inner.write(data)

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class RecordingMixin:
    """For websockets' asyncio connections (which are asyncio protocols)."""

    recorder: Recorder

    def connection_made(self, transport) -> None:
        self.recorder = Recorder()
        super().connection_made(RecordingTransport(transport, self.recorder))

    def data_received(self, data: bytes) -> None:
        self.recorder.read += data
        super().data_received(data)


class RecordingClientConnection(RecordingMixin, ClientConnection):
    pass


class RecordingServerConnection(RecordingMixin, ServerConnection):
    pass


# --------------------------------------------------------------------------
# Decoding the recorded bytes, independently of websockets


@dataclass
class WireMessage:
    opcode: int  # OP_TEXT or OP_BINARY
    compressed: bool  # RSV1 on the first frame
    frames: int = 0
    wire_bytes: int = 0  # frame headers + payloads, as sent on the wire
    wire_payload: int = 0  # payload bytes only (compressed size when compressed)
    data: bytes = b""  # the message payload after unmasking and inflating


@dataclass
class WireStream:
    """One direction of a connection, decoded."""

    http_head: bytes
    messages: list[WireMessage] = field(default_factory=list)
    controls: list[tuple[int, bytes]] = field(default_factory=list)
    frame_bytes: int = 0  # every frame, data and control, headers included
    masked_frames: int = 0
    unmasked_frames: int = 0
    rsv1_on_continuation: int = 0

    def close_code(self) -> int | None:
        for opcode, payload in self.controls:
            if opcode == OP_CLOSE:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        return None

    def payload_bytes(self) -> int:
        return sum(len(m.data) for m in self.messages)


def unmask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")


def decode_stream(raw: bytes, window_bits: int | None, no_context_takeover: bool) -> WireStream:
    """Decodes an HTTP head followed by WebSocket frames.

    `window_bits` is the LZ77 window the sender agreed to compress with
    (None when permessage-deflate was not negotiated). Inflating with exactly
    that window checks that the sender kept to it.
    """
    end = raw.find(b"\r\n\r\n")
    check(end >= 0, "no complete HTTP head on the wire")
    stream = WireStream(http_head=bytes(raw[: end + 4]))
    pos = end + 4
    inflater = zlib.decompressobj(wbits=-window_bits) if window_bits else None
    current: WireMessage | None = None
    fragments: list[bytes] = []
    while pos < len(raw):
        check(len(raw) - pos >= 2, f"truncated frame header at byte {pos}")
        b0, b1 = raw[pos], raw[pos + 1]
        fin, rsv1, opcode = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F
        check(not b0 & 0x30, f"RSV2/RSV3 set in frame at byte {pos}")
        masked, length = bool(b1 & 0x80), b1 & 0x7F
        header = 2
        if length == 126:
            length = int.from_bytes(raw[pos + 2 : pos + 4], "big")
            header = 4
        elif length == 127:
            length = int.from_bytes(raw[pos + 2 : pos + 10], "big")
            header = 10
        key = b""
        if masked:
            key = bytes(raw[pos + header : pos + header + 4])
            header += 4
        check(pos + header + length <= len(raw), f"truncated frame payload at byte {pos}")
        payload = bytes(raw[pos + header : pos + header + length])
        if masked:
            payload = unmask(payload, key)
            stream.masked_frames += 1
        else:
            stream.unmasked_frames += 1
        pos += header + length
        stream.frame_bytes += header + length

        if opcode >= 0x8:
            check(fin and length <= 125 and not rsv1, f"invalid control frame (opcode {opcode:#x})")
            stream.controls.append((opcode, payload))
            continue
        if opcode == OP_CONT:
            check(current is not None, "continuation frame without a message")
            if rsv1:
                stream.rsv1_on_continuation += 1
        else:
            check(current is None, "new data frame inside a fragmented message")
            check(opcode in (OP_TEXT, OP_BINARY), f"unknown data opcode {opcode:#x}")
            check(not rsv1 or inflater is not None, "RSV1 set but permessage-deflate was not negotiated")
            current = WireMessage(opcode=opcode, compressed=rsv1)
            fragments = []
        current.frames += 1
        current.wire_bytes += header + length
        current.wire_payload += length
        fragments.append(payload)
        if fin:
            data = b"".join(fragments)
            if current.compressed:
                if no_context_takeover:
                    inflater = zlib.decompressobj(wbits=-window_bits)
                try:
                    data = inflater.decompress(data + SYNC_TAIL)
                except zlib.error as exc:
                    raise CheckFailed(
                        f"wire payload of message {len(stream.messages) + 1} does not inflate "
                        f"with a 2^{window_bits} window: {exc}"
                    ) from exc
            current.data = data
            stream.messages.append(current)
            current = None
    check(current is None, "connection ended inside a fragmented message")
    return stream


def as_bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def describe(message: str | bytes) -> str:
    kind = "text" if isinstance(message, str) else "binary"
    return f"{kind} {len(as_bytes(message))} B"


# --------------------------------------------------------------------------
# Client role: against an rfc6455 echo server


def client_messages() -> list[tuple[str, str | bytes | list[str]]]:
    """(name, message): a list of str is sent as a fragmented text message."""
    rng = random.Random(6455)
    lines = []
    i = 0
    while sum(len(line) for line in lines) < 65536:
        lines.append(f'{{"seq": {i}, "event": "tick", "status": "ok", "payload": "abcabcabcabc"}}\n')
        i += 1
    text_64k = "".join(lines)[:65536]
    medium = "".join(f"row {n:04d}: the quick brown fox jumps over the lazy dog\n" for n in range(40))
    return [
        ("small text", "hello"),
        ("small binary", bytes([0, 1, 2, 0xFF])),
        ("empty text", ""),
        ("empty binary", b""),
        ("utf-8 text", "h\u00e9llo w\u00f6rld \u2014 \u2713 \u65e5\u672c\u8a9e \U0001f389 \u03a9\u03bc\u03ad\u03b3\u03b1"),
        ("utf-8 text x200", "gr\u00fc\u00dfe \u65e5\u672c\u8a9e \U0001f389 \u2713 " * 200),
        ("64 KiB text", text_64k),
        ("medium text", medium),
        ("medium text again", medium),
        ("1 MiB random binary", rng.randbytes(1 << 20)),
        ("200 KiB patterned binary", bytes(range(256)) * 800),
        ("fragmented text", ["first fragment; " * 50, "second fragment; " * 50, "third fragment; " * 50]),
    ]


async def run_client(url: str, label: str, timeout: float, ca: str | None = None) -> None:
    started = time.monotonic()
    tls = None
    if url.startswith("wss:"):
        tls = ssl.create_default_context()
        if ca:
            tls.load_verify_locations(ca)
    async with asyncio.timeout(timeout):
        # Defaults everywhere (compression="deflate"), except: no proxy from
        # the environment for a loopback test, and room for the 1 MiB echo
        # (websockets' default max_size is exactly 1 MiB).
        async with connect(
            url, proxy=None, ssl=tls, max_size=16 << 20, create_connection=RecordingClientConnection
        ) as ws:
            offered = ws.request.headers.get("Sec-WebSocket-Extensions")
            answered = ws.response.headers.get("Sec-WebSocket-Extensions")
            print(f"[{label}] offered  Sec-WebSocket-Extensions: {offered}")
            print(f"[{label}] response Sec-WebSocket-Extensions: {answered}")
            extensions = ws.protocol.extensions
            print(f"[{label}] negotiated extensions: {[type(e).__name__ for e in extensions]}")
            check(offered is not None and "permessage-deflate" in offered, "client did not offer permessage-deflate")
            check(answered is not None, "server response has no Sec-WebSocket-Extensions header")
            pmd = [e for e in extensions if isinstance(e, PerMessageDeflate)]
            check(len(pmd) == 1, f"permessage-deflate not negotiated (extensions: {extensions!r})")
            pmd = pmd[0]
            print(
                f"[{label}] permessage-deflate: client compresses with 2^{pmd.local_max_window_bits} "
                f"(no_context_takeover={pmd.local_no_context_takeover}), server with "
                f"2^{pmd.remote_max_window_bits} (no_context_takeover={pmd.remote_no_context_takeover})"
            )

            sent: list[str | bytes] = []
            for name, message in client_messages():
                await ws.send(message)
                expected = "".join(message) if isinstance(message, list) else message
                sent.append(expected)
                echo = await ws.recv()
                check(
                    type(echo) is type(expected),
                    f"{name}: sent {type(expected).__name__}, echo is {type(echo).__name__}",
                )
                check(
                    echo == expected,
                    f"{name}: echo differs ({describe(echo)} back for {describe(expected)})",
                )
            await ws.close()  # code 1000
        check(ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1000, "client did not send 1000")
        check(ws.close_code == 1000, f"server closed with {ws.close_code}, expected 1000")
    elapsed = time.monotonic() - started

    # Decode both directions from the recorded bytes.
    out = decode_stream(bytes(ws.recorder.written), pmd.local_max_window_bits, pmd.local_no_context_takeover)
    back = decode_stream(bytes(ws.recorder.read), pmd.remote_max_window_bits, pmd.remote_no_context_takeover)
    check(out.unmasked_frames == 0, f"client sent {out.unmasked_frames} unmasked frames")
    check(back.masked_frames == 0, f"server sent {back.masked_frames} masked frames")
    check(back.rsv1_on_continuation == 0, "server set RSV1 on a continuation frame")
    names = [name for name, _ in client_messages()]
    for direction, stream in (("client->server", out), ("server->client", back)):
        check(
            len(stream.messages) == len(sent),
            f"{direction}: {len(stream.messages)} data messages on the wire, expected {len(sent)}",
        )
        for name, expected, wire in zip(names, sent, stream.messages):
            want_op = OP_TEXT if isinstance(expected, str) else OP_BINARY
            check(wire.opcode == want_op, f"{direction} {name}: opcode {wire.opcode:#x}, expected {want_op:#x}")
            check(wire.data == as_bytes(expected), f"{direction} {name}: payload decoded from the wire differs")
    check(out.close_code() == 1000, f"close frame sent with code {out.close_code()}")
    check(back.close_code() == 1000, f"close frame received with code {back.close_code()}")

    print(f"[{label}] per message (payload B -> wire payload B, * = RSV1/compressed):")
    print(f"[{label}]   {'message':<26} {'payload':>9} {'client->server':>16} {'server->client':>16}")
    for name, expected, o, b in zip(names, sent, out.messages, back.messages):
        frames = f" ({o.frames}/{b.frames} frames)" if o.frames > 1 or b.frames > 1 else ""
        print(
            f"[{label}]   {name:<26} {len(as_bytes(expected)):>9} "
            f"{o.wire_payload:>15}{'*' if o.compressed else ' '} "
            f"{b.wire_payload:>15}{'*' if b.compressed else ' '}{frames}"
        )
    for direction, stream in (("client->server", out), ("server->client", back)):
        n_comp = sum(m.compressed for m in stream.messages)
        print(
            f"[{label}] {direction}: {stream.payload_bytes()} payload B in {len(stream.messages)} messages "
            f"({n_comp} compressed) -> {stream.frame_bytes} B of frames on the wire "
            f"({pct(stream.frame_bytes, stream.payload_bytes())}), plus {len(stream.http_head)} B of HTTP"
        )

    # Compression must have happened on the wire in both directions.
    big = names.index("64 KiB text")
    for direction, stream in (("client->server", out), ("server->client", back)):
        wire = stream.messages[big]
        check(wire.compressed, f"{direction}: the 64 KiB text went uncompressed (RSV1 clear)")
        check(
            wire.wire_payload * 8 < len(wire.data),
            f"{direction}: the 64 KiB text took {wire.wire_payload} B on the wire, not compressed enough",
        )
    again = names.index("medium text again")
    check(
        back.messages[again].wire_payload < back.messages[again - 1].wire_payload,
        "server->client: a repeated message did not shrink (no context takeover in effect?)",
    )

    print(
        f"summary: {label}: negotiated [{answered}]; "
        f"client->server {out.payload_bytes()} payload B -> {out.frame_bytes} wire B "
        f"({pct(out.frame_bytes, out.payload_bytes())}); "
        f"server->client {back.payload_bytes()} payload B -> {back.frame_bytes} wire B "
        f"({pct(back.frame_bytes, back.payload_bytes())}); close 1000/1000; {elapsed:.2f}s"
    )


# --------------------------------------------------------------------------
# Server role: against the rfc6455 example client


async def run_server(port: int, expect_file: str, timeout: float, tls: ssl.SSLContext | None = None) -> None:
    with open(expect_file, encoding="utf-8") as f:
        expected = f.read().split("\n")
    if expected and expected[-1] == "":
        expected.pop()

    connections: list[RecordingServerConnection] = []
    received: list[str | bytes] = []
    done = asyncio.get_running_loop().create_future()

    async def echo(ws: RecordingServerConnection) -> None:
        connections.append(ws)
        try:
            async for message in ws:
                received.append(message)
                await ws.send(message)
        finally:
            if not done.done():
                done.set_result(None)

    async with serve(
        echo, "127.0.0.1", port, ssl=tls, max_size=16 << 20, create_connection=RecordingServerConnection
    ) as server:
        port = server.sockets[0].getsockname()[1]  # the real one with --port 0
        print(f"listening on 127.0.0.1:{port}", flush=True)
        try:
            async with asyncio.timeout(timeout):
                await done
                await connections[0].wait_closed()
        except TimeoutError:
            raise CheckFailed(f"no complete connection within {timeout:.0f}s") from None
        server.close()
    ws = connections[0]
    check(len(connections) == 1, f"{len(connections)} connections, expected 1")

    offered = ws.request.headers.get("Sec-WebSocket-Extensions")
    answered = ws.response.headers.get("Sec-WebSocket-Extensions")
    print(f"[server] offered  Sec-WebSocket-Extensions: {offered}")
    print(f"[server] response Sec-WebSocket-Extensions: {answered}")
    check(offered is not None and "permessage-deflate" in offered, "the client did not offer permessage-deflate")
    pmd = [e for e in ws.protocol.extensions if isinstance(e, PerMessageDeflate)]
    check(len(pmd) == 1, f"permessage-deflate not negotiated (extensions: {ws.protocol.extensions!r})")
    pmd = pmd[0]
    print(
        f"[server] permessage-deflate: client compresses with 2^{pmd.remote_max_window_bits} "
        f"(no_context_takeover={pmd.remote_no_context_takeover}), server with "
        f"2^{pmd.local_max_window_bits} (no_context_takeover={pmd.local_no_context_takeover})"
    )

    if received != expected:
        padded = received + [None] * max(0, len(expected) - len(received))
        first = next((i for i, (a, b) in enumerate(zip(padded, expected)) if a != b), len(expected))
        raise CheckFailed(
            f"received {len(received)} messages, expected the {len(expected)} lines of {expect_file}; "
            f"first difference at message {first + 1}"
        )
    check(ws.close_code == 1000, f"client closed with {ws.close_code}, expected 1000")

    inbound = decode_stream(bytes(ws.recorder.read), pmd.remote_max_window_bits, pmd.remote_no_context_takeover)
    outbound = decode_stream(bytes(ws.recorder.written), pmd.local_max_window_bits, pmd.local_no_context_takeover)
    check(inbound.unmasked_frames == 0, f"client sent {inbound.unmasked_frames} unmasked frames")
    check(inbound.rsv1_on_continuation == 0, "client set RSV1 on a continuation frame")
    for direction, stream in (("client->server", inbound), ("server->client", outbound)):
        check(len(stream.messages) == len(expected), f"{direction}: {len(stream.messages)} data messages on the wire")
        for i, (line, wire) in enumerate(zip(expected, stream.messages), 1):
            check(wire.opcode == OP_TEXT, f"{direction} message {i}: not a text frame")
            check(wire.data == line.encode(), f"{direction} message {i}: payload decoded from the wire differs")
    check(inbound.close_code() == 1000, f"client's close frame has code {inbound.close_code()}")

    print("[server] per message (payload B -> wire payload B, * = RSV1/compressed):")
    for i, (line, a, b) in enumerate(zip(expected, inbound.messages, outbound.messages), 1):
        print(
            f"[server]   line {i:<3} {len(line.encode()):>9} "
            f"{a.wire_payload:>9}{'*' if a.compressed else ' '} {b.wire_payload:>9}{'*' if b.compressed else ' '}"
        )
    for direction, stream in (("client->server", inbound), ("server->client", outbound)):
        n_comp = sum(m.compressed for m in stream.messages)
        print(
            f"[server] {direction}: {stream.payload_bytes()} payload B in {len(stream.messages)} messages "
            f"({n_comp} compressed) -> {stream.frame_bytes} B of frames on the wire "
            f"({pct(stream.frame_bytes, stream.payload_bytes())}), plus {len(stream.http_head)} B of HTTP"
        )

    # The long, compressible lines must be compressed in both directions.
    long_ones = [i for i, line in enumerate(expected) if len(line.encode()) >= 1024]
    check(long_ones, f"{expect_file} has no line of 1 KiB or more to check compression with")
    for direction, stream in (("client->server", inbound), ("server->client", outbound)):
        for i in long_ones:
            wire = stream.messages[i]
            check(wire.compressed, f"{direction} message {i + 1} ({len(wire.data)} B): sent uncompressed")
            check(
                wire.wire_payload * 5 < len(wire.data),
                f"{direction} message {i + 1}: {wire.wire_payload} B on the wire for {len(wire.data)} B",
            )

    print(
        f"summary: rust client -> python server: offered [{offered}], negotiated [{answered}]; "
        f"client->server {inbound.payload_bytes()} payload B -> {inbound.frame_bytes} wire B "
        f"({pct(inbound.frame_bytes, inbound.payload_bytes())}); "
        f"server->client {outbound.payload_bytes()} payload B -> {outbound.frame_bytes} wire B "
        f"({pct(outbound.frame_bytes, outbound.payload_bytes())}); client close 1000"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    c = sub.add_parser("client", help="test an echo server")
    c.add_argument("--url", required=True)
    c.add_argument("--label", default="client")
    c.add_argument("--timeout", type=float, default=60.0)
    c.add_argument("--ca", help="with a wss:// URL: PEM file of a CA to trust besides the system's")
    s = sub.add_parser("server", help="echo server for one client")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--expect", required=True, help="file with the expected text messages, one a line")
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--tls-cert", help="serve wss:// with this PEM certificate chain (needs --tls-key)")
    s.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, websockets {websockets.__version__}", flush=True)
    try:
        if args.role == "client":
            asyncio.run(run_client(args.url, args.label, args.timeout, args.ca))
        else:
            tls = None
            if args.tls_cert or args.tls_key:
                tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                tls.load_cert_chain(args.tls_cert, args.tls_key)
            asyncio.run(run_server(args.port, args.expect, args.timeout, tls))
    except CheckFailed as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"FAIL: timed out after {args.timeout:.0f}s", file=sys.stderr)
        return 1
    except Exception as exc:  # connection refused, handshake rejected, connection lost...
        print(f"FAIL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
