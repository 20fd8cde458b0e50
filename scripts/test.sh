#!/usr/bin/env bash
# Quick start, step 2: set up (idempotent) and run the whole test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
exec "${ROBOT_RL_VENV:-.venv}/bin/python" -m pytest -q "$@"
