#!/usr/bin/env bash
# Create .venv/ and install the project into it, and Tesseract (Debian) for OCR of scanned PDFs.
# Safe to run again; fast when done.
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

# OCR of scanned PDF pages needs Tesseract and its English model. Without them ingestion still
# works and a scanned PDF is reported as needing OCR.
if ! { command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx eng; }; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; }; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null \
            || echo "setup: could not install tesseract-ocr; scanned PDFs will be reported as needing OCR" >&2
    else
        echo "setup: install Tesseract with its English model for OCR of scanned PDFs (Debian: tesseract-ocr tesseract-ocr-eng)" >&2
    fi
fi
# pdftotext (Debian poppler-utils), a second PDF reader: tests/test_question_sets.py reads the gold
# pages with it and bench/table_cells.py compares every table cell with it.
if ! command -v pdftotext >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1; }; then
        $sudo apt-get install -y -qq poppler-utils >/dev/null 2>&1 || { $sudo apt-get update -qq && \
            $sudo apt-get install -y -qq poppler-utils >/dev/null; } \
            || echo "setup: could not install poppler-utils; the question-set test skips its page checks" >&2
    fi
fi
