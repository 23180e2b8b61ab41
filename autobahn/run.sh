#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against the crate's examples in five runs (server and client role,
# each with the tokio and the blocking adapter; and the server role of the axum route, /ws in
# examples/axum_echo), then judges the reports with check.py. Exits non-zero unless every case of
# every run passed. Its last line is check.py's `N passed, N failed`.
#
#   autobahn/run.sh [--full|--ci|--fast] [--adapter A] [--jobs N]     wstest from install.sh
#   autobahn/docker.sh [--full|--ci|--fast] [--adapter A] [--jobs N]  the same, wstest from Docker
#
#   --full   all 517 cases in every run (the default)
#   --ci     what CI runs (337 cases a run): sections 1-10 in full and, of the permessage-deflate
#            sections 12 and 13, cases 1, 10 and 11 of each subsection (the smallest message,
#            16 B; the largest, 128 KiB; and 8 KiB sent in 256-byte fragments). wstest spends
#            ~95 % of a full run on the 216 cases of 12 and 13; see README.md for their cost.
#   --fast   skip sections 9 (large messages), 12 and 13 (permessage-deflate), for development
#   --adapter tokio|blocking|axum
#            only the runs of that adapter: server and client role for tokio and blocking, the
#            server role for axum (its client is the tokio adapter's)
#   --jobs N how many runs go at once (default: 2, or 1 on a one-core machine); wstest is
#            single-threaded Python and the runs use their own ports and report directories
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

mode=full docker=0 adapters=(tokio blocking axum)
jobs=$(($(nproc 2>/dev/null || echo 2) > 1 ? 2 : 1))
while (($#)); do
  case $1 in
    --full) mode=full ;;
    --ci) mode=ci ;;
    --fast) mode=fast ;;
    --jobs)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a number above 0"
      jobs=$2
      shift
      ;;
    --adapter)
      [[ ${2:-} == tokio || ${2:-} == blocking || ${2:-} == axum ]] ||
        die "--adapter needs tokio, blocking or axum"
      adapters=("$2")
      shift
      ;;
    --docker) docker=1 ;; # set by docker.sh
    -h | --help)
      sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

# The permessage-deflate subsections: 12.1-12.5 (the default offer, five kinds of payload) and
# 13.1-13.7 (the client offers every combination of window bits and no_context_takeover). Each has
# 18 cases: 1-10 send 1000 messages of 16 B, 64 B, ... 128 KiB, unfragmented; 11-18 send 8 KiB ..
# 128 KiB in fragments of 256 B .. 32 KiB.
deflate_subsections=(12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7)
ci_deflate_cases=(1 10 11)
case $mode in
  full)
    cases=("*")
    expected_cases=517
    ;;
  ci)
    cases=("1.*" "2.*" "3.*" "4.*" "5.*" "6.*" "7.*" "8.*" "9.*" "10.*")
    for subsection in "${deflate_subsections[@]}"; do
      for n in "${ci_deflate_cases[@]}"; do cases+=("$subsection.$n"); done
    done
    expected_cases=$((517 - 216 + ${#deflate_subsections[@]} * ${#ci_deflate_cases[@]})) # 337
    ;;
  fast)
    cases=("1.*" "2.*" "3.*" "4.*" "5.*" "6.*" "7.*" "8.*" "10.*")
    expected_cases=247 # 517 - 54 (9.*) - 216 (12.*, 13.*)
    ;;
esac
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

# The runs, in order; each adapter has a server-role run, tokio and blocking a client-role one too.
runs=()
for adapter in "${adapters[@]}"; do
  runs+=("server-$adapter")
  [[ $adapter == axum ]] || runs+=("client-$adapter")
done

examples=()
for adapter in "${adapters[@]}"; do
  case $adapter in
    axum) examples+=(--example axum_echo) ;;
    *) examples+=(--example echo_server --example autobahn_client) ;;
  esac
done
step "build the examples"
(cd "$repo" && cargo build --release "${examples[@]}")
# cargo metadata knows where the binaries went, CARGO_TARGET_DIR and config included.
target_dir=$(cd "$repo" && cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
echo_server=$target_dir/release/examples/echo_server
client=$target_dir/release/examples/autobahn_client
axum_echo=$target_dir/release/examples/axum_echo
out=$target_dir/autobahn
reports=$out/reports
mkdir -p "$out/config" "$out/logs" "$reports"

# make_config TEMPLATE DEST OUTDIR URL AGENT: the template with this run's values filled in.
make_config() {
  python3 - "$@" "${cases[@]}" <<'EOF'
import json, sys
template, dest, outdir, url, agent, *cases = sys.argv[1:]
with open(template) as f:
    config = json.load(f)
config["outdir"] = outdir
if "servers" in config:  # fuzzingclient: the server under test
    config["servers"] = [{"agent": agent, "url": url}]
else:  # fuzzingserver: where it listens
    config["url"] = url
config["cases"] = cases
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
server_ready() { # LOG PORT PID: the server said so, and the port is really its own
  grep -q '^listening on ' "$1" && pid_owns_port "$2" "$3"
}

# server_run NAME AGENT SERVER PATH [SERVER_ARGS...]: wstest's fuzzing client against our echo
# server SERVER (a binary taking --addr and printing `listening on ADDR`), at ws://ADDR$PATH.
server_run() {
  local name=$1 agent=$2 server=$3 path=$4
  shift 4
  local server_name=${server##*/}
  local dir=$reports/$name log=$out/logs/$name-$server_name.log config=$out/config/$name.json
  local port pid attempt start=$SECONDS
  step "$name: wstest -m fuzzingclient against $server_name${*:+ $*}${path:+ at $path}"
  if ! rm -rf "$dir"; then # never judge an old report
    problem "$name: cannot remove the previous report $dir"
    return 1
  fi
  # Another process may grab the port between our check and the bind: the server then exits and
  # we retry on another port. A server that stays up but never gets ready is not retried.
  for attempt in 1 2 3; do
    port=$(random_port) || { problem "$name: no free port"; return 1; }
    "$server" --addr "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    pid=$!
    background_pids+=("$pid")
    wait_for "$startup_timeout" "$pid" server_ready "$log" "$port" "$pid" && break
    if is_alive "$pid" || ((attempt == 3)); then
      stop_pid "$pid"
      show_log "$log"
      problem "$name: $server_name did not print 'listening on' and listen on port $port"
      return 1
    fi
    stop_pid "$pid"
  done
  make_config "$here/fuzzingclient.json" "$config" "$dir" "ws://127.0.0.1:$port$path" "$agent" ||
    return 1
  local status=0
  run_fuzzingclient "$config" "$out/logs/$name-wstest.log" || status=$?
  if ((status)); then
    show_log "$out/logs/$name-wstest.log"
    problem "$name: wstest -m fuzzingclient $(describe_status "$status")"
  fi
  if ! is_alive "$pid"; then
    show_log "$log"
    problem "$name: $server_name exited during the run"
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

# The runs go --jobs at a time, each in a subshell with its output in a log of its own, shown
# when it ends (so that the runs' lines do not interleave).
run_one() { # NAME: the run of that name, in the foreground
  case $1 in
    server-tokio) server_run server-tokio rfc6455-tokio "$echo_server" "" ;;
    client-tokio) client_run client-tokio rfc6455-tokio ;;
    server-blocking) server_run server-blocking rfc6455-blocking "$echo_server" "" --blocking ;;
    client-blocking) client_run client-blocking rfc6455-blocking --blocking ;;
    server-axum) server_run server-axum rfc6455-axum "$axum_echo" /ws ;;
  esac
  ((run_problems == 0))
}
# shellcheck disable=SC2329 # called through the job table below
finish_job() { # PID STATUS: shows the log of the run that ended
  local name=${job_names[$1]}
  cat "$out/logs/$name.out"
  if (($2)); then
    run_problems=$((run_problems + 1))
  fi
  unset "job_names[$1]"
  forget_pid "$1"
}
declare -A job_names=()
started=$SECONDS
echo "$mode: ${#runs[@]} runs of $expected_cases cases, $jobs at a time"
for name in "${runs[@]}"; do
  while ((${#job_names[@]} >= jobs)); do
    job_status=0
    wait -n -p job_pid "${!job_names[@]}" || job_status=$?
    finish_job "$job_pid" "$job_status"
  done
  (
    # A subshell does not inherit the EXIT trap: stop this run's own processes and containers when
    # it ends.
    background_pids=() containers=()
    trap cleanup EXIT
    trap 'exit 143' TERM
    run_one "$name"
  ) >"$out/logs/$name.out" 2>&1 &
  job_names[$!]=$name
  background_pids+=("$!")
done
while ((${#job_names[@]})); do
  job_status=0
  wait -n -p job_pid "${!job_names[@]}" || job_status=$?
  finish_job "$job_pid" "$job_status"
done
echo
echo "${#runs[@]} runs in $((SECONDS - started)) s"

echo "HTML reports: $reports/<run>/index.html (logs: $out/logs)"
if ((run_problems)); then
  echo "error: $run_problems run(s) had problems while running, see above" >&2
fi

step "results ($mode: $expected_cases cases per run)"
# check.py's last line, `N passed, N failed`, is the last line of this script's output.
status=0
check_args=()
for name in "${runs[@]}"; do
  check_args+=(--run "$name" "$reports/$name" "rfc6455-${name#*-}")
done
python3 "$here/check.py" --expect "$expected_cases" "${check_args[@]}" || status=$?
if ((run_problems)); then
  status=1
fi
exit "$status"
