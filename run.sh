#!/usr/bin/env bash
# First command of the README: set up (first time) and start the tingshuo server.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/tingshuo serve "$@"
