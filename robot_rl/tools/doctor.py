"""``robot-rl doctor``: what this machine has, what is missing, and the command that fixes it.

Each check returns a :class:`Check`. Required checks that fail make the command exit non-zero; optional ones
(hardware-only pieces such as pyrealsense2) are reported as warnings.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass

PIP_ROS = "pip install ros-rclpy ros-rmw-fastrtps-cpp ros-std-msgs ros-sensor-msgs ros-geometry-msgs ros-nav-msgs ros-std-srvs"
PIP_TORCH = "pip install torch==2.13.0   # CPU build; on a CUDA machine: pip install torch"
APT_GL = "apt-get install -y libegl1 libgl1 libegl-mesa0 && export MUJOCO_GL=egl"
# shared library (as named in an ImportError) -> Debian package that provides it
SYSTEM_LIBRARIES = {
    "libusb-1.0.so": "libusb-1.0-0",
    "libEGL.so": "libegl1",
    "libGL.so": "libgl1",
    "libOSMesa.so": "libosmesa6",
    "libglfw.so": "libglfw3",
}
GL_BACKENDS = ("egl", "osmesa", "glfw")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    fix: str | None = None

    @property
    def status(self) -> str:
        return "OK" if self.ok else ("FAIL" if self.required else "WARN")


def missing_system_library(err: BaseException | str) -> tuple[str, str] | None:
    """(library, Debian package) if an import error names a known system library that could not be loaded.

    Libraries that are not in SYSTEM_LIBRARIES (e.g. ROS's librcl, shipped inside the wheels) give None: the fix
    is then to reinstall the Python package, not an apt package."""
    msg = str(err)
    m = re.search(r"(lib[\w.+-]+?\.so)(?:\.[\d.]+)?", msg)
    if not m or "cannot open shared object" not in msg and "not found" not in msg:
        return None
    lib = m.group(1)
    return (lib, SYSTEM_LIBRARIES[lib]) if lib in SYSTEM_LIBRARIES else None


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, f"{platform.python_version()} ({sys.executable})",
                 fix=None if ok else "install Python >= 3.10")


def check_numpy() -> Check:
    try:
        import numpy
    except ImportError as e:
        return Check("numpy", False, str(e), fix="pip install numpy")
    return Check("numpy", True, numpy.__version__)


def check_torch() -> Check:
    try:
        import torch
    except ImportError as e:
        return Check("torch", False, f"not importable: {e}", fix=PIP_TORCH)
    if torch.cuda.is_available():
        dev = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        dev = "cpu"
    return Check("torch", True, f"{torch.__version__}, device: {dev}")


def check_rclpy() -> Check:
    try:
        import rclpy
        from rclpy.utilities import get_rmw_implementation_identifier
    except ImportError as e:
        lib = missing_system_library(e)
        fix = PIP_ROS if lib is None else f"apt-get install -y {lib[1]}"
        return Check("rclpy", False, f"not importable: {e}", fix=fix)
    try:
        ctx = rclpy.Context()
        rclpy.init(context=ctx)
        try:
            node = rclpy.create_node("robot_rl_doctor", context=ctx)
            rmw = get_rmw_implementation_identifier()
            node.destroy_node()
        finally:
            rclpy.shutdown(context=ctx)
    except Exception as e:  # an RMW that fails to load shows up here, not at import
        return Check("rclpy", False, f"imports, but cannot create a node: {e}", fix="pip install ros-rmw-fastrtps-cpp")
    distro = os.environ.get("ROS_DISTRO", "PyPI wheels (no ROS distro sourced)")
    return Check("rclpy", True, f"node created; RMW: {rmw}; ROS: {distro}")


def check_mujoco() -> Check:
    try:
        import mujoco
    except ImportError as e:
        return Check("mujoco", False, f"not importable: {e}", fix="pip install mujoco")
    return Check("mujoco", True, mujoco.__version__)


_RENDER_PROBE = """
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 2"/><geom type="sphere" size="0.2" rgba="1 0 0 1"/>'
                                   '<camera name="c" pos="0 -1 0" xyaxes="1 0 0 0 0 1"/></worldbody></mujoco>')
d = mujoco.MjData(m); mujoco.mj_forward(m, d)
r = mujoco.Renderer(m, 32, 32); r.update_scene(d, "c"); img = r.render()
assert img.max() > 0, "rendered a black image"
print("rendered")
"""


def probe_gl_backend(backend: str, timeout_s: float = 60.0) -> tuple[bool, str]:
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend if backend != "glfw" else "")
    try:
        r = subprocess.run([sys.executable, "-c", _RENDER_PROBE], env=env, capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout_s:.0f} s"
    if r.returncode == 0 and "rendered" in r.stdout:
        return True, "renders"
    last = (r.stderr.strip().splitlines() or ["failed"])[-1]
    return False, last


def check_rendering() -> Check:
    """The backend MUJOCO_GL names must render; if unset, the first of egl, osmesa, glfw that renders."""
    wanted = os.environ.get("MUJOCO_GL")
    errors = []
    for b in ([wanted] if wanted else []) + [b for b in GL_BACKENDS if b != wanted]:
        ok, msg = probe_gl_backend(b)
        if ok and (not wanted or b == wanted):
            return Check("rendering", True, f"MUJOCO_GL={b} renders headless")
        if ok:
            return Check("rendering", False, f"MUJOCO_GL={wanted} does not render ({errors[0]}); {b} does",
                         fix=f"export MUJOCO_GL={b}")
        errors.append(f"{b}: {msg}")
    libs = [lib for lib in map(missing_system_library, errors) if lib]
    fix = f"apt-get install -y {libs[0][1]} && export MUJOCO_GL=egl" if libs else APT_GL
    return Check("rendering", False, "no GL backend renders: " + "; ".join(errors), fix=fix)


def check_realsense() -> list[Check]:
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        lib = missing_system_library(e)
        if lib:
            return [Check("pyrealsense2", False, f"missing system library {lib[0]}: {e}", required=False,
                          fix=f"apt-get install -y {lib[1]}")]
        return [Check("pyrealsense2", False, f"not importable: {e}", required=False, fix="pip install pyrealsense2")]
    version = getattr(rs, "__version__", "unknown version")
    try:
        devices = rs.context().query_devices()
        found = [f"{d.get_info(rs.camera_info.name)} #{d.get_info(rs.camera_info.serial_number)}" for d in devices]
    except Exception as e:
        return [Check("pyrealsense2", True, version, required=False),
                Check("realsense devices", False, f"query failed: {e}", required=False)]
    return [Check("pyrealsense2", True, version, required=False),
            Check("realsense devices", True, ", ".join(found) if found else "none connected", required=False)]


def run_checks() -> list[Check]:
    return [check_python(), check_numpy(), check_torch(), check_rclpy(), check_mujoco(), check_rendering(),
            *check_realsense()]


def main(as_json: bool = False) -> int:
    checks = run_checks()
    failed = [c for c in checks if c.status == "FAIL"]
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) | {"status": c.status} for c in checks]}, indent=2))
    else:
        for c in checks:
            print(f"[{c.status:4}] {c.name:18} {c.detail}")
            if not c.ok and c.fix:
                print(f"       fix: {c.fix}")
        print("all required pieces present" if not failed else
              f"{len(failed)} required piece(s) missing: {', '.join(c.name for c in failed)}")
    return 1 if failed else 0
