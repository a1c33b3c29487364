#!/usr/bin/env bash
# A study from the Hugging Face hub cache: a cache laid out exactly as huggingface_hub
# writes it (blobs/<sha256>, refs/<revision> holding the commit, snapshots/<commit>/
# with relative symlinks into blobs/), checkpoints given as repo + revision (one by
# branch name, one by commit hash), steps parsed from the revision names. The same
# study from plain directories gives a byte-identical metrics.csv. Then the pandas
# snippets of docs/RUN_LAYOUT.md run on its metrics.csv and metrics.h5, and the
# manifest errors for a missing revision and a missing step are checked.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
src="$IBZOO_SOURCE_DIR/manifests/test"
model="$src/models/tiny-gpt2"

# ---- the cache ----
repo="$tmp/hf/hub/models--ibzoo--tiny-gpt2"
mkdir -p "$repo/blobs" "$repo/refs"
commit_a=1111111111111111111111111111111111111111
commit_b=2222222222222222222222222222222222222222
for commit in $commit_a $commit_b; do
  mkdir -p "$repo/snapshots/$commit"
  for f in config.json model.safetensors tokenizer.json; do
    blob=$(sha256sum "$model/$f" | cut -d' ' -f1)
    cp "$model/$f" "$repo/blobs/$blob"
    ln -sfn "../../blobs/$blob" "$repo/snapshots/$commit/$f"
  done
done
printf '%s' $commit_a > "$repo/refs/step1000"
printf '%s' $commit_b > "$repo/refs/main"
mkdir -p "$tmp/plain/a" "$tmp/plain/b"
cp "$model"/* "$tmp/plain/a/"
cp "$model"/* "$tmp/plain/b/"
cp "$src/data/genesis.txt" "$tmp/"

common() {
  cat <<YAML
data:
  text: {files: [genesis.txt], max_tokens: 64, min_tokens: 16, documents_per_shard: 8, n_documents: 8}
estimator: {bins: 16, orders: [1]}
compute: {threads: 1, tokens_per_batch: 512}
analysis: {report: false, bootstrap: 0}
YAML
}
{ cat <<YAML
study: hub
models:
  - id: ibzoo/tiny-gpt2
    family: gpt2
    checkpoints:
      - {repo: ibzoo/tiny-gpt2, revision: step1000}
      - {repo: ibzoo/tiny-gpt2, revision: $commit_b, name: step2000-tokens1M}
roots: [$IBZOO_SOURCE_DIR/tests/fixtures/benchmarks]
# The harness's results of two revisions, given to this model's two checkpoints.
benchmarks:
  - {file: $IBZOO_SOURCE_DIR/tests/fixtures/benchmarks/lm_eval_v04_pythia-160m_step73000.json, format: lm-eval,
     model: ibzoo/tiny-gpt2, checkpoint: step1000}
  - {file: $IBZOO_SOURCE_DIR/tests/fixtures/benchmarks/lm_eval_v04_pythia-160m_step143000.json,
     aliases: {EleutherAI/pythia-160m: ibzoo/tiny-gpt2}, checkpoint: step2000-tokens1M}
YAML
  common; } > "$tmp/hub.yaml"
{ cat <<YAML
study: plain
models:
  - id: ibzoo/tiny-gpt2
    family: gpt2
    checkpoints:
      - {name: step1000, step: 1000, path: plain/a}
      - {name: step2000-tokens1M, step: 2000, tokens: 1000000, path: plain/b}
YAML
  common; } > "$tmp/plain.yaml"

export HF_HUB_CACHE="$tmp/hf/hub"
"$IBZOO_BIN" plan "$tmp/hub.yaml" > "$tmp/plan.txt" || fail "plan of the hub study: $(cat "$tmp/plan.txt")"
"$IBZOO_BIN" run "$tmp/hub.yaml" --run-dir "$tmp/hub_run" --quiet
"$IBZOO_BIN" run "$tmp/plain.yaml" --run-dir "$tmp/plain_run" --quiet
cmp "$tmp/hub_run/results/metrics.csv" "$tmp/plain_run/results/metrics.csv" ||
  fail "metrics.csv from the hub cache differs from the plain directories"
grep -q '^ibzoo/tiny-gpt2,gpt2,step2000-tokens1M,2000,' "$tmp/hub_run/results/metrics.csv" || fail "step not parsed"
grep -q "\"path\": \"$repo/snapshots/$commit_a\"" "$tmp/hub_run/manifest.json" || fail "snapshot path not in manifest.json"
grep -q '"revision": "step1000"' "$tmp/hub_run/manifest.json" || fail "revision not in manifest.json"

# Scores per checkpoint: both revisions used, no conflict, each with its source.
scores="$tmp/hub_run/results/scores.csv"
[ "$(grep -c ',used$' "$scores")" -eq 6 ] || fail "expected 6 used scores: $(cat "$scores")"
grep -q '^ibzoo/tiny-gpt2,step1000,mmlu,.*lm_eval_v04_pythia-160m_step73000.json:mmlu,used$' "$scores" ||
  fail "mmlu at step1000 not from the step73000 file: $(cat "$scores")"
grep -q '^ibzoo/tiny-gpt2,step2000-tokens1M,gsm8k,1\.[89][0-9]*,"exact_match,strict-match",task,' "$scores" ||
  fail "gsm8k at step2000: $(cat "$scores")"
[ "$(grep -c '^ibzoo/tiny-gpt2,' "$tmp/hub_run/results/model_table.csv")" -eq 2 ] ||
  fail "regress did not take one observation per checkpoint"

# HF_HOME/hub when HF_HUB_CACHE is unset.
(unset HF_HUB_CACHE; HF_HOME="$tmp/hf" "$IBZOO_BIN" plan "$tmp/hub.yaml" > /dev/null) || fail "HF_HOME/hub not used"

# ---- errors: a revision not in the cache, a checkpoint with no step ----
sed 's/revision: step1000}/revision: step9}/' "$tmp/hub.yaml" > "$tmp/missing.yaml"
set +e
"$IBZOO_BIN" plan "$tmp/missing.yaml" > "$tmp/missing.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "missing revision: exit $rc, expected 2"
grep -q "revision 'step9' is not in the cache: no $repo/refs/step9; revisions there: $commit_a, $commit_b, main, step1000" \
  "$tmp/missing.out" || fail "missing revision message: $(cat "$tmp/missing.out")"
grep -q "cache from HF_HUB_CACHE" "$tmp/missing.out" || fail "the message does not say where the cache came from"
sed 's/name: step2000-tokens1M}/name: latest}/' "$tmp/hub.yaml" > "$tmp/nostep.yaml"
set +e
"$IBZOO_BIN" plan "$tmp/nostep.yaml" > "$tmp/nostep.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "missing step: exit $rc, expected 2"
grep -q "checkpoint(s) latest have no 'step'" "$tmp/nostep.out" || fail "missing step message: $(cat "$tmp/nostep.out")"

# ---- the pandas snippets of docs/RUN_LAYOUT.md, as written there ----
py=/usr/bin/python3
if ! $py -c 'import pandas, h5py' 2>/dev/null; then
  fail "python3-pandas and python3-h5py are needed (scripts/setup.sh installs them)"
fi
awk '/^```python$/ {on = 1; n++; next} /^```$/ {on = 0} on {print > (dir "/snippet" n ".py")}' \
  dir="$tmp" "$IBZOO_SOURCE_DIR/docs/RUN_LAYOUT.md"
[ -s "$tmp/snippet1.py" ] && [ -s "$tmp/snippet2.py" ] || fail "docs/RUN_LAYOUT.md has no pandas snippets"
cd "$tmp"
mkdir -p runs && ln -s "$tmp/hub_run" runs/tiny
$py - <<'PY' || fail "pandas snippets"
import runpy
csv = runpy.run_path("snippet1.py")
h5 = runpy.run_path("snippet2.py")
m, mean, per_layer, f = csv["m"], csv["mean"], csv["per_layer"], h5["m"]
assert str(m.layer.dtype) == "int64", m.dtypes
assert str(m.value.dtype) == "float64", m.dtypes
assert not m.label_set.isna().any(), "label_set has NaN"
assert set(m.scope) == {"layer", "layer_mean", "model"}, set(m.scope)
assert len(mean) == 2 and len(per_layer) > 0, (mean, per_layer)
assert all(isinstance(v, str) for v in f.model), "metrics.h5 strings are not str"
cols = list(m.columns)
assert sorted(f.columns) == sorted(cols), (f.columns, cols)
f = f[cols]
for c in cols:
    if c == "value":
        assert ((f[c] == m[c]) | (f[c].isna() & m[c].isna())).all() or (abs(f[c] - m[c]) < 1e-12).all(), c
    else:
        assert (f[c] == m[c]).all(), c
print("pandas: metrics.csv", m.shape, "metrics.h5 identical")
PY
echo "hub_cache: 1 passed, 0 failed"
