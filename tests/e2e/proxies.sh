#!/usr/bin/env bash
# Our client through real proxies (issue 16), ws:// and wss://, all on 127.0.0.1:
#
#   tinyproxy  (HTTP CONNECT)  open; with `BasicAuth user pass`; with `ConnectPort 1` only
#   microsocks (SOCKS5)        open; with -u user -P pass
#
# Checks, each counted:
#   - `client --proxy URL ws://...` and `wss://...` (--ca) through each of the four working
#     proxies: every line echoed, exit 0, and the proxy's own log shows the tunnel to the server
#   - tinyproxy with BasicAuth: no credentials and wrong credentials each give a non-zero exit
#     whose stderr has the status tinyproxy answered (asked first with a raw CONNECT here:
#     tinyproxy 1.11 answers 407 without a Proxy-Authorization header but 401 to a wrong one)
#   - tinyproxy with `ConnectPort 1`: CONNECT to the server's port refused, the status (403) on stderr
#   - microsocks with -u/-P: wrong password, and no credentials, give a non-zero exit whose stderr
#     says why (mentions auth/credentials/password/username/method)
#   - the environment: no_proxy=127.0.0.1 with http_proxy and https_proxy at a dead port still
#     connects directly (ws:// and wss://); the same without no_proxy fails; HTTPS_PROXY (upper
#     case) alone takes wss:// through tinyproxy, all_proxy=socks5://... alone ws:// through microsocks
#
# Usage: bash tests/e2e/proxies.sh   (after: cargo build --release --examples)
# Env:   ECHO_SERVER (plain ws:// server), TLS_ECHO_SERVER (wss://, default ECHO_SERVER), CLIENT:
#        the commands under test (default target/release/examples/echo_server and .../client). To
#        test this script itself, the stand-ins (tests/interop/contract_standins.py):
#          S="target/interop-venv/bin/python tests/interop/contract_standins.py"
#          TLS_ECHO_SERVER="$S echo_server" CLIENT="$S client" bash tests/e2e/proxies.sh
#        KEEP=1 keeps the logs.
# Needs: tinyproxy, microsocks (Debian packages; .ci/run installs them), openssl, python3, ss.
# Ports: 0 for the echo servers; the proxies get ports the kernel handed out and we closed, each
# checked to be the proxy's own listener (retried otherwise). Prints `N passed, N failed` last.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
mkdir -p target
WORK=$(mktemp -d "$ROOT/target/e2e-proxies.XXXXXX")
# shellcheck disable=SC1091 # tests/interop/lib.sh, shellchecked on its own
source "$ROOT/tests/interop/lib.sh"
command_words ECHO_SERVER "$ROOT/target/release/examples/echo_server"
ECHO_SERVER_CMD=("${CMD[@]}")
command_words TLS_ECHO_SERVER "${ECHO_SERVER:-$ROOT/target/release/examples/echo_server}"
TLS_ECHO_SERVER_CMD=("${CMD[@]}")
command_words CLIENT "$ROOT/target/release/examples/client"
CLIENT_CMD=("${CMD[@]}")
STARTED=$SECONDS

for tool in tinyproxy microsocks "${ECHO_SERVER_CMD[0]}" "${TLS_ECHO_SERVER_CMD[0]}" "${CLIENT_CMD[0]}"; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install tinyproxy microsocks; cargo build --release --examples)"
done

step "certificates, echo servers"
bash tests/interop/tls_certs.sh "$WORK/certs"
CA=$WORK/certs/CA.pem
start_listening "echo_server ws://" "$WORK/echo_ws.log" "${ECHO_SERVER_CMD[@]}" --addr 127.0.0.1:0 ||
    fail "the ws:// echo server did not start"
WS_PORT=$STARTED_PORT
start_listening "echo_server wss://" "$WORK/echo_wss.log" "${TLS_ECHO_SERVER_CMD[@]}" --addr 127.0.0.1:0 \
    --tls-cert "$WORK/certs/CERT.pem" --tls-key "$WORK/certs/KEY.pem" || fail "the wss:// echo server did not start"
WSS_PORT=$STARTED_PORT
url_ws=ws://127.0.0.1:$WS_PORT/
url_wss=wss://127.0.0.1:$WSS_PORT/

step "proxies"
# start_tinyproxy NAME [CONFIG LINE...]: tinyproxy in the foreground (-d) with its own config and
# log in WORK, on a free port (STARTED_PORT); its log is WORK/NAME.log.
start_tinyproxy() {
    local name=$1
    shift
    {
        echo "Port __PORT__"
        echo "Listen 127.0.0.1"
        echo "Timeout 30"
        echo "LogFile \"$WORK/$name.log\""
        echo "LogLevel Info"
        echo "MaxClients 20"
        echo "Allow 127.0.0.1"
        echo "DisableViaHeader Yes"
        printf '%s\n' "$@"
    } >"$WORK/$name.conf.in"
    # The port goes into the config file: a small shell writes it, then becomes tinyproxy (exec:
    # same pid, so the listener check finds it).
    # shellcheck disable=SC2016 # expanded by that shell
    start_on_free_port "tinyproxy $name" "$WORK/$name.out" \
        bash -c 'sed "s/__PORT__/$1/" "$2.in" >"$2" && exec tinyproxy -d -c "$2"' _ @PORT@ "$WORK/$name.conf"
}
# No ConnectPort line: CONNECT to any port (tinyproxy's default when none is listed).
start_tinyproxy tp_open
TP_OPEN_PORT=$STARTED_PORT
start_tinyproxy tp_auth "BasicAuth user pass"
TP_AUTH_PORT=$STARTED_PORT
start_tinyproxy tp_ports "ConnectPort 1"
TP_PORTS_PORT=$STARTED_PORT
start_on_free_port "microsocks open" "$WORK/ms_open.log" microsocks -i 127.0.0.1 -p @PORT@
MS_OPEN_PORT=$STARTED_PORT
start_on_free_port "microsocks user:pass" "$WORK/ms_auth.log" microsocks -i 127.0.0.1 -p @PORT@ -u user -P pass
MS_AUTH_PORT=$STARTED_PORT
DEAD_PORT=$(free_port) # closed again: connecting to it is refused

LINES=$WORK/lines.txt
{
    echo "hello through a proxy"
    echo "héllo wörld — ✓ 日本語 🎉"
    for i in $(seq 1 400); do printf 'line %d of a long one; ' "$i"; done
    echo
} >"$LINES"

# seen LOG PATTERN: how many lines of LOG contain PATTERN (a fixed string).
seen() { grep -cF -- "$2" "$1" 2>/dev/null || true; }

# echoes LABEL LOG PATTERN [ENV=VALUE...] -- CLIENT_ARGS...: runs the client (with those variables
# added to the environment) expecting every line echoed and exit 0; with LOG, also that LOG gained
# a line with PATTERN (the proxy saw the tunnel).
echoes() {
    local label=$1 log=$2 pattern=$3 before=0 status=0 envs=()
    shift 3
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    [[ -z $log ]] || before=$(seen "$log" "$pattern")
    run_client "$WORK/out" "$WORK/err" 15 "$LINES" env "${envs[@]}" "${CLIENT_CMD[@]}" "$@" || status=$?
    if ((status != 0)); then
        sed 's/^/    /' "$WORK/err"
        ko "$label: exit $status"
    elif ! diff <(sed 's/^/< /' "$LINES") "$WORK/out" >/dev/null; then
        cut -c1-200 "$WORK/out" "$WORK/err" | sed 's/^/    /'
        ko "$label: not every line echoed"
    elif [[ -n $log ]] && (($(seen "$log" "$pattern") <= before)); then
        ko "$label: echoed, but the proxy's log has no new '$pattern': not through the proxy"
    else
        pass "$label"
    fi
}

# refused LABEL REGEX [ENV=VALUE...] -- CLIENT_ARGS...: expects a non-zero exit (not a timeout),
# no echo, and stderr matching the extended REGEX (case-insensitive).
refused() {
    local label=$1 regex=$2 status=0 envs=()
    shift 2
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    run_client "$WORK/out" "$WORK/err" 10 "$LINES" env "${envs[@]}" "${CLIENT_CMD[@]}" "$@" || status=$?
    sed 's/^/    stderr: /' "$WORK/err"
    if ((status == 0 || status == 124)); then
        ko "$label: exit $status, expected a failure"
    elif grep -q '^< ' "$WORK/out"; then
        ko "$label: failed (exit $status) but echoed first"
    elif ! grep -qiE -- "$regex" "$WORK/err"; then
        ko "$label: exit $status, but stderr does not match /$regex/"
    else
        pass "$label (exit $status)"
    fi
}

# connect_status PORT TARGET [USER:PASS]: the status code the HTTP proxy on PORT answers to a
# CONNECT for TARGET: what tinyproxy really says, so the client is held to that.
connect_status() {
    python3 - "$@" <<'EOF'
import base64, socket, sys
port, target = int(sys.argv[1]), sys.argv[2]
head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
if len(sys.argv) > 3:
    head += f"Proxy-Authorization: Basic {base64.b64encode(sys.argv[3].encode()).decode()}\r\n"
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    s.settimeout(10)
    s.sendall((head + "\r\n").encode())
    answer = b""
    while b"\r\n" not in answer:
        chunk = s.recv(1024)
        if not chunk:
            break
        answer += chunk
print(answer.split(b"\r\n")[0].split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "none")
EOF
}

# ---------------------------------------------------------------------------
step "through each proxy: ws:// and wss://"
tp_pattern() { echo "CONNECT 127.0.0.1:$1 "; }
ms_pattern() { echo "connected to 127.0.0.1:$1"; }
for scheme in ws wss; do
    if [[ $scheme == ws ]]; then url=$url_ws port=$WS_PORT tls=(); else url=$url_wss port=$WSS_PORT tls=(--ca "$CA"); fi
    echoes "tinyproxy, $scheme://" "$WORK/tp_open.log" "$(tp_pattern "$port")" -- \
        "${tls[@]}" --proxy "http://127.0.0.1:$TP_OPEN_PORT" "$url"
    echoes "tinyproxy with Basic auth (user:pass), $scheme://" "$WORK/tp_auth.log" "$(tp_pattern "$port")" -- \
        "${tls[@]}" --proxy "http://user:pass@127.0.0.1:$TP_AUTH_PORT" "$url"
    echoes "microsocks, $scheme://" "$WORK/ms_open.log" "$(ms_pattern "$port")" -- \
        "${tls[@]}" --proxy "socks5://127.0.0.1:$MS_OPEN_PORT" "$url"
    echoes "microsocks with user:pass, $scheme://" "$WORK/ms_auth.log" "$(ms_pattern "$port")" -- \
        "${tls[@]}" --proxy "socks5://user:pass@127.0.0.1:$MS_AUTH_PORT" "$url"
done

# ---------------------------------------------------------------------------
step "proxies that refuse"
code=$(connect_status "$TP_AUTH_PORT" "127.0.0.1:$WS_PORT")
echo "tinyproxy BasicAuth, CONNECT without credentials: $code"
[[ $code == 407 ]] || ko "tinyproxy answered $code to a CONNECT without credentials, not 407 (config?)"
refused "tinyproxy without credentials: $code on stderr" "(^|[^0-9])$code([^0-9]|$)" -- \
    --proxy "http://127.0.0.1:$TP_AUTH_PORT" "$url_ws"
code=$(connect_status "$TP_AUTH_PORT" "127.0.0.1:$WS_PORT" user:wrong)
echo "tinyproxy BasicAuth, CONNECT with a wrong password: $code"
[[ $code == 401 || $code == 407 ]] || ko "tinyproxy answered $code to wrong credentials, not 401 or 407"
refused "tinyproxy with a wrong password: $code on stderr" "(^|[^0-9])$code([^0-9]|$)" -- \
    --proxy "http://user:wrong@127.0.0.1:$TP_AUTH_PORT" "$url_ws"
code=$(connect_status "$TP_PORTS_PORT" "127.0.0.1:$WSS_PORT")
echo "tinyproxy ConnectPort 1, CONNECT to port $WSS_PORT: $code"
[[ $code == 403 ]] || ko "tinyproxy with ConnectPort 1 answered $code, not 403"
refused "tinyproxy refusing the port (ConnectPort 1): $code on stderr" "(^|[^0-9])$code([^0-9]|$)" -- \
    --ca "$CA" --proxy "http://127.0.0.1:$TP_PORTS_PORT" "$url_wss"
refused "microsocks with a wrong password: says why" 'auth|credential|password|username' -- \
    --proxy "socks5://user:wrong@127.0.0.1:$MS_AUTH_PORT" "$url_ws"
refused "microsocks that wants user:pass, none given: says why" 'auth|credential|password|username|method' -- \
    --proxy "socks5://127.0.0.1:$MS_AUTH_PORT" "$url_ws"

# ---------------------------------------------------------------------------
step "proxies from the environment"
dead=http://127.0.0.1:$DEAD_PORT
echoes "no_proxy=127.0.0.1 beats http_proxy/https_proxy at a dead port, ws://" "" "" \
    "http_proxy=$dead" "https_proxy=$dead" no_proxy=127.0.0.1 -- "$url_ws"
echoes "no_proxy=127.0.0.1 beats http_proxy/https_proxy at a dead port, wss://" "" "" \
    "http_proxy=$dead" "https_proxy=$dead" no_proxy=127.0.0.1 -- --ca "$CA" "$url_wss"
refused "http_proxy/https_proxy at a dead port, no no_proxy: ws:// fails" '.' \
    "http_proxy=$dead" "https_proxy=$dead" -- "$url_ws"
refused "http_proxy/https_proxy at a dead port, no no_proxy: wss:// fails" '.' \
    "http_proxy=$dead" "https_proxy=$dead" -- --ca "$CA" "$url_wss"
echoes "HTTPS_PROXY (upper case) = tinyproxy takes wss:// through it" "$WORK/tp_open.log" "$(tp_pattern "$WSS_PORT")" \
    "HTTPS_PROXY=http://127.0.0.1:$TP_OPEN_PORT" -- --ca "$CA" "$url_wss"
echoes "all_proxy = socks5://microsocks takes ws:// through it" "$WORK/ms_open.log" "$(ms_pattern "$WS_PORT")" \
    "all_proxy=socks5://127.0.0.1:$MS_OPEN_PORT" -- "$url_ws"

echo
echo "elapsed: $((SECONDS - STARTED)) s"
