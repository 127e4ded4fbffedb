#!/usr/bin/env bash
# Local set-up, idempotent: a .venv in the repo root with the pinned packages, and the Delta
# JARs resolved from Maven into it. Skipped when already done. One line per step; the tools'
# own output goes to .venv/setup.log, shown only when a step fails.
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

log=$PWD/.venv/setup.log
step() {  # step "what" command...: one line with its time; the command's output to the log
  local what=$1 t0=$SECONDS; shift
  printf 'setup  %-58s' "$what"
  echo "=== $what: $*" >>"$log"
  if "$@" >>"$log" 2>&1; then
    echo "$((SECONDS - t0)) s"
  else
    echo "FAILED"
    echo "setup failed at '$what'; the full output is in $log. Its end:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

"${PYTHON:-python3}" -m venv .venv
: >"$log"
step "pip" .venv/bin/python -m pip install --upgrade pip
step "pinned packages (torch alone is a few GB the first time)" .venv/bin/python -m pip install -e ".[local,test]"
step "Delta JARs from Maven into .venv" .venv/bin/python -m synthlib.spark
echo "$want" > "$stamp"
