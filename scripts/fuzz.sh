#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan + UBSan) into build-fuzz/
# (or $IBZOO_FUZZ_BUILD_DIR) and runs each for SECONDS (default 20) on a scratch copy
# of its seed corpus. Fails on any crash, sanitizer report, leak, timeout or OOM;
# the input that did it is kept under $build_dir/artifacts/<target>/.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (docs/FUZZING.md)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors tokenizer manifest benchmarks)
build_dir=${IBZOO_FUZZ_BUILD_DIR:-build-fuzz}

start=$(date +%s)
# No -Werror here: clang warns about different things than the GCC build, which is
# the -Werror gate in CI; a clang-only warning must not hide what the fuzzers find.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DIBZOO_FUZZ=ON -DIBZOO_TESTS=OFF -DIBZOO_WERROR=OFF >/dev/null
cmake --build "$build_dir" --target ibzoo_fuzzers -j "$(nproc)"
echo "fuzz.sh: build $(( $(date +%s) - start )) s"

# Longest input per target: a little over its largest seed (real tokenizer.json
# seeds are ~55 KB; headers, manifests and score files are small).
declare -A max_len=([safetensors]=4096 [tokenizer]=65536 [manifest]=8192 [benchmarks]=8192)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# One libFuzzer process per target, as many at once as there are CPUs (each is
# single-threaded): on CI's two cores the four targets take two slices, not four.
fuzz_one() {  # TARGET: runs it, leaves its exit status in $scratch/TARGET.rc
  local t=$1 rc=0
  cp -r "tests/fuzz/corpus/$t" "$scratch/$t"
  mkdir -p "$build_dir/artifacts/$t"
  TMPDIR="$scratch" "$build_dir/tests/fuzz/${t}_fuzz" "$scratch/$t" -max_total_time="$seconds" \
    -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build_dir/artifacts/$t/" >"$build_dir/fuzz_$t.log" 2>&1 || rc=$?
  echo "$rc" >"$scratch/$t.rc"
}
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz.sh: no target '$t' (have: safetensors tokenizer manifest benchmarks)" >&2; exit 2; }
done
for t in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= $(nproc) )); do wait -n; done
  fuzz_one "$t" &
done
wait

rows=()
failed=0
for t in "${targets[@]}"; do
  artifacts="$build_dir/artifacts/$t"
  log="$build_dir/fuzz_$t.log"
  rc=$(cat "$scratch/$t.rc")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  result=ok
  if ((rc != 0)); then
    failed=1
    if grep -aq 'ERROR: libFuzzer: timeout' "$log"; then result=TIMEOUT
    elif grep -aq 'out-of-memory' "$log"; then result=OOM
    elif grep -aq 'ERROR: LeakSanitizer' "$log"; then result=LEAK
    elif grep -aq 'runtime error:' "$log"; then result=UB
    elif grep -aq 'ERROR: AddressSanitizer' "$log"; then result=ASAN
    elif grep -aq 'terminate called' "$log"; then result=UNCAUGHT
    else result="CRASH(rc=$rc)"; fi
    echo "fuzz.sh: $t failed ($result); log $log, input under $artifacts/:" >&2
    grep -a -m 20 -E 'ERROR|SUMMARY|runtime error|invariant|terminate|what\(\)|#[0-9]+ ' "$log" >&2 || tail -20 "$log" >&2
  fi
  rows+=("$(printf '%-12s %10s %8s %6s  %s' "$t" "${runs:-?}" "${execs:-?}" "${cov:-?}" "$result")")
done

printf '%-12s %10s %8s %6s  %s\n' target runs exec/s cov result
printf '%s\n' "${rows[@]}"
echo "fuzz.sh: total wall time $(( $(date +%s) - start )) s (${seconds} s per target)"
exit $failed
