#!/usr/bin/env bash
# Set up, then run the whole test suite: fast tests, real-model tests and real-browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "chromium is missing: browser tests will be skipped (sudo apt-get install chromium)" >&2
  fi
fi
export HF_HUB_OFFLINE=1
.venv/bin/ruff check src tests
.venv/bin/mypy src
exec .venv/bin/python -m pytest "$@"
