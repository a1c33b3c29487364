#!/usr/bin/env bash
# Fault injection on finished items: one item's state.h5 truncated, another's with one
# byte flipped (a silent corruption HDF5 itself cannot see), a third one's DONE marker
# deleted. The rerun names each damaged file, recomputes exactly those three items
# (every other DONE marker keeps its mtime and content) and gives a metrics.csv
# byte-identical to the uninterrupted run.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
items="$tmp/run/items"

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --quiet
cp "$tmp/run/results/metrics.csv" "$tmp/metrics.ref.csv"
n_items=$(grep -c '"id"' "$tmp/run/plan.json")
mapfile -t ids < <(ls "$items")
[ "${#ids[@]}" -eq "$n_items" ] || fail "expected $n_items item directories"
truncated=${ids[1]} flipped=${ids[4]} unmarked=${ids[7]}

truncate -s 4096 "$items/$truncated/state.h5"
offset=$(($(stat -c %s "$items/$flipped/state.h5") / 2))
byte=$(od -An -tu1 -j "$offset" -N1 "$items/$flipped/state.h5" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$items/$flipped/state.h5" bs=1 seek="$offset" conv=notrunc status=none
rm "$items/$unmarked/DONE"

snapshot() {
  find "$items" -name DONE -printf '%p %T@\n' | sort >"$tmp/.mtimes"
  find "$items" -name DONE -exec sha256sum {} + | awk '{print $2, $1}' | sort | join "$tmp/.mtimes" -
}
snapshot >"$tmp/before"
sleep 0.01

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "rerun failed"; }
cat "$tmp/log"
grep -q "warning: $items/$truncated/state.h5: checksum differs from the one in DONE (truncated or corrupted); recomputing item $truncated" "$tmp/log" ||
  fail "no warning naming the truncated state.h5"
grep -q "warning: $items/$flipped/state.h5: checksum differs from the one in DONE (truncated or corrupted); recomputing item $flipped" "$tmp/log" ||
  fail "no warning naming the bit-flipped state.h5"
grep -q "accumulate: 3 items to compute, $((n_items - 3)) already done" "$tmp/log" || fail "the rerun did not compute exactly 3 items"

snapshot >"$tmp/after"
# Markers that changed (or appeared) are exactly the three damaged items.
comm -13 "$tmp/before" "$tmp/after" | awk '{print $1}' | xargs -n1 dirname | xargs -n1 basename | sort >"$tmp/changed"
printf '%s\n' "$truncated" "$flipped" "$unmarked" | sort >"$tmp/expected"
diff "$tmp/expected" "$tmp/changed" || fail "the recomputed items are not exactly the damaged ones"
cmp "$tmp/metrics.ref.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs after recomputing the damaged items"
echo "fault_corrupt_item: 1 passed, 0 failed"
