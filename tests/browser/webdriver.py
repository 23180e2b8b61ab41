"""Plumbing shared by the browser tests: headless Chromium driven through chromedriver with raw W3C
WebDriver HTTP calls (urllib, no selenium), the processes a test starts, a watchdog, and the
`ok:` / `FAIL:` lines with their count.

Not a test itself: chromium_wss.py and chat.py (next to it) import it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class Failure(Exception):
    """Setup that cannot go on."""


class Watchdog(Exception):
    """The whole run took too long."""


# Direct connections only: urllib would otherwise follow http_proxy for 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The W3C name of an element reference in a WebDriver answer.
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


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

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL at once, no chance to say goodbye (a crashed node)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def wait_for_line(proc: subprocess.Popen, log: Path, prefix: str, timeout: float = 30) -> str:
    """The rest of the first line of `log` that starts with `prefix`, once `proc` printed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line[len(prefix):]
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


def chromium_args(profile: Path) -> list[str]:
    """Headless, quiet (no background traffic, no proxy), with a profile of its own."""
    return [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--no-proxy-server", f"--user-data-dir={profile}",
    ]


def new_session(base: str, chromium: str, args: list[str], script_timeout_ms: int) -> tuple[dict, float]:
    """A WebDriver session (its answer, and the seconds it took to start the browser)."""
    capabilities = {
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": {"script": script_timeout_ms, "pageLoad": 30_000},
        "goog:chromeOptions": {"binary": chromium, "args": args},
    }
    for attempt in (1, 2):  # a browser that fails to launch on a loaded machine gets one more go
        t0 = time.monotonic()
        try:
            created = webdriver(base, "POST", "/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=90)
            return created, time.monotonic() - t0
        except (Failure, OSError) as exc:
            if attempt == 2:
                raise
            print(f"new session failed ({exc}); once more")
    raise AssertionError("unreachable")


def delete_session(base: str | None, session: str | None) -> None:
    if session is not None and base is not None:
        try:
            webdriver(base, "DELETE", f"/session/{session}", timeout=20)
        except (Failure, OSError) as exc:
            print(f"warning: deleting the session: {exc}")


class Browser:
    """One session's calls, on whichever window is current."""

    def __init__(self, base: str, session: str, script_timeout_ms: int) -> None:
        self.base = base
        self.session = session
        self.script_timeout = script_timeout_ms / 1000

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> object:
        return webdriver(self.base, method, f"/session/{self.session}{path}", body, timeout)

    def execute(self, script: str, *args: object) -> object:
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)}, self.script_timeout + 15)

    def execute_async(self, script: str, *args: object) -> object:
        return self.call("POST", "/execute/async", {"script": script, "args": list(args)}, self.script_timeout + 15)

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def window(self) -> str:
        return self.call("GET", "/window")

    def new_window(self) -> str:
        """Opens a new top-level window (not made current); its handle."""
        return self.call("POST", "/window/new", {"type": "window"})["handle"]

    def switch(self, handle: str) -> None:
        self.call("POST", "/window", {"handle": handle})

    def close_window(self) -> None:
        self.call("DELETE", "/window")

    def element(self, css: str) -> str:
        return self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT_KEY]

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self.element(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        """Key presses into the element, as a user types them."""
        self.call("POST", f"/element/{self.element(css)}/value", {"text": text})

    def screenshot(self) -> bytes:
        """The current window's viewport, as PNG."""
        return base64.b64decode(self.call("GET", "/screenshot"))


class Checks:
    """Counts and prints the checks: `ok: WHAT` or `FAIL: WHAT: DETAIL`."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed += 1
            print(f"FAIL: {what}{': ' + detail if detail else ''}")
        return ok

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def install_watchdog(seconds: int) -> None:
    """SIGALRM after `seconds` raises Watchdog; SIGTERM and SIGINT exit (so `finally` cleans up)."""

    def on_signal(signum, _frame):
        if signum == signal.SIGALRM:
            raise Watchdog(f"the run took over {seconds} s")
        raise SystemExit(128 + signum)

    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    signal.alarm(seconds)


def short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:160] + f"... ({len(text)} chars)"
