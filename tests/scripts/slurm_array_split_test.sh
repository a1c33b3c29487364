#!/usr/bin/env bash
# A plan with more slices than the cluster's MaxArraySize (3 here) is split into several
# job arrays whose task indices stay below 3, covering every slice exactly once; the metrics job
# waits on all of them; the study completes with results identical to an mpirun reference.
# Also: --dry-run prints the scripts and sbatch lines and submits/writes nothing.
set -euo pipefail
source "$IBZOO_SOURCE_DIR/slurm/local/test_helpers.sh"
max=3
slurm_test_start "$max"
run="$TMP/run"

"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" --dry-run >"$TMP/dry.out"
grep -q '^#!/bin/bash' "$TMP/dry.out" || slurm_test_fail "dry run printed no script"
grep -q '^sbatch --parsable .*--array=0-2' "$TMP/dry.out" || slurm_test_fail "dry run printed no split array line"
grep -q "^sbatch --parsable .*'--dependency=afterok:<accumulate-0>:<accumulate-1>" "$TMP/dry.out" ||
  slurm_test_fail "dry run's metrics job does not depend on every array"
[ ! -e "$run/slurm" ] || slurm_test_fail "dry run wrote $run/slurm"
[ -z "$(squeue -h -o %i)" ] || slurm_test_fail "dry run submitted jobs"

slurm_test_reference
"$IBZOO_BIN" submit "$MANIFEST" --run-dir "$run" >/dev/null
jobs="$run/slurm/jobs.json"
n_slices=$(slurm_test_json "$jobs" "j['submissions'][0]['n_slices']")
[ "$n_slices" -gt "$max" ] || slurm_test_fail "the tiny-checkpoints manifest needs more than $max slices for this test, has $n_slices"
n_arrays=$(slurm_test_json "$jobs" "sum(1 for x in j['submissions'][0]['jobs'] if x['kind'] == 'accumulate')")
[ "$n_arrays" -eq $(((n_slices + max - 1) / max)) ] || slurm_test_fail "$n_slices slices gave $n_arrays arrays"
covered=$(slurm_test_json "$jobs" "sorted(s for x in j['submissions'][0]['jobs'] if x['kind'] == 'accumulate' for s in x['slices'])")
[ "$covered" = "$(python3 -c "print(list(range($n_slices)))")" ] || slurm_test_fail "arrays cover $covered"
arrays=$(slurm_test_json "$jobs" "':'.join(x['job_id'] for x in j['submissions'][0]['jobs'] if x['kind'] == 'accumulate')")
metrics_argv=$(slurm_test_json "$jobs" "' '.join([x for x in j['submissions'][0]['jobs'] if x['kind'] == 'metrics'][0]['sbatch'])")
grep -q -- "--dependency=afterok:$arrays " <<<"$metrics_argv" || slurm_test_fail "the metrics job was submitted without afterok on arrays $arrays: $metrics_argv"

slurm_test_wait_idle 100
[ -f "$run/slurm/analyze.done" ] || slurm_test_fail "the study did not finish"
# Each slice ran exactly once, by a task whose index was below MaxArraySize.
for ((k = 0; k < n_slices; k++)); do
  n=$(grep -h -c "slice $k/$n_slices," "$run"/slurm/logs/accumulate_*.out | paste -sd+ | bc)
  [ "$n" -eq 1 ] || slurm_test_fail "slice $k ran $n times"
done
cmp "$TMP/ref/results/metrics.csv" "$run/results/metrics.csv" ||
  slurm_test_fail "metrics.csv from split arrays differs from the mpirun reference"
echo "PASS slurm_array_split_test"
