#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system libraries (apt), a virtual environment, CPU torch, robot_rl.
#   ROBOT_RL_VENV   virtual environment folder (default: .venv in the repository)
#   ROBOT_RL_TORCH  pip requirement for torch (default: torch==2.13.0, the CPU build; on a CUDA machine set
#                   it to the CUDA build you want, e.g. "torch")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES="libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgles2 cmake g++ python3-dev"  # pyrealsense2; headless MuJoCo rendering (EGL); interfaces/ build
if command -v dpkg >/dev/null 2>&1; then
  missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "install.sh: need root for: apt-get install -y $missing" >&2; exit 1; fi
    echo "install.sh: apt-get install $missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
else
  echo "install.sh: no dpkg here; make sure these (or your distro's equivalents) are installed: $APT_PACKAGES" >&2
fi

VENV="${ROBOT_RL_VENV:-.venv}"
TORCH="${ROBOT_RL_TORCH:-torch==2.13.0}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "install.sh: creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.robot_rl_installed"
want=$(cat setup.py scripts/install.sh | sha256sum | cut -d' ' -f1)"-$TORCH"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install.sh: installing $TORCH and robot_rl[all] into $VENV (a few minutes the first time)"
  "$PY" -m pip install -q "$TORCH"
  "$PY" -m pip install -q -e ".[all]"
  echo "$want" > "$stamp"
fi
# ROS 2 message packages not on PyPI (crazyflie_interfaces), built into the venv; a failure is said, not fatal: the
# quadrotor nodes need them, the rest of robot_rl does not
bash scripts/build_interfaces.sh "$VENV" || echo "install.sh: WARNING: interfaces/ not built (see above): the quadrotor ROS nodes will not start" >&2
