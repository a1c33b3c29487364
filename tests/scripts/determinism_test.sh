#!/usr/bin/env bash
# Determinism: the tiny study run twice from scratch on 1 rank, and once on 3 ranks
# (9 items over 3 ranks, a count tiny_ranks_test.sh's 1/2/4 ranks does not cover), gives
# byte-identical item states (every state.h5), metrics.csv and summary.csv. Other batch
# sizes give the same numbers within 1e-6 relative (not bitwise; docs/RUN_LAYOUT.md):
# tiny_ranks_test.sh checks that.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml"

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/a" --quiet
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/b" --quiet
mpirun -np 3 --oversubscribe "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/np3" --quiet

fingerprint() {  # the bytes that must not depend on the run: item states and result tables
  (cd "$1" && sha256sum items/*/state.h5 results/metrics.csv results/summary.csv)
}
fingerprint "$tmp/a" >"$tmp/a.sum"
[ "$(grep -c state.h5 "$tmp/a.sum")" -eq "$(grep -c '"id"' "$tmp/a/plan.json")" ] || fail "not every item has a state.h5"
for other in b np3; do
  fingerprint "$tmp/$other" >"$tmp/$other.sum"
  diff "$tmp/a.sum" "$tmp/$other.sum" || fail "run $other differs from the first run"
done
echo "determinism: 1 passed, 0 failed"
