#!/usr/bin/env bash
# The chat example (examples/chat, one node, in memory) under bad input and load, on 127.0.0.1,
# driven by examples/chat_load (this crate's tokio client):
#
#   - bad input, each on a connection of its own: a 70 KiB say (too_long, still connected),
#     invalid JSON and an unknown type (bad_request), say before join (not_in_room), the nickname
#     <script> (bad_name), 500 requests at once (slow_down, then close 1008), a binary frame (close
#     1003), a 600 KiB text frame and 600 KiB deflated to ~1 KiB (close 1009), no token (HTTP 401);
#     a member of the same room, connected throughout, still exchanges messages. One check each.
#   - load: CLIENTS clients in ROOMS rooms, each saying MESSAGES messages at RATE a second once all
#     have joined; every member must get every message of its room exactly once and in order. One
#     check; connect time, fan-out latency (p50/p99/max) and messages delivered per second printed.
#   - the server is still up afterwards, and its log has no panic.
#
# Usage: bash tests/e2e/chat.sh   (builds target/release/examples/chat and chat_load if missing)
# Env:   CLIENTS (1000), ROOMS (10), MESSAGES (5), RATE (1 a second per client); KEEP=1 keeps the logs.
# Needs: `ulimit -n` of 2 x CLIENTS + 256 (raised here, within the hard limit).
# Prints `N passed, N failed` last.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
mkdir -p target
WORK=$(mktemp -d "$ROOT/target/e2e-chat.XXXXXX")
# shellcheck disable=SC1091 # tests/interop/lib.sh, shellchecked on its own
source "$ROOT/tests/interop/lib.sh"
BIN=$ROOT/target/release/examples
CLIENTS=${CLIENTS:-1000} ROOMS=${ROOMS:-10} MESSAGES=${MESSAGES:-5} RATE=${RATE:-1}
STARTED=$SECONDS

if [[ ! -x $BIN/chat || ! -x $BIN/chat_load ]]; then
    step "build"
    cargo build --release --example chat --example chat_load
fi

# Every client holds a WebSocket and, while connecting, the socket of its GET /token; so does the
# server for each of them.
need=$((2 * CLIENTS + 256))
if (($(ulimit -n) < need)); then
    ulimit -n "$need" 2>/dev/null || fail "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $CLIENTS clients need $need"
fi
echo "ulimit -n: $(ulimit -n)"

step "chat server"
"$BIN/chat" --addr 127.0.0.1:0 >"$WORK/chat.log" 2>&1 &
CHAT=$!
PIDS+=("$CHAT")
if ! wait_for_line "$WORK/chat.log" "open http://" "$CHAT" 30; then
    sed 's/^/    /' "$WORK/chat.log"
    fail "the chat printed no 'open http://ADDR/' within 30 s"
fi
ADDR=$(sed -n 's|^open http://\(.*\)/$|\1|p' "$WORK/chat.log" | head -n1)
[[ $ADDR =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "the chat printed 'open http://$ADDR/': no address"
echo "chat: pid $CHAT on $ADDR"

# chat_load NAME ARGS...: runs chat_load against the server (its own deadline is 120 s; 150 here)
# into WORK/NAME.out; sets STATUS and TOOK (seconds).
chat_load() {
    local name=$1 started=$SECONDS
    shift
    STATUS=0
    timeout 150 "$BIN/chat_load" --addr "$ADDR" "$@" >"$WORK/$name.out" 2>&1 || STATUS=$?
    TOOK=$((SECONDS - started))
}

# ---------------------------------------------------------------------------
step "bad input"
chat_load bad-input --bad-input
# Its `ok NAME: DETAIL` and `FAIL NAME: WHY` lines are the checks.
while IFS= read -r line; do
    case $line in
        "ok "*) pass "${line#ok }" ;;
        "FAIL "*) ko "${line#FAIL }" ;;
        *) echo "$line" ;;
    esac
done <"$WORK/bad-input.out"
if ! grep -q '^ok ' "$WORK/bad-input.out"; then
    ko "chat_load --bad-input: exit $STATUS and no check passed"
elif ((STATUS != 0)) && ! grep -q '^FAIL' "$WORK/bad-input.out"; then
    ko "chat_load --bad-input: exit $STATUS without a FAIL line"
fi
echo "($TOOK s)"

# ---------------------------------------------------------------------------
step "load: $CLIENTS clients, $ROOMS rooms, $MESSAGES messages each at $RATE/s"
chat_load load --clients "$CLIENTS" --rooms "$ROOMS" --messages "$MESSAGES" --rate "$RATE"
sed 's/^/    /' "$WORK/load.out"
if ((STATUS == 0)) && grep -q '^ok: every member got every message' "$WORK/load.out"; then
    pass "load: every member of every room got every message once and in order ($TOOK s)"
else
    ko "load: chat_load exited with $STATUS ($TOOK s)"
fi

# ---------------------------------------------------------------------------
step "the server afterwards"
if kill -0 "$CHAT" 2>/dev/null; then
    read -r rss cpu < <(ps -o rss=,times= -p "$CHAT")
    pass "the chat is still running (RSS $((rss / 1024)) MiB, $cpu s of CPU in all)"
else
    ko "the chat exited"
fi
if grep -qi 'panic' "$WORK/chat.log"; then
    grep -i -A3 'panic' "$WORK/chat.log" | sed 's/^/    /'
    ko "the chat's log has a panic"
else
    pass "no panic in the chat's log"
fi

echo
echo "elapsed: $((SECONDS - STARTED)) s"
