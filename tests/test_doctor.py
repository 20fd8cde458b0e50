"""robot-rl doctor: reports what is there, and a missing piece with the command that fixes it."""
import json
import os
import subprocess
import sys
from pathlib import Path

from robot_rl.tools.doctor import missing_system_library

ROOT = Path(__file__).resolve().parents[1]


def run_doctor(extra_path: Path | None = None, env_extra: dict | None = None) -> tuple[int, dict]:
    paths = ([str(extra_path)] if extra_path else []) + [str(ROOT)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **(env_extra or {}))
    r = subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", "doctor", "--json"], env=env, capture_output=True,
                       text=True, timeout=300)
    return r.returncode, json.loads(r.stdout)


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


def test_doctor_passes_on_this_machine_and_reports_versions_rmw_and_gl():
    code, report = run_doctor()
    checks = by_name(report)
    assert code == 0 and report["ok"], report
    assert "device: " in checks["torch"]["detail"]
    assert "RMW: rmw_" in checks["rclpy"]["detail"]
    assert "renders headless" in checks["rendering"]["detail"]
    assert checks["mujoco"]["ok"] and "realsense devices" in checks


def test_doctor_fails_with_the_fix_command_when_rclpy_is_broken(tmp_path):
    fake = tmp_path / "rclpy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('librcl.so: cannot open shared object file')\n")
    code, report = run_doctor(tmp_path)
    rclpy = by_name(report)["rclpy"]
    assert code == 1 and not report["ok"]
    assert rclpy["status"] == "FAIL" and "librcl" in rclpy["detail"]
    assert rclpy["fix"] and "ros-rclpy" in rclpy["fix"]


def test_doctor_names_the_missing_libusb_for_pyrealsense2_as_a_warning(tmp_path):
    fake = tmp_path / "pyrealsense2"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ImportError('libusb-1.0.so.0: cannot open shared object file: No such file or directory')\n")
    code, report = run_doctor(tmp_path)
    rs = by_name(report)["pyrealsense2"]
    assert rs["status"] == "WARN" and "libusb-1.0.so" in rs["detail"]
    assert rs["fix"] == "apt-get install -y libusb-1.0-0"
    assert code == 0  # the camera library is optional for the twin


def test_doctor_fails_when_the_requested_gl_backend_cannot_render():
    code, report = run_doctor(env_extra={"MUJOCO_GL": "glfw", "DISPLAY": ""})
    gl = by_name(report)["rendering"]
    assert code == 1 and gl["status"] == "FAIL"
    assert gl["fix"].startswith("export MUJOCO_GL=")


def test_missing_system_library_maps_known_libraries_to_debian_packages():
    assert missing_system_library("libusb-1.0.so.0: cannot open shared object file") == ("libusb-1.0.so", "libusb-1.0-0")
    assert missing_system_library("No module named 'foo'") is None
