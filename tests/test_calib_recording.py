"""End to end from a real RealSense recording: board views rendered by MuJoCo through a lens with known
distortion are written as a .db3 with rs.software_device + rs.recorder (the device reports factory intrinsics that
are wrong on purpose) and calibrate to the true intrinsics (fx, fy within 0.5 %, cx, cy within 2 px, RMS < 0.5 px)
both through the RealSense playback class and through the camera node over real DDS (the live --topic path)."""
from __future__ import annotations

import os
import random
import re

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("mujoco")
rs = pytest.importorskip("pyrealsense2")
from robot_rl.calibration.board import BoardSpec  # noqa: E402
from robot_rl.calibration.intrinsics import IntrinsicsResult, calibrate_views, images_from_recording  # noqa: E402
from robot_rl.calibration.twin_board import (BoardScene, distortion_warp, render_distorted,  # noqa: E402
                                             spread_board_poses)
from robot_rl.drivers.camera_common import Intrinsics  # noqa: E402
from robot_rl.drivers.realsense import write_recording  # noqa: E402
from test_calib_camera_info import ROOT, start_camera_node, stop  # noqa: E402  (tests/ is on sys.path)

SPEC = BoardSpec(9, 7, 0.04, 0.03)
TRUE = Intrinsics(640, 480, 612.0, 608.0, 327.5, 241.0)
COEFFS = (-0.08, 0.03, 0.0005, -0.0008, 0.0)
FACTORY = Intrinsics(640, 480, 600.0, 600.0, 320.0, 240.0)  # what the recorded "device" claims
FPS = 6
N = 24


def check(res):
    i = res.intrinsics
    assert abs(i.fx / TRUE.fx - 1) < 0.005 and abs(i.fy / TRUE.fy - 1) < 0.005, res.summary()
    assert abs(i.cx - TRUE.cx) < 2.0 and abs(i.cy - TRUE.cy) < 2.0, res.summary()
    assert res.rms_px < 0.5
    assert abs(i.fx - FACTORY.fx) > 5  # calibrated, not the device's claim


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    poses = spread_board_poses(SPEC, TRUE, N, np.random.default_rng(11), distance_m=(0.4, 0.9), max_tilt_deg=45,
                               coeffs=COEFFS)
    big, mx, my = distortion_warp(TRUE, COEFFS, pad_px=60)
    scene = BoardScene(SPEC, big, supersample=1)  # MuJoCo's 8x multisampling alone: half the render time
    frames = [render_distorted(scene, TRUE, (mx, my), t) for t in poses]
    scene.close()
    path = str(tmp_path_factory.mktemp("calib") / "board.db3")
    write_recording(path, frames, FACTORY, FPS, serial="000000000007")
    return path


def test_a_realsense_recording_of_rendered_board_views_calibrates_through_playback(recording):
    views = list(images_from_recording(recording))
    assert len(views) == N and views[0][1].shape == (480, 640, 3)  # every recorded frame, once
    res = calibrate_views(SPEC, views)
    print("playback:", res.summary())
    check(res)


def test_the_same_recording_calibrates_through_the_camera_node_over_dds(recording, tmp_path):
    """robot-rl calibrate intrinsics --topic: the views come live from the camera node's image topic."""
    pytest.importorskip("rclpy")
    import subprocess
    import sys

    from robot_rl.drivers.camera_common import read_camera_info_yaml

    domain = random.Random().randint(100, 200)
    node = start_camera_node(["name:=bench", f"playback_file:={recording}", "playback_end:=loop", "depth_enabled:=false",
                              f"fps:={FPS}", "crop_xywh_px:=[0, 0, 640, 480]", "output_width_px:=640",
                              "output_height_px:=480"], domain)
    out = str(tmp_path / "bench.yaml")
    try:
        # a live camera streams on: take two passes of the looping recording (repeats are refused as duplicates)
        r = subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", "calibrate", "intrinsics", "--topic", "bench",
                            "--views", str(2 * N), "--timeout-s", "90", "--squares", "9x7", "--square-mm", "40",
                            "--marker-mm", "30", "--camera-name", "bench", "--out", out], cwd=ROOT,
                           env=dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT), capture_output=True,
                           text=True, timeout=240)
    finally:
        node_out = stop(node)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + node_out[-2000:]
    assert "Traceback" not in node_out, node_out[-2000:]
    summary = r.stdout.strip().splitlines()[-2]
    print("camera node:", summary)
    n_views = int(re.search(r"over (\d+) views", summary)[1])
    assert n_views >= N // 2, r.stdout  # best-effort QoS may drop some; most views arrive
    name, intr = read_camera_info_yaml(out)
    rms = float(re.search(r"RMS ([\d.]+) px over", summary)[1])
    check(IntrinsicsResult(intr, rms, {}, (), (0.0,) * 4, {}))
