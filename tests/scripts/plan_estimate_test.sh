#!/usr/bin/env bash
# `ibzoo plan --estimate` on the example manifests (data.text.n_documents 10,000 x
# max_tokens 512 per checkpoint): the printed figures of the OLMo2-7B trajectory against
# a hand computation, the cross-family table complete, --count-labels on the tiny study
# (counted rows replace the bound), and bad options rejected with exit 2.
# (tests/pipeline/plan_estimate_test.cpp checks every field of a small study.)
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
examples="$IBZOO_SOURCE_DIR/manifests/examples"

"$IBZOO_BIN" plan "$examples/olmo2-7b-trajectory.yaml" --estimate --ranks 8 --run-dir "$tmp/o" >"$tmp/olmo.txt"
sed -n '/^estimate/,$p' "$tmp/olmo.txt"
grep -q "warning: data.text.n_documents asks for 10000 documents, the corpus holds 2" "$tmp/olmo.txt" ||
  fail "no warning that the placeholder corpus is smaller than n_documents"
row=$(grep '^olmo2-7b ' "$tmp/olmo.txt") || fail "no olmo2-7b row"
read -r -a f <<<"$row"
# model ckpts params(2) layers d tokens(2) FLOPs(2) GPU-h weights(2) run-dir(2) reps(2) rows(2) tables(2) passes peak(2)
[ "${f[1]}" = 15 ] || fail "checkpoints: ${f[1]}"
[ "${f[2]} ${f[3]}" = "7.3 G" ] || fail "parameters: ${f[2]} ${f[3]}"
[ "${f[4]}" = 33 ] || fail "estimated layers: ${f[4]} (32 blocks + embeddings)"
[ "${f[5]}" = 4096 ] || fail "d: ${f[5]}"
# 15 x 10,000 x 512 tokens.
[ "${f[6]} ${f[7]}" = "76.8 M" ] || fail "tokens: ${f[6]} ${f[7]}"
# 7.3e9 x 2 bytes (bfloat16) x 15.
[ "${f[11]} ${f[12]}" = "219 GB" ] || fail "weights: ${f[11]} ${f[12]}"
[ "${f[15]} ${f[16]}" = "0 B" ] || fail "opt-in outputs: ${f[15]} ${f[16]} (storage is off)"
# Rows bound: 2 (in, out) x 2 (null) x (min(5,050,000 / 2, 100,352) + 3 x 2,525,000) = 30,701,408.
[ "${f[17]} ${f[18]}" = "30.7 M<" ] || fail "rows: ${f[17]} ${f[18]}"
# x (8 x 100 + 8) bytes = 2.4807e10 B = 23.1 GiB per layer.
[ "${f[19]} ${f[20]}" = "23.1 GiB" ] || fail "tables per layer: ${f[19]} ${f[20]}"
# An 80 GiB GPU less the weights (14.6 GB), one batch and 1 GiB of slack holds two layers'
# tables: 33 layers in 17 passes, the forward pass repeated 1/17 + 2/17 + ... + 17/17 = 9 times.
[ "${f[21]}" = 17 ] || fail "passes: ${f[21]}"
# 76.8M x 9 x (2 x 7.3e9 + 2 x 32 x 512 x 4096) = 1.018e19.
[ "${f[8]} ${f[9]}" = "10.2 E" ] || fail "FLOPs: ${f[8]} ${f[9]}"
# 76.8M x 9 / 35,000 tokens/s (the manifest's compute.throughput_tokens_per_s) / 3600 = 5.486.
[ "${f[10]}" = 5.49 ] || fail "GPU-hours: ${f[10]}"
grep -q "throughput: 35 Ktokens/s per GPU, from compute.throughput_tokens_per_s" "$tmp/olmo.txt" || fail "throughput assumption"
grep -q "note: rows marked < are upper bounds" "$tmp/olmo.txt" || fail "no note on the bound"
# 7.3e9 x 2 + 2 x 32 x 512 x 4096 FLOP per token: 516 TFLOP/s at 35k tokens/s (no warning),
# 884 TFLOP/s at 60k tokens/s: over the ceiling.
! grep -q "warning: olmo2-7b" "$tmp/olmo.txt" || fail "a throughput warning at 35k tokens/s"
"$IBZOO_BIN" plan "$examples/olmo2-7b-trajectory.yaml" --estimate --throughput 60000 --run-dir "$tmp/o60" >"$tmp/olmo60.txt"
grep -q "warning: olmo2-7b at 60 Ktokens/s needs 884 TFLOP/s, above an H100" "$tmp/olmo60.txt" || fail "no throughput warning"
# A 200 GiB budget holds 7 layers' tables: 5 passes.
"$IBZOO_BIN" plan "$examples/olmo2-7b-trajectory.yaml" --estimate --memory 200GiB --run-dir "$tmp/o2" >"$tmp/olmo200.txt"
read -r -a g <<<"$(grep '^olmo2-7b ' "$tmp/olmo200.txt")"
[ "${g[21]}" = 5 ] || fail "passes with 200 GiB: ${g[21]}"

"$IBZOO_BIN" plan "$examples/cross-family.yaml" --estimate --throughput 100000 --run-dir "$tmp/c" >"$tmp/cross.txt"
sed -n '/^model/,$p' "$tmp/cross.txt"
[ "$(sed -n '/^model /,/^total /p' "$tmp/cross.txt" | wc -l)" -eq 10 ] || fail "cross-family: expected 8 model rows and a total"
grep -q "^total .* 41 M " "$tmp/cross.txt" || fail "cross-family: total tokens (8 x 5.12M = 40.96M)"
grep -q "from --throughput" "$tmp/cross.txt" || fail "the --throughput override is not stated"
! grep -q "could not be read" "$tmp/cross.txt" || fail "a config.json of the examples could not be read"

# Counted rows: the label pass of the tiny study (unigrams: at most the tokens seen twice).
"$IBZOO_BIN" plan "$IBZOO_SOURCE_DIR/manifests/test/tiny.yaml" --estimate --count-labels --run-dir "$tmp/t" >"$tmp/tiny.txt"
read -r -a t <<<"$(grep '^tiny-gpt2 ' "$tmp/tiny.txt")"
[ "${t[18]}" != "${t[18]%<}" ] && fail "tiny rows still a bound after --count-labels: ${t[17]} ${t[18]}"
ls "$tmp"/t/labels/*.h5 >/dev/null || fail "--count-labels wrote no labels/ file"

rc=0
"$IBZOO_BIN" plan "$examples/cross-family.yaml" --estimate --ranks 0 --run-dir "$tmp/c" >"$tmp/bad.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--ranks 0 exited $rc, expected 2"
grep -q -- "--ranks must be at least 1, got 0" "$tmp/bad.txt" || fail "--ranks 0: message"
echo "plan_estimate: 1 passed, 0 failed"
