#!/usr/bin/env bash
# Dynamic assignment under real mpirun (docs/SCALE.md, "Assignment of items to ranks"):
# the rank with the first item (checkpoint) of the tiny-checkpoints study holds it until
# the next item is claimed (IBZOO_TEST_ITEM_HOLD), so another rank must finish its slice
# and steal from the end of the held rank's slice, however loaded the machine. On 2 and 4
# ranks, and with two Slurm-style --slice runs at once, checks that (1) every item is
# computed exactly once (log lines, DONE markers, claim files), (2) stealing happened,
# (3) metrics.csv is byte-identical to a 1-rank run, (4) a rerun with claims of an
# earlier attempt on disk recomputes exactly the unfinished items.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
opts=(--tokens-per-batch 64)
delay_ms=4000

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/np1" "${opts[@]}" --quiet
ids=$(grep -o '"id": "[0-9a-f]*"' "$tmp/np1/plan.json" | cut -d'"' -f4)
n_items=$(echo "$ids" | wc -l)
[ "$n_items" -ge 8 ] || fail "the tiny-checkpoints study has only $n_items items"

# Every item has exactly one "item <id> (...): N positions" line across the given logs.
check_once() {
  for id in $ids; do
    n=$(cat "$@" | grep -c "item $id (.*positions in" || true)
    [ "$n" -eq 1 ] || fail "item $id computed $n times (logs: $*)"
  done
}
n_files() { (find "$1" -type f 2>/dev/null || true) | wc -l; }

run_np() {  # ranks, run dir name, holds, delays
  IBZOO_TEST_ITEM_HOLD="$3" IBZOO_TEST_ITEM_DELAY_MS="$4" mpirun -np "$1" --oversubscribe \
    -x IBZOO_TEST_ITEM_HOLD -x IBZOO_TEST_ITEM_DELAY_MS \
    "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/$2" "${opts[@]}" >"$tmp/$2.log" 2>&1 ||
    { cat "$tmp/$2.log"; fail "mpirun -np $1 failed"; }
}

# 2 and 4 ranks: rank 0 holds its first item (plan index 0) until plan item 1, in its own
# slice, is stolen; with 4 ranks the last rank's last item is slow too.
run_np 2 np2 0:1 ""
run_np 4 np4 0:1 "$((n_items - 1)):$delay_ms"
for np in np2 np4; do
  check_once "$tmp/$np.log"
  [ "$(find "$tmp/$np/items" -name DONE | wc -l)" -eq "$n_items" ] || fail "$np: not every item has a DONE marker"
  [ "$(ls "$tmp/$np/claims" | wc -l)" -eq 1 ] || fail "$np: expected one claim attempt directory"
  [ "$(n_files "$tmp/$np/claims")" -eq "$n_items" ] || fail "$np: expected $n_items claim files"
  grep -q "accumulate: stealing item .* from the end of rank 0's slice" "$tmp/$np.log" ||
    { cat "$tmp/$np.log"; fail "$np: no rank stole from the slow rank 0"; }
  grep -qE "accumulate: stole [0-9]+ item\(s\) from other ranks' slices \([0-9]+ from rank 0" "$tmp/$np.log" ||
    fail "$np: no steal summary"
  cmp "$tmp/np1/results/metrics.csv" "$tmp/$np/results/metrics.csv" || fail "$np: metrics.csv differs from 1 rank"
  echo "$np: $(grep -c 'accumulate: stealing item' "$tmp/$np.log") item(s) stolen"
done

# Two array slices at once, 2 ranks each, in one run directory: neither removes the
# other's claims, every item is computed once, the metrics stage gives the same metrics.
# Each slice's first rank holds its first item until the second is stolen.
IBZOO_TEST_ITEM_HOLD="0:1" mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_HOLD \
  "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/sl" --stage accumulate --slice 0/2 "${opts[@]}" >"$tmp/sl0.log" 2>&1 &
pid0=$!
IBZOO_TEST_ITEM_HOLD="$((n_items / 2)):$((n_items / 2 + 1))" mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_HOLD \
  "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/sl" --stage accumulate --slice 1/2 "${opts[@]}" >"$tmp/sl1.log" 2>&1 ||
  { cat "$tmp/sl1.log"; fail "slice 1/2 failed"; }
wait "$pid0" || { cat "$tmp/sl0.log"; fail "slice 0/2 failed"; }
check_once "$tmp/sl0.log" "$tmp/sl1.log"
ls "$tmp/sl/claims" | grep -q '^slice0of2\.' || fail "slice 0/2's claims are gone"
ls "$tmp/sl/claims" | grep -q '^slice1of2\.' || fail "slice 1/2's claims are gone"
for k in 0 1; do
  grep -q "accumulate: stealing item" "$tmp/sl$k.log" || { cat "$tmp/sl$k.log"; fail "no stealing within slice $k/2"; }
done
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/sl" --stage metrics --quiet
cmp "$tmp/np1/results/metrics.csv" "$tmp/sl/results/metrics.csv" || fail "slices: metrics.csv differs from 1 rank"

# Rerun after losing 3 items: the earlier attempt claimed every item, yet its claims
# do not block; it is removed; exactly the 3 items are recomputed.
old_attempt=$(ls "$tmp/np2/claims")
for id in $(echo "$ids" | sed -n '2p;5p;8p'); do rm -rf "$tmp/np2/items/$id"; done
rm -rf "$tmp/np2/results"
run_np 2 np2 "" ""
grep -q "accumulate: 3 items to compute, $((n_items - 3)) already done" "$tmp/np2.log" ||
  { cat "$tmp/np2.log"; fail "the rerun did not compute exactly the 3 lost items"; }
[ ! -e "$tmp/np2/claims/$old_attempt" ] || fail "the earlier attempt's claims were not removed"
[ "$(n_files "$tmp/np2/claims")" -eq 3 ] || fail "expected 3 claim files in the new attempt"
cmp "$tmp/np1/results/metrics.csv" "$tmp/np2/results/metrics.csv" || fail "rerun: metrics.csv differs from 1 rank"

# The hooks reject a bad value with a usage error naming the variable (every malformed
# form: tests/pipeline/work_queue_test.cpp).
for bad in "IBZOO_TEST_ITEM_DELAY_MS=zero:5" "IBZOO_TEST_ITEM_HOLD=0:99"; do
  rc=0
  env "$bad" "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/bad" --quiet >"$tmp/bad.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$tmp/bad.log"; fail "$bad exited $rc, expected 2"; }
  grep -qE "${bad%%=*}( must be INDEX:|: plan item 99 does not exist)" "$tmp/bad.log" ||
    { cat "$tmp/bad.log"; fail "$bad: the message does not name the variable"; }
done
echo "work_stealing: 1 passed, 0 failed"
