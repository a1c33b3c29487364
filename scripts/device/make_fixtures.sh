#!/usr/bin/env bash
# Regenerates the transformers reference fixtures (docs/FIXTURES.md) on the CUDA machine.
# Run from the repository root: bash scripts/device/make_fixtures.sh [--families gpt2,llama]
# Writes tests/fixtures/models/<family>/ and tests/fixtures/reference/; when $OUT is set (the
# device tool), also $OUT/fixtures.tar.gz with those paths, the log and the generation report.
set -euo pipefail
cd "$(dirname "$0")/../.."
families="gpt2 gpt_neox llama smollm2 mistral qwen2 olmo2 gemma2"
out="${OUT:-}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi: bf16 CUDA check will be skipped"
status=0
if [[ -n "$out" ]]; then
  python3 scripts/device/make_fixtures.py --out-root tests/fixtures "$@" 2>&1 \
    | tee "$out/make_fixtures.log" || status=$?
else
  python3 scripts/device/make_fixtures.py --out-root tests/fixtures "$@" || status=$?
fi
paths=(tests/fixtures/reference)
for f in $families; do [[ -d tests/fixtures/models/$f ]] && paths+=("tests/fixtures/models/$f"); done
du -ch "${paths[@]}" | tail -n 1
if [[ -n "$out" ]]; then
  tar czf "$out/fixtures.tar.gz" "${paths[@]}"
  cp tests/fixtures/reference/generation_report.json "$out/" 2>/dev/null || true
fi
exit "$status"
