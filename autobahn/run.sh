#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against the crate's examples in four runs (server and client role,
# each with the tokio and the blocking adapter), then judges the reports with check.py. Exits
# non-zero unless every case of every run passed.
#
#   autobahn/run.sh [--fast|--lean]      wstest from install.sh (no Docker needed)
#   autobahn/docker.sh [--fast|--lean]   the same runs with the crossbario/autobahn-testsuite image
#
#   --fast   skip sections 9 (large messages), 12 and 13 (permessage-deflate), for development
#   --lean   all cases with the tokio adapter; with the blocking adapter, permessage-deflate only
#            through 12.1 and 13.1 (what CI runs: wstest spends ~95 % of a run on the 216 cases of
#            sections 12 and 13, and the compression they test is the core's, the same code under
#            both adapters, which only move bytes)
#
# Environment: AUTOBAHN_PREFIX       where install.sh puts wstest (default: target/autobahn-env)
#              AUTOBAHN_RUN_TIMEOUT  seconds one run may take before it is killed (default: 1800)
#              AUTOBAHN_IMAGE        the Docker image (default: crossbario/autobahn-testsuite)
# Reports: <target dir>/autobahn/reports/<run>/index.html, logs in <target dir>/autobahn/logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=lib.sh
source "$here/lib.sh"

fast=0 lean=0 docker=0
for arg in "$@"; do
  case $arg in
    --fast) fast=1 ;;
    --lean) lean=1 ;;
    --docker) docker=1 ;; # set by docker.sh
    -h | --help)
      sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

if ((fast)); then
  exclude_cases=("9.*" "12.*" "13.*")
  expected_cases=247 # 517 - 54 (9.*) - 216 (12.*, 13.*)
else
  exclude_cases=()
  expected_cases=517
fi
# Left out of the blocking adapter's runs with --lean (none of them is left out by --fast).
blocking_exclude=()
blocking_cases=$expected_cases
if ((lean && !fast)); then
  blocking_exclude=("12.2.*" "12.3.*" "12.4.*" "12.5.*" "13.2.*" "13.3.*" "13.4.*" "13.5.*" "13.6.*" "13.7.*")
  blocking_cases=$((expected_cases - 18 * ${#blocking_exclude[@]}))
fi
run_exclude=() # set for each run
run_timeout=${AUTOBAHN_RUN_TIMEOUT:-1800}
startup_timeout=60 # seconds for a server to start listening
prefix=${AUTOBAHN_PREFIX:-$repo/target/autobahn-env}
image=${AUTOBAHN_IMAGE:-crossbario/autobahn-testsuite}

for tool in cargo python3 ss timeout; do
  command -v "$tool" >/dev/null || die "run.sh needs '$tool'"
done

# Containers started in Docker mode; removed on exit like the background processes.
containers=()
# shellcheck disable=SC2329 # called by the trap
cleanup() {
  local name
  for name in ${containers[@]+"${containers[@]}"}; do
    docker rm -f "$name" >/dev/null 2>&1 || true
  done
  stop_background_processes
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ((docker)); then
  step "wstest: Docker image $image"
  command -v docker >/dev/null || die "docker.sh needs 'docker'"
  docker image inspect "$image" >/dev/null 2>&1 || run_bounded 1200 docker pull "$image"
else
  step "wstest: $prefix"
  "$here/install.sh" "$prefix" # returns at once when already installed
  wstest=$prefix/bin/wstest
fi

step "build the examples"
(cd "$repo" && cargo build --release --example echo_server --example autobahn_client)
# cargo metadata knows where the binaries went, CARGO_TARGET_DIR and config included.
target_dir=$(cd "$repo" && cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
echo_server=$target_dir/release/examples/echo_server
client=$target_dir/release/examples/autobahn_client
out=$target_dir/autobahn
reports=$out/reports
mkdir -p "$out/config" "$out/logs" "$reports"

# make_config TEMPLATE DEST OUTDIR URL AGENT: the template with this run's values filled in.
make_config() {
  python3 - "$@" ${exclude_cases[@]+"${exclude_cases[@]}"} ${run_exclude[@]+"${run_exclude[@]}"} <<'EOF'
import json, sys
template, dest, outdir, url, agent, *exclude = sys.argv[1:]
with open(template) as f:
    config = json.load(f)
config["outdir"] = outdir
if "servers" in config:  # fuzzingclient: the server under test
    config["servers"] = [{"agent": agent, "url": url}]
else:  # fuzzingserver: where it listens
    config["url"] = url
config["exclude-cases"] = config.get("exclude-cases", []) + exclude
with open(dest, "w") as f:
    json.dump(config, f, indent=2)
EOF
}

# --- wstest, local or in Docker ---------------------------------------------------------------
# set_wstest_command CONTAINER: sets wstest_cmd to the command that runs wstest. In Docker mode the
# host network is shared (wstest and our programs meet on 127.0.0.1) and $out is mounted at the
# same path, so configs and reports keep their paths; --init passes signals on to wstest.
set_wstest_command() {
  if ((docker)); then
    containers+=("$1")
    wstest_cmd=(docker run --rm --init --name "$1" --network host --user "$(id -u):$(id -g)"
      -v "$out:$out" -w "$out" "$image" wstest)
  else
    wstest_cmd=("$wstest")
  fi
}

run_fuzzingclient() { # CONFIG LOG: the fuzzing client against our server, bounded in time
  set_wstest_command "rfc6455-autobahn-$$-$RANDOM"
  run_bounded "$run_timeout" "${wstest_cmd[@]}" -m fuzzingclient -s "$1" >"$2" 2>&1
}

# start_fuzzingserver CONFIG LOG: starts it in the background (it never exits by itself) and sets
# fuzzingserver_pid (and fuzzingserver_container in Docker mode). -u 0: no extra web server.
start_fuzzingserver() {
  fuzzingserver_container=rfc6455-autobahn-$$-$RANDOM
  set_wstest_command "$fuzzingserver_container"
  "${wstest_cmd[@]}" -m fuzzingserver -s "$1" -u 0 >"$2" 2>&1 &
  fuzzingserver_pid=$!
  background_pids+=("$fuzzingserver_pid")
}

# fuzzingserver_owns PORT: the listening socket on PORT is the fuzzing server we started.
# shellcheck disable=SC2329 # called by wait_for
fuzzingserver_owns() {
  if ((docker)); then
    # The socket belongs to a process inside the container, not to the docker client.
    local pids
    pids=$(docker top "$fuzzingserver_container" -eo pid 2>/dev/null | tail -n +2) || return 1
    # shellcheck disable=SC2086 # one argument per pid
    pid_owns_port "$1" $pids
  else
    pid_owns_port "$1" "$fuzzingserver_pid"
  fi
}

stop_fuzzingserver() {
  if ((docker)); then
    docker rm -f "$fuzzingserver_container" >/dev/null 2>&1 || true
  fi
  stop_pid "$fuzzingserver_pid"
}

# --- the runs ---------------------------------------------------------------------------------
# The run functions report problems and return non-zero, and the script carries on with the next
# run: check.py then counts the cases of a broken run as failed, next to the other runs' results.
run_problems=0
problem() {
  printf 'error: %s\n' "$*" >&2
  run_problems=$((run_problems + 1))
}

describe_status() { # STATUS of a command run by run_bounded
  if (($1 == 124 || $1 == 137)); then
    echo "timed out after ${run_timeout}s"
  else
    echo "exited with status $1"
  fi
}

# shellcheck disable=SC2329 # called by wait_for
echo_server_ready() { # LOG PORT PID: the server said so, and the port is really its own
  grep -q '^listening on ' "$1" && pid_owns_port "$2" "$3"
}

# server_run NAME AGENT [ECHO_SERVER_ARGS...]: wstest's fuzzing client against our echo server.
server_run() {
  local name=$1 agent=$2
  shift 2
  local dir=$reports/$name log=$out/logs/$name-echo_server.log config=$out/config/$name.json
  local port pid attempt start=$SECONDS
  step "$name: wstest -m fuzzingclient against echo_server${*:+ $*}"
  if ! rm -rf "$dir"; then # never judge an old report
    problem "$name: cannot remove the previous report $dir"
    return 1
  fi
  # Another process may grab the port between our check and the bind: the server then exits and
  # we retry on another port. A server that stays up but never gets ready is not retried.
  for attempt in 1 2 3; do
    port=$(random_port) || { problem "$name: no free port"; return 1; }
    "$echo_server" --addr "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    pid=$!
    background_pids+=("$pid")
    wait_for "$startup_timeout" "$pid" echo_server_ready "$log" "$port" "$pid" && break
    if is_alive "$pid" || ((attempt == 3)); then
      stop_pid "$pid"
      show_log "$log"
      problem "$name: echo_server did not print 'listening on' and listen on port $port"
      return 1
    fi
    stop_pid "$pid"
  done
  make_config "$here/fuzzingclient.json" "$config" "$dir" "ws://127.0.0.1:$port" "$agent" || return 1
  local status=0
  run_fuzzingclient "$config" "$out/logs/$name-wstest.log" || status=$?
  if ((status)); then
    show_log "$out/logs/$name-wstest.log"
    problem "$name: wstest -m fuzzingclient $(describe_status "$status")"
  fi
  if ! is_alive "$pid"; then
    show_log "$log"
    problem "$name: echo_server exited during the run"
  fi
  stop_pid "$pid"
  echo "$name: done in $((SECONDS - start)) s"
}

# client_run NAME AGENT [CLIENT_ARGS...]: our client against wstest's fuzzing server.
client_run() {
  local name=$1 agent=$2
  shift 2
  local dir=$reports/$name log=$out/logs/$name-autobahn_client.log config=$out/config/$name.json
  local port attempt start=$SECONDS
  step "$name: autobahn_client${*:+ $*} against wstest -m fuzzingserver"
  if ! rm -rf "$dir"; then # never judge an old report
    problem "$name: cannot remove the previous report $dir"
    return 1
  fi
  for attempt in 1 2 3; do
    port=$(random_port) || { problem "$name: no free port"; return 1; }
    make_config "$here/fuzzingserver.json" "$config" "$dir" "ws://127.0.0.1:$port" "$agent" ||
      return 1
    start_fuzzingserver "$config" "$out/logs/$name-wstest.log"
    wait_for "$startup_timeout" "$fuzzingserver_pid" fuzzingserver_owns "$port" && break
    if is_alive "$fuzzingserver_pid" || ((attempt == 3)); then
      stop_fuzzingserver
      show_log "$out/logs/$name-wstest.log"
      problem "$name: wstest -m fuzzingserver did not listen on port $port"
      return 1
    fi
    stop_fuzzingserver # it exited: most likely someone took the port, so try another one
  done
  local status=0
  run_bounded "$run_timeout" "$client" --url "ws://127.0.0.1:$port" --agent "$agent" "$@" \
    >"$log" 2>&1 || status=$?
  if ((status)); then
    show_log "$log"
    problem "$name: autobahn_client $(describe_status "$status")"
  else
    # The server writes the reports when the client opens updateReports; give it a moment in
    # case the client left without waiting for the server's close.
    wait_for 10 "$fuzzingserver_pid" test -s "$dir/index.json" || true
  fi
  stop_fuzzingserver
  echo "$name: done in $((SECONDS - start)) s"
}

started=$SECONDS
run_exclude=()
server_run server-tokio rfc6455-tokio || true
run_exclude=(${blocking_exclude[@]+"${blocking_exclude[@]}"})
server_run server-blocking rfc6455-blocking --blocking || true
run_exclude=()
client_run client-tokio rfc6455-tokio || true
run_exclude=(${blocking_exclude[@]+"${blocking_exclude[@]}"})
client_run client-blocking rfc6455-blocking --blocking || true
echo
echo "4 runs in $((SECONDS - started)) s"

echo "HTML reports: $reports/<run>/index.html (logs: $out/logs)"
if ((run_problems)); then
  echo "error: $run_problems problem(s) while running, see above" >&2
fi

step "results ($expected_cases cases per run, $blocking_cases with the blocking adapter)"
# check.py's last line, `N passed, N failed`, is the last line of this script's output.
status=0
python3 "$here/check.py" --expect "$expected_cases" \
  --expect-for server-blocking "$blocking_cases" --expect-for client-blocking "$blocking_cases" \
  --run server-tokio "$reports/server-tokio" rfc6455-tokio \
  --run server-blocking "$reports/server-blocking" rfc6455-blocking \
  --run client-tokio "$reports/client-tokio" rfc6455-tokio \
  --run client-blocking "$reports/client-blocking" rfc6455-blocking || status=$?
if ((run_problems)); then
  status=1
fi
exit "$status"
