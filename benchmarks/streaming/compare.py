#!/usr/bin/env python3
"""Every per-layer entropy, mutual information and null MI of ibzoo's metrics.csv against
the peer's peer.csv (benchmarks/streaming/peer.py): prints the number of values compared
and the largest absolute difference, and exits 1 when one exceeds --tolerance.

  compare.py IBZOO_METRICS_CSV PEER_CSV [--tolerance 1e-4]
"""
import argparse
import csv
import sys


def read_ibzoo(path):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("scope", "layer") != "layer" or r["metric"] not in ("entropy", "mutual_information",
                                                                        "null_mutual_information"):
                continue
            label = "" if r["label_set"] in ("", "none") else r["label_set"]
            out[(r["checkpoint"], int(r["layer"]), label, r["metric"])] = float(r["value"])
    return out


def read_peer(path):
    with open(path, newline="") as f:
        return {(r["checkpoint"], int(r["layer"]), r["label_set"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ibzoo")
    ap.add_argument("peer")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    a = ap.parse_args()
    ours, peer = read_ibzoo(a.ibzoo), read_peer(a.peer)
    keys = sorted(set(ours) & set(peer))
    missing = sorted(set(peer) - set(ours))
    if missing or not keys:
        print(f"compare: {len(missing)} peer values without an ibzoo value, e.g. {missing[:3]}")
        sys.exit(1)
    worst = max(keys, key=lambda k: abs(ours[k] - peer[k]))
    by_metric = {}
    for k in keys:
        by_metric[k[3]] = max(by_metric.get(k[3], 0.0), abs(ours[k] - peer[k]))
    diff = abs(ours[worst] - peer[worst])
    print(f"COMPARE values={len(keys)} max_abs_diff={diff:.3e} at {worst} (ibzoo {ours[worst]:.6f}, peer {peer[worst]:.6f}); "
          + ", ".join(f"{m} {v:.2e}" for m, v in sorted(by_metric.items())))
    sys.exit(0 if diff <= a.tolerance else 1)


if __name__ == "__main__":
    main()
