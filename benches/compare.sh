#!/usr/bin/env bash
# End-to-end loopback comparison: rfc6455 (tokio and blocking adapters)
# against tokio-tungstenite, fastwebsockets and tokio-websockets; rfc6455's
# axum extractor against axum's own; then the criterion micro benchmarks of
# benches/peers (if present).
#
#   benches/compare.sh [--smoke|--quick|--full]     (default --quick)
#
#   --smoke  what CI runs: proves the harness works, measures nothing worth reading. Builds
#            without LTO, runs every row kind once with every server for a moment, and runs each
#            criterion micro benchmark once (criterion's --test).
#   --full   also instructions per message for every server (benches/instructions.sh: callgrind,
#            a fixed message count; the figure that does not move with the machine's load).
#
# Servers (benches/e2e echo_server --impl NAME; `echo_server --impls` lists a build's):
#   peer rows  rfc6455-tokio, rfc6455-blocking (ours), tungstenite (tokio-tungstenite),
#              fastwebsockets, tokio-websockets
#   raw TCP    raw-tcp: no WebSocket at all, a TCP echo of the client's (masked) frames after a fixed
#              101, on the same single-threaded runtime: the physical limit. Pingpong rows only; it
#              is not a peer (never the "best peer"), each pingpong row just gets `ours / raw TCP`.
#   axum rows  axum-rfc6455 (ours: rfc6455::io::axum_ws::WebSocketUpgrade), axum-tungstenite
#              (axum::extract::ws::WebSocketUpgrade): the same axum 0.8 router and `axum::serve`,
#              only the extractor differs. axum-rfc6455 needs benches/e2e's feature
#              `rfc6455-axum`; a build without it skips that server and says so (its ratios
#              read "-").
#
# Every measurement starts a fresh echo server (benches/e2e echo_server) on
# 127.0.0.1:0, reads its port back from its `listening on ADDR` line, and
# runs benches/e2e loadgen against it; server and load generator are both
# pinned to CPU 0 (`taskset -c 0`), so each server gets the same one core
# shared with the same client. The servers are interleaved (A B C D E,
# A B C D E, ...) so drift hits them all alike. Throughput is the best of
# the rounds; latency and memory the lowest of the rounds.
#
# Rows: mode x message size x connections. Peer rows run the peer servers, axum rows the two
# axum servers (pingpong only, each its own table).
#   pingpong  one message in flight per connection
#   flood     64 messages in flight per connection (capped at 1 MiB)
#   latency   1000 msgs/s in total over 10 connections; p50/p99 round trip
#   idle      N idle connections; server RSS growth per connection (KiB)
#   broadcast echo_server --mode broadcast, N subscribers and one publisher (loadgen --mode
#             broadcast: message k goes out once k - 16 reached every subscriber): delivered
#             msgs/s summed over subscribers, and the server's peak RSS (VmHWM), its own table.
#             rfc6455-tokio, tungstenite, fastwebsockets, tokio-websockets; rfc6455-blocking is
#             skipped (echo_server.rs, broadcast::WHY_NOT_BLOCKING, says why).
#   huge      16 MiB messages, one in flight per connection, against echo_server --mode stream:
#             rfc6455 echoes each message part by part as it arrives (recv_part/read_part, then
#             send_part); the peers, which have no such API, echo whole messages (fastwebsockets
#             frame by frame). Echoed MB/s (best of rounds, ours/peer) and the server's peak RSS
#             (VmHWM, lowest of rounds, peer/ours), its own table.
# Ratios are written so that > 1 means rfc6455 is better: ours/peer for
# msgs/s, peer/ours for latency and memory; axum rows: axum-rfc6455/axum-tungstenite.
set -euo pipefail

usage() { echo "usage: $0 [--smoke|--quick|--full]" >&2; exit 2; }
PROFILE=quick
case "${1:-}" in
  "" | --quick) PROFILE=quick ;;
  --full) PROFILE=full ;;
  --smoke) PROFILE=smoke ;;
  *) usage ;;
esac
[[ $# -le 1 ]] || usage

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E=$HERE/e2e
IMPLS=(rfc6455-tokio rfc6455-blocking tungstenite fastwebsockets tokio-websockets)
OURS=rfc6455-tokio
AXUM_IMPLS=(axum-rfc6455 axum-tungstenite) # ours first
RAW=raw-tcp # pingpong rows only, not a peer
# rfc6455-blocking has no broadcast server (a subscriber needs a reader and a writer at once).
BCAST_IMPLS=(rfc6455-tokio tungstenite fastwebsockets tokio-websockets)
START_TIME=$SECONDS

if [[ $PROFILE == full ]]; then
  ROUNDS=2 SECS=4 WARMUP=0.5 IDLE_CONNS=10000 IDLE_HOLD=3
  ROWS=()
  for mode in pingpong flood; do
    for size in 20 1024 16384; do
      for conns in 10 100 500; do ROWS+=("$mode $size $conns"); done
    done
  done
  ROWS+=("latency 20 10" "latency 16384 10" "idle 20 $IDLE_CONNS")
  AXUM_ROWS=("pingpong 20 100" "pingpong 16384 100")
  BCAST_ROWS=("broadcast 20 1000" "broadcast 1024 1000" "broadcast 20 10000" "broadcast 1024 10000")
  HUGE_ROWS=("huge 16777216 1" "huge 16777216 10")
elif [[ $PROFILE == smoke ]]; then
  ROUNDS=1 SECS=0.3 WARMUP=0.1 IDLE_CONNS=100 IDLE_HOLD=0.5
  ROWS=("pingpong 20 10" "flood 16384 10" "latency 20 10" "idle 20 $IDLE_CONNS")
  AXUM_ROWS=("pingpong 20 10")
  BCAST_ROWS=("broadcast 20 10")
  HUGE_ROWS=("huge 1048576 1")
  # A quick build: the profile's fat LTO and single codegen unit cost minutes and matter only
  # for numbers worth reading.
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0
else
  ROUNDS=1 SECS=1 WARMUP=0.5 IDLE_CONNS=1000 IDLE_HOLD=1.5
  ROWS=("pingpong 20 100" "flood 20 100" "pingpong 16384 100" "flood 16384 100" "latency 20 10" "idle 20 $IDLE_CONNS")
  AXUM_ROWS=("pingpong 20 100" "pingpong 16384 100")
  BCAST_ROWS=("broadcast 20 1000" "broadcast 1024 1000")
  HUGE_ROWS=("huge 16777216 1")
fi
LATENCY_RATE=1000

command -v taskset >/dev/null || { echo "compare.sh: taskset (util-linux) is required" >&2; exit 1; }

# --- build -------------------------------------------------------------------
echo "== building benches/e2e (release)"
# --workspace: both members' features unified, so that peers/run.sh --smoke reuses this build.
cargo build --release --locked --workspace --bins --manifest-path "$HERE/Cargo.toml"
# The workspace's target directory (benches/target unless CARGO_TARGET_DIR or a config moves it).
BIN=$(cargo metadata --no-deps --format-version 1 --manifest-path "$E2E/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
[[ -x $BIN/echo_server && -x $BIN/loadgen ]] || { echo "compare.sh: binaries not found in $BIN" >&2; exit 1; }

# axum-rfc6455 exists only with benches/e2e's feature `rfc6455-axum`; every other server always.
BUILT=$("$BIN/echo_server" --impls)
AXUM_RUN=()
for impl in "${AXUM_IMPLS[@]}"; do
  if grep -qx "$impl" <<<"$BUILT"; then
    AXUM_RUN+=("$impl")
  else
    echo "compare.sh: $impl is not in this build (benches/e2e feature rfc6455-axum is off): skipped"
  fi
done

# --- file descriptors for the idle and broadcast rows -----------------------
# Server and load generator each hold one descriptor per connection (broadcast: one more, the
# publisher).
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -n 1048576 2>/dev/null || ulimit -n 65536; else ulimit -n "$hard"; fi
soft=$(ulimit -n)
if ((soft < IDLE_CONNS + 256)); then
  new=$((soft - 256))
  echo "compare.sh: open-file limit is $soft (hard $hard): idle row uses $new connections instead of $IDLE_CONNS"
  ROWS=("${ROWS[@]/idle 20 $IDLE_CONNS/idle 20 $new}")
  IDLE_CONNS=$new
fi
for i in "${!BCAST_ROWS[@]}"; do
  read -r mode size conns <<<"${BCAST_ROWS[$i]}"
  if ((soft < conns + 1 + 256)); then
    new=$((soft - 257))
    echo "compare.sh: open-file limit is $soft (hard $hard): broadcast row uses $new subscribers instead of $conns"
    BCAST_ROWS[i]="$mode $size $new"
  fi
done

# --- processes -----------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rfc6455-e2e.XXXXXX")
SERVER_PID=""
LOADGEN_PID=""
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  local pid
  for pid in "$LOADGEN_PID" "$SERVER_PID"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a fresh server on CPU 0 (mode: echo or broadcast); sets SERVER_PID and ADDR.
start_server() {
  local impl=$1 mode=${2:-echo} i
  : >"$TMP/server.out"
  taskset -c 0 "$BIN/echo_server" --impl "$impl" --mode "$mode" --addr 127.0.0.1:0 >"$TMP/server.out" \
    2>"$TMP/server.err" &
  SERVER_PID=$! # taskset execs the server: same pid
  ADDR=""
  for ((i = 0; i < 200; i++)); do
    ADDR=$(sed -n 's/^listening on //p' "$TMP/server.out")
    [[ -n $ADDR ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.025
  done
  echo "compare.sh: $impl server did not start: $(cat "$TMP/server.err")" >&2
  return 1
}

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; } # peak RSS

# Extracts key=value from a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

FAILURES=0
fail() { # row impl message
  echo "  FAILED: $1 / $2: $3" >&2
  [[ -s $TMP/server.err ]] && sed 's/^/    server: /' "$TMP/server.err" >&2
  FAILURES=$((FAILURES + 1))
}

# Results: row <TAB> kind <TAB> impl <TAB> value1 <TAB> value2; measure() appends to $RESULTS,
# one file per table.
PEER_RESULTS=$TMP/results.tsv
AXUM_RESULTS=$TMP/results-axum.tsv
BCAST_RESULTS=$TMP/results-broadcast.tsv # value1 msgs/s, value2 peak RSS KiB
HUGE_RESULTS=$TMP/results-huge.tsv # value1 MB/s, value2 peak RSS KiB
: >"$PEER_RESULTS"
: >"$HUGE_RESULTS"
: >"$AXUM_RESULTS"
: >"$BCAST_RESULTS"

measure() { # mode size conns impl row
  local mode=$1 size=$2 conns=$3 impl=$4 row=$5 out line server_mode=echo loadgen_mode=$1
  [[ $mode == broadcast ]] && server_mode=broadcast
  [[ $mode == huge ]] && server_mode=stream loadgen_mode=pingpong
  if ! start_server "$impl" "$server_mode"; then
    stop_server
    printf '%s\t%s\t%s\tFAIL\tFAIL\n' "$row" "$mode" "$impl" >>"$RESULTS"
    fail "$row" "$impl" "server start"
    return 0
  fi
  if [[ $mode == idle ]]; then
    sleep 0.2
    local before after ready="" i
    before=$(rss_kib "$SERVER_PID")
    : >"$TMP/loadgen.out" # no stale READY from the previous run
    taskset -c 0 "$BIN/loadgen" --addr "$ADDR" --mode idle --conns "$conns" --size "$size" --secs "$IDLE_HOLD" \
      >"$TMP/loadgen.out" 2>"$TMP/loadgen.err" &
    LOADGEN_PID=$!
    for ((i = 0; i < 1200; i++)); do # up to 60 s to open the connections
      ready=$(grep -m1 '^READY' "$TMP/loadgen.out" || true)
      [[ -n $ready ]] && break
      kill -0 "$LOADGEN_PID" 2>/dev/null || break
      sleep 0.05
    done
    if [[ -n $ready ]]; then
      sleep 1
      after=$(rss_kib "$SERVER_PID")
    fi
    if [[ -z $ready ]] || ! wait "$LOADGEN_PID"; then
      kill "$LOADGEN_PID" 2>/dev/null || true
      wait "$LOADGEN_PID" 2>/dev/null || true
      LOADGEN_PID=""
      printf '%s\t%s\t%s\tFAIL\tFAIL\n' "$row" "$mode" "$impl" >>"$RESULTS"
      fail "$row" "$impl" "$(cat "$TMP/loadgen.err")"
      stop_server
      return 0
    fi
    LOADGEN_PID=""
    local per_conn
    per_conn=$(awk -v a="$after" -v b="$before" -v n="$conns" 'BEGIN { printf "%.1f", (a - b) / n }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$mode" "$impl" "$per_conn" "$conns" >>"$RESULTS"
    printf '  %-18s %8s KiB/conn (RSS %s -> %s KiB)\n' "$impl" "$per_conn" "$before" "$after"
  else
    local extra=()
    [[ $mode == latency ]] && extra=(--rate "$LATENCY_RATE")
    [[ $impl == "$RAW" ]] && extra=(--accept-masked) # raw-tcp returns our masked frames
    local limit
    limit=$(awk -v s="$SECS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')
    if out=$(timeout "$limit" taskset -c 0 "$BIN/loadgen" --addr "$ADDR" --mode "$loadgen_mode" --conns "$conns" \
      --size "$size" --secs "$SECS" --warmup "$WARMUP" "${extra[@]}" 2>"$TMP/loadgen.err") &&
      line=$(grep -m1 '^RESULT' <<<"$out"); then
      local stalled
      stalled=$(field stalled_conns "$line")
      if [[ $mode == huge ]]; then
        local hwm
        hwm=$(hwm_kib "$SERVER_PID" || echo FAIL)
        printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$mode" "$impl" "$(field mb_per_s "$line")" "$hwm" >>"$RESULTS"
        printf '  %-18s %10s MB/s %8s msgs/s  peak RSS %8s KiB\n' "$impl" "$(field mb_per_s "$line")" \
          "$(field msgs_per_s "$line")" "$hwm"
      elif [[ $mode == broadcast ]]; then
        local hwm lost
        hwm=$(hwm_kib "$SERVER_PID" || echo FAIL)
        lost=$(field lost "$line")
        printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$mode" "$impl" "$(field msgs_per_s "$line")" "$hwm" >>"$RESULTS"
        printf '  %-18s %10s msgs/s delivered %9s MB/s  published %8s  peak RSS %8s KiB%s%s\n' "$impl" \
          "$(field msgs_per_s "$line")" "$(field mb_per_s "$line")" "$(field published "$line")" "$hwm" \
          "$([[ $lost != 0 ]] && echo "  ($lost lost)")" \
          "$([[ $stalled != 0 ]] && echo "  ($stalled subscribers got nothing)")"
      elif [[ $mode == latency ]]; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$mode" "$impl" "$(field p50_us "$line")" "$(field p99_us "$line")" >>"$RESULTS"
        printf '  %-18s p50 %8s us  p99 %8s us\n' "$impl" "$(field p50_us "$line")" "$(field p99_us "$line")"
      else
        printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$mode" "$impl" "$(field msgs_per_s "$line")" "$(field mb_per_s "$line")" >>"$RESULTS"
        printf '  %-18s %10s msgs/s %9s MB/s  p50 %8s us  p99 %9s us%s\n' "$impl" "$(field msgs_per_s "$line")" \
          "$(field mb_per_s "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" \
          "$([[ $stalled != 0 ]] && echo "  ($stalled conns got no echo)")"
      fi
    else
      printf '%s\t%s\t%s\tFAIL\tFAIL\n' "$row" "$mode" "$impl" >>"$RESULTS"
      fail "$row" "$impl" "loadgen: $(cat "$TMP/loadgen.err")"
    fi
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    fail "$row" "$impl" "the server died"
  fi
  stop_server
}

# --- run -------------------------------------------------------------------------
echo "== end-to-end echo, $PROFILE: ${#ROWS[@]} rows x ${#IMPLS[@]} servers (pingpong rows also $RAW) +" \
  "${#AXUM_ROWS[@]} axum rows x ${#AXUM_RUN[@]} servers + ${#BCAST_ROWS[@]} broadcast rows x ${#BCAST_IMPLS[@]}" \
  "servers + ${#HUGE_ROWS[@]} huge-message rows x ${#IMPLS[@]} servers, x $ROUNDS round(s), ${SECS}s measured after" \
  "${WARMUP}s warm-up;" \
  "server and loadgen on CPU 0 ($(nproc) CPUs, $(uname -r))"
E2E_START=$SECONDS
MEASUREMENTS=0
run_rows() { # label results-file rows-array-name impls-array-name [server for pingpong rows only]
  local label=$1 pingpong_extra=${5:-} spec mode size conns row round impl row_impls
  local -n rows=$3 impls=$4
  RESULTS=$2
  for spec in "${rows[@]}"; do
    read -r mode size conns <<<"$spec"
    row="$mode ${size}B x$conns"
    row_impls=("${impls[@]}")
    [[ $mode == pingpong && -n $pingpong_extra ]] && row_impls+=("$pingpong_extra")
    for ((round = 1; round <= ROUNDS; round++)); do
      echo "-- $label$row, round $round"
      for impl in "${row_impls[@]}"; do
        measure "$mode" "$size" "$conns" "$impl" "$row"
        MEASUREMENTS=$((MEASUREMENTS + 1))
      done
    done
  done
}
run_rows "" "$PEER_RESULTS" ROWS IMPLS "$RAW"
run_rows "axum: " "$AXUM_RESULTS" AXUM_ROWS AXUM_RUN
echo "(broadcast rows: rfc6455-blocking skipped: its socket has no read and write halves, see echo_server.rs)"
run_rows "" "$BCAST_RESULTS" BCAST_ROWS BCAST_IMPLS
run_rows "" "$HUGE_RESULTS" HUGE_ROWS IMPLS
E2E_SECS=$((SECONDS - E2E_START))

# --- table -----------------------------------------------------------------------
echo
echo "== end-to-end results ($PROFILE, $ROUNDS round(s); msgs/s: best of rounds; latency, memory: lowest of rounds)"
echo "   MB/s = echoed payload, 10^6 bytes/s one way. Ratios: > 1 means rfc6455 is better."
echo "   tok = rfc6455-tokio, blk = rfc6455-blocking; tung = tokio-tungstenite, fws = fastwebsockets, tws = tokio-websockets"
awk -F'\t' -v impls="${IMPLS[*]}" -v ours="$OURS" -v raw="$RAW" '
  function better(kind, a, b) { return kind == "pingpong" || kind == "flood" ? a > b : a < b }
  function num(x) { return x != "" && x != "FAIL" }
  function fmt(x) { return num(x) ? (x >= 1000 ? sprintf("%.0f", x) : sprintf("%.2f", x)) : (x == "" ? "-" : x) }
  # ratio so that > 1 means `a` (ours) is better than `b`
  function ratio(kind, a, b) {
    if (!num(a) || !num(b) || a == 0 || b == 0) return "-"
    return sprintf("%.2f", (kind == "pingpong" || kind == "flood") ? a / b : b / a)
  }
  BEGIN { n = split(impls, imp, " ") }
  {
    key = $1 SUBSEP $3
    if (!($1 in kindof)) { order[++rows] = $1; kindof[$1] = $2 }
    if (!num($4)) { if (!(key in v1)) { v1[key] = "FAIL"; v2[key] = "FAIL" }; next }
    if (!num(v1[key])) { v1[key] = $4; v2[key] = $5; next }
    if ($2 == "pingpong" || $2 == "flood") {
      if ($4 > v1[key]) { v1[key] = $4; v2[key] = $5 }
    } else {
      if ($4 < v1[key]) v1[key] = $4
      if ($2 == "latency" && $5 < v2[key]) v2[key] = $5
    }
  }
  END {
    printf "%-28s", "row"
    for (i = 1; i <= n; i++) printf " %16s", imp[i]
    printf "  %8s %8s %8s  %8s %8s  %s\n", "tok/tung", "tok/fws", "tok/tws", "tok/best", "blk/best", "best peer"
    min_ratio = ""; min_row = ""
    for (r = 1; r <= rows; r++) {
      row = order[r]; kind = kindof[row]
      nlines = 1
      if (kind == "pingpong" || kind == "flood") { label[1] = "msgs/s"; label[2] = "MB/s"; nlines = 2 }
      else if (kind == "latency") { label[1] = "p50 us"; label[2] = "p99 us"; nlines = 2 }
      else { label[1] = "KiB/conn" }
      for (l = 1; l <= nlines; l++) {
        best = ""; bestname = "-"
        for (i = 1; i <= n; i++) {
          val[i] = (l == 1 ? v1[row SUBSEP imp[i]] : v2[row SUBSEP imp[i]])
          if (imp[i] ~ /^rfc6455/) { if (imp[i] == ours) o = val[i]; else ob = val[i]; continue }
          if (num(val[i]) && (best == "" || better(kind, val[i], best))) { best = val[i]; bestname = imp[i] }
        }
        printf "%-28s", (l == 1 ? row : "") " " label[l]
        for (i = 1; i <= n; i++) printf " %16s", fmt(val[i])
        if (l == 2 && (kind == "pingpong" || kind == "flood")) {
          printf "\n"
          r_raw = v1[row SUBSEP raw]
          if (kind == "pingpong" && r_raw != "")
            printf "%-28s %16s  ours / raw TCP: %s\n", " raw TCP msgs/s", fmt(r_raw), ratio(kind, v1[row SUBSEP ours], r_raw)
          continue # MB/s: same ratios
        }
        # val[3..5]: tungstenite, fastwebsockets, tokio-websockets (the IMPLS order)
        printf "  %8s %8s %8s  %8s %8s  %s\n", ratio(kind, o, val[3]), ratio(kind, o, val[4]), ratio(kind, o, val[5]),
          ratio(kind, o, best), ratio(kind, ob, best), bestname
        if (l == 1 && (kind == "pingpong" || kind == "flood")) {
          x = ratio(kind, o, best)
          if (x == "-") { min_ratio = "FAIL"; min_row = row }
          else if (min_ratio != "FAIL" && (min_ratio == "" || x + 0 < min_ratio + 0)) { min_ratio = x; min_row = row }
        }
      }
    }
    printf "min ratio vs best peer: %s (%s)\n", (min_ratio == "" ? "-" : min_ratio), min_row
  }' "$PEER_RESULTS"

# The axum rows: pingpong only, best of rounds; ratio ours/theirs on msgs/s (MB/s: the same).
echo
echo "== axum rows: one axum 0.8 router, only the extractor differs (ratio > 1: rfc6455's is faster)"
awk -F'\t' -v impls="${AXUM_IMPLS[*]}" '
  function num(x) { return x != "" && x != "FAIL" }
  function fmt(x) { return num(x) ? (x >= 1000 ? sprintf("%.0f", x) : sprintf("%.2f", x)) : (x == "" ? "-" : x) }
  BEGIN { split(impls, imp, " ") } # imp[1] ours, imp[2] theirs
  {
    key = $1 SUBSEP $3
    if (!($1 in seen)) { order[++rows] = $1; seen[$1] = 1 }
    if (!num($4)) { if (!(key in v1)) { v1[key] = "FAIL"; v2[key] = "FAIL" }; next }
    if (!num(v1[key]) || $4 > v1[key]) { v1[key] = $4; v2[key] = $5 }
  }
  END {
    printf "%-28s %16s %16s  %s\n", "row", imp[1], imp[2], "ours/theirs"
    min_ratio = ""; min_row = ""
    for (r = 1; r <= rows; r++) {
      row = order[r]; o = v1[row SUBSEP imp[1]]; t = v1[row SUBSEP imp[2]]
      x = (num(o) && num(t) && o > 0 && t > 0) ? sprintf("%.2f", o / t) : "-"
      printf "%-28s %16s %16s  %11s\n", row " msgs/s", fmt(o), fmt(t), x
      printf "%-28s %16s %16s\n", " MB/s", fmt(v2[row SUBSEP imp[1]]), fmt(v2[row SUBSEP imp[2]])
      if (x == "-") { min_ratio = "-"; min_row = row }
      else if (min_ratio != "-" && (min_ratio == "" || x + 0 < min_ratio + 0)) { min_ratio = x; min_row = row }
    }
    printf "min ratio axum-rfc6455/axum-tungstenite: %s (%s)\n", (min_ratio == "" ? "-" : min_ratio), min_row
  }' "$AXUM_RESULTS"

# The broadcast rows: delivered msgs/s (best of rounds, ours/peer) and peak RSS (lowest of rounds,
# peer/ours).
echo
echo "== broadcast: one publisher, N subscribers (message k sent once k - 16 reached all of them)"
echo "   msgs/s = delivered, summed over subscribers; peak RSS = server VmHWM. Ratios: > 1 means rfc6455 is better."
awk -F'\t' -v impls="${BCAST_IMPLS[*]}" -v ours="$OURS" '
  function num(x) { return x != "" && x != "FAIL" }
  function fmt(x) { return num(x) ? sprintf("%.0f", x) : (x == "" ? "-" : x) }
  function ratio(a, b) { return (num(a) && num(b) && a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
  BEGIN { n = split(impls, imp, " ") }
  {
    key = $1 SUBSEP $3
    if (!($1 in seen)) { order[++rows] = $1; seen[$1] = 1 }
    if (!num($4)) { if (!(key in v1)) { v1[key] = "FAIL"; v2[key] = "FAIL" }; next }
    if (!num(v1[key])) { v1[key] = $4; v2[key] = $5; next }
    if ($4 > v1[key]) v1[key] = $4
    if (num($5) && (!num(v2[key]) || $5 < v2[key])) v2[key] = $5
  }
  END {
    printf "%-28s", "row"
    for (i = 1; i <= n; i++) printf " %16s", imp[i]
    printf "  %8s %8s %8s  %8s  %s\n", "tok/tung", "tok/fws", "tok/tws", "tok/best", "best peer"
    min_ratio = ""; min_row = ""
    for (r = 1; r <= rows; r++) {
      row = order[r]
      for (l = 1; l <= 2; l++) {
        best = ""; bestname = "-"
        for (i = 1; i <= n; i++) {
          val[i] = (l == 1 ? v1[row SUBSEP imp[i]] : v2[row SUBSEP imp[i]])
          if (imp[i] == ours) { o = val[i]; continue }
          if (num(val[i]) && (best == "" || (l == 1 ? val[i] > best : val[i] < best))) { best = val[i]; bestname = imp[i] }
        }
        printf "%-28s", (l == 1 ? row " msgs/s" : " peak RSS KiB")
        for (i = 1; i <= n; i++) printf " %16s", fmt(val[i])
        # val[2..4]: tungstenite, fastwebsockets, tokio-websockets (the BCAST_IMPLS order)
        if (l == 1) {
          printf "  %8s %8s %8s  %8s  %s\n", ratio(o, val[2]), ratio(o, val[3]), ratio(o, val[4]), ratio(o, best), bestname
          x = ratio(o, best)
          if (x == "-") { min_ratio = "FAIL"; min_row = row }
          else if (min_ratio != "FAIL" && (min_ratio == "" || x + 0 < min_ratio + 0)) { min_ratio = x; min_row = row }
        } else {
          printf "  %8s %8s %8s  %8s  %s\n", ratio(val[2], o), ratio(val[3], o), ratio(val[4], o), ratio(best, o), bestname
        }
      }
    }
    printf "min msgs/s ratio vs best peer: %s (%s)\n", (min_ratio == "" ? "-" : min_ratio), min_row
  }' "$BCAST_RESULTS"
# The huge-message rows: echoed MB/s (best of rounds, ours/peer) and peak RSS (lowest, peer/ours).
echo
echo "== huge messages: one in flight per connection (echo_server --mode stream; the row says the size)"
echo "   rfc6455 echoes part by part as the message arrives (recv_part/read_part + send_part); the peers"
echo "   echo whole messages. MB/s = echoed payload; peak RSS = server VmHWM. Ratios: > 1 means rfc6455 is better."
awk -F'\t' -v impls="${IMPLS[*]}" -v ours="$OURS" '
  function num(x) { return x != "" && x != "FAIL" }
  function fmt(x) { return num(x) ? (x >= 1000 ? sprintf("%.0f", x) : sprintf("%.1f", x)) : (x == "" ? "-" : x) }
  function ratio(a, b) { return (num(a) && num(b) && a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
  BEGIN { n = split(impls, imp, " ") }
  {
    key = $1 SUBSEP $3
    if (!($1 in seen)) { order[++rows] = $1; seen[$1] = 1 }
    if (!num($4)) { if (!(key in v1)) { v1[key] = "FAIL"; v2[key] = "FAIL" }; next }
    if (!num(v1[key])) { v1[key] = $4; v2[key] = $5; next }
    if ($4 > v1[key]) v1[key] = $4
    if (num($5) && (!num(v2[key]) || $5 < v2[key])) v2[key] = $5
  }
  END {
    printf "%-28s", "row"
    for (i = 1; i <= n; i++) printf " %16s", imp[i]
    printf "  %8s %8s  %s\n", "tok/best", "blk/best", "best peer"
    for (r = 1; r <= rows; r++) {
      row = order[r]
      for (l = 1; l <= 2; l++) {
        best = ""; bestname = "-"
        for (i = 1; i <= n; i++) {
          val[i] = (l == 1 ? v1[row SUBSEP imp[i]] : v2[row SUBSEP imp[i]])
          if (imp[i] ~ /^rfc6455/) { if (imp[i] == ours) o = val[i]; else ob = val[i]; continue }
          if (num(val[i]) && (best == "" || (l == 1 ? val[i] > best : val[i] < best))) { best = val[i]; bestname = imp[i] }
        }
        printf "%-28s", (l == 1 ? row " MB/s" : " peak RSS KiB")
        for (i = 1; i <= n; i++) printf " %16s", fmt(val[i])
        if (l == 1) printf "  %8s %8s  %s\n", ratio(o, best), ratio(ob, best), bestname
        else printf "  %8s %8s  %s\n", ratio(best, o), ratio(best, ob), bestname
      }
    }
  }' "$HUGE_RESULTS"
echo "(end-to-end part took ${E2E_SECS}s)"
echo "$((MEASUREMENTS - FAILURES)) passed, $FAILURES failed" # measurements that ran to the end

STATUS=0

# --- instructions per message ----------------------------------------------------
# callgrind on each echo server under a fixed number of messages: the column that does not move
# with the machine's load (benches/instructions.sh says how; skipped, and said so, without
# valgrind).
echo
case $PROFILE in
  full) INSTR_ARGS=(--bin "$BIN") ;;
  smoke) INSTR_ARGS=(--smoke --bin "$BIN") ;;
  *) INSTR_ARGS=() ;;
esac
if ((${#INSTR_ARGS[@]} > 0)); then
  "$HERE/instructions.sh" "${INSTR_ARGS[@]}" || { echo "compare.sh: benches/instructions.sh failed" >&2; STATUS=1; }
else
  echo "(instructions per message: compare.sh --full, or benches/instructions.sh alone)"
fi

# --- micro benchmarks ------------------------------------------------------------
if [[ -x $HERE/peers/run.sh ]]; then
  echo
  # Same flag as ours; run.sh runs its full set without one.
  PEER_ARGS=("--$PROFILE")
  if [[ $PROFILE == full ]]; then PEER_ARGS=(); fi
  echo "== benches/peers/run.sh ${PEER_ARGS[*]}"
  "$HERE/peers/run.sh" "${PEER_ARGS[@]}" || { echo "compare.sh: benches/peers/run.sh failed" >&2; STATUS=1; }
else
  echo "(benches/peers/run.sh not found or not executable: micro benchmarks skipped)"
fi

echo "(compare.sh --$PROFILE took $((SECONDS - START_TIME))s including the build)"
if ((FAILURES > 0)); then
  echo "compare.sh: $FAILURES measurement(s) failed, see above" >&2
  STATUS=1
fi
exit "$STATUS"
