#!/usr/bin/env bash
# Quickstart, first command: set up (once), then run the whole pipeline on the demo log.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh
exec .venv/bin/synthlib pipeline --conf "${1:-conf/demo.yaml}" "${@:2}"
