#!/usr/bin/env bash
# A run directory belongs to one study (docs/RUN_LAYOUT.md, "Identity and lock"):
# (1) a manifest that adds a model extends a finished run and computes only the new
#     items, and its progress (2 ranks) counts the whole study's items;
# (2) a second `run` while one works in the directory is refused, naming the holder's
#     host and pid (a live ibzoo process);
# (3) a full disk while the results are written (an LD_PRELOAD shim, tests/fault) ends
#     the command with a clear error, and the earlier results stay byte-identical.
# Another study, a changed setting and a stale lock are cases of the bad-input corpus
# (tests/bad_inputs/cases.tsv: run_other_study, run_changed_setting, run_stale_lock).
set -euo pipefail
tmp=$(mktemp -d)
more_pid=""
trap '[ -z "$more_pid" ] || kill "$more_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
src="$IBZOO_SOURCE_DIR/manifests/test"
run="$tmp/run"

manifest() {  # the tiny study with the models given as "id" arguments (all the same weights)
  printf 'study: tiny\nroots: [%s]\nmodels:\n' "$src"
  for id in "$@"; do printf '  - {id: %s, family: gpt2, path: %s/models/tiny-gpt2}\n' "$id" "$src"; done
  printf 'data:\n  text: {files: [%s/data/genesis.txt], max_tokens: 256, min_tokens: 16, documents_per_shard: 4}\n' "$src"
  printf 'estimator: {bins: 20}\ncompute: {threads: 1}\n'
}
manifest tiny-a >"$tmp/base.yaml"
manifest tiny-a tiny-b >"$tmp/more.yaml"

"$IBZOO_BIN" run "$tmp/base.yaml" --run-dir "$run" --quiet
n_base=$(grep -c '"id"' "$run/plan.json")

# (1) + (2): the extending run holds its first new item (plan index n_base) until plan
# item 0 is claimed (IBZOO_TEST_ITEM_HOLD). Item 0 is finished, so nobody claims it: the
# test does, once it has checked the refusal, so the second run certainly finds the first
# one working however slow the machine.
IBZOO_TEST_ITEM_HOLD="$n_base:0" mpirun -np 2 --oversubscribe -x IBZOO_TEST_ITEM_HOLD \
  "$IBZOO_BIN" run "$tmp/more.yaml" --run-dir "$run" --progress lines --progress-interval 0.2 >"$tmp/more.log" 2>&1 &
more_pid=$!
for _ in $(seq 600); do [ -e "$run/locks/run.lock" ] && break; sleep 0.1; done
[ -e "$run/locks/run.lock" ] || { cat "$tmp/more.log"; fail "the extending run took no lock"; }
rc=0
"$IBZOO_BIN" run "$tmp/more.yaml" --run-dir "$run" --quiet >"$tmp/second.log" 2>&1 || rc=$?
cat "$tmp/second.log"
[ "$rc" -eq 1 ] || fail "a second run beside a working one exited $rc, expected 1"
grep -q "another ibzoo process is working in this run directory (host $(hostname), pid " "$tmp/second.log" ||
  fail "the refusal does not name the holder's host and pid"
holder=$(sed -n 's/.*, pid \([0-9]*\),.*/\1/p' "$tmp/second.log" | head -1)
[ "$(ps -o comm= -p "$holder")" = ibzoo ] || fail "pid $holder in the refusal is not the working ibzoo process"
# Release the held item: claim plan item 0 in the extending run's claim directory (the
# ranks may work as one team, which claims nothing, so the directory is all there is to
# wait for), until the run ends.
id0=$(grep -o '"id": "[0-9a-f]*"' "$run/plan.json" | head -1 | cut -d'"' -f4)
while kill -0 "$more_pid" 2>/dev/null; do
  for dir in "$run"/claims/*/; do if [ -d "$dir" ]; then touch "$dir$id0" 2>/dev/null || true; fi; done
  sleep 0.1
done
wait "$more_pid" || { cat "$tmp/more.log"; fail "the extending run failed"; }
cat "$tmp/more.log" | grep -v "positions in" || true
! grep -q "IBZOO_TEST_ITEM_HOLD: plan item 0 was not claimed" "$tmp/more.log" || fail "the test's claim did not release the held item"
grep -q "extends the study in $run with 1 addition(s)" "$tmp/more.log" || fail "the extension is not reported"
grep -q "model 'tiny-b'" "$tmp/more.log" || fail "the added model is not named"
grep -q "accumulate: $n_base items to compute, $n_base already done" "$tmp/more.log" ||
  fail "the extending run did not compute exactly the $n_base new items"
grep -q "\[rank 0\] accumulate: $((2 * n_base))/$((2 * n_base)) items (100%)" "$tmp/more.log" ||
  fail "the progress does not count the whole study's $((2 * n_base)) items over both ranks"
[ "$(cut -d, -f1 "$run/results/summary.csv" | sort -u | grep -c tiny-)" -eq 2 ] || fail "summary.csv lacks a model"
[ ! -e "$run/locks" ] || fail "the lock was left behind"

# (3) The disk fills up while the metrics stage writes the results: exit 1, a clear message, the
# earlier results byte-identical, no staging directory left.
cc -shared -fPIC -O2 -o "$tmp/enospc_shim.so" "$IBZOO_SOURCE_DIR/tests/fault/enospc_shim.c" -ldl
(cd "$run/results" && sha256sum ./* >"$tmp/results.sha")
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
LD_PRELOAD="$tmp/enospc_shim.so" IBZOO_FAULT_DIR="$run/results" IBZOO_FAULT_AFTER_BYTES=2000 \
  "$IBZOO_BIN" run "$tmp/more.yaml" --run-dir "$run" --stage metrics --quiet >"$tmp/full.log" 2>&1 || rc=$?
cat "$tmp/full.log"
[ "$rc" -eq 1 ] || fail "exit code $rc on a full disk, expected 1"
grep -q "results/.staging.*: write failed: No space left on device (disk full" "$tmp/full.log" ||
  fail "the message does not name the file and say the disk is full"
(cd "$run/results" && sha256sum -c --quiet "$tmp/results.sha") || fail "the earlier results changed"
[ -z "$(find "$run/results" -name '.staging*' -o -name '.*.tmp.*')" ] || fail "temporary files were left in results/"
"$IBZOO_BIN" run "$tmp/more.yaml" --run-dir "$run" --stage metrics --quiet || fail "the metrics stage failed on a freed disk"
cmp <(cd "$run/results" && sha256sum ./metrics.csv ./summary.csv) <(grep -E '\./(metrics|summary)\.csv$' "$tmp/results.sha") ||
  fail "the metrics stage on a freed disk gives other results"
echo "run_dir_identity: 1 passed, 0 failed"
