#!/usr/bin/env python3
"""Summarises the peer benchmarks from criterion's results.

Reads benches/target/criterion/**/new/{benchmark,estimates}.json (written by
`cargo bench` in benches/peers) and prints one table: a row per criterion
group (group/size/mode), the median throughput (time, for handshakes) of
each implementation, and rfc6455's ratio to each peer and to the best peer.
A ratio is our throughput divided by theirs (their time over ours, for the
same bytes): above 1 means rfc6455 is faster. Mask rows also show our ratio
to a plain memcpy of the same bytes.

Usage: report.py [--since EPOCH_SECONDS] [--dir CRITERION_DIR]
  --since  ignore results older than this (e.g. left from an earlier run)
"""

import argparse
import json
import os
import sys

OURS = "rfc6455"
PEERS = ["tungstenite", "fastwebsockets", "tokio-websockets"]
GROUP_ORDER = ["receive", "send", "mask", "handshake"]
SIZE_ORDER = ["16B", "1KiB", "64KiB", "1MiB"]
MODE_ORDER = ["one_buffer", "4KiB_chunks", "server_unmasked", "client_masked"]


def load(root, since):
    """Returns {group_id: {implementation: (median_ns, bytes_or_None)}}."""
    rows = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files or "estimates.json" not in files:
            continue
        estimates_path = os.path.join(dirpath, "estimates.json")
        if since is not None and os.path.getmtime(estimates_path) < since:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(estimates_path) as f:
            estimates = json.load(f)
        group = bench.get("group_id")
        function = bench.get("function_id")
        if not group or not function:
            continue
        # Function ids are the implementation, or implementation_function
        # (mask rows: rfc6455_apply_mask, fastwebsockets_unmask, memcpy).
        implementation = function.split("_")[0]
        throughput = bench.get("throughput") or {}
        nbytes = throughput.get("Bytes") or throughput.get("BytesDecimal")
        rows.setdefault(group, {})[implementation] = (estimates["median"]["point_estimate"], nbytes)
    return rows


def sort_key(group):
    parts = group.split("/")

    def index(order, value):
        return order.index(value) if value in order else len(order)

    return (
        index(GROUP_ORDER, parts[0]),
        index(SIZE_ORDER, parts[1]) if len(parts) > 1 else -1,
        index(MODE_ORDER, parts[2]) if len(parts) > 2 else -1,
        group,
    )


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


def fmt_rate(ns, nbytes):
    per_second = nbytes / (ns * 1e-9)
    for unit, scale in (("GiB/s", 1 << 30), ("MiB/s", 1 << 20), ("KiB/s", 1 << 10)):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {unit}"
    return f"{per_second:.0f} B/s"


def fmt_cell(group, sample):
    if sample is None:
        return "-"
    ns, nbytes = sample
    if group.startswith("handshake") or not nbytes:
        return fmt_time(ns)
    return fmt_rate(ns, nbytes)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", type=float, default=None)
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(here), "target", "criterion"))
    args = parser.parse_args()

    rows = load(args.dir, args.since)
    if not rows:
        print(f"no criterion results under {args.dir}", file=sys.stderr)
        return 1

    columns = [OURS] + PEERS + ["memcpy"]
    header = ["row"] + columns + [f"vs {p}" for p in PEERS] + ["vs best peer", "vs memcpy"]
    table = []
    worst = None  # (ratio, row)
    for group in sorted(rows, key=sort_key):
        results = rows[group]
        ours = results.get(OURS)
        line = [group] + [fmt_cell(group, results.get(c)) for c in columns]
        ratios = []
        for peer in PEERS + ["memcpy"]:
            theirs = results.get(peer)
            ratios.append(theirs[0] / ours[0] if ours and theirs else None)
        peer_ratios = [r for r in ratios[:-1] if r is not None]
        best = min(peer_ratios) if peer_ratios else None
        if best is not None and (worst is None or best < worst[0]):
            worst = (best, group)
        cells = ratios[:-1] + [best, ratios[-1]]
        line += ["-" if r is None else f"{r:.2f}x" for r in cells]
        table.append(line)

    widths = [max(len(row[i]) for row in [header] + table) for i in range(len(header))]
    # Drop the memcpy columns when no mask row was run.
    keep = [i for i in range(len(header)) if any(row[i] != "-" for row in table)]

    def render(row):
        return "  ".join(row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in keep)

    print(render(header))
    print(render(["-" * w for w in widths]))
    for row in table:
        print(render(row))
    print()
    print("ratio = rfc6455 throughput / peer throughput (peer time / rfc6455 time): >1 means rfc6455 is faster;")
    print("cells are criterion medians; handshake cells are time per handshake.")
    if worst is None:
        print("min micro ratio vs best peer: n/a (no row has both rfc6455 and a peer)")
    else:
        print(f"min micro ratio vs best peer: {worst[0]:.2f} ({worst[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
