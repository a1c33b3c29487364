# Sourced by the report tests (not a test itself): opens a report page in headless
# Chromium and checks that it loads with no console error, that every embedded figure
# decodes and that none is blank (the page's load script counts them into body
# attributes: data-images, data-broken-images, data-blank-images).
#   check_report_in_browser PAGE MIN_FIGURES WORKDIR
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$CHROME_WORK")" --enable-logging=stderr --v=0 "$@"
}

check_report_in_browser() {
  local page=$1 min=$2
  CHROME_WORK=$3
  if grep -qE "(src|href)=\"(https?:|//)" "$page"; then echo "FAIL: the page references external resources" >&2; return 1; fi
  chrome --virtual-time-budget=5000 --dump-dom "file://$page" > "$CHROME_WORK/dom.html" 2> "$CHROME_WORK/chrome.log"
  local images broken blank
  images=$(grep -o 'data-images="[0-9]*"' "$CHROME_WORK/dom.html" | grep -o '[0-9]\+' || true)
  broken=$(grep -o 'data-broken-images="[0-9]*"' "$CHROME_WORK/dom.html" | grep -o '[0-9]\+' || true)
  blank=$(grep -o 'data-blank-images="[0-9]*"' "$CHROME_WORK/dom.html" | grep -o '[0-9]\+' || true)
  if [ -z "$images" ]; then echo "FAIL: the page's load script did not run: $(tail -5 "$CHROME_WORK/chrome.log")" >&2; return 1; fi
  if [ "$images" -lt "$min" ]; then echo "FAIL: expected at least $min figures, the browser saw $images" >&2; return 1; fi
  if [ "$broken" != "0" ]; then echo "FAIL: $broken figure(s) failed to decode" >&2; return 1; fi
  if [ "$blank" != "0" ]; then echo "FAIL: $blank figure(s) are blank" >&2; return 1; fi
  # Chromium logs every console message (and uncaught exception) as CONSOLE(...).
  if grep -E "CONSOLE|ERR_|Failed to load|Uncaught|Not allowed to load" "$CHROME_WORK/chrome.log"; then
    echo "FAIL: console messages or load errors (above)" >&2
    return 1
  fi
  echo "browser: $images figures, none broken or blank, no console message"
}
