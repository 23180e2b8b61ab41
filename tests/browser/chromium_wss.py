#!/usr/bin/env python3
"""Headless Chromium against our TLS echo server (issue 16): a real browser's WebSocket over wss://.

For each adapter (tokio, then --blocking) this starts
`echo_server --addr 127.0.0.1:0 --tls-cert CERT.pem --tls-key KEY.pem [--blocking]` with a
throwaway certificate (tests/interop/tls_certs.sh), and in one headless Chromium session, driven
through raw W3C WebDriver calls to chromedriver (urllib, no selenium), runs a script on a blank
page that opens `new WebSocket("wss://127.0.0.1:PORT/")`, sends texts (empty, non-ASCII,
100 KB), binaries (all 256 byte values, 64 KiB), waits for every echo, closes with 1000 and returns
what it got. Checked here, exactly: every echo (type and content, in order), `ws.extensions` names
permessage-deflate, and the close event is 1000 and clean. Chromium trusts the certificate only
through --ignore-certificate-errors-spki-list (the SHA-256 of its public key); a control run
against the same server with another certificate, whose key is not on that list, must fail.

The blank page is served from http://127.0.0.1:PORT/ (a thread here), not about:blank or a data:
URL: Chromium 148's Local Network Access checks refuse a WebSocket from those (opaque, not
loopback) origins to 127.0.0.1 with ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS after the TLS
handshake, while a loopback page may open loopback sockets, as a page served by the app would.

With --routes axum,hyper the same session also opens `ws://127.0.0.1:PORT/ws` on the WebSocket
route of examples/axum_echo (an axum Router) and examples/hyper_echo (plain hyper), each upgraded
over HTTP/1.1, with the same checks.

Usage: python3 tests/browser/chromium_wss.py [--server CMD] [--adapters tokio,blocking]
                                             [--schemes wss,ws] [--routes axum,hyper] [--keep]
  --server CMD   the echo server command (default: $ECHO_SERVER, else
                 target/release/examples/echo_server; the stand-in that tests this script:
                 "target/interop-venv/bin/python tests/interop/contract_standins.py echo_server")
  --schemes wss,ws  also the same checks over plain ws:// (no certificate), in the same session
  --routes LIST  also ws://ADDR/ws of these servers: axum (default: $AXUM_ECHO, else
                 target/release/examples/axum_echo), hyper ($HYPER_ECHO, else .../hyper_echo)
Needs: /usr/bin/chromium and /usr/bin/chromedriver (Debian: chromium chromium-driver), openssl.
The WebDriver calls and process handling are in webdriver.py, next to this file.
Ports: 0 for the servers; chromedriver gets a port the kernel handed out and we closed (retried
on a clash). Everything has a timeout, and the whole run stops itself after 240 s. The session is
always deleted and every process started here killed. Prints `N passed, N failed` last.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from webdriver import (
    Checks, Failure, Processes, Watchdog, chromium_args, delete_session, install_watchdog, new_session,
    short, start_chromedriver, wait_for_line, webdriver,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WATCHDOG_SECONDS = 240
SCRIPT_TIMEOUT_MS = 30_000

TEXTS = [
    "hello from Chromium",
    "",
    "h\u00e9llo w\u00f6rld \u2014 \u2713 \u65e5\u672c\u8a9e \U0001f389 \u03a9\u03bc\u03ad\u03b3\u03b1",
    "the quick brown fox jumps over the lazy dog; " * 2200,  # ~100 KB, compressible
]
BINARIES = [bytes(range(256)), bytes(range(256)) * 256]

# --routes: name -> (environment variable with the command, default binary). Each serves its
# WebSocket echo at /ws over an HTTP/1.1 upgrade, takes --addr and prints `listening on ADDR`.
ROUTES = {
    "axum": ("AXUM_ECHO", "target/release/examples/axum_echo"),
    "hyper": ("HYPER_ECHO", "target/release/examples/hyper_echo"),
}

# Runs in the page. arguments: url, texts, binary sizes (each is i % 256 for i < size), callback.
# Sends every text then every binary, collects the echoes (binaries as hex), closes with 1000
# once all came back, and calls back from onclose (or after 20 s) with everything seen.
PAGE_SCRIPT = r"""
const [url, texts, sizes] = arguments;
const done = arguments[arguments.length - 1];
const expected = texts.length + sizes.length;
const result = {opened: false, extensions: null, received: [], errors: 0, close: null, timeout: false};
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
let finished = false;
const finish = () => { if (!finished) { finished = true; done(result); } };
const timer = setTimeout(() => { result.timeout = true; try { ws.close(); } catch (e) {} finish(); }, 20000);
let ws;
try {
  ws = new WebSocket(url);
} catch (e) {
  result.exception = String(e);
  clearTimeout(timer);
  finish();
  return;
}
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  result.opened = true;
  result.extensions = ws.extensions;
  for (const t of texts) ws.send(t);
  for (const n of sizes) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = i % 256;
    ws.send(b.buffer);
  }
};
ws.onmessage = (e) => {
  result.received.push(typeof e.data === "string" ? {text: e.data} : {binary: hex(e.data)});
  if (result.received.length === expected) ws.close(1000, "done");
};
ws.onerror = () => { result.errors += 1; };
ws.onclose = (e) => {
  result.close = {code: e.code, reason: e.reason, wasClean: e.wasClean};
  clearTimeout(timer);
  finish();
};
"""


class BlankPage(http.server.BaseHTTPRequestHandler):
    """Serves an empty HTML page for any GET."""

    def do_GET(self) -> None:
        body = b"<!doctype html><meta charset=utf-8><title>rfc6455 wss test</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def wait_for_listening(proc: subprocess.Popen, log: Path, timeout: float = 30) -> int:
    return int(wait_for_line(proc, log, "listening on ", timeout).rsplit(":", 1)[1])


def expected_echoes() -> list[dict]:
    return [{"text": t} for t in TEXTS] + [{"binary": b.hex()} for b in BINARIES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("ECHO_SERVER") or str(ROOT / "target/release/examples/echo_server"))
    parser.add_argument("--adapters", default="tokio,blocking")
    parser.add_argument("--schemes", default="wss", help="wss, ws or both: wss,ws")
    parser.add_argument("--routes", default="", help="also ws://ADDR/ws of axum_echo and/or hyper_echo: axum,hyper")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    parser.add_argument("--keep", action="store_true", help="keep the logs")
    args = parser.parse_args()
    server_cmd = shlex.split(args.server)
    adapters = [a for a in args.adapters.split(",") if a]
    schemes = [s for s in args.schemes.split(",") if s]
    routes = [r for r in args.routes.split(",") if r]
    if not set(schemes) <= {"wss", "ws"} or not set(adapters) <= {"tokio", "blocking"}:
        parser.error("--schemes takes wss and/or ws, --adapters tokio and/or blocking")
    if not set(routes) <= set(ROUTES):
        parser.error("--routes takes axum and/or hyper")
    route_cmds = {r: shlex.split(os.environ.get(ROUTES[r][0]) or str(ROOT / ROUTES[r][1])) for r in routes}

    checks = Checks()
    check = checks.check
    install_watchdog(WATCHDOG_SECONDS)

    (ROOT / "target").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chromium-wss.", dir=ROOT / "target"))
    procs = Processes()
    base = session = None
    started = time.monotonic()
    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BlankPage)
    page.daemon_threads = True
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        for binary in (args.chromium, args.chromedriver, server_cmd[0], *(c[0] for c in route_cmds.values())):
            if shutil.which(binary) is None:
                raise Failure(f"{binary} not found (Debian: apt-get install chromium chromium-driver; "
                              "cargo build --release --examples)")
        browser_args = chromium_args(work / "profile")
        tls_flags: dict[str, list[str]] = {}
        if "wss" in schemes:
            for name in ("certs", "other-certs"):
                subprocess.run(["bash", str(ROOT / "tests/interop/tls_certs.sh"), str(work / name)],
                               check=True, timeout=30, stdout=subprocess.DEVNULL)
                tls_flags[name] = ["--tls-cert", str(work / name / "CERT.pem"), "--tls-key", str(work / name / "KEY.pem")]
            spki = (work / "certs/SPKI.txt").read_text().strip()
            browser_args.append(f"--ignore-certificate-errors-spki-list={spki}")
            print(f"certificate SPKI sha256: {spki}")

        # (scheme, adapter) -> (process, port, log, name, path); a server that does not start is one
        # failure. The adapter of a --routes server is the route's name (axum, hyper).
        servers: dict[tuple[str, str], tuple[subprocess.Popen, int, Path, str, str]] = {}
        runs = [(scheme, adapter, server_cmd, "/") for scheme in schemes for adapter in adapters]
        if "wss" in schemes:
            runs.append(("wss", "control", server_cmd, "/"))
        runs += [("ws", route, route_cmds[route], "/ws") for route in routes]
        for scheme, adapter, cmd, path in runs:
            flags = tls_flags.get("other-certs" if adapter == "control" else "certs", []) if scheme == "wss" else []
            extra = ["--blocking"] if adapter == "blocking" else []
            name = f"{adapter}_echo" if adapter in ROUTES else "echo_server"
            log = work / f"{name}-{scheme}-{adapter}.log"
            proc = procs.start([*cmd, "--addr", "127.0.0.1:0", *flags, *extra], log)
            try:
                servers[(scheme, adapter)] = (proc, wait_for_listening(proc, log), log, name, path)
                print(f"{name} {scheme} ({adapter}): pid {proc.pid}, port {servers[(scheme, adapter)][1]}")
            except Failure as exc:
                check(False, f"{name} {scheme} ({adapter}) starts", str(exc))
        if not servers:
            raise Failure("no server started")

        _, base = start_chromedriver(procs, work, args.chromedriver)
        created, seconds = new_session(base, args.chromium, browser_args, SCRIPT_TIMEOUT_MS)
        session = created["sessionId"]
        version = created["capabilities"].get("browserVersion")
        print(f"Chromium {version}: session {session} in {seconds:.1f} s")
        webdriver(base, "POST", f"/session/{session}/url", {"url": f"http://127.0.0.1:{page.server_port}/"})

        def run_page(url: str) -> dict:
            result = webdriver(
                base, "POST", f"/session/{session}/execute/async",
                {"script": PAGE_SCRIPT, "args": [url, TEXTS, [len(b) for b in BINARIES]]},
                timeout=SCRIPT_TIMEOUT_MS / 1000 + 15,
            )
            if not isinstance(result, dict):
                raise Failure(f"the page script returned {short(result)}")
            return result

        want = expected_echoes()
        for (scheme, adapter), (proc, port, log, name, path) in servers.items():
            t0 = time.monotonic()
            result = run_page(f"{scheme}://127.0.0.1:{port}{path}")
            print(f"[{scheme} {adapter}] {time.monotonic() - t0:.2f} s: opened={result.get('opened')} "
                  f"extensions={result.get('extensions')!r} received={len(result.get('received') or [])} "
                  f"errors={result.get('errors')} close={result.get('close')} timeout={result.get('timeout')}")
            if adapter == "control":
                check(
                    not result.get("opened") and not result.get("received")
                    and (result.get("close") or {}).get("code") == 1006,
                    "Chromium refuses a certificate whose key is not on --ignore-certificate-errors-spki-list (close 1006)",
                    f"opened={result.get('opened')}, close={result.get('close')}",
                )
                continue
            label = f"Chromium {scheme}://...{path} -> {name} ({adapter})"
            got = result.get("received") or []
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            check(
                got == want,
                f"{label}: {len(want)} echoes, exact (texts incl. empty, non-ASCII, 100 KB; binaries 256 B, 64 KiB)",
                f"got {len(got)}, first difference at #{first}: got {short(got[first] if first < len(got) else None)}, "
                f"want {short(want[first] if first < len(want) else None)}",
            )
            check(
                "permessage-deflate" in (result.get("extensions") or ""),
                f"{label}: ws.extensions has permessage-deflate",
                f"ws.extensions = {result.get('extensions')!r}",
            )
            close = result.get("close") or {}
            check(
                close.get("code") == 1000 and close.get("wasClean") is True and not result.get("errors"),
                f"{label}: closed with 1000, clean, no error event",
                f"close = {close}, error events = {result.get('errors')}, timeout = {result.get('timeout')}",
            )
            if proc.poll() is not None:
                check(False, f"{label}: server still running", log.read_text(errors="replace")[-500:])
    except (Failure, Watchdog, subprocess.SubprocessError, OSError) as exc:
        check(False, f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        delete_session(base, session)
        procs.stop_all()
        page.shutdown()
        page.server_close()
        if checks.failed or args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"elapsed: {time.monotonic() - started:.1f} s")
    print(checks.summary())
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
