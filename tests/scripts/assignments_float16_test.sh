#!/usr/bin/env bash
# storage.assignments: float16 (tiny_float16.yaml, otherwise tiny.yaml):
# - state.h5 stores /layer_NNN/p as 16-bit floats, and the item states take about
#   half the bytes;
# - 1 and 2 ranks give a byte-identical metrics.csv (the half rounding is exact and
#   the same everywhere);
# - against the float32 run, every metric agrees within 1e-5 absolute (entropies and
#   informations, in nats) or 1e-4 relative (ratios). Measured when this was written:
#   at most 3.9e-7 absolute for the informations, 6.5e-6 relative for optimality. The
#   worst case of half rounding (2^-11 relative per value) would be ~1e-3 per entropy,
#   but the rounding errors of many positions average out in the label means.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir="$IBZOO_SOURCE_DIR/manifests/test"
fail() { echo "FAIL: $*"; exit 1; }

"$IBZOO_BIN" run "$dir/tiny.yaml" --run-dir "$tmp/f32" --quiet
"$IBZOO_BIN" run "$dir/tiny_float16.yaml" --run-dir "$tmp/f16" --quiet
mpirun -np 2 --oversubscribe "$IBZOO_BIN" run "$dir/tiny_float16.yaml" --run-dir "$tmp/f16np2" --quiet

state=$(ls "$tmp"/f16/items/*/state.h5 | head -1)
h5ls -v "$state/layer_000/p" | grep -q "16-bit little-endian floating-point" || fail "$state: p is not stored as float16"
state32=$(ls "$tmp"/f32/items/*/state.h5 | head -1)
h5ls -v "$state32/layer_000/p" | grep -q "native float" || fail "$state32: p is not stored as float32"
bytes() { du -sb "$1/items" | cut -f1; }
b32=$(bytes "$tmp/f32"); b16=$(bytes "$tmp/f16")
echo "item bytes: float32 $b32, float16 $b16"
[ "$b16" -lt $((b32 * 6 / 10)) ] || fail "float16 items are $b16 bytes, float32 $b32: expected about half"

cmp "$tmp/f16/results/metrics.csv" "$tmp/f16np2/results/metrics.csv" || fail "float16: 2 ranks differ from 1"
paste -d, "$tmp/f32/results/metrics.csv" "$tmp/f16/results/metrics.csv" | awk -F, '
  NR == 1 { next }
  {
    for (i = 1; i <= 9; ++i) if (i != 8 && $i != $(i + 9)) { print "row " NR ": keys differ"; bad = 1 }
    a = $8; b = $17; d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a)
    ratio = ($7 ~ /optimality/)
    err = ratio ? (m > 0 ? d / m : d) : d
    if (err > worst[ratio]) worst[ratio] = err
    if (err > (ratio ? 1e-4 : 1e-5)) { print "row " NR " (" $5 "," $6 "," $7 "): " a " vs " b; bad = 1 }
  }
  END { printf "largest difference: %.2e absolute (entropies, informations), %.2e relative (ratios)\n", worst[0], worst[1]; exit bad }' ||
  fail "float16 metrics differ from float32 by more than the tolerance"
echo "assignments_float16: 1 passed, 0 failed"
