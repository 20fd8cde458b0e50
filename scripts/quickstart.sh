#!/usr/bin/env bash
# Quick start, step 1: set up (idempotent) and run the main job: a short training run on pick_cube in the
# twin (state observations, 20 scripted demos), ending with an eval success figure. Extra arguments go to
# `robot-rl train` (e.g. --steps 15000, --pixels, --seed 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh
exec "${ROBOT_RL_VENV:-.venv}/bin/robot-rl" train --task pick_cube --steps 5000 "$@"
