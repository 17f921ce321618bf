#!/usr/bin/env bash
# Second command of the README: set up with the test tools and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --test
.venv/bin/ruff check src tests benchmarks
.venv/bin/lint-imports
exec .venv/bin/python -m pytest -q "$@"
