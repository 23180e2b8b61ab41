#!/usr/bin/env bash
# Reconnection end to end: examples/reconnecting_client against examples/echo_server, with the
# server killed and restarted on the same port while the client runs. The client must get echoes
# and RTT samples, notice the drop, re-dial with back-off until the server is back, open again and
# finally close cleanly. Bounded: the client stops after --count ticks; every wait has a timeout.
#
#   tests/e2e/reconnecting_client.sh   (after: cargo build --release --examples)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release/examples
log=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$log"' EXIT

addr=
start_server() { # ADDR: starts the server in the background; sets $server and $addr
    : >"$log/server.out"
    "$bin/echo_server" --addr "$1" >"$log/server.out" 2>/dev/null &
    server=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$log/server.out" && break
        sleep 0.05
    done
    addr=$(sed -n 's/^listening on //p' "$log/server.out")
    [ -n "$addr" ] || { echo "FAIL: echo_server did not start on $1"; exit 1; }
}

start_server 127.0.0.1:0
timeout 60 "$bin/reconnecting_client" "ws://$addr" --count 8 >"$log/client.out" 2>&1 &
client=$!
sleep 3
kill "$server"; wait "$server" 2>/dev/null || true
sleep 1.5
start_server "$addr"
wait "$client" || { echo "FAIL: the client exited with an error"; cat "$log/client.out"; exit 1; }

cat "$log/client.out"
fail=0 passed=0
check() { # PATTERN MIN WHAT
    local n
    n=$(grep -c -- "$1" "$log/client.out" || true)
    if [ "$n" -lt "$2" ]; then
        echo "FAIL: expected at least $2 lines with '$1' ($3), got $n"
        fail=$((fail + 1))
    else
        passed=$((passed + 1))
    fi
}
check '^\[open\]' 2 "a connection before and after the restart"
check '^< tick' 2 "echoes"
check '^\[rtt\]' 1 "round-trip samples from the heartbeat"
check '^\[disconnected\].*will retry' 1 "the drop noticed"
check '^\[reconnecting\] retry' 1 "a back-off wait"
check '^\[closed\] closed cleanly' 1 "a clean close at the end"
[ "$fail" = 0 ] && echo "reconnecting_client: OK"
echo "$passed passed, $fail failed"
[ "$fail" = 0 ]
