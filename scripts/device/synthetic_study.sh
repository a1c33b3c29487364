# Sourced by scripts/device/multigpu_scaling.sh and gpu_determinism.sh: the inputs of a
# synthetic study under WORK (data/text.txt, models/ck1..ckN), made with BIN. Random words
# of manifests/test/data/genesis.txt, the byte-level tokenizer of tiny-gpt2, random
# Llama-style checkpoints (16 heads, 4 KV heads, MLP 4 x HIDDEN, seed = checkpoint number).
#   synthetic_text WORK N_DOCS MIN_WORDS MAX_WORDS
#   synthetic_checkpoints BIN WORK N_CKPT HIDDEN LAYERS
#   checkpoint_list N_CKPT   (the manifest's checkpoint entries, one per line)
#   synthetic_manifest ...   (below)
synthetic_text() {
  mkdir -p "$1/data"
  python3 - "$1/data/text.txt" "$2" "$3" "$4" <<'PY'
import random, sys
random.seed(0)
words = open("manifests/test/data/genesis.txt").read().split()
lo, hi = int(sys.argv[3]), int(sys.argv[4])
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        f.write(" ".join(random.choice(words) for _ in range(random.randint(lo, hi) if hi > lo else lo)) + "\n\n")
PY
}

synthetic_checkpoints() {
  local i d
  for i in $(seq 1 "$3"); do
    d=$2/models/ck$i
    "$1" make-model --family llama --out "$d" --layers "$5" --hidden "$4" --heads 16 --kv-heads 4 \
      --intermediate $((4 * $4)) --vocab 257 --seed "$i" > /dev/null
    cp manifests/test/models/tiny-gpt2/tokenizer.json "$d/"
  done
}

checkpoint_list() {
  local i
  for i in $(seq 1 "$1"); do echo "      - {revision: step$i, step: $i, path: models/ck$i}"; done
}

# The study's manifest on stdout: orders 1-2, 100 bins, 32,768 tokens per batch, THREADS
# (8) threads.
#   synthetic_manifest STUDY RUN_DIR N_CKPT DOCUMENTS_PER_SHARD SHUFFLED_NULL DEVICE DTYPE
synthetic_manifest() {
  printf 'study: %s\nrun_dir: %s\nmodels:\n  - id: llama-1024\n    family: llama\n    n_parameters: 1.1e8\n    checkpoints:\n' "$1" "$2"
  checkpoint_list "$3"
  cat <<YAML
data:
  text:
    files: [data/text.txt]
    split: paragraph
    max_tokens: 512
    min_tokens: 16
    documents_per_shard: $4
estimator:
  bins: 100
  seed: 0
  calibration: bounds
  orders: [1, 2]
  weighting: frequency
  shuffled_null: $5
compute:
  device: $6
  dtype: $7
  tokens_per_batch: 32768
  threads: ${THREADS:-8}
YAML
}
