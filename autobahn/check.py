#!/usr/bin/env python3
"""Judges Autobahn|Testsuite reports; exits non-zero unless every expected case passed.

    check.py --expect N --run NAME REPORTDIR AGENT [--run NAME REPORTDIR AGENT ...]
             [--expect-for NAME N ...] [--quiet]

REPORTDIR is a wstest `outdir`; its index.json maps agent -> case id -> result. AGENT `-` means
"the only agent in the report". wstest exits 0 even when cases fail, and even when it never reached
the testee (index.json is then `{}` or missing), so this script is what decides. Every run must
have N cases, or the number --expect-for gives for it.

A case passes when its `behavior` and its `behaviorClose` are both OK or INFORMATIONAL (wstest
marks 7.1.6, 7.13.1 and 7.13.2 INFORMATIONAL for everyone). FAILED, WRONG CODE, UNCLEAN,
NON-STRICT and UNIMPLEMENTED fail.
A case the report lacks counts as failed.

Prints a per-section table, every failing case, and as its last line `N passed, N failed`.
Python 3 standard library only.
"""

import argparse
import json
import os
import sys

PASSING = {"OK", "INFORMATIONAL"}

# Table columns: heading and the behaviour counted in it. FAIL counts everything else: FAILED,
# WRONG CODE, UNCLEAN, any unknown value, and every case whose closing behaviour failed (such as
# FAILED BY CLIENT: the client, not the server, dropped the TCP connection).
COLUMNS = [("OK", "OK"), ("INFO", "INFORMATIONAL"), ("NS", "NON-STRICT"),
           ("UNIMP", "UNIMPLEMENTED"), ("FAIL", None)]
SECTIONS = range(1, 14)


def case_key(case_id):
    """Sorts "2.10" after "2.9"."""
    return tuple(int(part) if part.isdigit() else 0 for part in case_id.split("."))


def section_of(case_id):
    head = case_id.split(".")[0]
    return int(head) if head.isdigit() else 0


def case_passes(case_id, behavior, behavior_close):
    """True when the case counts as passed (see the module docstring)."""
    return behavior in PASSING and behavior_close in PASSING


def column_of(behavior, behavior_close):
    """The table column of a case; None for FAIL."""
    if behavior_close in PASSING and behavior in ("OK", "INFORMATIONAL", "NON-STRICT",
                                                   "UNIMPLEMENTED"):
        return behavior
    return None


class Run:
    """One wstest run: a report directory and the agent whose results we judge."""

    def __init__(self, name, report_dir, agent):
        self.name, self.report_dir, self.agent = name, report_dir, agent
        self.cases = {}  # case id -> result dict
        self.errors = []
        self.failing = []  # (case id, behavior, behaviorClose, report path)
        self.passed = 0
        self.counts = {}  # (section, column) -> count

    def load(self, expect):
        index = os.path.join(self.report_dir, "index.json")
        try:
            with open(index, encoding="utf-8") as f:
                results = json.load(f)
        except FileNotFoundError:
            self.errors.append("%s is missing: wstest wrote no report" % index)
            results = {}
        except (OSError, ValueError) as e:
            self.errors.append("cannot read %s: %s" % (index, e))
            results = {}
        if not isinstance(results, dict):
            self.errors.append("%s is not a JSON object" % index)
            results = {}
        if self.agent == "-":
            if len(results) == 1:
                self.agent = next(iter(results))
            elif results:
                self.errors.append("%s has several agents (%s); name one"
                                   % (index, ", ".join(sorted(results))))
        if self.agent in results:
            self.cases = results[self.agent]
        elif not self.errors:
            self.errors.append("%s has no results for agent %r (found: %s); did wstest reach the "
                               "testee?" % (index, self.agent, ", ".join(sorted(results)) or "none"))
        if self.cases and len(self.cases) != expect:
            self.errors.append("expected %d cases, the report has %d" % (expect, len(self.cases)))

    def judge(self):
        for case_id in sorted(self.cases, key=case_key):
            result = self.cases[case_id]
            behavior = result.get("behavior", "?")
            behavior_close = result.get("behaviorClose", "?")
            column = column_of(behavior, behavior_close)
            key = (section_of(case_id), column)
            self.counts[key] = self.counts.get(key, 0) + 1
            if case_passes(case_id, behavior, behavior_close):
                self.passed += 1
            else:
                self.failing.append((case_id, behavior, behavior_close, self.report_of(result)))

    def report_of(self, result):
        name = result.get("reportfile")
        if not name:
            return "(no report file)"
        path = os.path.join(self.report_dir, name)
        html = os.path.splitext(path)[0] + ".html"
        return html if os.path.exists(html) else path

    def failed(self, expect):
        missing = max(expect - len(self.cases), 0)
        return len(self.failing) + missing


def print_table(runs):
    width = 6 * len(COLUMNS)
    sections = sorted(set(SECTIONS) | {s for run in runs for (s, _) in run.counts})
    print(("section " + "".join("| %-*s" % (width, run.name) for run in runs)).rstrip())
    print(("        " + "".join("| " + "".join("%5s " % h for h, _ in COLUMNS) for _ in runs)).rstrip())
    rows = [(str(s), [s]) for s in sections] + [("all", sections)]
    for label, wanted in rows:
        if label == "all":
            print("-" * (8 + (width + 2) * len(runs)))
        cells = []
        for run in runs:
            cells.append("| " + "".join(
                "%5d " % sum(run.counts.get((s, b), 0) for s in wanted) for _, b in COLUMNS))
        print(("%-8s" % label + "".join(cells)).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expect", type=int, required=True, metavar="N",
                        help="number of cases every run must have (517 for all cases)")
    parser.add_argument("--run", nargs=3, action="append", required=True,
                        metavar=("NAME", "REPORTDIR", "AGENT"), help="a run to judge")
    parser.add_argument("--expect-for", nargs=2, action="append", default=[],
                        metavar=("NAME", "N"), help="the number of cases of run NAME, if not N")
    parser.add_argument("--quiet", action="store_true", help="no table, only problems and totals")
    args = parser.parse_args()

    runs = [Run(*spec) for spec in args.run]
    expect = {run.name: args.expect for run in runs}
    for name, count in args.expect_for:
        if name not in expect:
            parser.error("--expect-for names no run: %s" % name)
        try:
            expect[name] = int(count)
        except ValueError:
            parser.error("--expect-for %s: not a number: %s" % (name, count))
    for run in runs:
        run.load(expect[run.name])
        run.judge()

    if not args.quiet:
        print_table(runs)
        print()
        for run in runs:
            print("%s: agent %s, %d of %d cases, %d passed, %d failed  (%s)" % (
                run.name, run.agent, len(run.cases), expect[run.name], run.passed,
                run.failed(expect[run.name]), os.path.join(run.report_dir, "index.html")))

    failing = [(run, case) for run in runs for case in run.failing]
    if failing:
        print("\nfailing cases:")
        for run, (case_id, behavior, behavior_close, report) in failing:
            print("  %-16s %-8s behavior %-13s behaviorClose %-16s %s" % (
                run.name, case_id, behavior, behavior_close, report))
    errors = [(run, e) for run in runs for e in run.errors]
    if errors:
        print()
        for run, error in errors:
            print("error: %s: %s" % (run.name, error))

    passed = sum(run.passed for run in runs)
    failed = sum(run.failed(expect[run.name]) for run in runs)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
