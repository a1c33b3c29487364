#!/usr/bin/env bash
# Fault injection, real mpirun: SIGKILL of ONE rank mid-item of a 2-rank run (mpirun
# then tears the job down), then SIGKILL of the whole job during the rerun. Each time
# the failure is reported, no finished item is lost or rewritten, and the final rerun
# computes exactly the missing items and gives a metrics.csv byte-identical to an
# uninterrupted run. Each kill lands at a random point of an item (0-249 ms after the
# k-th item finished, while the next ones wait, compute or write); the seed is printed,
# and IBZOO_FAULT_SEED=S replays a run.
set -euo pipefail
tmp=$(mktemp -d)
mpirun_pid=""
cleanup() {
  # Only the processes this test started: mpirun and its children, by pid.
  if [ -n "$mpirun_pid" ]; then
    for p in $(pgrep -P "$mpirun_pid" 2>/dev/null || true); do kill -9 "$p" 2>/dev/null || true; done
    kill -9 "$mpirun_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
opts=(--tokens-per-batch 32 --quiet)
items="$tmp/run/items"

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/ref" "${opts[@]}"
n_items=$(grep -c '"id"' "$tmp/ref/plan.json")
# Items take tens of milliseconds: in the runs that are killed, each item waits first
# (the test hook, docs/SCALE.md; results unchanged), so the kills land mid-run. In step 1
# the wait is 1 s: mpirun takes about a second to stop the surviving rank after the
# other is killed, and that rank keeps finishing items until then; with short items it
# could finish the whole plan, leaving step 2 nothing to interrupt.
item_delays() { local d="" i; for ((i = 0; i < n_items; ++i)); do d+="${d:+,}$i:$1"; done; echo "$d"; }
export IBZOO_TEST_ITEM_DELAY_MS=$(item_delays 1000)

seed=${IBZOO_FAULT_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$seed
echo "fault_kill: seed $seed (IBZOO_FAULT_SEED=$seed replays these kill points)"
# Sleeps a random 0-249 ms and says so: where inside the running items the kill lands.
jitter() { local ms=$((RANDOM % 250)); echo "$1: kill $ms ms later"; sleep "$(printf '0.%03d' "$ms")"; }

n_done() { (find "$items" -name DONE 2>/dev/null || true) | wc -l; }
# Waits until at least $1 items are done (or the job ended); 0 when reached.
wait_done() {
  for _ in $(seq 1 1500); do
    [ "$(n_done)" -ge "$1" ] && return 0
    kill -0 "$mpirun_pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}
# Every DONE marker: item, mtime (ns) and content hash; a rewritten marker changes.
snapshot() {
  find "$items" -name DONE -printf '%p %T@\n' | sort >"$tmp/.mtimes"
  find "$items" -name DONE -exec sha256sum {} + | awk '{print $2, $1}' | sort | join "$tmp/.mtimes" -
}

# 1. Kill one rank while the other keeps working: mpirun must end the job, non-zero.
mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_DELAY_MS "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" "${opts[@]}" >"$tmp/log1" 2>&1 &
mpirun_pid=$!
wait_done 2 || fail "the 2-rank run ended before 2 items were done"
jitter "2 items done"
ranks=($(pgrep -P "$mpirun_pid"))
[ "${#ranks[@]}" -eq 2 ] || fail "expected 2 rank processes under mpirun, found ${#ranks[@]}"
kill -9 "${ranks[1]}"
rc=0
wait "$mpirun_pid" || rc=$?
mpirun_pid=""
cat "$tmp/log1"
[ "$rc" -ne 0 ] || fail "mpirun exited 0 although a rank was killed"
grep -qiE "signal 9|killed" "$tmp/log1" || fail "mpirun's message does not say that a rank was killed"
done1=$(n_done)
echo "one rank killed: $done1 of $n_items items done"
[ "$done1" -lt "$n_items" ] || fail "the run finished before the rank could be killed"
[ ! -e "$tmp/run/results/metrics.csv" ] || fail "results exist although the run was killed"
snapshot >"$tmp/snap1"

# 2. Rerun on 2 ranks and kill the whole job (mpirun and every rank) once one more item is done.
export IBZOO_TEST_ITEM_DELAY_MS=$(item_delays 250)
mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_DELAY_MS "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --tokens-per-batch 32 >"$tmp/log2" 2>&1 &
mpirun_pid=$!
wait_done $((done1 + 1)) || fail "the rerun ended before it could be killed"
jitter "$((done1 + 1)) items done"
for p in $(pgrep -P "$mpirun_pid"); do kill -9 "$p" 2>/dev/null || true; done
kill -9 "$mpirun_pid" 2>/dev/null || true
wait "$mpirun_pid" 2>/dev/null || true
mpirun_pid=""
grep -q "$done1 already done" "$tmp/log2" || { cat "$tmp/log2"; fail "the rerun did not skip the $done1 finished items"; }
snapshot >"$tmp/snap2"
comm -23 "$tmp/snap1" "$tmp/snap2" >"$tmp/lost"
[ ! -s "$tmp/lost" ] || { cat "$tmp/lost"; fail "finished items were lost or rewritten by the killed rerun"; }
done2=$(n_done)
echo "whole job killed: $done2 of $n_items items done"
[ "$done2" -lt "$n_items" ] || fail "the killed rerun had finished every item before the kill: nothing left for step 3"

# 3. Rerun to the end: exactly the missing items are computed, the finished ones are kept.
unset IBZOO_TEST_ITEM_DELAY_MS
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --tokens-per-batch 32 >"$tmp/log3" 2>&1 || { cat "$tmp/log3"; fail "final rerun failed"; }
grep -q "accumulate: $((n_items - done2)) items to compute, $done2 already done" "$tmp/log3" ||
  { cat "$tmp/log3"; fail "the final rerun did not compute exactly the $((n_items - done2)) missing items"; }
snapshot >"$tmp/snap3"
comm -23 "$tmp/snap2" "$tmp/snap3" >"$tmp/rewritten"
[ ! -s "$tmp/rewritten" ] || { cat "$tmp/rewritten"; fail "finished items were recomputed"; }
[ "$(wc -l <"$tmp/snap3")" -eq "$n_items" ] || fail "not every item is done after the final rerun"
cmp "$tmp/ref/results/metrics.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs from the uninterrupted run"
echo "fault_kill: 1 passed, 0 failed"
