#!/usr/bin/env bash
# A manifest with three different mistakes: all three are reported with their line
# numbers, nothing runs, and the exit code is 2.
set -uo pipefail
manifest="$IBZOO_SOURCE_DIR/manifests/test/bad_three_mistakes.yaml"
out=$("$IBZOO_BIN" plan "$manifest" 2>&1)
rc=$?
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" -eq 2 ] || fail "exit code $rc, expected 2"
grep -q "3 problems" <<<"$out" || fail "expected '3 problems'"
grep -q "bad_three_mistakes.yaml:6: unknown key 'n_paramters' in model; did you mean 'n_parameters'?" <<<"$out" || fail "n_paramters"
grep -q "bad_three_mistakes.yaml:12: 'bins' must be an integer, got \"many\"" <<<"$out" || fail "bins"
grep -q "bad_three_mistakes.yaml:13: 'weighting' must be one of frequency, uniform, got \"freq\"" <<<"$out" || fail "weighting"
# The same through `run`, under mpirun with 2 ranks: still exit 2, no run directory created.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpirun -np 2 --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" >"$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
[ "$rc" -eq 2 ] || fail "mpirun exit code $rc, expected 2"
[ ! -e "$tmp/run" ] || fail "a run directory was created for an invalid manifest"
echo "manifest_errors: 1 passed, 0 failed"
