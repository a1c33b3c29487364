#!/usr/bin/env bash
# End-to-end: `ibzoo tokenize` and `ibzoo train-tokenizer` on hand-made and
# reference fixtures, their output format and exit codes.
set -euo pipefail
: "${IBZOO_BIN:?}" "${IBZOO_FIXTURES:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
tok="$IBZOO_FIXTURES/tokenizers"

# Ids on one line, single spaces, hand-derived (tests/hf/tokenizer_test.cpp).
printf 'hello world' > "$tmp/a.txt"
out=$("$IBZOO_BIN" tokenize --tokenizer "$tok/tiny_bpe.json" --text-file "$tmp/a.txt")
[ "$out" = "12 17" ] || fail "tiny_bpe: got '$out'"

# A model directory; special tokens only with --add-special-tokens.
printf 'hi hi' > "$tmp/b.txt"
cp "$tok/sp_byte_fallback.json" "$tmp/tokenizer.json"
out=$("$IBZOO_BIN" tokenize --tokenizer "$tmp" --text-file "$tmp/b.txt")
[ "$out" = "264 264" ] || fail "sp without special: got '$out'"
out=$("$IBZOO_BIN" tokenize --tokenizer "$tmp" --text-file "$tmp/b.txt" --add-special-tokens)
[ "$out" = "1 264 264" ] || fail "sp with special: got '$out'"

# A transformers reference fixture (tests/fixtures/reference/gpt2_tokens.json, text 0).
if [ -f "$IBZOO_FIXTURES/models/gpt2/tokenizer.json" ]; then
  printf 'The quick brown fox.' > "$tmp/c.txt"
  out=$("$IBZOO_BIN" tokenize --tokenizer "$IBZOO_FIXTURES/models/gpt2" --text-file "$tmp/c.txt")
  [ "$out" = "51 71 68 220 644 407 74 671 86 77 278 78 87 13" ] || fail "gpt2 reference: got '$out'"
fi

# Errors, all input errors (2): missing tokenizer naming the path; bad option; bad UTF-8 naming the file.
set +e
msg=$("$IBZOO_BIN" tokenize --tokenizer "$tmp/nope" --text-file "$tmp/a.txt" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "missing tokenizer: exit $rc, expected 2"
grep -q "tokenizer.json not found" <<<"$msg" || fail "missing tokenizer message: $msg"
set +e
msg=$("$IBZOO_BIN" tokenize --text-file "$tmp/a.txt" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "missing --tokenizer: exit $rc"
grep -q "tokenizer" <<<"$msg" || fail "missing --tokenizer message: $msg"
printf 'ab\xffcd' > "$tmp/bad.txt"
set +e
msg=$("$IBZOO_BIN" tokenize --tokenizer "$tok/tiny_bpe.json" --text-file "$tmp/bad.txt" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "bad UTF-8: exit $rc, expected 2"
grep -q "bad.txt:1: not valid UTF-8 (byte offset 2)" <<<"$msg" || fail "bad UTF-8 message: $msg"

# train-tokenizer writes a directory that tokenize reads; same bytes twice.
for k in $(seq 1 40); do echo "In the beginning was the word, and the word was with the text $k."; done > "$tmp/train.txt"
"$IBZOO_BIN" train-tokenizer --text-file "$tmp/train.txt" --vocab-size 300 --out "$tmp/tk1" 2>/dev/null
"$IBZOO_BIN" train-tokenizer --text-file "$tmp/train.txt" --vocab-size 300 --out "$tmp/tk2" 2>/dev/null
cmp -s "$tmp/tk1/tokenizer.json" "$tmp/tk2/tokenizer.json" || fail "train-tokenizer is not deterministic"
[ -f "$tmp/tk1/tokenizer_config.json" ] || fail "no tokenizer_config.json"
out=$("$IBZOO_BIN" tokenize --tokenizer "$tmp/tk1" --text-file "$tmp/train.txt")
n_ids=$(wc -w <<<"$out")
n_bytes=$(wc -c < "$tmp/train.txt")
[ "$n_ids" -gt 0 ] && [ "$n_ids" -lt $((n_bytes / 2)) ] || fail "trained tokenizer: $n_ids ids for $n_bytes bytes"
set +e
msg=$("$IBZOO_BIN" train-tokenizer --text-file "$tmp/train.txt" --vocab-size 100 --out "$tmp/tk3" 2>&1); rc=$?
set -e
[ $rc -eq 2 ] || fail "too small vocab: exit $rc"
grep -q "too small" <<<"$msg" || fail "too small vocab message: $msg"
echo "tokenize_cli_test: ok"
