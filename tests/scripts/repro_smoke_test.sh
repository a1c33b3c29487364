#!/usr/bin/env bash
# scripts/repro.sh --smoke on the CPU, end to end (about 15 s on 2 quiet cores): corpus
# -> zoo with held-out loss -> tasks -> every checkpoint scored -> the study (orders 1-4,
# nulls, bootstrap) -> regress -> report with the two-phase checks; then what each part
# left behind. The numbers of so small a zoo mean nothing; the pipeline is what is tested.
set -euo pipefail
bin=${IBZOO_BIN:?IBZOO_BIN must point to the ibzoo binary}
src=${IBZOO_SOURCE_DIR:?IBZOO_SOURCE_DIR must point to the source tree}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$src/scripts/repro.sh" --device cpu --smoke --np 1 --ibzoo "$bin" "$out" > "$out/repro.out" 2>&1 ||
  { tail -40 "$out/repro.out"; fail "repro.sh --smoke"; }
for part in corpus train tasks evaluate manifest accumulate metrics regress report total; do
  grep -q "^$part," "$out/timings.csv" || fail "timings.csv lacks $part"
done
grep -q "repro: wall time per part (s), device cpu, smoke" "$out/repro.out" || fail "no timing table printed"
grep -q "both phases:" "$out/repro.out" || fail "no two-phase verdicts printed"
python3 - "$out" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
z = json.load(open(os.path.join(out, "zoo", "zoo.json")))
assert [m["id"] for m in z["models"]] == ["gpt2-d32", "gpt2-d48", "llama-d32"], z["models"]
for m in z["models"]:
    assert len(m["checkpoints"]) == 5 and m["device"] == "cpu" and m["precision"] == "float32", m
    assert all(c["heldout_loss"] > 0 for c in m["checkpoints"]), m
    for c in m["checkpoints"]:
        state = json.load(open(os.path.join(c["path"], "trainer_state.json")))
        assert state["global_step"] == c["step"], state
        e = json.load(open(os.path.join(out, "eval", m["id"], c["name"] + ".json")))
        assert e["model_name"] == m["id"] and e["config"]["model_args"].endswith("revision=" + c["name"]), e["config"]
rows = list(csv.DictReader(open(os.path.join(out, "study", "results", "metrics.csv"))))
count = lambda **kw: sum(all(r[k] == v for k, v in kw.items()) for r in rows)
assert count(metric="eval_loss", scope="model") == 15, count(metric="eval_loss", scope="model")
for s in ["in4", "out4"]:
    assert count(label_set=s, metric="mutual_information", scope="layer") == 45, s  # 15 checkpoints x layers 0..2
    assert count(label_set=s, metric="null_mutual_information", scope="layer") == 45, s
    assert count(label_set=s, metric="mi_ci_low", scope="layer") == 45, s
table = list(csv.DictReader(open(os.path.join(out, "study", "results", "model_table.csv"))))
assert len(table) == 15, len(table)  # every checkpoint is an observation: its scores name it
models = list(csv.DictReader(open(os.path.join(out, "study", "report", "phases_models.csv"))))
assert [m["model"] for m in models] == ["gpt2-d32", "gpt2-d48", "llama-d32"], models
layers = list(csv.DictReader(open(os.path.join(out, "study", "report", "phases_layers.csv"))))
assert len(layers) == 9 and all(l["best_step"] for l in layers), layers
html = open(os.path.join(out, "study", "report", "index.html")).read()
for want in ["Two phases, layer by layer", "alt=\"gpt2-d32: I(X;Z), I(Y;Z) and optimality of every layer",
             "alt=\"gpt2-d32: each layer's trajectory in the information plane", "Task scores against optimality"]:
    assert want in html, want
PY
echo "repro_smoke_test: ok"
