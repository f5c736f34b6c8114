#!/usr/bin/env bash
# Set up (with the test tools, Debian's Chromium for the browser test and poppler-utils, whose
# pdftotext is the reading-order reference in tests/test_question_sets.py) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium poppler-utils >/dev/null
fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1
exec python -m pytest -q "$@"
