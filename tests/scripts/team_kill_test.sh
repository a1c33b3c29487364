#!/usr/bin/env bash
# A team of 2 ranks shares the tiny study's one checkpoint. One rank is killed (SIGKILL)
# while the team merges its sums (a test hook, IBZOO_TEST_MERGE_DELAY_MS, holds every rank
# just before the merge); mpirun ends the job, nothing is marked done, no results exist;
# the rerun computes the checkpoint again and metrics.csv is byte-identical to a run that
# was never interrupted.
set -euo pipefail
tmp=$(mktemp -d)
mpirun_pid=""
cleanup() {
  if [ -n "$mpirun_pid" ]; then
    for p in $(pgrep -P "$mpirun_pid" 2>/dev/null || true); do kill -9 "$p" 2>/dev/null || true; done
    kill -9 "$mpirun_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml"

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/ref" --quiet
IBZOO_TEST_MERGE_DELAY_MS=3000 mpirun -np 2 --oversubscribe -x IBZOO_TEST_MERGE_DELAY_MS \
  "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" >"$tmp/log1" 2>&1 &
mpirun_pid=$!
# The ranks have computed every batch once the item's pass is over; the merge waits 3 s.
for _ in $(seq 1 500); do
  grep -q "accumulate: 1 items to compute" "$tmp/log1" 2>/dev/null && break
  sleep 0.02
done
sleep 1.5
ranks=($(pgrep -P "$mpirun_pid"))
[ "${#ranks[@]}" -eq 2 ] || fail "expected 2 rank processes under mpirun, found ${#ranks[@]}"
kill -9 "${ranks[1]}"
rc=0
wait "$mpirun_pid" || rc=$?
mpirun_pid=""
cat "$tmp/log1"
[ "$rc" -ne 0 ] || fail "mpirun exited 0 although a rank was killed"
[ -z "$(find "$tmp/run/items" -name DONE)" ] || fail "the item was marked done although its merge was killed"
[ ! -e "$tmp/run/results/metrics.csv" ] || fail "results exist although the run was killed"
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" >"$tmp/log2" 2>&1 || { cat "$tmp/log2"; fail "rerun failed"; }
grep -q "accumulate: 1 items to compute, 0 already done" "$tmp/log2" || { cat "$tmp/log2"; fail "the rerun did not recompute the item"; }
cmp "$tmp/ref/results/metrics.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs after the killed merge"
echo "team_kill: 1 passed, 0 failed"
