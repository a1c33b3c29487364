#!/usr/bin/env bash
# End-to-end test of `ibzoo entropy`: builds an input with --write-example, checks
# the JSON keys and values, the variants, and the error messages and exit codes.
set -euo pipefail
bin=${IBZOO_BIN:?IBZOO_BIN must point to the ibzoo binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" entropy --write-example "$tmp/in.h5"
[[ -s $tmp/in.h5 ]] || fail "example input not written"

"$bin" entropy --input "$tmp/in.h5" --z /z --label token=/token --label bigram=/bigram --label noise=/noise \
  --null --bootstrap 30 --groups /doc --threads 2 --json "$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
for key in ["n_samples", "dim", "n_bins", "eps", "calibration", "weighting", "min_count", "entropy",
            "mutual_information", "regularity", "null", "bootstrap", "w_checksum"]:
    assert key in j, key
assert j["n_samples"] == 400 and j["dim"] == 16 and j["n_bins"] == 100, j
assert j["calibration"] == "bounds" and j["weighting"] == "frequency" and j["min_count"] == 1
assert 0 < j["entropy"] <= 1
mi = j["mutual_information"]
assert mi["token"] > 0.05, mi
assert mi["bigram"] >= mi["token"] - 1e-12, mi       # a finer label carries at least as much
assert abs(mi["noise"]) < 0.5 * mi["token"], mi
for name in mi:
    assert abs(j["regularity"][name] - mi[name] / j["entropy"]) < 1e-12
    assert j["null"][name] < mi["token"], (name, j["null"])
b = j["bootstrap"]["token"]
assert b["low"] <= b["high"], b
assert b["low"] - 0.05 < mi["token"] < b["high"] + 0.05, (b, mi)
PY

# float64 Z with the same values gives the same numbers; a loaded W sets m
"$bin" entropy --input "$tmp/in.h5" --z /z64 --label token=/token --json "$tmp/a.json"
"$bin" entropy --input "$tmp/in.h5" --z /z --label token=/token > "$tmp/b.json"
cmp "$tmp/a.json" "$tmp/b.json" || fail "float64 and float32 inputs differ"
"$bin" entropy --input "$tmp/in.h5" --z /z --label token=/token --reference-points "$tmp/in.h5:/w" \
  --calibration leading --json "$tmp/w.json"
python3 -c "import json,sys,math; j=json.load(open(sys.argv[1])); assert j['n_bins']==16 and abs(j['eps']-1/math.sqrt(2*16*math.log(16)))<1e-15, j" "$tmp/w.json"

# undefined values are null, with a warning
"$bin" entropy --input "$tmp/in.h5" --z /z --label rare=/rare --weighting uniform --min-count 1000 \
  --json "$tmp/u.json" 2> "$tmp/u.err"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['mutual_information']['rare'] is None and j['regularity']['rare'] is None, j" "$tmp/u.json"
grep -q "undefined" "$tmp/u.err" || fail "no warning for an undefined MI"

# errors: exit code and key words (2: what the user gave is wrong, input files included)
expect_error() {  # code pattern args...
  local code=$1 pattern=$2; shift 2
  set +e; "$bin" entropy "$@" > "$tmp/err.out" 2> "$tmp/err.txt"; local rc=$?; set -e
  [[ $rc == "$code" ]] || fail "expected exit $code, got $rc for: $* ($(cat "$tmp/err.txt"))"
  grep -q -- "$pattern" "$tmp/err.txt" || fail "expected '$pattern' in: $(cat "$tmp/err.txt")"
}
expect_error 2 "missing.h5" --input "$tmp/missing.h5" --z /z --label t=/token
expect_error 2 "/nope" --input "$tmp/in.h5" --z /z --label t=/nope
expect_error 2 "label 't' has shape" --input "$tmp/in.h5" --z /z --label t=/w
expect_error 2 "--groups" --input "$tmp/in.h5" --z /z --label t=/token --bootstrap 5
expect_error 2 "'auto'" --input "$tmp/in.h5" --z /z --label t=/token --calibration auto
expect_error 2 "uniform only" --input "$tmp/in.h5" --z /z --label t=/token --min-count 5
expect_error 2 "NAME=DATASET" --input "$tmp/in.h5" --z /z --label token
expect_error 2 "missing --z" --input "$tmp/in.h5" --label t=/token
if [[ $(uname -m) == x86_64 ]]; then  # where the AVX2 kernels are built (docs/ESTIMATOR.md, "CPU kernels")
  (export IBZOO_CPU_KERNEL=sse2; expect_error 2 "IBZOO_CPU_KERNEL must be 'baseline' or 'avx2'.*got 'sse2'" --input "$tmp/in.h5" --z /z --label t=/token)
fi
echo "entropy_cli_test: ok"
