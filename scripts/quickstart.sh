#!/usr/bin/env bash
# Quick start, step 1: set up (idempotent) and run the main job in the twin on the embedded default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
exec "${ROBOT_RL_VENV:-.venv}/bin/robot-rl" demo --task pick_cube --episodes 20 "$@"
