#!/usr/bin/env bash
# Interop over TLS (wss://, issue 16) against the Python `websockets` package, both ways, with a
# throwaway CA made by tests/interop/tls_certs.sh:
#
#   1. websockets client -> echo_server --tls-cert --tls-key (tokio adapter)
#   2. websockets client -> echo_server --tls-cert --tls-key --blocking
#      (tests/interop/ws_peer.py's client role over wss://: text, binary, a 1 MiB message,
#      permessage-deflate negotiated and seen on the wire inside TLS, close 1000 both ways)
#   3. client --ca CA.pem wss://127.0.0.1:PORT -> websockets TLS server (ws_peer.py's server role:
#      every line echoed, permessage-deflate, the client's close 1000)
#   4. client --ca CA.pem wss://localhost:PORT -> a websockets TLS echo server (the DNS name in
#      the certificate's subjectAltName)
#   5. client without --ca -> the same server: refused, with a reason on stderr that mentions the
#      certificate or its issuer (the throwaway CA is not trusted by default)
#
# Usage: bash tests/interop/python_websockets_tls.sh   (after: cargo build --release --examples)
# Env:   ECHO_SERVER, CLIENT: the commands under test (default target/release/examples/echo_server
#        and .../client); the stand-ins that test this script itself:
#          ECHO_SERVER="target/interop-venv/bin/python tests/interop/contract_standins.py echo_server"
#          CLIENT="target/interop-venv/bin/python tests/interop/contract_standins.py client"
#        KEEP=1 keeps the logs.
# Needs: python3 >= 3.11 (venv), openssl, PyPI access the first time (websockets, as
#        tests/interop/python_websockets.sh). Ports: 0 everywhere (the programs print theirs).
# Prints `N passed, N failed` last.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
mkdir -p target
WORK=$(mktemp -d "$ROOT/target/interop-tls.XXXXXX")
# shellcheck disable=SC1091 # tests/interop/lib.sh, shellchecked on its own
source "$ROOT/tests/interop/lib.sh"
PEER=$ROOT/tests/interop/ws_peer.py
STANDINS=$ROOT/tests/interop/contract_standins.py
command_words ECHO_SERVER "$ROOT/target/release/examples/echo_server"
ECHO_SERVER_CMD=("${CMD[@]}")
command_words CLIENT "$ROOT/target/release/examples/client"
CLIENT_CMD=("${CMD[@]}")
STARTED=$SECONDS

step "websockets $WEBSOCKETS_VERSION, certificates"
ensure_venv
bash tests/interop/tls_certs.sh "$WORK/certs"
CERTS=$WORK/certs
command -v "${ECHO_SERVER_CMD[0]}" >/dev/null || fail "no ${ECHO_SERVER_CMD[0]} (cargo build --release --examples)"
command -v "${CLIENT_CMD[0]}" >/dev/null || fail "no ${CLIENT_CMD[0]} (cargo build --release --examples)"

# ---------------------------------------------------------------------------
for adapter in tokio blocking; do
    step "websockets client -> echo_server over TLS ($adapter adapter)"
    args=("${ECHO_SERVER_CMD[@]}" --addr 127.0.0.1:0 --tls-cert "$CERTS/CERT.pem" --tls-key "$CERTS/KEY.pem")
    [[ $adapter == blocking ]] && args+=(--blocking)
    if ! start_listening "echo_server ($adapter)" "$WORK/echo_server-$adapter.log" "${args[@]}"; then
        ko "websockets client over wss:// -> echo_server ($adapter): the server did not start"
        continue
    fi
    server=$STARTED_PID
    status=0
    timeout 120 "$PY" "$PEER" client --url "wss://127.0.0.1:$STARTED_PORT/" --ca "$CERTS/CA.pem" \
        --label "$adapter" --timeout 90 >"$WORK/client-$adapter.out" 2>&1 || status=$?
    sed 's/^/    /' "$WORK/client-$adapter.out"
    alive=0
    kill -0 "$server" 2>/dev/null && alive=1
    stop "$server"
    if ((status == 0 && alive)); then
        pass "websockets client over wss:// -> echo_server ($adapter): messages, 1 MiB, permessage-deflate, close 1000"
    else
        sed 's/^/    server: /' "$WORK/echo_server-$adapter.log"
        ko "websockets client over wss:// -> echo_server ($adapter): exit $status$( ((alive)) || echo ', the server died')"
    fi
done

# ---------------------------------------------------------------------------
step "client --ca CA.pem wss://127.0.0.1 -> websockets TLS server (ws_peer.py server role)"
LINES=$WORK/lines.txt
{
    echo "hello over TLS"
    echo "héllo wörld — ✓ 日本語 🎉 Ωμέγα"
    for i in $(seq 1 100); do printf 'the quick brown fox jumps over the lazy dog %d; ' "$((i % 7))"; done
    echo
    echo "short"
    for i in $(seq 1 300); do printf '{"id":%d,"name":"grüße 日本語","ok":true} ' "$((i % 3))"; done
    echo
} >"$LINES"
start_listening "websockets TLS server" "$WORK/peer_server.log" "$PY" "$PEER" server --port 0 --expect "$LINES" \
    --timeout 60 --tls-cert "$CERTS/CERT.pem" --tls-key "$CERTS/KEY.pem" || fail "the websockets TLS server did not start"
peer=$STARTED_PID
status=0
run_client "$WORK/client.out" "$WORK/client.err" 20 "$LINES" \
    "${CLIENT_CMD[@]}" --ca "$CERTS/CA.pem" "wss://127.0.0.1:$STARTED_PORT/" || status=$?
sed 's/^/    client stderr: /' "$WORK/client.err"
peer_status=0
((status == 0)) || stop "$peer" # no use waiting for a connection that is not coming
wait_exit "$peer" 30 || peer_status=$?
sed 's/^/    server: /' "$WORK/peer_server.log"
if ((status != 0)); then
    ko "client --ca over wss://127.0.0.1: exit $status"
elif ! diff <(sed 's/^/< /' "$LINES") "$WORK/client.out" >"$WORK/client.diff"; then
    cut -c1-200 "$WORK/client.diff"
    ko "client --ca over wss://127.0.0.1: its stdout is not one '< line' per line sent"
elif ((peer_status != 0)); then
    ko "client --ca over wss://127.0.0.1: the websockets server's checks failed (exit $peer_status)"
else
    pass "client --ca over wss://127.0.0.1 -> websockets: every line echoed, permessage-deflate, close 1000"
fi

# ---------------------------------------------------------------------------
step "client --ca CA.pem wss://localhost, and without --ca -> websockets TLS echo server"
start_listening "websockets TLS echo server" "$WORK/py_echo.log" "$PY" "$STANDINS" echo_server \
    --addr 127.0.0.1:0 --tls-cert "$CERTS/CERT.pem" --tls-key "$CERTS/KEY.pem" ||
    fail "the websockets TLS echo server did not start"
port=$STARTED_PORT
printf 'by name\nbinary-free text ✓\n' >"$WORK/two.txt"
status=0
run_client "$WORK/name.out" "$WORK/name.err" 15 "$WORK/two.txt" \
    "${CLIENT_CMD[@]}" --ca "$CERTS/CA.pem" "wss://localhost:$port/" || status=$?
if ((status == 0)) && diff <(sed 's/^/< /' "$WORK/two.txt") "$WORK/name.out" >/dev/null; then
    pass "client --ca wss://localhost:$port: echoed (certificate checked against the DNS name)"
else
    sed 's/^/    /' "$WORK/name.out" "$WORK/name.err"
    ko "client --ca wss://localhost:$port: exit $status or wrong echoes"
fi
status=0
run_client "$WORK/noca.out" "$WORK/noca.err" 5 "$WORK/two.txt" \
    "${CLIENT_CMD[@]}" "wss://127.0.0.1:$port/" || status=$?
sed 's/^/    client stderr: /' "$WORK/noca.err"
# The reason must be the certificate (rustls: `invalid peer certificate: UnknownIssuer`; OpenSSL:
# `certificate verify failed`), not some other failure to connect.
if ((status != 0 && status != 124)) && ! grep -q '^< ' "$WORK/noca.out" &&
    grep -qiE 'certificate|issuer' "$WORK/noca.err"; then
    pass "client without --ca: refused the untrusted certificate (exit $status, reason on stderr)"
else
    ko "client without --ca: exit $status, $(grep -c '^< ' "$WORK/noca.out" || true) echoes, stderr not about the certificate"
fi

echo
echo "elapsed: $((SECONDS - STARTED)) s"
