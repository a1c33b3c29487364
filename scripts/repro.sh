#!/usr/bin/env bash
# The source study's two phases (fitting, then compression) reproduced in minutes on
# one GPU (docs/REPRODUCTION.md): unpack the corpus (the King James Bible, committed as
# manifests/repro/kjv.txt.xz) -> train the zoo (manifests/repro/zoo.yaml: GPT-2 and Llama,
# three sizes each, 24 checkpoints, held-out loss at each) -> make the tasks from the
# held-out books -> score every checkpoint on them -> the study on every checkpoint
# (orders 1-4, shuffled nulls, bootstrap intervals) -> regress -> report, with the
# two-phase check of every layer. Prints how long each part took and the verdicts.
#
#   scripts/repro.sh [--device cuda|cpu] [--smoke] [--ibzoo PATH] [--np N] OUT_DIR
#
#   --device   where training, evaluation and the study run (default cuda)
#   --smoke    manifests/repro/smoke-zoo.yaml and a small study: the whole command in about
#              a minute on a CPU (numbers meaningless; it proves the pipeline end to end)
#   --ibzoo    the ibzoo binary (default build-cuda/cli/ibzoo for cuda, else
#              build/cli/ibzoo)
#   --np       MPI ranks of the study's accumulate stage (default 2; all share the one GPU)
#
# Environment (to trade time for precision without editing anything):
#   IBZOO_REPRO_BOOTSTRAP  bootstrap replicates of the study (default 20; smoke 4)
#   IBZOO_REPRO_DOCUMENTS  study documents (default 0 = all held-out paragraphs; smoke 40)
#
# Writes under OUT_DIR: text/kjv.txt, zoo.yaml, zoo/ (docs/DEMO.md, "Zoo directory"),
# tasks/, eval/<model>/<checkpoint>.json, study.yaml, study/ (docs/RUN_LAYOUT.md;
# study/report/index.html, study/report/phases_{layers,models}.csv), timings.csv and
# logs/<part>.log. Rerunning reuses the trained zoo while zoo.yaml is unchanged and the
# study's finished items while the zoo is the same (a retrained zoo starts a new study).
# Needs python3 (standard library only) and, for more than one rank, mpirun.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
device=cuda
smoke=0
ibzoo=
np=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --ibzoo) ibzoo=$2; shift 2 ;;
    --np) np=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "repro: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
out=${1:?usage: scripts/repro.sh [--device cuda|cpu] [--smoke] [--ibzoo PATH] [--np N] OUT_DIR}
[[ $device == cuda || $device == cpu ]] || { echo "repro: --device must be cuda or cpu, got $device" >&2; exit 2; }
if [[ -z $ibzoo ]]; then
  if [[ $device == cuda ]]; then ibzoo=$root/build-cuda/cli/ibzoo; else ibzoo=$root/build/cli/ibzoo; fi
fi
[[ -x $ibzoo ]] || { echo "repro: $ibzoo is not an executable; build ibzoo first (docs/REPRODUCTION.md)" >&2; exit 2; }
ibzoo=$(cd "$(dirname "$ibzoo")" && pwd)/$(basename "$ibzoo")
mkdir -p "$out/logs" "$out/text"
out=$(cd "$out" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1

if [[ $smoke == 1 ]]; then
  zoo_template=$root/manifests/repro/smoke-zoo.yaml
  n_items=10; n_documents=40; max_tokens=64; bootstrap=4; tokens_per_batch=2048; analysis_bootstrap=50
  threads=1; eval_batch=64
else
  zoo_template=$root/manifests/repro/zoo.yaml
  n_items=200; n_documents=0; max_tokens=256; bootstrap=20; tokens_per_batch=16384; analysis_bootstrap=200
  threads=4; eval_batch=256
fi
bootstrap=${IBZOO_REPRO_BOOTSTRAP:-$bootstrap}
n_documents=${IBZOO_REPRO_DOCUMENTS:-$n_documents}

declare -a part_names=() part_secs=()
t_all=$(date +%s%N)
part() {  # part NAME COMMAND...: runs one part, its output in logs/NAME.log, and times it
  local name=$1; shift
  echo "== repro: $name"
  local t0; t0=$(date +%s%N)
  if ! "$@" > "$out/logs/$name.log" 2>&1; then
    tail -30 "$out/logs/$name.log" >&2
    echo "repro: part '$name' failed; its log is $out/logs/$name.log" >&2
    exit 1
  fi
  local t1; t1=$(date +%s%N)
  part_names+=("$name")
  part_secs+=($(( (t1 - t0) / 1000000 )))
}

unpack_corpus() {
  local want=82fa5f3788c6a9a010fb128a0f0bf588984b5888a82058520620eded59b033ea
  local file=$out/text/kjv.txt
  if [[ -s $file ]] && [[ $(sha256sum "$file" | cut -d' ' -f1) == "$want" ]]; then return 0; fi
  if command -v xz > /dev/null; then
    xz -dc "$root/manifests/repro/kjv.txt.xz" > "$file.tmp"
  else
    python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' \
      "$root/manifests/repro/kjv.txt.xz" > "$file.tmp"
  fi
  [[ $(sha256sum "$file.tmp" | cut -d' ' -f1) == "$want" ]] || { echo "corpus: sha256 mismatch" >&2; return 1; }
  mv "$file.tmp" "$file"
}
part corpus unpack_corpus
# The zoo manifest beside the text it reads (its relative paths resolve in OUT_DIR).
if ! cmp -s "$zoo_template" "$out/zoo.yaml"; then cp "$zoo_template" "$out/zoo.yaml"; fi

part train "$ibzoo" train "$out/zoo.yaml" --device "$device"
part tasks "$ibzoo" make-tasks --heldout "$out/zoo/text/heldout.txt" --out "$out/tasks" --n-items "$n_items" --seed 0
part evaluate "$ibzoo" evaluate --zoo "$out/zoo" --tasks "$out/tasks" --out-dir "$out/eval" --checkpoints all \
  --device "$device" --batch-size "$eval_batch" --threads "$threads"

# The study manifest from the trained zoo: every checkpoint of every model, every
# checkpoint's task scores as benchmarks (joined per checkpoint by their revision).
write_study_manifest() {
  python3 - "$out" "$device" "$n_documents" "$max_tokens" "$bootstrap" "$tokens_per_batch" "$threads" \
    "$analysis_bootstrap" <<'PY'
import json, os, sys
out, device, n_documents, max_tokens, bootstrap, tokens_per_batch, threads, analysis_bootstrap = sys.argv[1:]
zoo = json.load(open(os.path.join(out, "zoo", "zoo.json")))
lines = [
    "# Written by scripts/repro.sh from zoo/zoo.json: the reproduction study (docs/REPRODUCTION.md).",
    "study: repro",
    "run_dir: study",
    "models:",
]
bench = []
for m in zoo["models"]:
    lines += [f"  - id: {m['id']}", f"    family: {m['family']}", "    tokenizer: zoo/tokenizer/tokenizer.json",
              "    checkpoints:"]
    for c in m["checkpoints"]:
        rel = os.path.relpath(c["path"], out)
        lines.append(f"      - {{name: {c['name']}, step: {c['step']}, tokens: {c['tokens']}, path: {rel}}}")
        bench.append(f"  - {{file: eval/{m['id']}/{c['name']}.json, format: lm-eval}}")
lines += [
    "data:",
    "  text:",
    "    files: [zoo/text/study.txt]",
    "    split: paragraph",
    f"    n_documents: {n_documents}",
    f"    max_tokens: {max_tokens}",
    "    min_tokens: 16",
    "benchmarks:",
] + bench + [
    "estimator:",
    "  bins: 100",
    "  seed: 0",
    "  calibration: bounds",
    "  orders: [1, 2, 3, 4]",
    "  weighting: frequency",
    "  shuffled_null: true",
    f"  bootstrap: {bootstrap}",
    "compute:",
    f"  device: {device}",
    "  dtype: float32",
    f"  tokens_per_batch: {tokens_per_batch}",
    f"  threads: {threads}",
    "analysis:",
    "  predictors: [optimality, complexity, expressivity]",
    "  controls: [log_params]",
    "  cv: leave-one-family-out",
    f"  bootstrap: {analysis_bootstrap}",
    "  seed: 0",
    "  report: false",
]
open(os.path.join(out, "study.yaml"), "w").write("\n".join(lines) + "\n")
# A retrained zoo invalidates the study's finished items (their ids name checkpoint
# paths, not weights): start that study afresh.
stamp = os.path.join(out, "study.zoo_hash")
old = open(stamp).read().strip() if os.path.exists(stamp) else None
if old != zoo["zoo_hash"] and os.path.isdir(os.path.join(out, "study")):
    import shutil
    shutil.rmtree(os.path.join(out, "study"))
open(stamp, "w").write(zoo["zoo_hash"] + "\n")
PY
}
part manifest write_study_manifest

launch=("$ibzoo")
[[ $np -gt 1 ]] && launch=(mpirun -np "$np" --oversubscribe "$ibzoo")
part accumulate "${launch[@]}" run "$out/study.yaml" --stage accumulate --progress lines
part metrics "$ibzoo" run "$out/study.yaml" --stage metrics
part regress "$ibzoo" run "$out/study.yaml" --stage analyze
part report "$ibzoo" report "$out/study"

t_end=$(date +%s%N)
secs() { printf '%d.%01d' $(($1 / 1000)) $((($1 % 1000) / 100)); }
{
  echo "part,seconds"
  for i in "${!part_names[@]}"; do echo "${part_names[$i]},$(secs "${part_secs[$i]}")"; done
  echo "total,$(secs $(( (t_end - t_all) / 1000000 )))"
} > "$out/timings.csv"

echo
echo "repro: wall time per part (s), device $device$([[ $smoke == 1 ]] && echo ', smoke')"
for i in "${!part_names[@]}"; do printf '  %-11s %8s\n' "${part_names[$i]}" "$(secs "${part_secs[$i]}")"; done
printf '  %-11s %8s\n' "total" "$(secs $(( (t_end - t_all) / 1000000 )))"
echo
echo "repro: training, per model (zoo/zoo.json)"
python3 - "$out/zoo/zoo.json" <<'PY'
import json, math, sys
z = json.load(open(sys.argv[1]))
print(f"  {'model':<12} {'params':>9} {'train s':>8} {'device':>6} {'precision':>9}  held-out loss: first -> best (step) -> last")
for m in z["models"]:
    losses = [(c["step"], c.get("heldout_loss")) for c in m["checkpoints"] if c.get("heldout_loss") is not None]
    if losses:
        best = min(losses, key=lambda x: x[1])
        trail = f"{losses[0][1]:.3f} -> {best[1]:.3f} ({best[0]}) -> {losses[-1][1]:.3f}"
    else:
        trail = "none"
    print(f"  {m['id']:<12} {m['n_parameters']:>9} {m.get('train_seconds', 0):>8.1f} {m.get('device', ''):>6} "
          f"{m.get('precision', ''):>9}  {trail}")
PY
echo
echo "repro: two phases per model (study/report/phases_models.csv; per layer: phases_layers.csv)"
python3 - "$out/study/report" <<'PY'
import csv, os, sys
d = sys.argv[1]
models = list(csv.DictReader(open(os.path.join(d, "phases_models.csv"))))
layers = list(csv.DictReader(open(os.path.join(d, "phases_layers.csv"))))
for m in models:
    print(f"  {m['model']:<12} both phases: {m['both_phases']:<5}  upper layers [{m['upper_layers']}] compress: "
          f"{m['upper_layers_compress']:<5}  last layer's optimality rises: {m['last_layer_optimality_rises']}")
    for l in layers:
        if l["model"] != m["model"] or l["upper"] != "true":
            continue
        def f(k):
            try:
                return f"{float(l[k]):.3f}"
            except ValueError:
                return "nan"
        print(f"    layer {l['layer']}: peak step {l['peak_step'] or '-'} I(X;Z) {f('peak')} -> best-loss step "
              f"{l['best_step'] or '-'} {f('at_best')} (fall {f('fall')}, null {f('null_level')}, CI low/high "
              f"{f('peak_ci_low')}/{f('best_ci_high')}), loss {f('loss_at_peak')} -> {f('loss_at_best')}, optimality "
              f"{f('optimality_at_peak')} -> {f('optimality_at_best')}: {'PASS' if l['compresses'] == 'true' else 'FAIL'}")
PY
echo
echo "repro: report at $out/study/report/index.html"
echo "repro: timings in $out/timings.csv"
