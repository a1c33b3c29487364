#!/usr/bin/env bash
# End to end: a small metrics table -> ibzoo regress -> ibzoo report -> the page opened
# in headless Chromium. Checks that it loads without errors, that every embedded figure
# decodes, and that the screenshot shows the figures (coloured pixels, against the same page
# rendered without gnuplot).
set -euo pipefail
: "${IBZOO_BIN:?}" "${IBZOO_FIXTURES:?}"
work=$(mktemp -d)
trap '[ -n "${IBZOO_KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
run="$work/run"
mkdir -p "$run/results"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Six models in three families, three checkpoints, layers 0..4 plus the layer mean.
awk 'BEGIN {
  print "model,family,checkpoint,step,layer,label_set,metric,value";
  split("gpt2-s gpt2-m pythia-70m pythia-160m smollm2-135m smollm2-360m", M, " ");
  split("gpt2 gpt2 pythia pythia llama llama", F, " ");
  for (m = 1; m <= 6; m++) for (k = 0; k < 5; k++) {
    step = 1000 * k; c = "step" step;
    ix = 0.25 * (1 + 0.9 * k - 0.2 * k * k) + 0.02 * m; iy = ix * (0.4 + 0.1 * k + 0.04 * m);
    for (l = 0; l <= 4; l++) {
      f = 0.6 + 0.1 * l;
      printf "%s,%s,%s,%d,%d,,entropy,%.6f\n", M[m], F[m], c, step, l, 0.5 + 0.05 * l;
      printf "%s,%s,%s,%d,%d,in1,mutual_information,%.6f\n", M[m], F[m], c, step, l, ix * f;
      printf "%s,%s,%s,%d,%d,out1,mutual_information,%.6f\n", M[m], F[m], c, step, l, iy * f;
      printf "%s,%s,%s,%d,%d,,optimality,%.6f\n", M[m], F[m], c, step, l, iy / ix;
    }
    printf "%s,%s,%s,%d,mean,in1,mutual_information,%.6f\n", M[m], F[m], c, step, ix;
    printf "%s,%s,%s,%d,mean,in1,null_mutual_information,%.6f\n", M[m], F[m], c, step, 0.02;
    printf "%s,%s,%s,%d,mean,out1,null_mutual_information,%.6f\n", M[m], F[m], c, step, 0.01;
    printf "%s,%s,%s,%d,mean,in1,mi_ci_low,%.6f\n%s,%s,%s,%d,mean,in1,mi_ci_high,%.6f\n", M[m], F[m], c, step, ix - 0.02, M[m], F[m], c, step, ix + 0.02;
    printf "%s,%s,%s,%d,mean,out1,mi_ci_low,%.6f\n%s,%s,%s,%d,mean,out1,mi_ci_high,%.6f\n", M[m], F[m], c, step, iy - 0.015, M[m], F[m], c, step, iy + 0.015;
    printf "%s,%s,%s,%d,mean,out1,mutual_information,%.6f\n", M[m], F[m], c, step, iy;
    printf "%s,%s,%s,%d,mean,pref,mutual_information,%.6f\n", M[m], F[m], c, step, 0.01 * m;
    printf "%s,%s,%s,%d,mean,,optimality,%.6f\n", M[m], F[m], c, step, iy / ix;
    printf "%s,%s,%s,%d,mean,,backoff_token,0.3\n%s,%s,%s,%d,mean,,backoff_bigram,0.2\n", M[m], F[m], c, step, M[m], F[m], c, step;
    printf "%s,%s,%s,%d,mean,,backoff_trigram,0.1\n%s,%s,%s,%d,mean,,backoff_quadgram,0.05\n", M[m], F[m], c, step, M[m], F[m], c, step;
    printf "%s,%s,%s,%d,mean,,backoff_residual,0.35\n", M[m], F[m], c, step;
  }
  for (m = 1; m <= 6; m++) printf "%s,%s,step4000,4000,,,n_parameters,%d\n", M[m], F[m], 5e7 * m;
}' > "$run/results/metrics.csv"

cat > "$work/scores.csv" <<'CSV'
model,benchmark,score
gpt2-s,BBH,1.5
gpt2-m,BBH,2.1
pythia-70m,BBH,1.9
pythia-160m,BBH,2.6
smollm2-135m,BBH,3.3
smollm2-360m,BBH,4.8
gpt2-s,MUSR,2.0
gpt2-m,MUSR,3.4
pythia-70m,MUSR,2.2
pythia-160m,MUSR,4.1
smollm2-135m,MUSR,5.0
smollm2-360m,MUSR,
CSV

# Exit codes: usage and input errors are 2.
set +e
"$IBZOO_BIN" regress --metrics "$run/results/metrics.csv" --benchmarks "$work/scores.csv" --out "$work/x" \
  --predictors optimality,wisdom 2> "$work/usage.err"
[ $? -eq 2 ] || fail "unknown predictor should exit 2"
"$IBZOO_BIN" report "$work/nonexistent" 2> "$work/missing.err"
[ $? -eq 2 ] || fail "missing run should exit 2 (an input error)"
set -e
grep -q "unknown predictor 'wisdom'" "$work/usage.err" || fail "usage message: $(cat "$work/usage.err")"
grep -q "nonexistent: no such run directory or manifest" "$work/missing.err" || fail "missing message: $(cat "$work/missing.err")"

"$IBZOO_BIN" regress --metrics "$run/results/metrics.csv" --benchmarks "$work/scores.csv" --out "$run/results" \
  --bootstrap 200 --seed 3
[ "$(head -1 "$run/results/correlations.csv")" = "predictor,target,method,n,r,p,ci_low,ci_high" ] || fail "header"
"$IBZOO_BIN" report "$run"
page="$run/report/index.html"
[ -s "$page" ] || fail "no index.html"

source "$(dirname "$0")/lib/report_browser.sh"
check_report_in_browser "$page" 9 "$work" || fail "the report in the browser"
grep -q 'alt="Metric by training step' "$work/dom.html" || fail "no trajectory figure"
grep -q 'layer_checkpoint_' "$work/dom.html" || fail "no layer x checkpoint map"
grep -q "No the \|1 models" "$page" && fail "text slips on the page"

chrome --window-size=1280,3000 --screenshot="$work/with.png" "file://$page" 2> /dev/null
# The same page without figures, for comparison.
cp -r "$run" "$work/bare"
"$IBZOO_BIN" report "$work/bare" --gnuplot /nonexistent/gnuplot > /dev/null 2>&1
grep -q "could not be rendered" "$work/bare/report/index.html" || fail "missing gnuplot is not said on the page"
chrome --window-size=1280,3000 --screenshot="$work/bare.png" "file://$work/bare/report/index.html" 2> /dev/null
# Count green/blue/violet pixels: the figures' lines, points and bars. The page's own
# colours (grey text, red notes, yellow significant rows) are excluded by the rule.
colourful() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG layout"
bpp = 3 if ctype == 2 else 4
raw, stride, prev, count, i = zlib.decompress(idat), w * bpp, bytearray(w * bpp), 0, 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if max(g, bl) - r > 60: count += 1
    prev = line
print(count)
PY
}
with=$(colourful "$work/with.png")
bare=$(colourful "$work/bare.png")
echo "coloured pixels in the screenshot: $with with figures, $bare without"
[ -z "${IBZOO_REPORT_SCREENSHOT:-}" ] || cp "$work/with.png" "$IBZOO_REPORT_SCREENSHOT"
[ "$with" -gt $((10 * bare + 3000)) ] || fail "the screenshot does not show the figures ($with vs $bare coloured pixels)"
echo "PASS"
