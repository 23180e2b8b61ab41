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
Ports: 0 for the servers; chromedriver gets a port the kernel handed out and we closed (retried
on a clash). Everything has a timeout, and the whole run stops itself after 240 s. The session is
always deleted and every process started here killed. Prints `N passed, N failed` last.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

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


class Failure(Exception):
    """Setup that cannot go on."""


class Watchdog(Exception):
    """The whole run took too long."""


# Direct connections only: urllib would otherwise follow http_proxy for 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def webdriver(base: str, method: str, path: str, body: dict | None = None, timeout: float = 60) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return json.loads(response.read().decode() or "null").get("value")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            value = json.loads(detail)["value"]
            detail = f"{value.get('error')}: {value.get('message', '').splitlines()[0]}"
        except (ValueError, KeyError, AttributeError, IndexError):
            pass
        raise Failure(f"WebDriver {method} {path}: HTTP {exc.code}: {detail}") from None


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """What we started, each in its own process group, so Chromium goes with chromedriver."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)  # the group we made for it: it and its children
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        # Children (Chromium's) may outlive their parent in the group: end them too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def wait_for_listening(proc: subprocess.Popen, log: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("listening on "):
                return int(line.rsplit(":", 1)[1])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    text = log.read_text(errors="replace").strip()
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"printed nothing in {timeout:.0f} s"
    raise Failure(f"{proc.args[0]} {state}: {text[-500:]}")


def start_chromedriver(procs: Processes, work: Path, binary: str) -> tuple[subprocess.Popen, str]:
    for attempt in range(1, 6):
        port = free_port()
        log = work / f"chromedriver-{attempt}.log"
        proc = procs.start([binary, f"--port={port}", "--allowed-ips=127.0.0.1"], log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = webdriver(base, "GET", "/status", timeout=2)
                if isinstance(status, dict) and status.get("ready"):
                    return proc, base
            except (OSError, Failure):
                pass
            time.sleep(0.1)
        print(f"chromedriver not ready on port {port} (attempt {attempt}): {log.read_text(errors='replace')[-300:]}")
        procs.stop(proc)
    raise Failure("chromedriver did not start")


def expected_echoes() -> list[dict]:
    return [{"text": t} for t in TEXTS] + [{"binary": b.hex()} for b in BINARIES]


def short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:160] + f"... ({len(text)} chars)"


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

    passed = failed = 0

    def check(ok: bool, what: str, detail: str = "") -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok: {what}")
        else:
            failed += 1
            print(f"FAIL: {what}{': ' + detail if detail else ''}")

    def on_signal(signum, _frame):
        if signum == signal.SIGALRM:
            raise Watchdog(f"the run took over {WATCHDOG_SECONDS} s")
        raise SystemExit(128 + signum)

    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    signal.alarm(WATCHDOG_SECONDS)

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
        chromium_args = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--no-proxy-server", f"--user-data-dir={work / 'profile'}",
        ]
        tls_flags: dict[str, list[str]] = {}
        if "wss" in schemes:
            for name in ("certs", "other-certs"):
                subprocess.run(["bash", str(ROOT / "tests/interop/tls_certs.sh"), str(work / name)],
                               check=True, timeout=30, stdout=subprocess.DEVNULL)
                tls_flags[name] = ["--tls-cert", str(work / name / "CERT.pem"), "--tls-key", str(work / name / "KEY.pem")]
            spki = (work / "certs/SPKI.txt").read_text().strip()
            chromium_args.append(f"--ignore-certificate-errors-spki-list={spki}")
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
        capabilities = {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": SCRIPT_TIMEOUT_MS, "pageLoad": 30_000},
            "goog:chromeOptions": {"binary": args.chromium, "args": chromium_args},
        }
        for attempt in (1, 2):  # a browser that fails to launch on a loaded machine gets one more go
            t0 = time.monotonic()
            try:
                created = webdriver(base, "POST", "/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=90)
                break
            except (Failure, OSError) as exc:
                if attempt == 2:
                    raise
                print(f"new session failed ({exc}); once more")
        session = created["sessionId"]
        version = created["capabilities"].get("browserVersion")
        print(f"Chromium {version}: session {session} in {time.monotonic() - t0:.1f} s")
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
        failed += 1
        print(f"FAIL: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        if session is not None and base is not None:
            try:
                webdriver(base, "DELETE", f"/session/{session}", timeout=20)
            except (Failure, OSError) as exc:
                print(f"warning: deleting the session: {exc}")
        procs.stop_all()
        page.shutdown()
        page.server_close()
        if failed or args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"elapsed: {time.monotonic() - started:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
