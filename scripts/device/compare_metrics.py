#!/usr/bin/env python3
"""Compares two results/metrics.csv value by value, on the rows both have (a row is keyed
by every column but `value`; docs/RUN_LAYOUT.md). Prints one line: `NAME: identical on all
N shared values`, or how many differ, the largest absolute and relative difference and
its row, and the first row that differs; rows that only one file has are counted. Used by
gpu_determinism.sh and multigpu_scaling.sh. Standard library only; exits 0 either way.
  python3 scripts/device/compare_metrics.py A B NAME
"""
import csv
import math
import sys


def rows(path):
    table = list(csv.reader(open(path, newline="")))
    i = table[0].index("value")
    return {tuple(x[:i] + x[i + 1:]): x[i] for x in table[1:]}


def gap(u, v):
    u, v = float(u), float(v)
    if math.isnan(u) or math.isnan(v):
        return 0.0 if math.isnan(u) and math.isnan(v) else math.inf
    return abs(u - v)


def main():
    a, b, name = rows(sys.argv[1]), rows(sys.argv[2]), sys.argv[3]
    shared = [k for k in a if k in b]
    only = len(a) + len(b) - 2 * len(shared)
    tail = f"; {only} rows in one file only" if only else ""
    diff = [k for k in shared if a[k] != b[k]]
    if not diff:
        print(f"{name}: identical on all {len(shared)} shared values{tail}")
        return
    worst = max(diff, key=lambda k: gap(a[k], b[k]))
    largest = gap(a[worst], b[worst])
    relative = max(gap(a[k], b[k]) / max(abs(float(a[k])), 1e-300) for k in diff)
    print(f"{name}: {len(diff)} of {len(shared)} shared values differ; largest {largest:.3e} absolute at {worst} "
          f"({relative:.3e} relative at most); first {diff[0]}: {a[diff[0]]} vs {b[diff[0]]}{tail}")


if __name__ == "__main__":
    main()
