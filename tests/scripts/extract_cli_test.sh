#!/usr/bin/env bash
# End-to-end: `ibzoo make-model` and `ibzoo extract` on the committed gpt2 fixture.
# Checks shapes and token ids of the HDF5 output (h5dump), exit codes and messages.
set -euo pipefail
: "${IBZOO_BIN:?}" "${IBZOO_FIXTURES:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# make-model: same seed, same bytes; the directory loads (extract below uses a fixture
# model because make-model writes no tokenizer).
"$IBZOO_BIN" make-model --family gpt2 --layers 2 --hidden 64 --heads 4 --vocab 256 --seed 1 --out "$work/m1" 2>/dev/null
"$IBZOO_BIN" make-model --family gpt2 --layers 2 --hidden 64 --heads 4 --vocab 256 --seed 1 --out "$work/m2" 2>/dev/null
cmp -s "$work/m1/model.safetensors" "$work/m2/model.safetensors" || fail "make-model is not deterministic"
grep -q '"n_embd": 64' "$work/m1/config.json" || fail "config.json lacks n_embd"
for f in gpt_neox llama mistral qwen2 olmo2 gemma2; do
  "$IBZOO_BIN" make-model --family "$f" --out "$work/$f" 2>/dev/null || fail "make-model --family $f"
done
set +e
"$IBZOO_BIN" make-model --family bert --out "$work/x" 2>"$work/err"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown family: exit $rc, expected 2"
grep -q "unknown" "$work/err" || fail "unknown family message: $(cat "$work/err")"

# extract: /input_ids [T], /hidden_states [L+1, T, d], /logits [T, V].
model="$IBZOO_FIXTURES/models/gpt2"
printf 'The quick brown fox.' >"$work/text.txt"
"$IBZOO_BIN" extract --model "$model" --text-file "$work/text.txt" --out "$work/out.h5" --logits 2>/dev/null
h5dump -H "$work/out.h5" >"$work/h" || fail "h5dump"
grep -A2 '"input_ids"' "$work/h" | grep -q 'H5T_STD_I64LE' || fail "input_ids is not int64"
grep -A3 '"input_ids"' "$work/h" | grep -q '( 14 )' || fail "input_ids shape"
grep -A3 '"hidden_states"' "$work/h" | grep -q '( 3, 14, 64 )' || fail "hidden_states shape: $(grep -A3 hidden_states "$work/h")"
grep -A3 '"logits"' "$work/h" | grep -q '( 14, 1000 )' || fail "logits shape"
# The ids of this text in the transformers reference (tests/fixtures/reference/gpt2_tokens.json).
ids=$(h5dump -d /input_ids -y -w 0 "$work/out.h5" | sed -n '/DATA {/,/}/p' | tr -d ' \n' | sed 's/.*DATA{//; s/}.*//')
[ "$ids" = "51,71,68,220,644,407,74,671,86,77,278,78,87,13" ] || fail "token ids: $ids"

# Errors: missing model (2), bad option (2), empty text (2, message).
set +e
"$IBZOO_BIN" extract --model "$work/none" --text-file "$work/text.txt" --out "$work/o.h5" 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] || fail "missing model: exit $rc, expected 2 (an input error)"
grep -q "none" "$work/err" || fail "missing model message: $(cat "$work/err")"
"$IBZOO_BIN" extract --model "$model" --text-file "$work/text.txt" --out "$work/o.h5" --dtype int4 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] || fail "bad dtype: exit $rc"
grep -q "int4" "$work/err" || fail "bad dtype message"
: >"$work/empty.txt"
"$IBZOO_BIN" extract --model "$model" --text-file "$work/empty.txt" --out "$work/o.h5" 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] || fail "empty text: exit $rc, expected 2 (an input error)"
grep -q "no tokens" "$work/err" || fail "empty text message: $(cat "$work/err")"
set -e
[ ! -e "$work/o.h5" ] || fail "a failed extract left an output file"
echo "extract_cli_test: ok"
