#!/usr/bin/env bash
# Instructions per message in each echo server: a figure that does not move with the machine's
# load, beside compare.sh's messages per second (which move +-15 % run to run here).
#
#   benches/instructions.sh [--smoke] [--bin DIR]
#
# For every row and server: the server (benches/e2e echo_server --impl NAME) runs under
# `valgrind --tool=callgrind`, and loadgen sends exactly C messages on each of N connections
# (`loadgen --count C`), then closes; the server is stopped and callgrind's instruction total
# read. Twice, with C1 and C2 messages per connection: startup, handshakes and teardown are
# the same in both runs, so
#
#   instructions per message = (total(C2) - total(C1)) / (N x (C2 - C1))
#
# is the server's cost of one echo (reading, parsing, unmasking, validating, framing, writing,
# and the runtime's share), counted to the instruction. Under callgrind the server runs ~50x
# slower than the load generator, so every wake-up finds more connections ready than at full
# speed: the per-message figure is that of a saturated server, for every implementation alike.
# Callgrind counts a `rep stos`/`rep movs` string instruction once per repetition (per byte for
# the `rep stosb` glibc uses to clear large buffers): tokio-tungstenite's count is dominated by
# clearing its 128 KiB read buffer, work the CPU does in far fewer cycles than that count suggests.
#
# Servers: rfc6455-tokio, rfc6455-blocking, tungstenite, fastwebsockets, tokio-websockets, and
# raw-tcp (no WebSocket: the floor). Rows: pingpong 20 B, 1 KiB, 16 KiB and flood 20 B, 100
# connections (--smoke: pingpong 20 B, 10 connections, small counts: proves the harness runs).
# Ratio: best peer / ours, > 1 means rfc6455 does less work per message.
#
# Needs valgrind; without it, says so and exits 0 (compare.sh --smoke must not fail for a
# missing optional tool). --bin DIR uses an existing build (compare.sh passes its own).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROFILE=full
BIN=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --smoke) PROFILE=smoke; shift ;;
    --bin) BIN=${2:?--bin needs a directory}; shift 2 ;;
    *) echo "usage: $0 [--smoke] [--bin DIR]" >&2; exit 2 ;;
  esac
done

if ! command -v valgrind >/dev/null; then
  echo "instructions.sh: valgrind is not installed: instruction counts skipped (apt-get install valgrind)"
  exit 0
fi

IMPLS=(rfc6455-tokio rfc6455-blocking tungstenite fastwebsockets tokio-websockets raw-tcp)
OURS=rfc6455-tokio
if [[ $PROFILE == smoke ]]; then
  ROWS=("pingpong 20 10 20 60")
else
  # mode size conns C1 C2
  ROWS=("pingpong 20 100 20 60" "pingpong 1024 100 20 60" "pingpong 16384 100 10 30" "flood 20 100 40 120")
fi

if [[ -z $BIN ]]; then
  cargo build --release --locked --workspace --bins --manifest-path "$HERE/Cargo.toml"
  BIN=$(cargo metadata --no-deps --format-version 1 --manifest-path "$HERE/e2e/Cargo.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
fi
[[ -x $BIN/echo_server && -x $BIN/loadgen ]] || { echo "instructions.sh: binaries not found in $BIN" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rfc6455-instr.XXXXXX")
SERVER_PID=""
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# total IMPL MODE SIZE CONNS COUNT: the server's instruction total for one run, or FAIL.
total() {
  local impl=$1 mode=$2 size=$3 conns=$4 count=$5 addr="" i extra=()
  [[ $impl == raw-tcp ]] && extra=(--accept-masked)
  rm -f "$TMP"/cg.out* "$TMP/server.out"
  valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
    "$BIN/echo_server" --impl "$impl" --addr 127.0.0.1:0 >"$TMP/server.out" 2>"$TMP/server.err" &
  SERVER_PID=$!
  for ((i = 0; i < 600; i++)); do # valgrind takes a few seconds to start
    addr=$(sed -n 's/^listening on //p' "$TMP/server.out" 2>/dev/null)
    [[ -n $addr ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  local ok=1
  if [[ -z $addr ]]; then
    echo "  $impl: server did not start: $(tail -3 "$TMP/server.err")" >&2
    ok=0
  elif ! timeout 300 "$BIN/loadgen" --addr "$addr" --mode "$mode" --conns "$conns" --size "$size" \
    --count "$count" "${extra[@]}" >"$TMP/loadgen.out" 2>"$TMP/loadgen.err"; then
    echo "  $impl: loadgen failed: $(cat "$TMP/loadgen.err")" >&2
    ok=0
  fi
  kill "$SERVER_PID" 2>/dev/null || true # callgrind writes its totals on the way out
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  local sum
  sum=$(sed -n 's/^summary: //p' "$TMP/cg.out" 2>/dev/null | head -1)
  if ((ok)) && [[ -n $sum ]]; then echo "$sum"; else echo FAIL; fi
}

RESULTS=$TMP/results.tsv
: >"$RESULTS"
echo "== instructions per message (callgrind; server only; $(valgrind --version))"
for spec in "${ROWS[@]}"; do
  read -r mode size conns c1 c2 <<<"$spec"
  row="$mode ${size}B x$conns"
  echo "-- $row: $c1 and $c2 messages per connection"
  for impl in "${IMPLS[@]}"; do
    t1=$(total "$impl" "$mode" "$size" "$conns" "$c1")
    t2=$(total "$impl" "$mode" "$size" "$conns" "$c2")
    if [[ $t1 == FAIL || $t2 == FAIL ]]; then
      per=FAIL
    else
      per=$(awk -v a="$t1" -v b="$t2" -v n="$conns" -v c1="$c1" -v c2="$c2" \
        'BEGIN { x = (b - a) / (n * (c2 - c1)); printf "%.0f", (x < 0.5 ? 0 : x) }')
    fi
    printf '%s\t%s\t%s\n' "$row" "$impl" "$per" >>"$RESULTS"
    printf '  %-18s %10s instructions/msg  (totals %s, %s)\n' "$impl" "$per" "$t1" "$t2"
  done
done

echo
echo "== instructions per message, server side (fewer is better; ratio best peer / ours: > 1 means rfc6455 does less)"
awk -F'\t' -v impls="${IMPLS[*]}" -v ours="$OURS" '
  function num(x) { return x != "" && x != "FAIL" }
  BEGIN { n = split(impls, imp, " ") }
  { if (!($1 in seen)) { order[++rows] = $1; seen[$1] = 1 }; v[$1 SUBSEP $2] = $3 }
  END {
    printf "%-22s", "row"
    for (i = 1; i <= n; i++) printf " %16s", imp[i]
    printf "  %9s  %-16s %9s\n", "best/tok", "best peer", "tok/raw"
    min = ""; failed = 0
    for (r = 1; r <= rows; r++) {
      row = order[r]; best = ""; bestname = "-"; o = v[row SUBSEP ours]
      printf "%-22s", row
      for (i = 1; i <= n; i++) {
        x = v[row SUBSEP imp[i]]
        printf " %16s", (x == "" ? "-" : x)
        if (!num(x)) { failed++; continue }
        if (imp[i] ~ /^rfc6455/ || imp[i] == "raw-tcp") continue
        if (best == "" || x + 0 < best + 0) { best = x; bestname = imp[i] }
      }
      ratio = (num(o) && best != "" && o > 0) ? sprintf("%.2f", best / o) : "-"
      raw = v[row SUBSEP "raw-tcp"]
      printf "  %9s  %-16s %9s\n", ratio, bestname, (num(o) && num(raw) && raw > 0) ? sprintf("%.2f", o / raw) : "-"
      if (ratio != "-" && (min == "" || ratio + 0 < min + 0)) { min = ratio; minrow = row }
    }
    printf "min ratio best peer / ours: %s (%s)\n", (min == "" ? "-" : min), minrow
    if (failed) { printf "instructions.sh: %d measurement(s) failed\n", failed; exit 1 }
  }' "$RESULTS"
