#!/usr/bin/env bash
# storage.representations, the opt-in layer dump (tiny_reps.yaml: layer 1, float32,
# layout per_checkpoint), under mpirun with 2 ranks:
# - reps/<model>/<checkpoint>.h5 holds /layer_001 [tokens, d] for every token of the
#   sample, /doc_ids and /doc_offsets saying which rows are which document's, and the
#   row count equals the sample's token count (tokens/<text_id>.h5);
# - layout per_item puts the same bytes (h5dump -b) at items/<id>/reps.h5, and without
#   storage.layers (all) it stores every estimated layer;
# - the dump does not touch the estimate: metrics.csv equals the run without it (the
#   host and device paths are the same arithmetic on a CPU model).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir="$IBZOO_SOURCE_DIR/manifests/test"
manifest="$dir/tiny_reps.yaml"
fail() { echo "FAIL: $*"; exit 1; }

mpirun -np 2 --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/pc" --quiet
reps="$tmp/pc/reps/tiny-gpt2/final.h5"
[ -f "$reps" ] || fail "no $reps"
tokens=$(h5ls "$(ls "$tmp"/pc/tokens/*.h5 | head -1)/tokens" | sed -n 's/.*Dataset {\([0-9]*\).*/\1/p')
rows=$(h5ls "$reps/layer_001" | sed -n 's/.*Dataset {\([0-9]*\)\/.*/\1/p')
[ "$rows" = "$tokens" ] || fail "$reps has $rows rows, the sample $tokens tokens"
h5ls "$reps/layer_001" | grep -q "{$rows/Inf, 32}" || fail "/layer_001 is not [$rows, 32]"
docs=$(h5ls "$reps/doc_ids" | sed -n 's/.*Dataset {\([0-9]*\)}.*/\1/p')
last=$(h5dump -d /doc_offsets -y -w 0 "$reps" | tr -d ' \n' | sed -n 's/.*DATA{\([0-9,]*\)}.*/\1/p' | tr ',' '\n' | tail -1)
[ "$last" = "$rows" ] || fail "/doc_offsets ends at $last, not at the $rows rows"
[ -n "$docs" ] && [ "$docs" -gt 1 ] || fail "/doc_ids has no documents"

# layout per_item, and the default layers (all): every estimated layer is stored.
sed -e 's/layout: per_checkpoint/layout: per_item/' -e '/^  layers: \[1\]$/d' "$manifest" >"$dir/.tiny_reps_per_item.$$.yaml"
trap 'rm -rf "$tmp" "$dir/.tiny_reps_per_item.$$.yaml"' EXIT
"$IBZOO_BIN" run "$dir/.tiny_reps_per_item.$$.yaml" --run-dir "$tmp/pi" --quiet
for l in 000 001 002; do
  h5ls "$(ls "$tmp"/pi/items/*/reps.h5 | head -1)/layer_$l" | grep -q Dataset || fail "storage.layers all: no /layer_$l"
done
item=$(ls "$tmp"/pi/items/*/reps.h5 | head -1)
h5dump -d /layer_001 -b LE -o "$tmp/a.bin" "$reps" >/dev/null
h5dump -d /layer_001 -b LE -o "$tmp/b.bin" "$item" >/dev/null
cmp "$tmp/a.bin" "$tmp/b.bin" || fail "per_item and per_checkpoint rows differ"

sed '/^storage:/,$d' "$manifest" >"$dir/.tiny_reps_none.$$.yaml"
trap 'rm -rf "$tmp" "$dir/.tiny_reps_per_item.$$.yaml" "$dir/.tiny_reps_none.$$.yaml"' EXIT
"$IBZOO_BIN" run "$dir/.tiny_reps_none.$$.yaml" --run-dir "$tmp/none" --quiet
cmp "$tmp/none/results/metrics.csv" "$tmp/pc/results/metrics.csv" || fail "the dump changed the estimate"
echo "representations: $rows rows of $docs documents; 1 passed, 0 failed"
