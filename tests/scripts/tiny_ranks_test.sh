#!/usr/bin/env bash
# The tiny study under mpirun with 1, 2 and 4 ranks (one checkpoint: the ranks share it
# as a team) and with two other batch sizes gives a byte-identical metrics.csv: the
# estimator's sums are exact integers, and on the CPU every sequence's forward pass is
# the same whatever batch it is in (docs/RUN_LAYOUT.md, docs/ESTIMATOR.md).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml"
fail() { echo "FAIL: $*"; exit 1; }
for np in 1 2 4; do
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/np$np" --quiet
done
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/batch" --tokens-per-batch 64 --quiet
mpirun -np 2 --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/batch2" --tokens-per-batch 4096 >"$tmp/batch2.log" 2>&1 ||
  { cat "$tmp/batch2.log"; fail "2 ranks with 4096 tokens per batch failed"; }
# Rank 0 writes the label pass's files once, before the other ranks read them.
[ "$(grep -c "written to the run directory" "$tmp/batch2.log")" = 1 ] || { cat "$tmp/batch2.log"; fail "the label files were not written exactly once"; }
head -5 "$tmp/np1/results/metrics.csv"
[ "$(head -1 "$tmp/np1/results/metrics.csv")" = "model,family,checkpoint,step,layer,label_set,metric,value,scope" ] || fail "header"
grep -q ",-1,none,optimality,.*,layer_mean$" "$tmp/np1/results/metrics.csv" || fail "no mean optimality row"
grep -q '"team_size": 4' "$tmp"/np4/items/*/provenance.json || fail "the 4 ranks did not share the checkpoint"
for other in np2 np4; do
  cmp "$tmp/np1/results/metrics.csv" "$tmp/$other/results/metrics.csv" || fail "metrics.csv of $other differs from np1"
done
for other in batch batch2; do
  cmp "$tmp/np1/results/metrics.csv" "$tmp/$other/results/metrics.csv" || fail "metrics.csv with another batch size ($other) differs"
done
# Ranks whose CPU kernels would round differently (docs/ESTIMATOR.md, "CPU kernels"; here
# one is forced to the baseline build) stop before they compute anything.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  if mpirun --oversubscribe -np 1 -x IBZOO_CPU_KERNEL=baseline "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/mixed" --quiet : \
       -np 1 "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/mixed" --quiet >"$tmp/mixed.log" 2>&1; then
    fail "ranks on different CPU kernels ran"
  fi
  grep -q "runs the baseline CPU kernel and another rank of this job a different one" "$tmp/mixed.log" ||
    { cat "$tmp/mixed.log"; fail "no error naming the ranks' CPU kernels"; }
  [ -z "$(find "$tmp/mixed/items" -name DONE 2>/dev/null)" ] || fail "an item was computed on mixed CPU kernels"
  grep -q '"cpu_kernel": "avx2+fma"' "$tmp"/np1/items/*/provenance.json || fail "provenance does not name the CPU kernel"
fi
echo "tiny_ranks: 1 passed, 0 failed"
