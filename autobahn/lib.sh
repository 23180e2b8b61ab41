# shellcheck shell=bash
# Helpers shared by install.sh and run.sh. Sourced, not run. Linux only (ss, /proc).
#
# Machines are shared, so every server we start gets a random port in 19000-29999 (clear of the
# usual 9001/9002 and of the ephemeral range), and we only talk to it once `ss` shows that the
# listening socket belongs to the process we started. Every wait is bounded.

# Background processes started by the sourcing script; stop_background_processes ends them.
background_pids=()

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# is_alive PID: PID is a running (not zombie) child of this (sub)shell. Checking the parent guards
# against PID reuse: bash reaps exited background children by itself, which frees their PIDs.
# $BASHPID, not $$: inside a ( subshell ) $$ still names the main script.
is_alive() {
  local stat state ppid
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # skip the command name, which may contain spaces and parentheses
  read -r state ppid _ <<<"$stat"
  [[ $state != Z && $ppid == "$BASHPID" ]]
}

# forget_pid PID: drops PID from background_pids once it has been reaped.
forget_pid() {
  local pid kept=()
  for pid in ${background_pids[@]+"${background_pids[@]}"}; do
    [[ $pid == "$1" ]] || kept+=("$pid")
  done
  background_pids=(${kept[@]+"${kept[@]}"})
}

# stop_pid PID: SIGTERM, SIGKILL after 5 s, then reap it. Never blocks for long.
stop_pid() {
  local pid=$1 i
  if is_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      is_alive "$pid" || break
      sleep 0.1
    done
    if is_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

stop_background_processes() {
  local pid
  for pid in ${background_pids[@]+"${background_pids[@]}"}; do
    stop_pid "$pid"
  done
}

# run_bounded SECONDS COMMAND...: runs COMMAND with a time limit and returns its status (124 when
# it timed out). It runs in the background because bash delays a trapped signal until the
# foreground command ends, whereas `wait` returns at once: Ctrl-C and SIGTERM stay prompt.
run_bounded() {
  local limit=$1 pid status=0
  shift
  timeout -k 10 "$limit" "$@" &
  pid=$!
  background_pids+=("$pid")
  wait "$pid" || status=$?
  forget_pid "$pid"
  return "$status"
}

# random_port: a port in 19000-29999 that nothing listens on right now. Someone may still take it
# before we bind it, which is why callers retry and check ownership afterwards.
random_port() {
  local port i
  for ((i = 0; i < 100; i++)); do
    port=$((19000 + RANDOM % 11000))
    if [[ -z $(ss -Htln "sport = :$port") ]]; then
      echo "$port"
      return 0
    fi
  done
  echo "error: no free port found in 19000-29999" >&2
  return 1
}

# pid_owns_port PORT PID...: something listens on PORT and every listening socket there belongs to
# one of the PIDs. (Without -p rights on a socket, ss prints no pid for it, so that fails too.)
pid_owns_port() {
  local port=$1 line pid mine
  shift
  local lines
  lines=$(ss -Htlnp "sport = :$port") || return 1
  [[ -n $lines ]] || return 1
  while IFS= read -r line; do
    mine=0
    for pid in "$@"; do
      [[ $line == *"pid=$pid,"* ]] && mine=1
    done
    ((mine)) || return 1
  done <<<"$lines"
}

# wait_for SECONDS PID COMMAND...: polls COMMAND every 0.1 s until it succeeds. Fails after
# SECONDS, or as soon as process PID has exited (it will never get ready then).
wait_for() {
  local deadline=$((SECONDS + $1)) pid=$2
  shift 2
  until "$@"; do
    is_alive "$pid" || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# show_log FILE: the end of a log, for error messages.
show_log() {
  if [[ -s $1 ]]; then
    echo "--- last lines of $1:" >&2
    tail -n 20 "$1" >&2
    echo "---" >&2
  fi
}
