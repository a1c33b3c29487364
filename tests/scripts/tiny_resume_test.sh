#!/usr/bin/env bash
# Killing the run (SIGKILL, every rank) half-way and running it again gives an
# identical metrics.csv and does not recompute the items that had finished; a rerun of
# the finished study computes nothing (no label pass, no model), and a manifest with one
# more checkpoint computes only that checkpoint.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
fail() { echo "FAIL: $*"; exit 1; }
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/ref" --tokens-per-batch 32 --quiet

n_items=$(grep -c '"id"' "$tmp/ref/plan.json")
# Start a 2-rank run and kill the whole job once a few items are done. Each item first
# waits 250 ms (the test hook, docs/SCALE.md; results unchanged): items take tens of
# milliseconds, and the kill must land before the last one.
delays=""
for ((i = 0; i < n_items; ++i)); do delays+="${delays:+,}$i:250"; done
IBZOO_TEST_ITEM_DELAY_MS=$delays mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_DELAY_MS \
  "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --tokens-per-batch 32 --quiet &
pid=$!
for _ in $(seq 1 600); do
  done_now=$( (find "$tmp/run/items" -name DONE 2>/dev/null || true) | wc -l)
  [ "$done_now" -ge 3 ] && break
  sleep 0.02
done
kill -9 $pid 2>/dev/null || true
pkill -9 -f "run-dir $tmp/run" 2>/dev/null || true
wait $pid 2>/dev/null || true
finished=$(find "$tmp/run/items" -name DONE | wc -l)
echo "killed with $finished of $n_items items done"
[ "$finished" -lt "$n_items" ] || fail "the run finished before it could be killed"
[ ! -e "$tmp/run/results/metrics.csv" ] || fail "results exist although the run was killed"
# Remember the finished markers, rerun, and check they were not rewritten.
find "$tmp/run/items" -name DONE -exec sha256sum {} + | sort > "$tmp/before"
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --tokens-per-batch 32 --quiet
find "$tmp/run/items" -name DONE -exec sha256sum {} + | sort > "$tmp/after"
comm -23 "$tmp/before" "$tmp/after" > "$tmp/rewritten"
[ ! -s "$tmp/rewritten" ] || { cat "$tmp/rewritten"; fail "finished items were recomputed"; }
cmp "$tmp/ref/results/metrics.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs after resume"

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --tokens-per-batch 32 >"$tmp/again.log" 2>&1
grep -q "done: $n_items items (0 computed now, $n_items from earlier runs)" "$tmp/again.log" || { cat "$tmp/again.log"; fail "the rerun computed something"; }
! grep -q "tokenizing\|accumulate:" "$tmp/again.log" || { cat "$tmp/again.log"; fail "the rerun ran the label pass or accumulate"; }
cmp "$tmp/ref/results/metrics.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs after a rerun"

# One more checkpoint: the first seven are done, only the eighth is computed.
fewer="$IBZOO_SOURCE_DIR/manifests/test/.tiny_checkpoints_7.$$.yaml"
trap 'rm -rf "$tmp" "$fewer"' EXIT
grep -v "name: ckpt7" "$manifest" >"$fewer"
"$IBZOO_BIN" run "$fewer" --run-dir "$tmp/add" --quiet
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/add" >"$tmp/add.log" 2>&1 || { cat "$tmp/add.log"; fail "the run with one more checkpoint failed"; }
grep -q "accumulate: 1 items to compute, $((n_items - 1)) already done" "$tmp/add.log" || { cat "$tmp/add.log"; fail "an added checkpoint computed more than itself"; }
cmp "$tmp/ref/results/metrics.csv" "$tmp/add/results/metrics.csv" || fail "metrics.csv differs with the added checkpoint"
echo "tiny_resume: 1 passed, 0 failed"
