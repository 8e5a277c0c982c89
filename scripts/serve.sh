#!/usr/bin/env bash
# Set up, then serve the chat page and the API on http://127.0.0.1:8000 (builds the index first if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/faqbot serve "$@"
