#!/usr/bin/env bash
# A memory budget that holds one layer's label tables but not all of them: the item runs
# in layer groups (one pass over the sample per group, each forward pass stopping at its
# group's last layer) and metrics.csv is byte-identical to the unconstrained run, with
# preference data too, on 1 and 2 ranks. The tables' budget is forced with a test hook
# (IBZOO_TEST_TABLE_BUDGET_BYTES) because the tiny study's tables are far smaller than
# what a process needs beside them; plan_memory's arithmetic is unit-tested
# (tests/pipeline/plan_estimate_test.cpp). A budget below one layer's tables splits the
# rows too (row shares, each pass keeping id % S == s of every set's rows): identical
# again, on 1 and 2 ranks. A budget that no number of passes can meet is refused with a
# message that says what to change.
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
grep -q "hidden states between layer groups go to" "$tmp/tight.log" || { cat "$tmp/tight.log"; fail "the layer groups did not keep hidden states"; }
# A spill directory that cannot hold them: every pass runs from the tokens, said in the log, same bytes.
IBZOO_SPILL_DIR="$tmp/missing/dir" IBZOO_TEST_TABLE_BUDGET_BYTES=$((per_layer + per_layer / 2)) "$IBZOO_BIN" run \
  "$dir/tiny_preference.yaml" --run-dir "$tmp/nospill" >"$tmp/nospill.log" 2>&1 || { cat "$tmp/nospill.log"; fail "the run without a spill directory failed"; }
grep -q "every pass runs from the tokens: $tmp/missing/dir has not the .* MiB to keep hidden states between layer groups" "$tmp/nospill.log" ||
  { cat "$tmp/nospill.log"; fail "a missing spill directory is not named in the log"; }
cmp "$tmp/free/results/metrics.csv" "$tmp/nospill/results/metrics.csv" || fail "running every pass from the tokens changed metrics.csv"
IBZOO_TEST_TABLE_BUDGET_BYTES=$((2 * per_layer)) mpirun -np 2 --oversubscribe -x IBZOO_TEST_TABLE_BUDGET_BYTES \
  "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/tight2" --quiet
cmp "$tmp/free/results/metrics.csv" "$tmp/tight2/results/metrics.csv" || fail "layer groups on a team of 2 changed metrics.csv"

IBZOO_TEST_TABLE_BUDGET_BYTES=$((per_layer / 3)) "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/shares" >"$tmp/shares.log" 2>&1 ||
  { cat "$tmp/shares.log"; fail "the run with a third of a layer failed"; }
grep -Eq "\(([4-9]|1[0-9]) row shares x 3 layer groups\)" "$tmp/shares.log" || { cat "$tmp/shares.log"; fail "a third of a layer did not split the rows"; }
grep -q '"row_shares": ' "$tmp"/shares/items/*/provenance.json || fail "provenance does not record the row shares"
cmp "$tmp/free/results/metrics.csv" "$tmp/shares/results/metrics.csv" || fail "row shares changed metrics.csv"
IBZOO_TEST_TABLE_BUDGET_BYTES=$((per_layer / 5)) mpirun -np 2 --oversubscribe -x IBZOO_TEST_TABLE_BUDGET_BYTES \
  "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/shares2" --quiet
cmp "$tmp/free/results/metrics.csv" "$tmp/shares2/results/metrics.csv" || fail "row shares on a team of 2 changed metrics.csv"

# Ranks of a team whose own budgets differ (each measures its own process) plan with the
# smallest: here rank 0 alone would split the rows and rank 1 would not, and before the
# team agreed on one budget the ranks ran different passes and waited for each other forever.
timeout 300 env IBZOO_TEST_TABLE_BUDGET_BYTES="$((per_layer / 3)),$((2 * per_layer))" mpirun -np 2 --oversubscribe \
  -x IBZOO_TEST_TABLE_BUDGET_BYTES "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/uneven" >"$tmp/uneven.log" 2>&1 ||
  { cat "$tmp/uneven.log"; fail "a team whose ranks have different budgets failed or hung"; }
grep -q "(2 row shares x 3 layer groups)" "$tmp/uneven.log" || { cat "$tmp/uneven.log"; fail "the team did not plan with the smaller budget"; }
cmp "$tmp/free/results/metrics.csv" "$tmp/uneven/results/metrics.csv" || fail "uneven budgets changed metrics.csv"

rc=0
IBZOO_TEST_TABLE_BUDGET_BYTES=1 "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/none" >"$tmp/none.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/none.log"; fail "a budget of one byte exited $rc, expected 1 (the item fails)"; }
grep -q "label tables of one layer take .* more than 4096 passes" "$tmp/none.log" || { cat "$tmp/none.log"; fail "message"; }
grep -q "raise the budget, run more ranks per checkpoint" "$tmp/none.log" || fail "the message says not what to do"
echo "memory_fallback: per layer $per_layer bytes; 1 passed, 0 failed"
