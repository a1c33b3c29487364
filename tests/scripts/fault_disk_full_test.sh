#!/usr/bin/env bash
# Fault injection: the disk fills up mid-run. An LD_PRELOAD shim (tests/fault/enospc_shim.c)
# makes write/pwrite/writev fail with ENOSPC for files under <run>/items once 50 kB
# have gone there (about three items of the eight). The run must stop with a clear write error and
# exit code 1 (not a crash), keep the finished items intact, and the rerun on a "freed"
# disk must compute exactly the missing items and give a metrics.csv byte-identical to
# an uninterrupted run.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
manifest="$IBZOO_SOURCE_DIR/manifests/test/tiny_checkpoints.yaml"
items="$tmp/run/items"
cc -shared -fPIC -O2 -o "$tmp/enospc_shim.so" "$IBZOO_SOURCE_DIR/tests/fault/enospc_shim.c" -ldl

"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/ref" --quiet
n_items=$(grep -c '"id"' "$tmp/ref/plan.json")

rc=0
# In the sanitized build ASan insists on being first in the library list; the shim
# only wraps write calls and forwards them, so its place before ASan is harmless.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
LD_PRELOAD="$tmp/enospc_shim.so" IBZOO_FAULT_DIR="$items" IBZOO_FAULT_AFTER_BYTES=50000 \
  "$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" --quiet >"$tmp/log1" 2>&1 || rc=$?
cat "$tmp/log1"
[ "$rc" -eq 1 ] || fail "exit code $rc on a full disk, expected 1 (139 = the HDF5 exit-time crash)"
grep -q "Segmentation fault\|Signal:" "$tmp/log1" && fail "the process crashed instead of reporting the write error"
grep -qE "disk full|No space left on device" "$tmp/log1" || fail "the message does not say the disk is full"
done1=$(find "$items" -name DONE | wc -l)
echo "disk full after $done1 of $n_items items"
[ "$done1" -ge 1 ] && [ "$done1" -lt "$n_items" ] || fail "expected some but not all items done, got $done1"
[ ! -e "$tmp/run/results/metrics.csv" ] || fail "results exist although the disk filled up"
# No temporary file was left beside a finished item's files.
find "$items" -name DONE -printf '%h\n' | while read -r d; do
  [ -z "$(find "$d" -name '.*.tmp.*')" ] || fail "temporary files left in the finished item $d"
done

snapshot() {
  find "$items" -name DONE -printf '%p %T@\n' | sort >"$tmp/.mtimes"
  find "$items" -name DONE -exec sha256sum {} + | awk '{print $2, $1}' | sort | join "$tmp/.mtimes" -
}
snapshot >"$tmp/before"
"$IBZOO_BIN" run "$manifest" --run-dir "$tmp/run" >"$tmp/log2" 2>&1 || { cat "$tmp/log2"; fail "rerun failed"; }
grep -q "accumulate: $((n_items - done1)) items to compute, $done1 already done" "$tmp/log2" ||
  { cat "$tmp/log2"; fail "the rerun did not compute exactly the $((n_items - done1)) missing items"; }
snapshot >"$tmp/after"
comm -23 "$tmp/before" "$tmp/after" >"$tmp/rewritten"
[ ! -s "$tmp/rewritten" ] || { cat "$tmp/rewritten"; fail "finished items were recomputed"; }
cmp "$tmp/ref/results/metrics.csv" "$tmp/run/results/metrics.csv" || fail "metrics.csv differs from the uninterrupted run"
echo "fault_disk_full: 1 passed, 0 failed"
