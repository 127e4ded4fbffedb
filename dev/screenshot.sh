#!/usr/bin/env bash
# Open an evaluation report in headless Chromium and save what a person sees as a PNG.
#
#   dev/screenshot.sh [out/demo/eval/report.html] [report.png] [height]
#
# Needs Debian's chromium (`apt-get install -y chromium`). Nothing is fetched: the report is
# one self-contained page, and Chromium's own background connections are switched off.
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(realpath "${1:-out/demo/eval/report.html}")
png=${2:-${report%.html}.png}
height=${3:-6000}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "screenshot: chromium not found; install it with 'apt-get install -y chromium'" >&2; exit 2; }
[ -f "$report" ] || { echo "screenshot: no report at $report; run ./dev/demo.sh first" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="1400,$height" \
  --screenshot="$(realpath -m "$png")" "file://$report" >/dev/null 2>&1
echo "$png"
