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
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's postgresql for the PostgreSQL tests (each test run starts its own server in /tmp)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is missing: its tests will be skipped (sudo apt-get install postgresql)" >&2
  fi
fi
export HF_HUB_OFFLINE=1
.venv/bin/ruff check src tests
.venv/bin/mypy src
exec .venv/bin/python -m pytest "$@"
