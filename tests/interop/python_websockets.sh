#!/usr/bin/env bash
# Interop check of rfc6455 (with permessage-deflate) against a third-party
# peer: the Python `websockets` package from PyPI, whose client offers
# `permessage-deflate; client_max_window_bits` by default, like browsers.
#
#   1. websockets client  -> each echo server of --servers:
#        tokio     examples/echo_server, ws://ADDR/
#        blocking  examples/echo_server --blocking, ws://ADDR/
#        axum      examples/axum_echo, ws://ADDR/ws (axum route, HTTP/1.1 upgrade)
#        hyper     examples/hyper_echo, ws://ADDR/ws (plain hyper, HTTP/1.1 upgrade)
#      and, against axum and hyper, raw HTTP requests with curl: a bad
#      Sec-WebSocket-Key gets 400, Sec-WebSocket-Version 8 gets 426 with
#      `Sec-WebSocket-Version: 13`; axum_echo's GET /health gets 200.
#   2. examples/client    -> websockets echo server (unless --no-client)
#
# The Python side (tests/interop/ws_peer.py) records the bytes on the wire and
# decodes them itself to check RSV1 and the compressed sizes.
#
# Usage: bash tests/interop/python_websockets.sh [--servers LIST] [--no-client]
#        LIST: comma-separated names from the list above (default: all four).
# Last line: `interop: N passed, 0 failed` (N checks); stops at the first failure.
# Env:   WEBSOCKETS_VERSION (default below), INTEROP_KEEP=1 keeps the logs.
# Needs: cargo, curl, python3 (>= 3.11, with venv), PyPI access the first time.
# Ports: free ones picked in 30000-32000 on 127.0.0.1.

set -euo pipefail

SERVERS=tokio,blocking,axum,hyper
RUN_CLIENT=1
while (($#)); do
    case $1 in
        --servers)
            [[ $# -ge 2 ]] || { echo "--servers needs a list" >&2; exit 2; }
            SERVERS=$2
            shift
            ;;
        --no-client) RUN_CLIENT=0 ;;
        -h | --help)
            sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
for name in "${SERVER_LIST[@]}"; do
    [[ $name =~ ^(tokio|blocking|axum|hyper)$ ]] || { echo "unknown server: $name (tokio, blocking, axum, hyper)" >&2; exit 2; }
done

WEBSOCKETS_VERSION=${WEBSOCKETS_VERSION:-17.4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
VENV=$ROOT/target/interop-venv
PY=$VENV/bin/python
PEER=$ROOT/tests/interop/ws_peer.py
ECHO_SERVER=$ROOT/target/release/examples/echo_server
CLIENT=$ROOT/target/release/examples/client
AXUM_ECHO=$ROOT/target/release/examples/axum_echo
HYPER_ECHO=$ROOT/target/release/examples/hyper_echo
STARTED=$(date +%s)
PASSED=0

mkdir -p "$ROOT/target"
WORK=$(mktemp -d "$ROOT/target/interop-run.XXXXXX")
SUMMARY=$WORK/summary.txt
: >"$SUMMARY"
PIDS=()

cleanup() {
    local status=$?
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 || ${INTEROP_KEEP:-0} == 1 ]]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

step() { echo; echo "== $*"; }

ok() {
    PASSED=$((PASSED + 1))
    echo "ok: $*"
}

# Waits until FILE has a line matching the fixed string TEXT, while PID lives.
wait_for_line() {
    local file=$1 text=$2 pid=$3 seconds=$4
    local deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        if grep -qF -- "$text" "$file" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# Waits up to SECONDS for PID to exit; returns its exit status, or 124.
wait_exit() {
    local pid=$1 seconds=$2
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            return 124
        fi
        sleep 0.1
    done
    local status=0
    wait "$pid" || status=$?
    return "$status"
}

# Prints a port in 30000-32000 with no listener on it.
pick_port() {
    local i port
    for i in $(seq 1 100); do
        port=$((30000 + RANDOM % 2001))
        if [[ -z $(ss -Htln "sport = :$port") ]]; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Checks that the listener on PORT belongs to PID.
owns_port() {
    local port=$1 pid=$2
    ss -Htlnp "sport = :$port" | grep -q "pid=$pid,"
}

# Starts a server (command in the remaining args, with @PORT@ replaced by the
# port) on a free port and waits for its `listening on` line. Sets
# SERVER_PID and SERVER_PORT. Retries on another port if the bind fails.
start_server() {
    local log=$1
    shift
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port=$(pick_port) || fail "no free port in 30000-32000"
        "${@//@PORT@/$port}" >"$log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        if wait_for_line "$log" "listening on 127.0.0.1:$port" "$pid" 30; then
            owns_port "$port" "$pid" || fail "port $port: the listener is not our process $pid: $(ss -Htlnp "sport = :$port")"
            SERVER_PID=$pid
            SERVER_PORT=$port
            return 0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "server did not come up on port $port (attempt $attempt):" >&2
        sed 's/^/    /' "$log" >&2
    done
    fail "could not start: $*"
}

stop_server() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait_exit "$pid" 10 || true
}

# ---------------------------------------------------------------------------
step "Python venv with websockets $WEBSOCKETS_VERSION ($VENV)"
if [[ -x $PY ]] && "$PY" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
    echo "already installed"
else
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "python3 >= 3.11 needed (asyncio.timeout)"
    timeout 120 python3 -m venv --clear "$VENV" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    timeout 300 "$PY" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION" ||
        fail "pip install websockets==$WEBSOCKETS_VERSION failed"
fi
"$PY" -c "import websockets; print('websockets', websockets.__version__)"

EXAMPLES=(--example echo_server --example client)
[[ ,$SERVERS, == *,axum,* ]] && EXAMPLES+=(--example axum_echo)
[[ ,$SERVERS, == *,hyper,* ]] && EXAMPLES+=(--example hyper_echo)
step "cargo build --release ${EXAMPLES[*]}"
timeout 1200 cargo build --release "${EXAMPLES[@]}" ||
    fail "cargo build failed (or took over 20 minutes)"
for example in "${EXAMPLES[@]}"; do
    [[ $example == --example || -x $ROOT/target/release/examples/$example ]] ||
        fail "target/release/examples/$example missing after the build"
done

# http_check LABEL URL STATUS HEADER CURL_ARGS...: one HTTP/1.1 request with curl; the response
# must have status STATUS and, unless HEADER is empty, the header line HEADER (case-insensitive).
http_check() {
    local label=$1 url=$2 want=$3 header=${4:-} head=$WORK/http-head.txt code
    shift 4
    code=$(curl --silent --show-error --http1.1 --noproxy '*' --max-time 10 \
        -o /dev/null -D "$head" -w '%{http_code}' "$@" "$url") || fail "$label: curl failed"
    tr -d '\r' <"$head" | sed 's/^/    /'
    [[ $code == "$want" ]] || fail "$label: status $code, expected $want"
    if [[ -n $header ]]; then
        tr -d '\r' <"$head" | grep -qixF -- "$header" || fail "$label: no '$header' header in the response"
        ok "$label: $want with '$header'"
    else
        ok "$label: $want"
    fi
}

# handshake_checks NAME URL: what an HTTP/1.1 WebSocket route must refuse, and how.
handshake_checks() {
    local name=$1 url=$2
    local upgrade=(-H "Connection: Upgrade" -H "Upgrade: websocket")
    http_check "$name: a bad Sec-WebSocket-Key" "$url" 400 "" \
        "${upgrade[@]}" -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: not-a-16-byte-key"
    http_check "$name: Sec-WebSocket-Version 8" "$url" 426 "Sec-WebSocket-Version: 13" \
        "${upgrade[@]}" -H "Sec-WebSocket-Version: 8" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
}

# ---------------------------------------------------------------------------
for adapter in "${SERVER_LIST[@]}"; do
    # The server under test: its command and the path of its WebSocket route.
    case $adapter in
        tokio) server=echo_server args=("$ECHO_SERVER" --addr "127.0.0.1:@PORT@") path=/ ;;
        blocking) server=echo_server args=("$ECHO_SERVER" --addr "127.0.0.1:@PORT@" --blocking) path=/ ;;
        axum) server=axum_echo args=("$AXUM_ECHO" --addr "127.0.0.1:@PORT@") path=/ws ;;
        hyper) server=hyper_echo args=("$HYPER_ECHO" --addr "127.0.0.1:@PORT@") path=/ws ;;
    esac
    step "websockets client -> rfc6455 $server ($adapter), path $path"
    start_server "$WORK/$server-$adapter.log" "${args[@]}"
    echo "$server pid $SERVER_PID on 127.0.0.1:$SERVER_PORT"
    status=0
    timeout 120 "$PY" "$PEER" client --url "ws://127.0.0.1:$SERVER_PORT$path" --label "$adapter" --timeout 90 \
        >"$WORK/client-$adapter.out" 2>&1 || status=$?
    cat "$WORK/client-$adapter.out"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "$server log:" >&2
        sed 's/^/    /' "$WORK/$server-$adapter.log" >&2
        fail "$server ($adapter) died during the test"
    fi
    if [[ $status -ne 0 ]]; then
        stop_server "$SERVER_PID"
        echo "$server log:" >&2
        sed 's/^/    /' "$WORK/$server-$adapter.log" >&2
        fail "websockets client against $server ($adapter) (exit $status)"
    fi
    ok "websockets client -> $server ($adapter): echoes both ways, permessage-deflate, close 1000"
    grep '^summary: ' "$WORK/client-$adapter.out" >>"$SUMMARY"
    if [[ $adapter == axum || $adapter == hyper ]]; then
        handshake_checks "$server" "http://127.0.0.1:$SERVER_PORT$path"
    fi
    if [[ $adapter == axum ]]; then
        http_check "$server: GET /health" "http://127.0.0.1:$SERVER_PORT/health" 200 ""
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || fail "$server ($adapter) died during the HTTP checks"
    stop_server "$SERVER_PID"
done

# ---------------------------------------------------------------------------
if ((RUN_CLIENT)); then
    step "rfc6455 example client -> websockets echo server"
    LINES=$WORK/lines.txt
    {
        echo "hello from rfc6455"
        echo "héllo wörld — ✓ 日本語 🎉 Ωμέγα"
        for i in $(seq 1 100); do printf 'the quick brown fox jumps over the lazy dog %d; ' "$((i % 7))"; done
        echo
        echo "short"
        for i in $(seq 1 300); do printf '{"id":%d,"name":"grüße 日本語","ok":true} ' "$((i % 3))"; done
        echo
    } >"$LINES"
    NLINES=$(wc -l <"$LINES")

    start_server "$WORK/py_server.log" "$PY" "$PEER" server --port @PORT@ --expect "$LINES" --timeout 60
    PY_SERVER_PID=$SERVER_PID
    echo "websockets server pid $PY_SERVER_PID on 127.0.0.1:$SERVER_PORT"

    # Count the `< ` lines the client printed so far.
    echoes() { grep -c '^< ' "$WORK/client.out" 2>/dev/null || true; }

    # The client closes as soon as its stdin ends; keep stdin open until every
    # echo came back (at most 20 s), so that no echo races with the close.
    : >"$WORK/client.out"
    status=0
    {
        cat "$LINES"
        deadline=$((SECONDS + 20))
        while (($(echoes) < NLINES && SECONDS < deadline)); do sleep 0.1; done
    } | timeout 40 "$CLIENT" "ws://127.0.0.1:$SERVER_PORT/" >"$WORK/client.out" 2>"$WORK/client.err" || status=$?
    echo "client stderr:"
    sed 's/^/    /' "$WORK/client.err"
    echo "client stdout: $(echoes) echo lines"
    if [[ $status -ne 0 ]]; then
        sed 's/^/    /' "$WORK/client.out" | cut -c1-200 >&2
        fail "target/release/examples/client exited with status $status"
    fi
    if ! diff <(sed 's/^/< /' "$LINES") "$WORK/client.out" >"$WORK/client.diff"; then
        cut -c1-200 "$WORK/client.diff" >&2
        fail "the client's stdout is not exactly one '< line' echo per line sent"
    fi

    server_status=0
    wait_exit "$PY_SERVER_PID" 30 || server_status=$?
    cat "$WORK/py_server.log"
    [[ $server_status -eq 124 ]] && fail "the websockets server did not finish within 30 s after the client"
    [[ $server_status -eq 0 ]] || fail "websockets server checks failed (exit $server_status)"
    grep '^summary: ' "$WORK/py_server.log" >>"$SUMMARY"
    ok "rfc6455 example client -> websockets server: echoes, permessage-deflate, close 1000"
fi

# ---------------------------------------------------------------------------
step "summary (websockets $WEBSOCKETS_VERSION)"
sed 's/^summary: /  /' "$SUMMARY"
echo "interop: $PASSED passed, 0 failed"
echo "elapsed: $(($(date +%s) - STARTED)) s"
