#!/usr/bin/env bash
# Preflight: a manifest with three broken checkpoints (a bad config.json, a missing
# tokenizer.json, a truncated safetensors header) makes `ibzoo plan` list all three at
# once and exit 2; `ibzoo run` exits 2 the same way without starting an item. A
# family that contradicts config.json's model_type is caught too.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
src="$IBZOO_SOURCE_DIR/manifests/test"
for d in good badconfig notok truncated; do mkdir -p "$tmp/$d"; cp "$src/models/tiny-gpt2"/* "$tmp/$d/"; done
cp "$src/data/genesis.txt" "$tmp/"
sed -i 's/"n_embd": *[0-9]*/"n_embd": "wide"/' "$tmp/badconfig/config.json"
grep -q '"wide"' "$tmp/badconfig/config.json" || fail "could not break config.json"
rm "$tmp/notok/tokenizer.json"
head -c 200 "$src/models/tiny-gpt2/model.safetensors" > "$tmp/truncated/model.safetensors"
cat > "$tmp/broken.yaml" <<'YAML'
study: preflight
models:
  - id: zoo/tiny
    family: gpt2
    tokenizer: good
    checkpoints:
      - {name: step1, path: good}
      - {name: step2, path: badconfig}
      - {name: step3, path: truncated}
  - id: notok
    family: gpt2
    path: notok
data:
  text: {files: [genesis.txt], max_tokens: 64, min_tokens: 16, documents_per_shard: 8, n_documents: 8}
YAML
set +e
"$IBZOO_BIN" plan "$tmp/broken.yaml" > "$tmp/plan.out" 2>&1
rc=$?
set -e
cat "$tmp/plan.out"
[ $rc -eq 2 ] || fail "plan exited $rc, expected 2"
grep -q "3 problems with the models, nothing was run" "$tmp/plan.out" || fail "not one list of three problems"
grep -q "zoo/tiny/step2: .*badconfig/config.json.*n_embd" "$tmp/plan.out" || fail "bad config not named"
grep -q "zoo/tiny/step3: .*truncated/model.safetensors" "$tmp/plan.out" || fail "truncated safetensors not named"
grep -q "notok (tokenizer): .*notok" "$tmp/plan.out" || fail "missing tokenizer not named"
grep -q "zoo/tiny/step1" "$tmp/plan.out" && fail "the good checkpoint was reported"

set +e
"$IBZOO_BIN" run "$tmp/broken.yaml" --run-dir "$tmp/run" > "$tmp/run.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "run exited $rc, expected 2: $(cat "$tmp/run.out")"
grep -q "3 problems with the models" "$tmp/run.out" || fail "run did not list the problems"
[ -z "$(ls -A "$tmp/run/items" 2>/dev/null)" ] || fail "run started items: $(ls "$tmp/run/items")"

sed -e 's/family: gpt2/family: pythia/' -e '/step2\|step3/d' "$tmp/broken.yaml" | sed '/id: notok/,$d' > "$tmp/family.yaml"
cat >> "$tmp/family.yaml" <<'YAML'
data:
  text: {files: [genesis.txt], max_tokens: 64, min_tokens: 16, documents_per_shard: 8, n_documents: 8}
YAML
set +e
"$IBZOO_BIN" plan "$tmp/family.yaml" > "$tmp/family.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "family mismatch: exit $rc: $(cat "$tmp/family.out")"
grep -q "model_type is \"gpt2\", but the manifest's family 'pythia' is gpt_neox" "$tmp/family.out" ||
  fail "family mismatch message: $(cat "$tmp/family.out")"
echo "preflight: 1 passed, 0 failed"
