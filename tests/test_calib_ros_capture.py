"""The guided hand-eye capture over ROS 2: the capture client streams arm/target_pose to the twin node over real
DDS, records the measured arm/ee_pose and the camera's next image at each settled pose, and skips a target the
twin's workspace box clips (the same safety box as the driver's)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("mujoco")
from robot_rl.calibration.hand_eye_capture_node import ros_guided_capture  # noqa: E402
from robot_rl.calibration.twin_board import pose  # noqa: E402
from robot_rl.contract.rotations import rotvec_to_mat  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_pose():
    """The twin node's first pose (its runtime, same defaults and seed, in-process)."""
    from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig

    rt = TwinRuntime(TwinRuntimeConfig(cameras=()))
    p, r = rt.twin.ee_pose()
    rt.close()
    return p, r


def test_ros_guided_capture_moves_the_twin_node_and_records_poses_and_images():
    domain = random.Random().randint(100, 200)
    twin = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.twin_node", "--ros-args", "-p", "cameras:=[wrist]"],
                            cwd=ROOT, env=dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # moves of a few cm around the twin node's start pose: its energy tank (2 J, not a parameter of the twin node)
    # runs dry on the 20-40 cm moves of a full capture and then holds the arm (see calibration/guided.py)
    p0, r0 = start_pose()
    targets = [pose(r0 @ rotvec_to_mat((0.17, 0.0, 0.0)), p0 + (0.05, 0.0, 0.0)),
               pose(r0 @ rotvec_to_mat((0.0, 0.17, 0.0)), p0 + (0.0, -0.05, 0.0)),
               pose(r0, (p0[0], p0[1], 0.7)),  # above the workspace box (z <= 0.45): clipped, never reached
               pose(r0 @ rotvec_to_mat((0.0, 0.0, 0.2)), p0 + (0.0, 0.0, 0.04))]
    log, error = [], None
    try:
        cap = ros_guided_capture("wrist", targets, domain_id=domain, progress=lambda k, got, msg: log.append(msg))
    except TimeoutError as e:
        error = e
    finally:
        twin.send_signal(signal.SIGINT)
        try:
            out = twin.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            os.killpg(twin.pid, signal.SIGKILL)
            out = twin.communicate()[0]
    assert error is None, f"{error} after {log}; twin node: {out[-2000:]}"
    assert cap.skipped == 1 and log[2].startswith("not reached"), (log, out[-2000:])
    assert len(cap.images) == 3 and cap.images[0].shape == (128, 128, 3)
    for got, want in zip(cap.ee_poses, [targets[0], targets[1], targets[3]]):
        assert np.linalg.norm(got[:3, 3] - want[:3, 3]) < 0.005
        turn = got[:3, :3].T @ want[:3, :3]
        assert np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1, 1))) < 1.0
    assert not np.array_equal(cap.images[0], cap.images[2])  # a new image at each pose


def test_cli_capture_over_ros_moves_the_twin_node_and_says_when_no_board_is_seen(tmp_path):
    """The twin node's scene has no board (its cameras are the task's): the capture over ROS runs, writes its
    folder, and the calibration then stops with one line (exit 2)."""
    from robot_rl.drivers.camera_common import Intrinsics, write_camera_info_yaml

    domain = random.Random().randint(100, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT)
    twin = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.twin_node", "--ros-args", "-p", "cameras:=[wrist]"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    intr = str(tmp_path / "wrist.yaml")
    write_camera_info_yaml(intr, Intrinsics(128, 128, 80.0, 80.0, 63.5, 63.5), "wrist")
    try:
        r = subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", "calibrate", "hand-eye", "--capture-ros",
                            str(tmp_path / "cap"), "--intrinsics", intr, "--views", "2", "--out",
                            str(tmp_path / "m.yaml")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    finally:
        twin.send_signal(signal.SIGINT)
        try:
            twin.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(twin.pid, signal.SIGKILL)
    assert "guided capture over ROS: 2 poses" in r.stdout and "pose 2/2:" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "cap" / "poses.yaml").is_file()
    assert r.returncode == 2 and "error: too few hand-eye views: 0" in r.stderr, r.stdout + r.stderr
