#!/usr/bin/env bash
# Runs the fuzz targets for a while each and reports.
#
#   fuzz/run.sh [--jobs N] [--resume] SECONDS [TARGET...]
#
# --jobs N runs N targets at once (default 1; each libFuzzer process uses one
# core, so on a machine of N cores N jobs take 1/N of the time).
# --resume goes on from the corpus the last run of each target left (seeds
# added) instead of starting again from the seeds, so two runs of 30 minutes
# reach about as far as one of an hour.
#
# Installs the nightly toolchain and cargo-fuzz if missing, builds every
# target once (release with debug assertions, cargo-fuzz's default), then
# runs each TARGET (all by default) for SECONDS on a scratch copy of its
# seeds (fuzz/seeds/<target>, copied to fuzz/target/run-corpus/<target>, so
# the committed seeds never change), with the dictionary fuzz/dicts/<target>.dict
# if there is one. Prints one line per target with libFuzzer's final stats
# (executions, coverage). Exits non-zero if any target crashed, leaked, timed
# out or ran out of memory, naming the input libFuzzer saved (under
# fuzz/artifacts/<target>/). Full logs: fuzz/target/run-logs/<target>.log.
set -euo pipefail

usage() {
    echo "usage: $0 [--jobs N] [--resume] SECONDS [TARGET...]" >&2
    exit 2
}
jobs=1
if [[ ${1:-} == --jobs ]]; then
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
    jobs=$2
    shift 2
fi
resume=false
if [[ ${1:-} == --resume ]]; then
    resume=true
    shift
fi
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
seconds=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

all_targets=(
    frame_decoder
    server_handshake
    client_handshake
    client_handshake_structured
    extensions
    connection
    inflate
    roundtrip
    proxy_reply
    h2_connect
)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for target in "${targets[@]}"; do
    [[ -f fuzz_targets/$target.rs ]] || {
        echo "unknown target $target (have: ${all_targets[*]})" >&2
        exit 2
    }
done

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

echo "building the fuzz targets" >&2
cargo +nightly fuzz build

scratch=$here/target/run-corpus
logs=$here/target/run-logs
mkdir -p "$logs"

# run_target TARGET: fuzzes it on a scratch copy of its seeds; the exit status says whether it
# failed, and $logs/TARGET.summary gets the lines to print.
run_target() {
    local target=$1 corpus=$scratch/$1 log=$logs/$1.log status summary reason artifact
    $resume || rm -rf "$corpus"
    mkdir -p "$corpus"
    if [[ -d seeds/$target ]]; then
        cp -f seeds/"$target"/* "$corpus"/
    fi
    local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
    if [[ -f dicts/$target.dict ]]; then
        args+=(-dict="$here/dicts/$target.dict")
    fi
    if cargo +nightly fuzz run "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
    fi
    {
        # libFuzzer's last status line: "#N DONE cov: X ft: Y corp: ... exec/s: ..."
        summary=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 | tr -s '[:space:]' ' ')
        printf '%-28s %-6s %s\n' "$target" "$status" "${summary:-(no libFuzzer stats; see $log)}"
        if [[ $status == FAILED ]]; then
            reason=$(grep -aoE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|panicked at [^ ]+' "$log" | head -n 1 || true)
            artifact=$(grep -aoE '(Test unit|artifact) written to [^ ]+' "$log" | awk '{print $NF}' | tail -n 1 || true)
            echo "    ${reason:-unknown failure}; input: ${artifact:-none saved}; log: $log"
            grep -aE 'panicked at|assertion' "$log" | head -n 3 | sed 's/^/    /' || true
        fi
    } >"$logs/$target.summary"
    [[ $status == ok ]]
}

failed=()
declare -A running=() # pid -> target
finish() { # PID STATUS
    local target=${running[$1]}
    cat "$logs/$target.summary"
    (($2 == 0)) || failed+=("$target")
    unset "running[$1]"
}
for target in "${targets[@]}"; do
    while ((${#running[@]} >= jobs)); do
        status=0
        wait -n -p pid "${!running[@]}" || status=$?
        finish "$pid" "$status"
    done
    run_target "$target" &
    running[$!]=$target
done
while ((${#running[@]})); do
    status=0
    wait -n -p pid "${!running[@]}" || status=$?
    finish "$pid" "$status"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
else
    echo "all ${#targets[@]} targets ran ${seconds}s without failure" >&2
fi
echo "$((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
