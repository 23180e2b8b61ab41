#!/usr/bin/env python3
"""Stand-ins for our example binaries, speaking their command-line contract (issue 16).

The TLS, browser and proxy checks (tests/interop/python_websockets_tls.sh,
tests/browser/chromium_wss.py, tests/e2e/proxies.sh) run our binaries by
default. Pointing them at these stand-ins instead (ECHO_SERVER=... CLIENT=...,
see each script's header) tests the scripts themselves: certificates, proxies,
Chromium and WebDriver, ports, timeouts and cleanup, with the same checks.
They are test plumbing, not a second implementation to compare against: a
check passing with a stand-in says nothing about rfc6455.

  echo_server [--addr HOST:PORT] [--tls-cert CERT.pem --tls-key KEY.pem] [--blocking]
      An echo server on the `websockets` package (asyncio; threads with
      --blocking), permessage-deflate accepted. Prints `listening on ADDR`
      (the real port with port 0) on stdout once it accepts; serves wss://
      with --tls-cert and --tls-key, ws:// without.

  client [--ca CA.pem] [--proxy URL] URL
      Sends each stdin line as a text message, prints `< TEXT` for each text
      message received (`< N bytes of binary` for binary), closes with 1000
      at stdin EOF and prints `connection closed` on stderr. --ca trusts an
      extra root CA. --proxy takes http://[user:pass@]host:port (HTTP
      CONNECT, Basic auth) or socks5://[user:pass@]host:port (RFC 1928/1929);
      without it, https_proxy (wss://) or http_proxy (ws://), then all_proxy,
      unless no_proxy matches the host (lower case first, then upper case).
      Exits 1 with the reason on stderr when it cannot connect; a proxy's
      refusal names the status (`407`, `403`).

Needs the `websockets` package (tests/interop/python_websockets.sh makes a
venv with it); the proxy code is the standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import os
import socket
import ssl
import sys
import threading
import urllib.parse

MAX_SIZE = 64 << 20
CONNECT_TIMEOUT = 10.0


class ConnectError(Exception):
    """Why the client could not connect."""


# --------------------------------------------------------------------------
# echo_server


def server_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SystemExit("echo_server: --tls-cert and --tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def announce(sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on {shown}:{port}", flush=True)


def run_echo_server(args: argparse.Namespace) -> int:
    host, _, port = args.addr.rpartition(":")
    host = host.strip("[]")
    ctx = server_context(args.tls_cert, args.tls_key)
    if args.blocking:
        from websockets.sync.server import serve as sync_serve

        def sync_echo(ws) -> None:
            for message in ws:
                ws.send(message)

        with sync_serve(sync_echo, host, int(port), ssl=ctx, max_size=MAX_SIZE) as server:
            announce(server.socket)
            server.serve_forever()
        return 0

    from websockets.asyncio.server import serve

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, host, int(port), ssl=ctx, max_size=MAX_SIZE) as server:
            announce(server.sockets[0])
            await server.serve_forever()

    asyncio.run(main())
    return 0


# --------------------------------------------------------------------------
# client: proxies


def proxy_for(url: urllib.parse.SplitResult) -> str | None:
    """The proxy URL the environment asks for, or None (lower-case names win)."""

    def env(name: str) -> str | None:
        for key in (name, name.upper()):
            value = os.environ.get(key)
            if value:
                return value
        return None

    host = (url.hostname or "").lower()
    for entry in (env("no_proxy") or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return None
        entry_host = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        entry_host = entry_host.strip("[]").lstrip(".")
        if host == entry_host or host.endswith("." + entry_host):
            return None
    scheme_var = "https_proxy" if url.scheme == "wss" else "http_proxy"
    return env(scheme_var) or env("all_proxy")


def read_exact(sock: socket.socket, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectError(f"{what}: the proxy closed the connection")
        data += chunk
    return data


def http_connect(sock: socket.socket, proxy: urllib.parse.SplitResult, host: str, port: int) -> None:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if proxy.username is not None:
        creds = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
        head += f"Proxy-Authorization: Basic {base64.b64encode(creds.encode()).decode()}\r\n"
    sock.sendall((head + "\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: nothing after the head may be consumed
        if not chunk:
            raise ConnectError(f"http proxy closed the connection during CONNECT ({response[:100]!r})")
        response += chunk
        if len(response) > 16384:
            raise ConnectError("http proxy's CONNECT response head is over 16 KiB")
    status_line = response.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectError(f"http proxy answered CONNECT with {status_line!r}")
    if parts[1] != "200":
        raise ConnectError(f"http proxy refused CONNECT {authority}: {parts[1]} {parts[2] if len(parts) > 2 else ''}")


SOCKS_REPLIES = {
    1: "general failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


def socks5_connect(sock: socket.socket, proxy: urllib.parse.SplitResult, host: str, port: int) -> None:
    user = urllib.parse.unquote(proxy.username) if proxy.username is not None else None
    methods = b"\x00\x02" if user is not None else b"\x00"
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = read_exact(sock, 2, "socks5 greeting")
    if version != 5:
        raise ConnectError(f"socks5 proxy answered version {version}")
    if method == 0xFF:
        raise ConnectError("socks5 proxy accepts none of the offered authentication methods")
    if method == 2:
        if user is None:
            raise ConnectError("socks5 proxy asks for a username and password and none was given")
        password = urllib.parse.unquote(proxy.password or "")
        u, p = user.encode(), password.encode()
        sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        _, status = read_exact(sock, 2, "socks5 authentication")
        if status != 0:
            raise ConnectError("socks5 proxy authentication failed: wrong username or password")
    elif method != 0:
        raise ConnectError(f"socks5 proxy chose authentication method {method}, which we did not offer")
    try:
        ip = ipaddress.ip_address(host)
        address = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        address = b"\x03" + bytes([len(host)]) + host.encode()
    sock.sendall(b"\x05\x01\x00" + address + port.to_bytes(2, "big"))
    _, reply, _, atyp = read_exact(sock, 4, "socks5 connect")
    if reply != 0:
        raise ConnectError(f"socks5 proxy could not connect to {host}:{port}: {SOCKS_REPLIES.get(reply, reply)}")
    skip = {1: 4, 4: 16}.get(atyp)
    if skip is None:
        skip = read_exact(sock, 1, "socks5 connect")[0]
    read_exact(sock, skip + 2, "socks5 connect")


def open_socket(url: urllib.parse.SplitResult, proxy: str | None) -> socket.socket:
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "wss" else 80)
    if proxy is None:
        try:
            return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if p.scheme not in ("http", "socks5", "socks5h"):
        raise ConnectError(f"unsupported proxy scheme {p.scheme!r} in {proxy!r}")
    default_port = 1080 if p.scheme.startswith("socks5") else 8080
    try:
        sock = socket.create_connection((p.hostname, p.port or default_port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise ConnectError(f"cannot connect to the {p.scheme} proxy {p.hostname}:{p.port}: {exc}") from None
    try:
        if p.scheme == "http":
            http_connect(sock, p, host, port)
        else:
            socks5_connect(sock, p, host, port)
    except BaseException:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------
# client


def run_client(args: argparse.Namespace) -> int:
    from websockets.sync.client import connect

    url = urllib.parse.urlsplit(args.url)
    if url.scheme not in ("ws", "wss"):
        print(f"error: not a ws:// or wss:// URL: {args.url}", file=sys.stderr)
        return 2
    ctx = None
    if url.scheme == "wss":
        ctx = ssl.create_default_context()
        if args.ca:
            ctx.load_verify_locations(args.ca)
    proxy = args.proxy if args.proxy is not None else proxy_for(url)
    try:
        sock = open_socket(url, proxy)
        ws = connect(
            args.url,
            sock=sock,
            ssl=ctx,
            server_hostname=url.hostname if ctx else None,
            proxy=None,
            max_size=MAX_SIZE,
            open_timeout=CONNECT_TIMEOUT,
        )
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # TLS, handshake
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"connected to {args.url} (status {ws.response.status_code})", file=sys.stderr)

    def printer() -> None:
        try:
            for message in ws:
                if isinstance(message, str):
                    print(f"< {message}", flush=True)
                else:
                    print(f"< {len(message)} bytes of binary", flush=True)
            print("connection closed", file=sys.stderr)
        except Exception as exc:
            print(f"connection ended: {exc}", file=sys.stderr)

    thread = threading.Thread(target=printer)
    thread.start()
    try:
        for line in sys.stdin:
            ws.send(line.rstrip("\n"))
    except Exception:
        pass
    ws.close(1000, "bye")
    thread.join()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("echo_server")
    s.add_argument("--addr", default="127.0.0.1:9001")
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--blocking", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("--ca")
    c.add_argument("--proxy")
    c.add_argument("url")
    args = parser.parse_args()
    return run_echo_server(args) if args.role == "echo_server" else run_client(args)


if __name__ == "__main__":
    sys.exit(main())
