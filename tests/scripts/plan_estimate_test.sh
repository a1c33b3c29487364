#!/usr/bin/env bash
# `ibzoo plan --estimate` on the example manifests at full scale (10,000 documents x 512
# tokens per checkpoint): the printed figures of the OLMo2-7B trajectory against a hand
# computation, the cross-family table complete, and bad options rejected with exit 2.
# (tests/pipeline/plan_estimate_test.cpp checks every field of a small study.)
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
examples="$IBZOO_SOURCE_DIR/manifests/examples"

"$IBZOO_BIN" plan "$examples/olmo2-7b-trajectory.yaml" --estimate --ranks 8 --run-dir "$tmp/o" >"$tmp/olmo.txt"
sed -n '/full-scale estimate/,$p' "$tmp/olmo.txt"
row=$(grep '^olmo2-7b ' "$tmp/olmo.txt") || fail "no olmo2-7b row"
read -r -a f <<<"$row"
# model ckpts params(2) layers d tokens(2) FLOPs(2) GPU-h weights(2) state(2) reps(2) tables(2) extract(2) reduce(2)
[ "${f[1]}" = 15 ] || fail "checkpoints: ${f[1]}"
[ "${f[2]} ${f[3]}" = "7.3 G" ] || fail "parameters: ${f[2]} ${f[3]}"
[ "${f[4]}" = 33 ] || fail "estimated layers: ${f[4]} (32 blocks + embeddings)"
[ "${f[5]}" = 4096 ] || fail "d: ${f[5]}"
# 15 x 10,000 x 512 tokens.
[ "${f[6]} ${f[7]}" = "76.8 M" ] || fail "tokens: ${f[6]} ${f[7]}"
# 76.8M x (2 x 7.3e9 + 2 x 32 x 512 x 4096) = 1.1316e18.
[ "${f[8]} ${f[9]}" = "1.13 E" ] || fail "FLOPs: ${f[8]} ${f[9]}"
# 76.8M / 35,000 tokens/s (the manifest's compute.throughput_tokens_per_s) / 3600 = 0.6095.
[ "${f[10]}" = 0.61 ] || fail "GPU-hours: ${f[10]}"
# 7.3e9 x 2 bytes (bfloat16) x 15.
[ "${f[11]} ${f[12]}" = "219 GB" ] || fail "weights: ${f[11]} ${f[12]}"
# 15 x 10,000 x 505 positions x (33 x 100 x 2 + 16 x 4 + 8) = 5.054e11 (bfloat16 compute:
# storage.assignments auto stores p as float16).
[ "${f[13]} ${f[14]}" = "505 GB" ] || fail "state: ${f[13]} ${f[14]}"
[ "${f[15]} ${f[16]}" = "0 B" ] || fail "representations: ${f[15]} ${f[16]} (storage is off)"
# (4 x min(2,525,000, 100,352) + 12 x 2,525,000) x (8 x 100 + 56) = 2.628e10 per layer.
[ "${f[17]} ${f[18]}" = "26.3 GB" ] || fail "tables per layer: ${f[17]} ${f[18]}"
# 7.3e9 x 2 + 65536 x 4096 x 32 + 65536 x 512 x 32 x 4 + 250 x 505 x 6672 + 5.05e6 x 80 = 2.873e10.
[ "${f[19]} ${f[20]}" = "28.7 GB" ] || fail "extract per rank: ${f[19]} ${f[20]}"
# Partitioned over 8 ranks (34 GB of state per checkpoint > 4096 MiB): 2.628e10 / 8 + 250 x 505 x 472
# (one item's layer as read, widened to float32).
[ "${f[21]} ${f[22]}" = "3.34 GB*" ] || fail "reduce per rank: ${f[21]} ${f[22]}"
grep -q "throughput: 35 Ktokens/s per GPU, from compute.throughput_tokens_per_s" "$tmp/olmo.txt" || fail "throughput assumption"
grep -q "float16 p, storage.assignments auto" "$tmp/olmo.txt" || fail "state assumption: float16 p"
grep -q "kept labels per checkpoint, olmo2-7b: order 1 <= 100 K order 2 <= 2.52 M" "$tmp/olmo.txt" || fail "label bounds"
# 7.3e9 x 2 + 2 x 32 x 512 x 4096 FLOP per token: 516 TFLOP/s at the manifest's 35k tokens/s
# (no warning), 884 TFLOP/s at 60k tokens/s: over the ceiling.
! grep -q "warning: olmo2-7b" "$tmp/olmo.txt" || fail "a throughput warning at 35k tokens/s"
"$IBZOO_BIN" plan "$examples/olmo2-7b-trajectory.yaml" --estimate --throughput 60000 --run-dir "$tmp/o60" >"$tmp/olmo60.txt"
grep -q "warning: olmo2-7b at 60 Ktokens/s needs 884 TFLOP/s, above an H100" "$tmp/olmo60.txt" || fail "no throughput warning"

"$IBZOO_BIN" plan "$examples/cross-family.yaml" --estimate --throughput 100000 --run-dir "$tmp/c" >"$tmp/cross.txt"
sed -n '/full-scale estimate/,$p' "$tmp/cross.txt"
[ "$(sed -n '/^model /,/^total /p' "$tmp/cross.txt" | wc -l)" -eq 10 ] || fail "cross-family: expected 8 model rows and a total"
grep -q "^total .* 41 M " "$tmp/cross.txt" || fail "cross-family: total tokens (8 x 5.12M = 40.96M)"
grep -q "from --throughput" "$tmp/cross.txt" || fail "the --throughput override is not stated"
! grep -q "could not be read" "$tmp/cross.txt" || fail "a config.json of the examples could not be read"

rc=0
"$IBZOO_BIN" plan "$examples/cross-family.yaml" --estimate --ranks 0 --run-dir "$tmp/c" >"$tmp/bad.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--ranks 0 exited $rc, expected 2"
grep -q -- "--ranks must be at least 1, got 0" "$tmp/bad.txt" || fail "--ranks 0: message"
echo "plan_estimate: 1 passed, 0 failed"
