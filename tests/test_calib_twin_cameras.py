"""The twin's cameras take intrinsics and mount from the calibration files: the rendered camera sits where the
mount says (wrist: on the TCP; front: in the base frame) with the calibrated intrinsics after the camera node's
crop and resize, so the twin's 128x128 image has the CameraInfo the real node publishes; and the board corners the
twin renders land where the real calibration projects them (figures printed)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
mujoco = pytest.importorskip("mujoco")
from robot_rl.calibration.board import BoardSpec, CalibrationError  # noqa: E402
from robot_rl.calibration.guided import TwinArm, TwinBoardView, nominal_mount, plan, rig_board  # noqa: E402
from robot_rl.calibration.hand_eye import HandEyeResult  # noqa: E402
from robot_rl.calibration.twin_board import pose  # noqa: E402
from robot_rl.calibration.twin_cameras import twin_camera, twin_vs_real  # noqa: E402
from robot_rl.contract.rotations import quat_to_mat, rotvec_to_mat  # noqa: E402
from robot_rl.drivers.camera_common import Intrinsics, center_square_crop, write_camera_info_yaml  # noqa: E402
from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv  # noqa: E402
from robot_rl.sim.arm_twin import TwinConfig, camera_intrinsics  # noqa: E402

SPEC = BoardSpec()
REAL_WRIST = Intrinsics(640, 480, 421.5, 420.25, 324.0, 236.0, "plumb_bob", (-0.05, 0.02, 0.0005, -0.0003, 0.0))
WRIST_MOUNT = nominal_mount("eye_in_hand") @ pose(rotvec_to_mat((0.02, 0.0, 0.01)), (-0.002, 0.003, 0.002))
FRONT_MOUNT = nominal_mount("eye_to_hand")
FLIP = np.diag([1.0, -1.0, -1.0])  # optical frame <-> MuJoCo camera frame


def _files(tmp_path, name, intr, mount, setup):
    info, mount_file = str(tmp_path / f"{name}.yaml"), str(tmp_path / f"{name}_mount.yaml")
    write_camera_info_yaml(info, intr, name)
    z = np.zeros(3)
    HandEyeResult(setup, "park", mount, np.eye(4), z, z, 1.0).write_yaml(mount_file, f"{name}_color_optical_frame")
    return info, mount_file


def test_twin_cameras_from_the_files_render_with_the_node_s_camera_info_at_the_mount(tmp_path):
    wrist = twin_camera("wrist", *_files(tmp_path, "wrist", REAL_WRIST, WRIST_MOUNT, "eye_in_hand"), out_w=128)
    front = twin_camera("front", *_files(tmp_path, "front", REAL_WRIST, FRONT_MOUNT, "eye_to_hand"), out_w=128)
    env = TwinArmEnv("reach", EnvConfig(twin=TwinConfig(cameras=(wrist, front)), cameras=("wrist", "front")))
    obs, _ = env.reset(seed=0)
    assert obs["images/wrist"].shape == (128, 128, 3) and obs["images/front"].std() > 5
    node_k = REAL_WRIST.crop_resize(center_square_crop(640, 480), 128, 128)  # what camera_node publishes
    for cam in ("wrist", "front"):
        fx, fy, cx, cy = camera_intrinsics(env.model, cam, 128, 128)
        assert np.allclose([fx, fy, cx, cy], [node_k.fx, node_k.fy, node_k.cx, node_k.cy], atol=1e-4)
    m, d = env.model, env.data
    tcp_p, tcp_r = env.twin.ee_pose()
    want = pose(tcp_r, tcp_p) @ WRIST_MOUNT
    c = m.camera("wrist").id
    assert np.allclose(d.cam_xpos[c], want[:3, 3], atol=1e-6)
    assert np.allclose(d.cam_xmat[c].reshape(3, 3), want[:3, :3] @ FLIP, atol=1e-6)
    c = m.camera("front").id
    assert np.allclose(d.cam_xpos[c], FRONT_MOUNT[:3, 3], atol=1e-6)
    assert np.allclose(d.cam_xmat[c].reshape(3, 3), FRONT_MOUNT[:3, :3] @ FLIP, atol=1e-6)
    env.close()


def test_a_mount_of_the_wrong_setup_is_refused(tmp_path):
    files = _files(tmp_path, "wrist", REAL_WRIST, FRONT_MOUNT, "eye_to_hand")
    with pytest.raises(CalibrationError, match="is eye_to_hand; the twin's wrist camera needs eye_in_hand"):
        twin_camera("wrist", *files)


def test_twin_board_corners_reproject_into_the_real_calibration(tmp_path):
    cam = twin_camera("wrist", *_files(tmp_path, "wrist", REAL_WRIST, WRIST_MOUNT, "eye_in_hand"))
    board = rig_board(SPEC, "eye_in_hand")["board_in_base"]
    arm = TwinArm(cameras=(cam,))
    view = TwinBoardView(SPEC, (cam,), board_in_base=board)
    qs, tcps = [], []
    for target in plan("eye_in_hand", WRIST_MOUNT, 6, np.random.default_rng(4)):
        tcps.append(arm.move_to(target))
        qs.append(arm.qpos)
    report = twin_vs_real(SPEC, REAL_WRIST, cam, view, qs, tcps, board, "eye_in_hand")
    view.close()
    print(report.summary())
    assert len(report.per_view_px) >= 5
    assert max(report.per_view_px) < 0.5  # the twin's camera is the real calibration's pinhole, at its mount
    assert np.mean(report.per_view_distorted_px) > np.mean(report.per_view_px)  # the lens the twin leaves out
    assert quat_to_mat(cam.quaternion_wxyz) == pytest.approx(WRIST_MOUNT[:3, :3])


def test_twin_node_publishes_the_calibrated_camera_info_from_calibrate_twin_params(tmp_path):
    """robot-rl calibrate twin-params turns the files into the twin node's parameters; over DDS the twin node then
    publishes the CameraInfo the real camera node would (K after crop and resize) and renders from the mount."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rclpy = pytest.importorskip("rclpy")
    from sensor_msgs.msg import CameraInfo

    from robot_rl.contract import ros_node as rn
    from robot_rl.contract.topics import camera
    from robot_rl.tools.cli import main as cli

    info, mount = _files(tmp_path, "front", REAL_WRIST, FRONT_MOUNT, "eye_to_hand")
    params = tmp_path / "twin_cameras.yaml"
    assert cli(["calibrate", "twin-params", "--camera", "front", info, mount, "--out", str(params)]) == 0
    domain = 10 + os.getpid() % 80
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    node = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.twin_node", "--ros-args", "-p", "cameras:=[front]",
                             "--params-file", str(params)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    client = rclpy.create_node("twin_calib_test", context=ctx)
    got = []
    ep = camera("front")["color_info"]
    client.create_subscription(CameraInfo, "/" + ep.name, got.append, rn.qos(ep.qos))
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(client)
    try:
        deadline = time.monotonic() + 120
        while not got and node.poll() is None and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.2)
    finally:
        os.killpg(node.pid, signal.SIGINT)
        out = node.communicate(timeout=30)[0]
        client.destroy_node()
        rclpy.shutdown(context=ctx)
    assert got, out
    k = REAL_WRIST.crop_resize(center_square_crop(640, 480), 128, 128)
    assert np.allclose(np.array(got[0].k), [k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1], atol=1e-3)
    assert (got[0].width, got[0].height) == (128, 128)
