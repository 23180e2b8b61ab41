#!/usr/bin/env bash
# Runs the peer micro-benchmarks (criterion) and prints the summary table.
#
#   benches/peers/run.sh            all rows, criterion's default timing (~15 min)
#   benches/peers/run.sh --quick    a subset (16B and 64KiB messages, 64 KiB
#                                   masks, handshakes) with short timing: under
#                                   a minute on 2 cores once built
#   benches/peers/run.sh --smoke    each benchmark once, unmeasured (criterion's --test):
#                                   proves they run (CI, through ../compare.sh --smoke)
#
# Extra arguments go to criterion (e.g. a filter regex: `run.sh '^handshake/'`).
set -euo pipefail
cd "$(dirname "$0")"

quick=0
case "${1:-}" in
    --quick)
        quick=1
        shift
        ;;
    --smoke)
        shift
        # The release profile and the whole workspace, like compare.sh's build, whose dependencies
        # this reuses (its CARGO_PROFILE_RELEASE_* settings included).
        cargo bench --locked --workspace --profile release --bench peers -- --test "$@"
        exit
        ;;
esac

start=$(date +%s)
if ((quick)); then
    filter='^(receive/(16B|64KiB)/|send/(16B|64KiB)/|mask/64KiB/|handshake/)'
    if (($# > 0)); then
        filter="$1"
        shift
    fi
    cargo bench --locked --bench peers -- --noplot --warm-up-time 0.3 --measurement-time 0.8 --nresamples 10000 "$filter" "$@"
else
    cargo bench --locked --bench peers -- --noplot "$@"
fi

echo
python3 report.py --since "$start"
