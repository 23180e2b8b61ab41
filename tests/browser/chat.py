#!/usr/bin/env python3
"""Headless Chromium against examples/chat (issue 19): the chat page, used through its own UI in
several browser windows, on one node and on two nodes that share Redis.

One headless Chromium session, driven through raw W3C WebDriver calls to chromedriver (urllib, no
selenium; the plumbing is in webdriver.py next to this file), opens the page each node serves at
`/` in several windows (one per user, `?nick=...&room=...`) and reads the page's state from
`window.chat` and the DOM.

1. One node (`chat --addr 127.0.0.1:0`), windows ann and bob in room r1. Checked: both reach
   OPEN; each one's member list (#members) shows both nicks; a text typed into #text and sent
   with the #send button (key presses and a click) reaches the other window's `chat.messages`,
   both ways; `<b>é</b> 🙂` is shown as text in both windows (the line's text node equals it, no
   element made from it; it is put into #text by script, as chromedriver types only characters
   of the Basic Multilingual Plane, and sent with #send); #extensions names permessage-deflate;
   #rtt-server shows "N.NN ms" within 10 s (the server's heartbeat pings every 3 s); while bob
   types (no send), ann's #typing names bob. Then carol joins r1: her `chat.messages` is the
   history, the same lines as ann's, in order, seq 1..N without gaps. A screenshot of ann's
   window (1200x800) is saved (--screenshot) as an artifact.
2. Two nodes sharing Redis: a `redis-server` on a free port (no persistence), nodes A and B on
   ports chosen first, each started with `--redis redis://127.0.0.1:P --peer <the other>
   --secret S`. ann opens A's page and bob B's, room x: messages cross both ways. Then A is
   killed (SIGKILL) while bob sends 5 messages over 2 s: ann's page must reconnect to B by
   itself (`chat.node` is B's ws://127.0.0.1:PB/ws, `chat.connects` >= 2) and hold every
   message exactly once (seqs strictly increasing without gaps, each of bob's texts once; the
   #log lines match). A chat built without Redis support exits with status 2 and says so: that
   prints `SKIP two nodes: <its message>` and is no failure; so is a missing redis-server.

Usage: python3 tests/browser/chat.py [--chat PATH] [--screenshot PATH] [--redis-server PATH]
                                     [--keep]
  --chat PATH          the chat binary (default: target/release/examples/chat;
                       cargo build --release --example chat)
  --screenshot PATH    where ann's window is saved as PNG (default: target/chat-screenshot.png)
  --redis-server PATH  for the two-node part (default: /usr/bin/redis-server)
  --keep               keep the logs (they are kept anyway when something failed)
Needs: /usr/bin/chromium and /usr/bin/chromedriver (Debian: chromium chromium-driver).
Every wait is bounded (20 s at most), and the whole run stops itself after 240 s. The session is
always deleted and every process started here killed. Prints `N passed, N failed` last and exits
non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from webdriver import (
    Browser, Checks, Failure, Processes, Watchdog, chromium_args, delete_session, free_port,
    install_watchdog, new_session, short, start_chromedriver, wait_for_line,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REDIS_SERVER = "/usr/bin/redis-server"
WATCHDOG_SECONDS = 240
SCRIPT_TIMEOUT_MS = 30_000
WAIT = 20.0  # the longest any single condition is waited for
RTT_WAIT = 10.0
HTML_TEXT = "<b>\u00e9</b> \U0001f642"
BOB_BURST = 5  # bob's messages while node A is down
WINDOW_SIZE = "--window-size=1200,800"  # every window's, and the screenshot's

# What a window shows: window.chat and the DOM parts the checks look at (null before the page ran).
SNAPSHOT = r"""
const c = window.chat;
if (!c) return null;
const text = (id) => document.getElementById(id).textContent;
return {
  state: c.state, room: c.room, nick: c.nick, node: c.node, connects: c.connects, lastSeq: c.lastSeq,
  messages: c.messages.map((m) => ({seq: m.seq, nick: m.nick, text: m.text})),
  members: [...document.querySelectorAll("#members li")].map((li) => li.textContent),
  logSeqs: [...document.querySelectorAll("#log li.msg")].map((li) => Number(li.dataset.seq)),
  typing: text("typing"), rttServer: text("rtt-server"), extensions: text("extensions"),
  notice: text("notice"), closes: c.closes, errors: c.errors,
};
"""

# How the #log line with seq arguments[0] is built.
LINE_NODES = r"""
const li = document.querySelector(`#log li.msg[data-seq="${arguments[0]}"]`);
if (!li) return null;
const last = li.lastChild;
return {
  lastIsText: last !== null && last.nodeType === Node.TEXT_NODE, lastText: last && last.textContent,
  elements: li.querySelectorAll("*").length, bold: li.querySelectorAll("b").length,
  textContent: li.textContent,
};
"""

# Puts arguments[0] into #text as one input event: the fallback for characters chromedriver
# cannot type (outside the Basic Multilingual Plane).
FILL_TEXT = r"""
const area = document.getElementById("text");
area.focus(); area.value = arguments[0];
area.dispatchEvent(new Event("input", {bubbles: true}));
"""


class Skip(Exception):
    """A part that cannot run here (not a failure)."""


@dataclass
class Window:
    """A browser window with one user's chat page."""

    name: str
    handle: str


class Chat:
    """The browser session, with the window it is on remembered (switching costs a call)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.current = browser.window()

    def on(self, window: Window) -> Browser:
        if self.current != window.handle:
            self.browser.switch(window.handle)
            self.current = window.handle
        return self.browser

    def window(self, name: str, url: str, reuse: Window | None = None) -> Window:
        """`reuse` (or a new window) showing `url`."""
        window = reuse or Window(name, self.browser.new_window())
        window.name = name
        self.on(window).open(url)
        return window

    def first_window(self, name: str, url: str) -> Window:
        window = Window(name, self.current)
        self.on(window).open(url)
        return window

    def close(self, window: Window) -> None:
        self.on(window).close_window()
        self.current = None

    def snapshot(self, window: Window) -> dict | None:
        return self.on(window).execute(SNAPSHOT)

    def wait(self, window: Window, done: Callable[[dict], bool], timeout: float = WAIT) -> tuple[bool, dict | None]:
        """Polls the window's snapshot until `done` holds or `timeout` passes: (held, last snapshot)."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot(window)
            if snap is not None and done(snap):
                return True, snap
            if time.monotonic() >= deadline:
                return False, snap
            time.sleep(0.1)

    def say(self, window: Window, text: str) -> str:
        """Types `text` into #text and clicks #send, as a user does; how it was typed."""
        browser = self.on(window)
        how = "typed"
        if any(ord(ch) > 0xFFFF for ch in text):
            # chromedriver types only characters of the Basic Multilingual Plane
            browser.execute(FILL_TEXT, text)
            how = "put (by script: chromedriver types only BMP characters)"
        else:
            browser.type("#text", text)
        browser.click("#send")
        return how


def texts(snap: dict | None) -> list[str]:
    return [m["text"] for m in (snap or {}).get("messages", [])]


def seqs(snap: dict | None) -> list[int]:
    return [m["seq"] for m in (snap or {}).get("messages", [])]


def contiguous(numbers: list[int]) -> bool:
    return bool(numbers) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def brief(snap: dict | None) -> str:
    """The parts of a snapshot worth printing on a failure."""
    if snap is None:
        return "no window.chat"
    keep = ("state", "node", "connects", "members", "typing", "notice", "closes", "errors")
    text = json.dumps({**{k: snap.get(k) for k in keep}, "seqs": seqs(snap), "texts": texts(snap)[-8:]},
                      ensure_ascii=False)
    return text if len(text) <= 800 else text[:800] + "..."


def page_url(port: int, nick: str, room: str) -> str:
    return f"http://127.0.0.1:{port}/?nick={nick}&room={room}"


def start_chat(procs: Processes, work: Path, binary: str, name: str, args: list[str]) -> tuple[subprocess.Popen, int]:
    """Starts a chat node and waits for `open http://ADDR/`; its process and port. A node that
    exits with status 2 (a usage error: e.g. --redis in a build without it) raises Skip with
    what it said."""
    log = work / f"{name}.log"
    proc = procs.start([binary, *args], log)
    try:
        addr = wait_for_line(proc, log, "open http://")
    except Failure:
        if proc.poll() == 2:
            raise Skip(log.read_text(errors="replace").strip().splitlines()[-1]) from None
        raise
    return proc, int(addr.rstrip("/").rsplit(":", 1)[1])


def start_redis(procs: Processes, work: Path, binary: str) -> tuple[subprocess.Popen, int]:
    """A throwaway redis-server on a free loopback port (no snapshots, no append-only file)."""
    for attempt in range(1, 4):
        port = free_port()
        log = work / f"redis-{attempt}.log"
        proc = procs.start([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", str(work)], log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return proc, port
            except OSError:
                pass
            time.sleep(0.1)
        print(f"redis-server not ready on port {port} (attempt {attempt}): {log.read_text(errors='replace')[-300:]}")
        procs.stop(proc)
    raise Failure("redis-server did not start")


def start_two_nodes(procs: Processes, work: Path, binary: str, redis_port: int) -> tuple[subprocess.Popen, int, int]:
    """Nodes A and B on ports picked first, each the other's --peer; A's process and both ports."""
    secret = secrets.token_hex(16)
    for attempt in range(1, 4):  # a picked port taken in the meantime: pick again
        pa, pb = free_port(), free_port()
        if pa == pb:
            continue
        started = []
        try:
            for name, port, peer in (("A", pa, pb), ("B", pb, pa)):
                args = ["--addr", f"127.0.0.1:{port}", "--redis", f"redis://127.0.0.1:{redis_port}",
                        "--peer", f"127.0.0.1:{peer}", "--secret", secret]
                started.append(start_chat(procs, work, binary, f"node-{name}-{attempt}", args)[0])
            print(f"nodes: A on {pa} (pid {started[0].pid}), B on {pb} (pid {started[1].pid}), redis on {redis_port}")
            return started[0], pa, pb
        except Failure as exc:
            print(f"two nodes did not start (attempt {attempt}): {exc}")
            for proc in started:
                procs.stop(proc)
    raise Failure("the two nodes did not start")


def send_and_see(checks: Checks, chat: Chat, sender: Window, receiver: Window, text: str, label: str) -> dict | None:
    """`sender` says `text` through the UI; checks `receiver` gets it, from `sender`'s nick."""
    how = chat.say(sender, text)
    want = lambda m: m["text"] == text and m["nick"] == sender.name  # noqa: E731
    ok, snap = chat.wait(receiver, lambda s: any(want(m) for m in s["messages"]))
    checks.check(ok, f"{label}: {sender.name} {how} {short(text)} into #text, clicked #send; "
                     f"{receiver.name}'s chat.messages has it", brief(snap))
    return snap


def check_open_and_presence(checks: Checks, chat: Chat, windows: list[Window], label: str) -> None:
    nicks = {w.name for w in windows}
    for window in windows:
        ok, snap = chat.wait(window, lambda s: s["state"] == "OPEN")
        checks.check(ok, f"{label}: {window.name}'s page is OPEN", brief(snap))
    for window in windows:
        ok, snap = chat.wait(window, lambda s: nicks <= set(s["members"]))
        checks.check(ok, f"{label}: {window.name}'s #members lists {', '.join(sorted(nicks))}", brief(snap))


def check_shown_as_text(checks: Checks, chat: Chat, window: Window, snap: dict, text: str, label: str) -> None:
    line = next((m for m in snap["messages"] if m["text"] == text), None)
    nodes = chat.on(window).execute(LINE_NODES, line["seq"]) if line else None
    ok = (nodes is not None and nodes["lastIsText"] and nodes["lastText"] == text and nodes["bold"] == 0
          and nodes["elements"] == 2 and nodes["textContent"].endswith(text))
    checks.check(ok, f"{label}: {window.name}'s #log line shows {short(text)} as text (a text node equal to it; "
                     "no element but the time and nick spans)", short(nodes))


def check_rtt(checks: Checks, chat: Chat, window: Window, opened_at: float, label: str) -> None:
    left = max(0.5, RTT_WAIT - (time.monotonic() - opened_at))
    ok, snap = chat.wait(window, lambda s: re.fullmatch(r"\d+\.\d\d ms", s["rttServer"]) is not None, left)
    checks.check(ok, f"{label}: {window.name}'s #rtt-server shows a number ({(snap or {}).get('rttServer')!r}) "
                     f"{time.monotonic() - opened_at:.1f} s after the page opened", brief(snap))


def check_typing(checks: Checks, chat: Chat, typist: Window, watcher: Window, label: str) -> None:
    """`typist` keeps typing (the page says so at most every 2 s) until `watcher`'s #typing names it."""
    deadline = time.monotonic() + 10
    ok, snap = False, None
    for word in ("still ", "typing ", "more ", "words ", "here "):
        chat.on(typist).type("#text", word)
        ok, snap = chat.wait(watcher, lambda s: typist.name in s["typing"], timeout=2.5)
        if ok or time.monotonic() > deadline:
            break
    checks.check(ok, f"{label}: {typist.name} types without sending: {watcher.name}'s #typing says "
                     f"{(snap or {}).get('typing')!r}", brief(snap))
    chat.on(typist).execute('document.getElementById("text").value = "";')


def one_node(checks: Checks, chat: Chat, procs: Processes, work: Path, args: argparse.Namespace) -> list[Window]:
    """Part 1; the windows it opened (the two-node part reuses them)."""
    label = "one node"
    proc, port = start_chat(procs, work, args.chat, "chat-one-node", ["--addr", "127.0.0.1:0"])
    print(f"{label}: chat on port {port} (pid {proc.pid})")
    opened_at = time.monotonic()
    ann = chat.first_window("ann", page_url(port, "ann", "r1"))
    bob = chat.window("bob", page_url(port, "bob", "r1"))
    check_open_and_presence(checks, chat, [ann, bob], label)

    send_and_see(checks, chat, ann, bob, "hello bob, this is ann", label)
    send_and_see(checks, chat, bob, ann, "hi ann, bob here", label)
    send_and_see(checks, chat, ann, bob, HTML_TEXT, label)
    for window in (bob, ann):
        ok, snap = chat.wait(window, lambda s: HTML_TEXT in texts(s))
        if ok:
            check_shown_as_text(checks, chat, window, snap, HTML_TEXT, label)
        else:
            checks.check(False, f"{label}: {window.name} has {short(HTML_TEXT)}", brief(snap))

    snap = chat.snapshot(ann)
    checks.check("permessage-deflate" in snap["extensions"],
                 f"{label}: ann's #extensions names permessage-deflate ({snap['extensions']!r})")
    check_rtt(checks, chat, ann, opened_at, label)
    check_typing(checks, chat, bob, ann, label)

    ann_snap = chat.snapshot(ann)
    carol = chat.window("carol", page_url(port, "carol", "r1"))
    want = [(m["seq"], m["nick"], m["text"]) for m in ann_snap["messages"]]
    ok, snap = chat.wait(carol, lambda s: s["state"] == "OPEN" and len(s["messages"]) >= len(want))
    got = [(m["seq"], m["nick"], m["text"]) for m in (snap or {}).get("messages", [])]
    checks.check(ok and got == want and seqs(snap) == list(range(1, len(want) + 1)),
                 f"{label}: carol joins later: her chat.messages is the history, ann's {len(want)} lines in order, "
                 f"seq 1..{len(want)} without gaps", f"got {short(got)}, want {short(want)}")

    chat.on(ann)
    png = chat.browser.screenshot()
    path = Path(args.screenshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    checks.check(png.startswith(b"\x89PNG"), f"{label}: screenshot of ann's window: {path} ({len(png)} bytes)")
    procs.stop(proc)
    return [ann, bob, carol]


def two_nodes(checks: Checks, chat: Chat, procs: Processes, work: Path, args: argparse.Namespace,
              windows: list[Window]) -> None:
    """Part 2: the same room on two nodes, and node A dying under ann."""
    label = "two nodes"
    if shutil.which(args.redis_server) is None:
        raise Skip(f"{args.redis_server} not found (Debian: apt-get install redis-server)")
    redis, redis_port = start_redis(procs, work, args.redis_server)
    node_a, pa, pb = start_two_nodes(procs, work, args.chat, redis_port)
    ann = chat.window("ann", page_url(pa, "ann", "x"), reuse=windows[0])
    bob = chat.window("bob", page_url(pb, "bob", "x"), reuse=windows[1])
    for extra in windows[2:]:
        chat.close(extra)
    check_open_and_presence(checks, chat, [ann, bob], label)
    send_and_see(checks, chat, ann, bob, "ann on A to bob on B", label)
    send_and_see(checks, chat, bob, ann, "bob on B to ann on A", label)

    procs.kill(node_a)
    print(f"{label}: node A (port {pa}) killed with SIGKILL")
    burst = [f"bob on B while A is down, {i} of {BOB_BURST}" for i in range(1, BOB_BURST + 1)]
    for text in burst:
        chat.say(bob, text)
        time.sleep(2.0 / BOB_BURST)
    b_url = f"ws://127.0.0.1:{pb}/ws"
    ok, snap = chat.wait(ann, lambda s: s["state"] == "OPEN" and s["node"] == b_url and s["connects"] >= 2
                         and set(burst) <= set(texts(s)))
    checks.check(ok, f"{label}: ann's page reconnected to B by itself (chat.node {(snap or {}).get('node')!r}, "
                     f"connects {(snap or {}).get('connects')}) and shows bob's {BOB_BURST} messages", brief(snap))
    numbers = seqs(snap)
    checks.check(contiguous(numbers) and numbers[0] == 1,
                 f"{label}: ann's chat.messages seqs strictly increasing, from 1, no gaps ({numbers})", brief(snap))
    counts = {text: texts(snap).count(text) for text in burst}
    checks.check(all(n == 1 for n in counts.values()), f"{label}: each of bob's messages once in ann's page",
                 short(counts))
    checks.check((snap or {}).get("logSeqs") == numbers, f"{label}: ann's #log lines are those messages, once each",
                 f"#log seqs {(snap or {}).get('logSeqs')}, messages {numbers}")
    print(f"{label}: after the reconnect ann's #members is {(snap or {}).get('members')}, closes "
          f"{(snap or {}).get('closes')}; bob's #members is {chat.snapshot(bob)['members']}")
    procs.stop(redis)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat", default=str(ROOT / "target/release/examples/chat"))
    parser.add_argument("--screenshot", default=str(ROOT / "target/chat-screenshot.png"))
    parser.add_argument("--redis-server", default=REDIS_SERVER)
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    parser.add_argument("--keep", action="store_true", help="keep the logs")
    args = parser.parse_args()

    checks = Checks()
    install_watchdog(WATCHDOG_SECONDS)
    (ROOT / "target").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chat-browser.", dir=ROOT / "target"))
    procs = Processes()
    base = session = None
    started = time.monotonic()
    try:
        for binary in (args.chromium, args.chromedriver, args.chat):
            if shutil.which(binary) is None:
                raise Failure(f"{binary} not found (Debian: apt-get install chromium chromium-driver; "
                              "cargo build --release --example chat)")
        _, base = start_chromedriver(procs, work, args.chromedriver)
        browser_args = chromium_args(work / "profile") + [WINDOW_SIZE]
        created, seconds = new_session(base, args.chromium, browser_args, SCRIPT_TIMEOUT_MS)
        session = created["sessionId"]
        print(f"Chromium {created['capabilities'].get('browserVersion')}: session {session} in {seconds:.1f} s")
        chat = Chat(Browser(base, session, SCRIPT_TIMEOUT_MS))

        t0 = time.monotonic()
        windows = one_node(checks, chat, procs, work, args)
        print(f"one node: {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        try:
            two_nodes(checks, chat, procs, work, args, windows)
            print(f"two nodes: {time.monotonic() - t0:.1f} s")
        except Skip as skip:
            print(f"SKIP two nodes: {skip}")
    except (Failure, Skip, Watchdog, subprocess.SubprocessError, OSError) as exc:
        checks.check(False, f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        delete_session(base, session)
        procs.stop_all()
        if checks.failed or args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"elapsed: {time.monotonic() - started:.1f} s")
    print(checks.summary())
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
