#!/usr/bin/env bash
# Local set-up, idempotent: a .venv in the repo root with the pinned packages, and the
# Delta JARs resolved from Maven Central into the Ivy cache. Skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! java -version 2>&1 | grep -qE 'version "(17|21)'; then
  echo "synthlib needs Java 17 (or 21) on PATH for Spark 4 (found: $(java -version 2>&1 | head -1 || echo none))" >&2
  exit 1
fi

stamp=.venv/.synthlib-setup
want=$(cat setup.py dev/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "Setting up .venv (pinned packages, Delta JARs)..."
"${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[local,test]"
# The first session start resolves the Delta JARs; Ivy caches them for later runs.
.venv/bin/python -c "from synthlib.session import get_spark; get_spark().stop()" 2>&1 | grep -v WARN || true
echo "$want" > "$stamp"
