#!/usr/bin/env bash
# The bad-input corpus (tests/bad_inputs/cases.tsv): every case runs through the real
# `ibzoo` CLI and must exit with its documented code and print its documented words.
# Run-level cases also check that the items that could finish did finish and are kept.
#
# cases.tsv columns (tab-separated): id, kind, command, exit code, words ('|'-separated,
# each must appear in stdout+stderr). The command is a bash line run in a fresh temporary
# directory $T with the helpers below; $C is tests/bad_inputs/<id>.
#
# Environment: IBZOO_BIN, IBZOO_SOURCE_DIR (set by ctest); optional IBZOO_CASES (a regex
# of ids to run), IBZOO_JOBS (parallel cases, default nproc), IBZOO_BAD_INPUTS_DOC (write
# the markdown table of cases and their actual first error line to this file).
set -uo pipefail
: "${IBZOO_BIN:?}" "${IBZOO_SOURCE_DIR:?}"
export IBZOO_BIN IBZOO_SOURCE_DIR
export CORPUS="$IBZOO_SOURCE_DIR/tests/bad_inputs"
export FIX="$IBZOO_SOURCE_DIR/tests/fixtures"
export TINY="$IBZOO_SOURCE_DIR/manifests/test/models/tiny-gpt2"
export TEXT="$CORPUS/common/short.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export work

# ---- helpers available to the commands in cases.tsv -------------------------------
ibzoo() { "$IBZOO_BIN" "$@"; }
plan() { ibzoo plan "$1" --run-dir "$T/run"; }
tokenize() { ibzoo tokenize --tokenizer "$1" --text-file "$TEXT" >/dev/null; }
regress() { ibzoo regress --metrics "$CORPUS/common/metrics.csv" --benchmarks "$1" --out "$T/regress"; }
# A copy of the tiny model in $M, to be damaged by the case.
model_dir() { M="$T/model"; mkdir -p "$M"; cp "$TINY"/config.json "$TINY"/tokenizer.json "$TINY"/model.safetensors "$M"/; }
extract() { ibzoo extract --model "$M" --text-file "$CORPUS/common/line.txt" --out "$T/out.h5"; }
# A study in $T/study.yaml over the short text: the tiny model, plus the model directory $1 if given.
study() {
  {
    printf 'study: bad\nroots: [%s, %s]\nmodels:\n' "$IBZOO_SOURCE_DIR" "$T"
    printf '  - {id: tiny-gpt2, family: gpt2, path: %s}\n' "$TINY"
    [ $# -gt 0 ] && printf '  - {id: broken, family: gpt2, path: %s}\n' "$1"
    printf 'data:\n  text: {files: [%s], min_tokens: 16, max_tokens: 128, documents_per_shard: 4}\n' "$TEXT"
    printf 'estimator: {bins: 20, orders: [1], shuffled_null: false}\ncompute: {threads: 1}\n'
  } >"$T/study.yaml"
}
two_model_study() { study "$1"; }
# Runs $1 into $T/run, then shows `ibzoo status` and how many items are done/failed;
# returns the run's exit code.
run_kept() {
  ibzoo run "$1" --run-dir "$T/run" --quiet
  local rc=$?
  ibzoo status "$T/run"
  local n_done n_failed
  n_done=$(find "$T/run/items" -name DONE 2>/dev/null | wc -l)
  n_failed=$(find "$T/run/items" -name error.json 2>/dev/null | wc -l)
  echo "kept: $n_done done, $n_failed failed"
  return $rc
}
# A run or submission into a directory that holds someone else's file: refused, the file
# untouched, nothing of the run written there. Prints what the directory holds afterwards.
foreign_run_dir() {
  study
  mkdir -p "$T/mine"
  echo "my notes" >"$T/mine/notes.txt"
  ibzoo "$@" "$T/study.yaml" --run-dir "$T/mine"
  local rc=$?
  echo "holds: $(ls -A "$T/mine" | tr '\n' ' ')$(cat "$T/mine/notes.txt")"
  return $rc
}
# Runs `ibzoo run $1` into the finished run $T/run; says whether every file there kept its bytes.
run_into_finished() {
  local before after rc
  before=$(cd "$T/run" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  ibzoo run "$1" --run-dir "$T/run" --quiet
  rc=$?
  after=$(cd "$T/run" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  if [ "$before" = "$after" ]; then echo "run directory unchanged"; else echo "run directory CHANGED"; fi
  return $rc
}
# $T/other.yaml: the study manifest edited by the sed expression $1.
edited_study() { sed "$1" "$T/study.yaml" >"$T/other.yaml"; }
# A lock in $T/run/locks/run.lock held by pid $1 of this host (a live one: this shell).
fake_lock() {
  mkdir -p "$T/run/locks"
  printf '{"host": "%s", "pid": %s, "start_ticks": 0, "started": "2026-01-01T00:00:00Z", "command": "ibzoo run x"}\n' \
    "$(hostname)" "$1" >"$T/run/locks/run.lock"
}
dead_pid() { sleep 0 & wait $!; echo $!; }
# A finished one-model run in $T/run.
one_model_run() { study; ibzoo run "$T/study.yaml" --run-dir "$T/run" --quiet >/dev/null 2>&1 || echo "setup run failed"; }
# The tiny model with every element of one tensor set to $2 (nan, inf), beside the good model.
poisoned_model() {
  model_dir
  python3 "$CORPUS/common/poison_weights.py" "$TINY/model.safetensors" "$M/model.safetensors" "$1" "$2"
  study "$M"
}
flip_byte() {  # flip_byte FILE OFFSET: inverts one byte in place
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# A manifest whose model directory is reached through a symlink leading outside its root.
symlink_dir_escape() {
  mkdir -p "$T/m/data"
  cp "$TEXT" "$T/m/data/short.txt"
  ln -s "$IBZOO_SOURCE_DIR/manifests/test/models" "$T/m/models"
  printf 'study: bad\nmodels:\n  - {id: tiny-gpt2, family: gpt2, path: models/tiny-gpt2}\ndata:\n  text: {files: [data/short.txt]}\n' >"$T/m/manifest.yaml"
  plan "$T/m/manifest.yaml"
}
# A model directory inside the root whose weight file is a symlink to a file outside it.
symlink_file_escape() {
  mkdir -p "$T/m/model"
  cp "$TEXT" "$T/m/short.txt"
  cp "$TINY/config.json" "$TINY/tokenizer.json" "$T/m/model/"
  ln -s /etc/passwd "$T/m/model/model.safetensors"
  printf 'study: bad\nmodels:\n  - {id: tiny-gpt2, family: gpt2, path: model}\ndata:\n  text: {files: [short.txt]}\n' >"$T/m/manifest.yaml"
  plan "$T/m/manifest.yaml"
}
export -f ibzoo plan tokenize regress model_dir extract study two_model_study run_kept foreign_run_dir one_model_run poisoned_model \
  flip_byte symlink_dir_escape symlink_file_escape run_into_finished edited_study fake_lock dead_pid

# Runs one case (a cases.tsv line); writes $work/results/<id>.{out,verdict}.
run_case() {
  local id kind cmd want words
  IFS=$'\t' read -r id kind cmd want words <<<"$1"
  export C="$CORPUS/$id" T="$work/cases/$id"
  mkdir -p "$T"
  local out="$work/results/$id.out"
  (cd "$T" && eval "$cmd") >"$out" 2>&1
  local rc=$? problems=""
  [ "$rc" -eq "$want" ] || problems+="exit code $rc, expected $want; "
  local w
  IFS='|' read -r -a ws <<<"$words"
  for w in "${ws[@]}"; do
    grep -aqF -- "$w" "$out" || problems+="missing words '$w'; "
  done
  if [ -z "$problems" ]; then echo "ok" >"$work/results/$id.verdict"; else echo "$problems" >"$work/results/$id.verdict"; fi
}
export -f run_case
mkdir -p "$work/results" "$work/cases"

cases=$(grep -v '^#' "$CORPUS/cases.tsv" | grep -v '^$')
[ -n "${IBZOO_CASES:-}" ] && cases=$(grep -E "^(${IBZOO_CASES})"$'\t' <<<"$cases")
n_cases=$(wc -l <<<"$cases")
printf '%s\n' "$cases" | tr '\n' '\0' | xargs -0 -P "${IBZOO_JOBS:-$(nproc)}" -I{} bash -c 'run_case "$1"' _ {}

passed=0 failed=0
while IFS=$'\t' read -r id kind cmd want words; do
  verdict=$(cat "$work/results/$id.verdict" 2>/dev/null || echo "did not run")
  if [ "$verdict" = ok ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $id ($kind): $verdict"
    sed 's/^/    | /' "$work/results/$id.out" | tail -15
  fi
done <<<"$cases"

if [ -n "${IBZOO_BAD_INPUTS_DOC:-}" ]; then
  {
    echo "| id | kind | exit | message (first error line, paths shortened) |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r id kind cmd want words; do
      # The first error or warning line; for a manifest, its first listed problem.
      msg=$(awk '/problems? (in the manifest|with the models, nothing was run):$/ { getline; print; exit } /error:|warning:/ { print; exit }' \
              "$work/results/$id.out" | sed -E "s#$work/cases/$id#\$T#g; s#$IBZOO_SOURCE_DIR/##g; s#\[rank 0\] ##; s#^ +##; s#\|#\\\\|#g")
      echo "| \`$id\` | $kind | $want | $msg |"
    done <<<"$cases"
  } >"$IBZOO_BAD_INPUTS_DOC"
fi

[ "$n_cases" -ge 40 ] || [ -n "${IBZOO_CASES:-}" ] || { echo "FAIL: only $n_cases cases in the corpus"; failed=$((failed + 1)); }
echo "bad_inputs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
