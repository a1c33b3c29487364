#!/usr/bin/env bash
# storage.layout: per_checkpoint (tiny_reps.yaml: layer 1, float32), under mpirun with 2
# and 4 ranks:
# - the extract stage writes each item's rows to items/<id>/reps.h5;
# - the reduce stage packs them, all ranks writing collectively, into
#   reps/<model>/<checkpoint>.h5, and removes the per-item files;
# - the packed /layer_001, dumped as raw bytes by HDF5's own h5dump, is the per-item
#   files' bytes concatenated in plan order; /item_offsets holds the running row counts;
# - a second reduce leaves the packed file alone.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_reps.yaml"
fail() { echo "FAIL: $*"; exit 1; }

for np in 2 4; do
  run="$tmp/np$np"
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$run" --stage extract --quiet
  ids=$(python3 -c "import json,sys; print(' '.join(i['id'] for i in json.load(open(sys.argv[1]))['items']))" "$run/plan.json")
  : >"$tmp/expected.bin"
  offsets="0"
  total=0
  for id in $ids; do
    item="$run/items/$id/reps.h5"
    [ -f "$item" ] || fail "extract wrote no $item"
    h5dump -d /layer_001 -b LE -o "$tmp/item.bin" "$item" >/dev/null
    cat "$tmp/item.bin" >>"$tmp/expected.bin"
    rows=$(h5ls "$item/layer_001" | sed -n 's/.*Dataset {\([0-9]*\)\/.*/\1/p')
    total=$((total + rows))
    offsets="$offsets $total"
  done
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$run" --stage reduce --quiet
  packed="$run/reps/tiny-gpt2/final.h5"
  [ -f "$packed" ] || fail "np$np: no packed file $packed"
  ! ls "$run"/items/*/reps.h5 >/dev/null 2>&1 || fail "np$np: per-item reps.h5 files left after packing"
  h5dump -d /layer_001 -b LE -o "$tmp/packed.bin" "$packed" >/dev/null
  cmp "$tmp/expected.bin" "$tmp/packed.bin" || fail "np$np: packed rows differ from the items' rows in plan order"
  got=$(h5dump -d /item_offsets -y -w 0 "$packed" | tr -d ' \n' | sed -n 's/.*DATA{\([0-9,]*\)}.*/\1/p' | tr ',' ' ')
  [ "$got" = "$offsets" ] || fail "np$np: /item_offsets is '$got', expected '$offsets'"
  before=$(stat -c '%i %Y' "$packed")
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$run" --stage reduce --quiet
  [ "$(stat -c '%i %Y' "$packed")" = "$before" ] || fail "np$np: the second reduce rewrote the packed file"
  echo "np$np: $(echo $ids | wc -w) items, $total rows packed into $packed"
done
echo "reps_per_checkpoint: 1 passed, 0 failed"
