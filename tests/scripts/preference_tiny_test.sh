#!/usr/bin/env bash
# Preference data end to end, and one checkpoint shared by a team of ranks:
# - tiny_preference.yaml: per-layer and mean `pref` rows in metrics.csv, a finite
#   positive `preference` column in summary.csv;
# - the same study on 2 and 4 ranks (one checkpoint: the ranks form a team that
#   shares its batches and label rows, text and preference parts alike) gives a
#   byte-identical metrics.csv and summary.csv (the sums are exact);
# - tiny_preference_same.yaml (chosen == rejected): I(Z;pref) = 0 within rounding
#   (identical documents give identical representations up to batch-position
#   rounding, and the MI is second order in that difference).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir="$IBZOO_SOURCE_DIR/manifests/test"
fail() { echo "FAIL: $*"; exit 1; }

"$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/pref" --quiet
csv="$tmp/pref/results/metrics.csv"
cp "$csv" "$tmp/never.csv"
cp "$tmp/pref/results/summary.csv" "$tmp/never_summary.csv"
grep -q "^tiny-gpt2,gpt2,final,0,1,pref,mutual_information," "$csv" || fail "no layer-1 pref MI row"
grep -q "^tiny-gpt2,gpt2,final,0,-1,pref,mutual_information,.*,layer_mean$" "$csv" || fail "no mean pref MI row"
grep -q ",1,pref,mi_ci_low," "$csv" || fail "no pref bootstrap interval"
head -1 "$tmp/pref/results/summary.csv" | grep -q ",preference,eval_loss$" || fail "summary.csv has no preference column"
awk -F, 'NR == 2 { if (!($(NF-1) > 0 && $(NF-1) < 1)) { print "summary preference = " $(NF-1); exit 1 } }' \
  "$tmp/pref/results/summary.csv" || fail "summary preference not in (0, 1)"
grep -q '"preference": {' "$tmp"/pref/items/*/provenance.json || fail "provenance.json does not count the preference positions"

for np in 2 4; do
  mpirun -np $np --oversubscribe "$IBZOO_BIN" run "$dir/tiny_preference.yaml" --run-dir "$tmp/np$np" --quiet
  grep -q '"team_size": '$np "$tmp"/np$np/items/*/provenance.json || fail "the $np ranks did not share the checkpoint"
  cmp "$tmp/never.csv" "$tmp/np$np/results/metrics.csv" || fail "metrics.csv on $np ranks differs"
  cmp "$tmp/never_summary.csv" "$tmp/np$np/results/summary.csv" || fail "summary.csv on $np ranks differs"
done

"$IBZOO_BIN" run "$dir/tiny_preference_same.yaml" --run-dir "$tmp/same" --quiet
awk -F, '$6 == "pref" && $7 == "mutual_information" {
  n++; v = $8 < 0 ? -$8 : $8; if (v > max) max = v
} END {
  print "identical chosen/rejected: max |I(Z;pref)| = " max " over " n " rows"
  exit !(n >= 4 && max < 1e-9)
}' "$tmp/same/results/metrics.csv" || fail "I(Z;pref) with identical chosen and rejected is not 0"
echo "preference_tiny: 1 passed, 0 failed"
