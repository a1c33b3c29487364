#!/usr/bin/env bash
# The tiny study under mpirun with 1, 2 and 4 ranks and two batch sizes gives a
# byte-identical metrics.csv.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml"
fail() { echo "FAIL: $*"; exit 1; }
for np in 1 2 4; do
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/np$np" --quiet
done
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/batch" --tokens-per-batch 64 --quiet
head -5 "$tmp/np1/results/metrics.csv"
[ "$(head -1 "$tmp/np1/results/metrics.csv")" = "model,family,checkpoint,step,layer,label_set,metric,value" ] || fail "header"
grep -q ",mean,,optimality," "$tmp/np1/results/metrics.csv" || fail "no mean optimality row"
for other in np2 np4 batch; do
  cmp "$tmp/np1/results/metrics.csv" "$tmp/$other/results/metrics.csv" || fail "metrics.csv of $other differs from np1"
done
echo "tiny_ranks: 1 passed, 0 failed"
