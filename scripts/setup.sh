#!/usr/bin/env bash
# Create .venv and install faqbot with its test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch is pinned to the CPU build that pip finds on this machine's disk (see pyproject.toml)
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
