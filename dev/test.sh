#!/usr/bin/env bash
# Quickstart, second command: set up (once), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
dev/setup.sh
exec .venv/bin/python -m pytest "$@"
