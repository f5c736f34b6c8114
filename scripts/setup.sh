#!/usr/bin/env bash
# Create .venv/ and install the project into it. Safe to run again; fast when done.
#   scripts/setup.sh          # the app and the CLI
#   scripts/setup.sh test     # plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first, pinned: 2.13.0 is a local CPU wheel here; anything looser pulls GBs of CUDA.
python -m pip install --quiet torch==2.13.0
if [ "${1:-}" = "test" ]; then
    python -m pip install --quiet -e ".[test]"
else
    python -m pip install --quiet -e .
fi
