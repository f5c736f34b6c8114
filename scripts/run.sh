#!/usr/bin/env bash
# Set up, ingest the shipped corpus, and start the app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 KB_CORPUS="${KB_CORPUS:-$PWD/corpus}"
kb ingest "$KB_CORPUS"
exec python app.py --server.headless true "$@"   # starts loading the model and index with the server
