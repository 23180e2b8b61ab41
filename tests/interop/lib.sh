# Helpers shared by tests/interop/python_websockets_tls.sh and tests/e2e/proxies.sh. Sourced, not
# run: `source tests/interop/lib.sh` after `set -euo pipefail` and setting WORK (a fresh directory
# the caller owns; removed at exit unless something failed or KEEP=1).
#
# Counting: `pass WHAT` and `ko WHAT` record one check each and go on; `fail WHAT` stops the script
# (a setup that cannot go on) and counts as one failure. At exit every process in PIDS is killed
# and waited for, and the last line printed is `N passed, N failed`; the exit status is 0 only
# when nothing failed.
# shellcheck shell=bash

passed=0 failed=0 PIDS=()
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VENV=$ROOT/target/interop-venv
PY=$VENV/bin/python
WEBSOCKETS_VERSION=${WEBSOCKETS_VERSION:-17.4}

# No proxy from the caller's environment: every connection here is to 127.0.0.1, and the scripts
# that test proxies set these variables themselves, one client run at a time.
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY

step() { printf '\n== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "ok: $*"; }
ko() { failed=$((failed + 1)); echo "FAIL: $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

finish() {
    local status=$? pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait_exit "$pid" 5 || { kill -9 "$pid" 2>/dev/null || true; }
    done
    # A fatal stop with no failed check yet counts as one failure.
    ((status == 0 || failed > 0)) || failed=1
    ((failed == 0)) || status=1
    if ((status != 0)) || [[ ${KEEP:-0} == 1 ]]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    echo "$passed passed, $failed failed"
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# wait_exit PID SECONDS: waits for PID to exit; returns its status, or 124 if still running.
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2)) status=0
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 124
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

# wait_for_line FILE TEXT PID SECONDS: until FILE has a line containing TEXT, while PID lives.
wait_for_line() {
    local file=$1 text=$2 pid=$3 deadline=$((SECONDS + $4))
    while ((SECONDS < deadline)); do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# free_port: a port on 127.0.0.1 the kernel just handed out and we closed again, for programs that
# cannot bind port 0 and report it. Someone may take it before the program binds it: callers check
# with listening_pid and retry.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# owns_port PORT PID: whether PID is the process listening on 127.0.0.1:PORT.
owns_port() { ss -Htlnp "sport = :$1" | grep -q "pid=$2,"; }

# start_on_free_port NAME LOG CMD... : runs CMD (each @PORT@ replaced by a free port) in the
# background until the listener on that port is its own, retrying with another port up to 5 times.
# Sets STARTED_PID and STARTED_PORT.
start_on_free_port() {
    local name=$1 log=$2 attempt port pid deadline
    shift 2
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        "${@//@PORT@/$port}" >"$log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
            if owns_port "$port" "$pid"; then
                # shellcheck disable=SC2034 # read by the caller
                STARTED_PID=$pid STARTED_PORT=$port
                echo "$name: pid $pid on 127.0.0.1:$port"
                return 0
            fi
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || true
        echo "$name did not listen on port $port (attempt $attempt):" >&2
        sed 's/^/    /' "$log" >&2
    done
    fail "could not start $name: $*"
}

# start_listening NAME LOG CMD...: runs CMD (it binds 127.0.0.1:0 and prints `listening on ADDR`)
# in the background and waits up to 30 s for that line. Sets STARTED_PID and STARTED_PORT; returns 1
# (after showing the log) if CMD exited or printed nothing in time.
start_listening() {
    local name=$1 log=$2 pid addr status=0
    shift 2
    "$@" >"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_for_line "$log" "listening on " "$pid" 30; then
        sed 's/^/    /' "$log"
        if kill -0 "$pid" 2>/dev/null; then
            echo "$name printed no 'listening on ADDR' within 30 s: $*"
            stop "$pid"
        else
            wait "$pid" 2>/dev/null || status=$?
            echo "$name exited with status $status: $*"
        fi
        return 1
    fi
    addr=$(sed -n 's/^listening on //p' "$log" | head -n1)
    # shellcheck disable=SC2034 # read by the caller
    STARTED_PID=$pid STARTED_PORT=${addr##*:}
    [[ $STARTED_PORT =~ ^[0-9]+$ && $STARTED_PORT != 0 ]] || fail "$name printed 'listening on $addr': no port"
    echo "$name: pid $pid on $addr"
}

# stop PID: SIGTERM, then at most 5 s.
stop() {
    kill "$1" 2>/dev/null || true
    wait_exit "$1" 5 || { kill -9 "$1" 2>/dev/null || true; }
}

# ensure_venv: the venv of tests/interop/python_websockets.sh, with websockets $WEBSOCKETS_VERSION.
ensure_venv() {
    if [[ -x $PY ]] && "$PY" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
        return 0
    fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "python3 >= 3.11 needed"
    timeout 120 python3 -m venv --clear "$VENV" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
    timeout 300 "$PY" -m pip install --quiet --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION" ||
        fail "pip install websockets==$WEBSOCKETS_VERSION failed"
}

# command_words VAR DEFAULT: the command in environment variable VAR (split on spaces, so a
# stand-in can be `python3 script.py role`), else DEFAULT; into the array CMD.
command_words() {
    local value=${!1:-$2}
    # shellcheck disable=SC2034 # read by the caller
    read -r -a CMD <<<"$value"
}

# run_client OUT ERR SECONDS LINES_FILE CMD...: runs a client that echoes stdin lines (the
# examples/client contract), feeding it LINES_FILE and keeping its stdin open until as many `< `
# lines came back as LINES_FILE has, or the client exited, at most SECONDS; then stdin ends and the
# client closes. Returns the client's exit status (124 if it outlived SECONDS + 10 s).
run_client() {
    local out=$1 err=$2 seconds=$3 lines=$4 n status
    shift 4
    n=$(wc -l <"$lines")
    : >"$out"
    rm -f "$out.status"
    {
        cat "$lines"
        local deadline=$((SECONDS + seconds))
        while (($(grep -c '^< ' "$out" || true) < n && SECONDS < deadline)) && [[ ! -e $out.status ]]; do
            sleep 0.05
        done
    } | {
        status=0
        timeout "$((seconds + 10))" "$@" >"$out" 2>"$err" || status=$?
        echo "$status" >"$out.status"
    }
    status=$(cat "$out.status")
    return "$status"
}
