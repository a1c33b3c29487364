#!/usr/bin/env bash
# A memory budget that holds one layer's label tables but not all of them: the item runs
# in layer groups (one pass over the sample per group, each forward pass stopping at its
# group's last layer) and metrics.csv is byte-identical to the unconstrained run, with
# preference data too, on 1 and 2 ranks. The tables' budget is forced with a test hook
# (IBZOO_TEST_TABLE_BUDGET_BYTES) because the tiny study's tables are far smaller than
# what a process needs beside them; plan_memory's arithmetic is unit-tested
# (tests/pipeline/plan_estimate_test.cpp). A budget that holds no layer at all is refused
# with a message that says what to change.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir="$IBZOO_SOURCE_DIR/manifests/test"
fail() { echo "FAIL: $*"; exit 1; }

"$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/free" --quiet
bytes=$(python3 -c "import json,glob; print(json.load(open(glob.glob('$tmp/free/items/*/provenance.json')[0]))['table_bytes_per_rank'])")
per_layer=$((bytes / 3))  # 3 layers in one pass
IBZOO_TEST_TABLE_BUDGET_BYTES=$((per_layer + per_layer / 2)) "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/tight" >"$tmp/tight.log" 2>&1 ||
  { cat "$tmp/tight.log"; fail "the tight run failed"; }
grep -q "(3 layer groups)" "$tmp/tight.log" || { cat "$tmp/tight.log"; fail "the tight run did not split the layers into 3 groups"; }
grep -q '"layer_groups": 3' "$tmp"/tight/items/*/provenance.json || fail "provenance does not record the 3 layer groups"
cmp "$tmp/free/results/metrics.csv" "$tmp/tight/results/metrics.csv" || fail "layer groups changed metrics.csv"
IBZOO_TEST_TABLE_BUDGET_BYTES=$((2 * per_layer)) mpirun -np 2 --oversubscribe -x IBZOO_TEST_TABLE_BUDGET_BYTES \
  "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/tight2" --quiet
cmp "$tmp/free/results/metrics.csv" "$tmp/tight2/results/metrics.csv" || fail "layer groups on a team of 2 changed metrics.csv"

rc=0
IBZOO_TEST_TABLE_BUDGET_BYTES=$((per_layer / 4)) "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/none" >"$tmp/none.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/none.log"; fail "a budget below one layer exited $rc, expected 1 (the item fails)"; }
grep -q "label tables of one layer take .* more than the memory budget" "$tmp/none.log" || { cat "$tmp/none.log"; fail "message"; }
grep -q "raise the budget, run more ranks per checkpoint" "$tmp/none.log" || fail "the message says not what to do"
echo "memory_fallback: per layer $per_layer bytes; 1 passed, 0 failed"
