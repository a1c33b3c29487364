#!/usr/bin/env bash
# ibzoo submit on a real local Slurm cluster: the tiny manifest runs to completion as an
# accumulate array + metrics + analysis, and its metrics.csv is byte-identical to the same
# manifest run directly with mpirun. A second submit of the finished run submits nothing.
set -euo pipefail
source "$IBZOO_SOURCE_DIR/slurm/local/test_helpers.sh"
slurm_test_start 1001
slurm_test_reference
run="$TMP/run"

"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" >"$TMP/submit.out"
cat "$TMP/submit.out"
grep -q '^accumulate ' "$TMP/submit.out" || slurm_test_fail "submit printed no accumulate job"
for f in accumulate.sbatch metrics.sbatch analyze.sbatch jobs.json; do
  [ -f "$run/slurm/$f" ] || slurm_test_fail "submit did not write $run/slurm/$f"
done
[ "$(slurm_test_json "$run/slurm/jobs.json" "[x['kind'] for x in j['submissions'][0]['jobs']]")" = \
  "['accumulate', 'metrics', 'analyze']" ] || slurm_test_fail "jobs.json does not hold one array, a metrics job and an analysis"

slurm_test_wait_idle 100
[ -f "$run/slurm/analyze.done" ] || slurm_test_fail "the analysis job did not finish (no analyze.done)"
n_items=$(slurm_test_json "$run/slurm/jobs.json" "j['submissions'][0]['n_items']")
[ "$(slurm_test_n_done "$run")" -eq "$n_items" ] || slurm_test_fail "not every item has a DONE marker"
cmp "$TMP/ref/results/metrics.csv" "$run/results/metrics.csv" ||
  slurm_test_fail "metrics.csv from Slurm differs from the mpirun reference"
grep -q "nodes $(hostname -s)" "$run"/slurm/logs/accumulate_*.out || slurm_test_fail "job log lacks the node list line"

# Finished: a resubmission submits nothing.
"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" 2>"$TMP/resubmit.err"
grep -q "nothing to submit" "$TMP/resubmit.err" || slurm_test_fail "resubmitting a finished run did not say 'nothing to submit'"
[ "$(slurm_test_json "$run/slurm/jobs.json" "len(j['submissions'])")" = 1 ] || slurm_test_fail "resubmission added jobs"
echo "PASS slurm_submit_test"
