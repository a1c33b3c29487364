#!/usr/bin/env bash
# The demo, scaled down (seconds), end to end: train a 3-model zoo twice (cache) and
# once more with --force (same bytes), make tasks, evaluate, run the study on every
# checkpoint with 2 MPI ranks, regress and report. Plus the error paths' exit codes.
# Writes under $IBZOO_SOURCE_DIR/runs/test-demo-small (the manifests' paths).
set -euo pipefail
bin=${IBZOO_BIN:?IBZOO_BIN must point to the ibzoo binary}
src=${IBZOO_SOURCE_DIR:?IBZOO_SOURCE_DIR must point to the source tree}
cd "$src"
demo=runs/test-demo-small
rm -rf "$demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_oob_tcp_if_include=lo \
  OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1

# 1. Train: 3 models x checkpoints 0, 1, 6, in the Hugging Face layout.
"$bin" train manifests/test/demo-zoo-small.yaml 2> "$tmp/train1.log" || { cat "$tmp/train1.log"; fail "train"; }
for id in gpt2-tiny llama-tiny neox-tiny; do
  for s in 000000 000001 000006; do
    d=$demo/zoo/models/$id/step-$s
    for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
      [[ -s $d/$f ]] || fail "$d/$f missing"
    done
  done
  [[ -s $demo/zoo/models/$id/train_log.csv ]] || fail "train log of $id missing"
done
for f in train.txt heldout.txt study.txt; do [[ -s $demo/zoo/text/$f ]] || fail "text/$f missing"; done
grep -q "Alpha and Omega" "$demo/zoo/text/train.txt" && fail "held-out book Revelation leaked into train.txt"
grep -q "Alpha and Omega" "$demo/zoo/text/heldout.txt" || fail "heldout.txt lacks Revelation"
python3 - "$demo/zoo/zoo.json" <<'PY'
import json, sys
z = json.load(open(sys.argv[1]))
assert [m["id"] for m in z["models"]] == ["gpt2-tiny", "llama-tiny", "neox-tiny"], z["models"]
assert [c["step"] for c in z["models"][0]["checkpoints"]] == [0, 1, 6]
assert z["heldout_books"] == ["3 John", "Jude", "Revelation"], z["heldout_books"]
for m in z["models"]:
    assert m["n_parameters"] > 0 and 0 < m["final_loss"] < 10, m
cfg = json.load(open(z["models"][1]["checkpoints"][-1]["path"] + "/config.json"))
assert cfg["model_type"] == "llama" and cfg["vocab_size"] <= 300, cfg
PY
sha_of() { sha256sum "$demo"/zoo/models/*/step-*/model.safetensors | awk '{print $1}'; }
sha1=$(sha_of)

# 2. Unchanged manifest: cached, nothing rewritten.
"$bin" train manifests/test/demo-zoo-small.yaml 2> "$tmp/train2.log"
grep -q "is cached" "$tmp/train2.log" || { cat "$tmp/train2.log"; fail "second train did not reuse the zoo"; }

# 3. Reproducible: retraining gives byte-identical checkpoints.
"$bin" train manifests/test/demo-zoo-small.yaml --force 2> "$tmp/train3.log"
[[ "$(sha_of)" == "$sha1" ]] || fail "retraining with the same seed and threads changed the checkpoints"

# 4. Tasks and evaluation (lm-evaluation-harness results JSON).
"$bin" make-tasks --heldout "$demo/zoo/text/heldout.txt" --out "$demo/tasks" --n-items 20 --seed 0
mkdir -p "$demo/eval"
for id in gpt2-tiny llama-tiny neox-tiny; do
  "$bin" evaluate --model "$demo/zoo/models/$id/step-000006" --tasks "$demo/tasks" --out "$demo/eval/$id.json" \
    --name "$id" --threads 2
done
python3 - "$demo/eval" <<'PY'
import json, sys
for id in ["gpt2-tiny", "llama-tiny", "neox-tiny"]:
    j = json.load(open(f"{sys.argv[1]}/{id}.json"))
    assert j["model_name"] == id
    assert sorted(j["results"]) == ["kjv_missing_word", "kjv_next_verse", "kjv_next_words"], j["results"].keys()
    for t, r in j["results"].items():
        for k in ["acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"]:
            assert 0 <= r[k] <= 1, (id, t, k, r[k])
        assert r["alias"] == t and j["n-shot"][t] == 0
PY

# 5. The study on every checkpoint, 2 ranks; then regress and report.
mpirun -np 2 --oversubscribe "$bin" run manifests/test/demo-small.yaml 2> "$tmp/run.log" || { tail -30 "$tmp/run.log"; fail "study"; }
metrics=$demo/study/results/metrics.csv
[[ -s $metrics ]] || fail "no metrics.csv"
for id in gpt2-tiny llama-tiny neox-tiny; do
  [[ $(grep -c "$id" "$metrics") -gt 0 ]] || fail "$id missing from metrics.csv"
  # The held-out loss the trainer wrote into each checkpoint's trainer_state.json.
  [[ $(grep -c "^$id,.*,-1,none,eval_loss,.*,model$" "$metrics") -eq 3 ]] || fail "$id: no eval_loss row per checkpoint"
  [[ -s $demo/zoo/models/$id/eval_log.csv ]] || fail "$id: no eval_log.csv"
done
head -1 "$demo/study/results/summary.csv" | grep -q ',preference,eval_loss$' || fail "summary.csv lacks eval_loss"
bench_args=()
for f in "$demo"/eval/*.json; do bench_args+=(--benchmarks "$f"); done
"$bin" regress --metrics "$metrics" "${bench_args[@]}" --out "$demo/study/results" \
  --predictors optimality,complexity,expressivity --controls "" --cv none --bootstrap 50
[[ -s $demo/study/results/correlations.csv ]] || fail "no correlations.csv"
grep -q "^optimality,kjv_next_words,spearman,3," "$demo/study/results/correlations.csv" || \
  fail "no 3-model spearman row for optimality ~ kjv_next_words"
"$bin" report "$demo/study" > "$tmp/report.out"
[[ -s $demo/study/report/index.html ]] || fail "no report"
# The report in a real browser: no console message, every figure decodes and is not blank,
# the trajectory plot and the provenance are there.
source "$src/tests/scripts/lib/report_browser.sh"
check_report_in_browser "$src/$demo/study/report/index.html" 5 "$tmp" || fail "the demo's report in the browser"
grep -q 'alt="Metric by training step' "$tmp/dom.html" || fail "no trajectory figure in the demo's report"
grep -q '<th>manifest hash</th>' "$tmp/dom.html" || fail "no provenance in the demo's report"
if [[ -n ${IBZOO_DEMO_SCREENSHOT:-} ]]; then
  chrome --window-size=1280,2600 --hide-scrollbars --screenshot="$IBZOO_DEMO_SCREENSHOT" \
    "file://$src/$demo/study/report/index.html#trajectories" 2> /dev/null
fi

# 6. Errors: a bad zoo manifest (2) names the line; missing task files are an input error too (2).
printf 'zoo: x\nout_dir: o\nmodels:\n  - {id: a, family: gpt5}\n' > "$tmp/bad.yaml"
set +e
"$bin" train "$tmp/bad.yaml" 2> "$tmp/bad.log"; rc=$?
"$bin" evaluate --model "$demo/zoo/models/gpt2-tiny/step-000006" --tasks "$tmp/none" --out "$tmp/x.json" 2> "$tmp/bad2.log"; rc2=$?
set -e
[[ $rc -eq 2 ]] || fail "bad zoo manifest: exit $rc, expected 2"
grep -q "bad.yaml:4: 'family' must be gpt2" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "message"; }
[[ $rc2 -eq 2 ]] || fail "missing tasks: exit $rc2, expected 2"
grep -q "task file or directory not found" "$tmp/bad2.log" || { cat "$tmp/bad2.log"; fail "message 2"; }
echo "demo_small_test: ok"
