#!/usr/bin/env bash
# Cancel half-way, then resubmit: `ibzoo cancel` stops the run's jobs after some items are
# done; a resubmission submits only the unfinished slices, completes the study with results
# byte-identical to an mpirun reference, and leaves the DONE markers of the items finished
# before the cancel untouched (same inode and mtime: they were not rerun).
set -euo pipefail
source "$IBZOO_SOURCE_DIR/slurm/local/test_helpers.sh"
slurm_test_start 1001
slurm_test_reference
run="$TMP/run"

"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" >"$TMP/submit.out"
array=$(awk '$1 == "accumulate" { print $2; exit }' "$TMP/submit.out")
# Hold the tasks not started yet while the checks below run; then one task at a time,
# so that the cancel lands half-way.
# (Tasks that already started cannot be held, and tasks that already finished can be
# neither held nor released: scontrol then exits 1, which is not a failure here. A
# release that did fail shows up below as no item finishing.)
scontrol hold "$array" || true
scontrol update JobId="$array" ArrayTaskThrottle=1
n_slices=$(slurm_test_json "$run/slurm/jobs.json" "j['submissions'][0]['n_slices']")
n_items=$(slurm_test_json "$run/slurm/jobs.json" "j['submissions'][0]['n_items']")
[ "$n_slices" -ge 3 ] || slurm_test_fail "the tiny-checkpoints manifest needs at least 3 slices for this test, has $n_slices"

# A resubmission while the jobs are still queued is refused.
if "$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" 2>"$TMP/busy.err"; then
  slurm_test_fail "submit succeeded while the run's jobs were still queued"
fi
grep -q "still has queued or running jobs" "$TMP/busy.err" || { cat "$TMP/busy.err"; slurm_test_fail "wrong refusal message"; }
grep -q "ibzoo cancel" "$TMP/busy.err" || slurm_test_fail "refusal does not say how to cancel"
scontrol release "$array" || true

deadline=$((SECONDS + 60))
until [ "$(slurm_test_n_done "$run")" -ge 1 ]; do
  [ "$SECONDS" -lt "$deadline" ] || slurm_test_fail "no item finished within 60 s"
  sleep 0.2
done

"$IBZOO_BIN" cancel "$run" >"$TMP/cancel.out"
grep -q "^cancelled $array\$" "$TMP/cancel.out" || { cat "$TMP/cancel.out"; slurm_test_fail "cancel did not cancel array $array"; }
slurm_test_wait_idle 60
n_done=$(slurm_test_n_done "$run")
echo "after cancel: $n_done of $n_items items done"
[ "$n_done" -lt "$n_items" ] || slurm_test_fail "every item finished before the cancel; the test could not cancel half-way"
[ ! -f "$run/slurm/analyze.done" ] || slurm_test_fail "analysis ran although the accumulate array was cancelled"
"$IBZOO_BIN" cancel "$run" 2>&1 | grep -q "no job of .* is queued or running" || slurm_test_fail "second cancel should find nothing to cancel"

# Fingerprint every finished item's DONE marker (atomic rewrite => new inode).
(cd "$run/items" && find . -name DONE -exec stat -c '%n %i %Y' {} + | sort) >"$TMP/done_before"

"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" >"$TMP/resubmit.out"
cat "$TMP/resubmit.out"
resubmitted=$(slurm_test_json "$run/slurm/jobs.json" \
  "sum(len(x['slices']) for x in j['submissions'][1]['jobs'] if x['kind'] == 'accumulate')")
unfinished_before=$(slurm_test_json "$run/slurm/jobs.json" "j['submissions'][1]['n_slices']")
[ "$resubmitted" -lt "$n_slices" ] || slurm_test_fail "resubmission reran all $n_slices slices"
[ "$resubmitted" -ge 1 ] || slurm_test_fail "resubmission submitted no slice although items were unfinished"
echo "resubmitted $resubmitted of $unfinished_before slices"

slurm_test_wait_idle 100
[ -f "$run/slurm/analyze.done" ] || slurm_test_fail "the resumed study did not finish"
[ "$(slurm_test_n_done "$run")" -eq "$n_items" ] || slurm_test_fail "not every item is done after resuming"
(cd "$run/items" && find . -name DONE -exec stat -c '%n %i %Y' {} + | sort) >"$TMP/done_after"
missing=$(comm -23 "$TMP/done_before" "$TMP/done_after")
[ -z "$missing" ] || slurm_test_fail "items finished before the cancel were rerun: $missing"
cmp "$TMP/ref/results/metrics.csv" "$run/results/metrics.csv" ||
  slurm_test_fail "metrics.csv after cancel + resubmit differs from the mpirun reference"
echo "PASS slurm_resume_test"
