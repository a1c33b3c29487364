#!/usr/bin/env bash
# storage.assignments, the opt-in per-position output (tiny_float16.yaml: float16;
# otherwise the same study as tiny.yaml):
# - items/<id>/assignments.h5 holds every position's soft assignment of every layer
#   (/layer_NNN/p [positions, m] as 16-bit floats), their label ids and documents, and
#   the default run (storage.assignments: none) writes no such file;
# - the output does not touch the estimate: metrics.csv is byte-identical to the run
#   without it, on 1 and 2 ranks;
# - the run directory of the default run holds no per-position data (a few KB per
#   checkpoint beside the sample's tokens and labels).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir="$IBZOO_SOURCE_DIR/manifests/test"
fail() { echo "FAIL: $*"; exit 1; }

"$IBZOO_BIN" run "$dir/tiny.yaml" --run-dir "$tmp/none" --quiet
"$IBZOO_BIN" run "$dir/tiny_float16.yaml" --run-dir "$tmp/f16" --quiet
mpirun -np 2 --oversubscribe "$IBZOO_BIN" run "$dir/tiny_float16.yaml" --run-dir "$tmp/f16np2" --quiet

[ -z "$(find "$tmp/none" -name 'assignments*.h5')" ] || fail "the default run wrote per-position assignments"
out=$(ls "$tmp"/f16/items/*/assignments.h5 | head -1)
n=$(awk -F, '$5 == 0 && $7 == "n_samples" { print $8; exit }' "$tmp/none/results/metrics.csv")
for layer in 000 001 002; do
  h5ls -v "$out/layer_$layer/p" | grep -q "16-bit little-endian floating-point" || fail "$out: layer $layer's p is not float16"
  h5ls "$out/layer_$layer/p" | grep -q "{$n/Inf, 100}" || fail "$out: layer $layer's p is not [$n, 100]"
done
h5ls "$out/labels" | grep -q "{4, $n}" || fail "$out: /labels is not [4 sets, $n positions]"
h5ls "$out/doc_ids" | grep -q "{$n}" || fail "$out: /doc_ids is not [$n]"

cmp "$tmp/none/results/metrics.csv" "$tmp/f16/results/metrics.csv" || fail "the output changed the estimate"
cmp "$tmp/none/results/metrics.csv" "$tmp/f16np2/results/metrics.csv" || fail "2 ranks differ from 1"
bytes=$(du -sb "$tmp/none/items" | cut -f1)
echo "default run: $bytes bytes under items/ for $n positions; with the output: $(du -sb "$tmp/f16/items" | cut -f1)"
[ "$bytes" -lt 65536 ] || fail "the default run's items hold $bytes bytes: per-position data?"
echo "assignments_output: 1 passed, 0 failed"
