#!/usr/bin/env bash
# Runs the fuzz targets for a while each and reports.
#
#   fuzz/run.sh SECONDS [TARGET...]
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
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
}
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
failed=()
for target in "${targets[@]}"; do
    corpus=$scratch/$target
    rm -rf "$corpus"
    mkdir -p "$corpus"
    if [[ -d seeds/$target ]]; then
        cp seeds/"$target"/* "$corpus"/
    fi
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
    if [[ -f dicts/$target.dict ]]; then
        args+=(-dict="$here/dicts/$target.dict")
    fi
    log=$logs/$target.log
    if cargo +nightly fuzz run "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
    fi
    # libFuzzer's last status line: "#N DONE cov: X ft: Y corp: ... exec/s: ..."
    summary=$(grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 | tr -s '[:space:]' ' ')
    printf '%-28s %-6s %s\n' "$target" "$status" "${summary:-(no libFuzzer stats; see $log)}"
    if [[ $status == FAILED ]]; then
        reason=$(grep -aoE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|panicked at [^ ]+' "$log" | head -n 1 || true)
        artifact=$(grep -aoE '(Test unit|artifact) written to [^ ]+' "$log" | awk '{print $NF}' | tail -n 1 || true)
        echo "    ${reason:-unknown failure}; input: ${artifact:-none saved}; log: $log"
        grep -aE 'panicked at|assertion' "$log" | head -n 3 | sed 's/^/    /' || true
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${seconds}s without failure" >&2
