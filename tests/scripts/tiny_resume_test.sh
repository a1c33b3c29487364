#!/usr/bin/env bash
# Killing the run (SIGKILL, every rank) half-way and running it again gives an
# identical metrics.csv and does not recompute the items that had finished.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml"
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
echo "tiny_resume: 1 passed, 0 failed"
