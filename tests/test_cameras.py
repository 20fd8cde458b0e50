"""Camera drivers against real recordings: RealSense .db3 files written here with rs.software_device +
rs.recorder and played back through the real pyrealsense2 pipeline (always with a frame timeout); an OpenCV
camera reading a real video file; camera_node publishing Image + CameraInfo over real DDS; absent devices."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from robot_rl.drivers.camera_common import (
    CameraError,
    CameraFrozenError,
    CameraNotFoundError,
    Intrinsics,
    center_square_crop,
    crop_resize,
)

rs = pytest.importorskip("pyrealsense2")
from robot_rl.drivers.realsense import RealSenseCamera, RealSenseConfig, write_recording  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H, FPS = 640, 480, 30
RECORDED = Intrinsics(W, H, 612.5, 611.0, 322.25, 238.75)
SERIAL = "814412070123"


def frame_rgb(k: int) -> np.ndarray:
    """Frame k: red = k (frame counter), green = column / 3, blue = row / 2 (so crops are checkable)."""
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = k % 256
    img[..., 1] = (np.arange(W) // 3).astype(np.uint8)[None, :]
    img[..., 2] = (np.arange(H) // 2).astype(np.uint8)[:, None]
    return img


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rs") / "front.db3")
    n = 20
    depth = [np.full((H, W), 750 + k, np.uint16) for k in range(n)]
    write_recording(path, [frame_rgb(k) for k in range(n)], RECORDED, FPS, depth, RECORDED, serial=SERIAL)
    return path


# ---- pure ---------------------------------------------------------------------------------------------------
def test_crop_resize_intrinsics_project_points_consistently():
    crop = center_square_crop(W, H)
    out = RECORDED.crop_resize(crop, 128, 128)
    rng = np.random.default_rng(0)
    for _ in range(100):
        x, y, z = rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.3, 2.0)
        u, v = RECORDED.fx * x / z + RECORDED.cx, RECORDED.fy * y / z + RECORDED.cy
        u2, v2 = out.fx * x / z + out.cx, out.fy * y / z + out.cy
        # same point: its continuous pixel coordinate maps through crop and scale
        assert np.isclose(u2 + 0.5, (u + 0.5 - crop[0]) * 128 / crop[2])
        assert np.isclose(v2 + 0.5, (v + 0.5 - crop[1]) * 128 / crop[3])


def test_crop_resize_area_average_and_nearest():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert crop_resize(img, (0, 0, 4, 4), 2, 2).tolist() == [[2, 4], [10, 12]]  # 2x2 block means (rounded)
    assert crop_resize(img, (0, 0, 4, 4), 2, 2, nearest=True).tolist() == [[5, 7], [13, 15]]
    assert crop_resize(frame_rgb(0), center_square_crop(W, H), 128, 128).shape == (128, 128, 3)


def test_bad_crop_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        RealSenseConfig(crop_xywh_px=(600, 0, 100, 100)).validate()


# ---- RealSense playback through the real pipeline ----------------------------------------------------------
def test_realsense_playback_gives_policy_sized_frames_with_the_recorded_intrinsics(recording):
    cfg = RealSenseConfig(playback_file=recording, frame_timeout_ms=2000)
    with RealSenseCamera(cfg) as cam:
        assert cam.serial == SERIAL
        raw = cam.raw_intrinsics
        assert (raw.width, raw.height) == (W, H)
        assert np.allclose([raw.fx, raw.fy, raw.cx, raw.cy], [RECORDED.fx, RECORDED.fy, RECORDED.cx, RECORDED.cy],
                           atol=1e-3)
        frames = [cam.read() for _ in range(5)]
    expected = RECORDED.crop_resize(center_square_crop(W, H), 128, 128)
    for f in frames:
        assert f.color.shape == (128, 128, 3) and f.color.dtype == np.uint8
        assert np.allclose([f.intrinsics.fx, f.intrinsics.cx], [expected.fx, expected.cx], atol=1e-3)
        # the centred 480x480 crop: green (column / 3) starts at 80 / 3, blue (row / 2) spans the full height
        assert abs(int(f.color[0, 0, 1]) - (80 + 1) // 3) <= 1 and int(f.color[-1, 0, 2]) >= 235
        assert f.depth is not None and f.depth.shape == (128, 128)
        assert 750 <= int(f.depth[64, 64]) < 770  # aligned depth carries the recorded values
    reds = [int(f.color[0, 0, 0]) for f in frames]
    assert len(set(reds)) > 1  # successive recorded frames, not one frame repeated


def test_realsense_recovers_by_restarting_when_frames_stop(recording):
    """A stream that freezes (the playback device paused: no more frames) makes the bounded wait time out; the
    pipeline is restarted and frames flow again (from the file's start)."""
    cfg = RealSenseConfig(playback_file=recording, frame_timeout_ms=300, restart_after_failures=1,
                          max_consecutive_failures=3)
    with RealSenseCamera(cfg) as cam:
        t0 = time.monotonic()
        for _ in range(5):
            cam.read()
        cam._playback.pause()  # frozen
        for _ in range(5):
            cam.read()
        assert cam.restarts >= 1
        assert time.monotonic() - t0 < 30.0


def test_realsense_frozen_past_the_budget_is_a_clear_error(recording, tmp_path):
    path = str(tmp_path / "gone.db3")
    shutil.copy(recording, path)
    cfg = RealSenseConfig(playback_file=path, frame_timeout_ms=300, restart_after_failures=1,
                          max_consecutive_failures=3)
    cam = RealSenseCamera(cfg)
    cam.start()
    cam._playback.pause()  # frozen ...
    os.remove(path)  # ... and the "device" is gone: restarts fail too
    t0 = time.monotonic()
    with pytest.raises(CameraFrozenError, match="no frame for 3 attempts"):
        for _ in range(100):
            cam.read()
    assert time.monotonic() - t0 < 30.0
    cam.stop()


def test_realsense_absent_serial_is_a_clear_error():
    with pytest.raises(CameraNotFoundError, match="no RealSense with serial '000000000042'"):
        RealSenseCamera(RealSenseConfig(serial="000000000042")).start()


def test_realsense_missing_recording_is_a_clear_error(tmp_path):
    with pytest.raises(CameraNotFoundError, match="not found"):
        RealSenseCamera(RealSenseConfig(playback_file=str(tmp_path / "nope.db3")))


# ---- OpenCV -------------------------------------------------------------------------------------------------
def test_opencv_camera_reads_a_real_video_file(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from robot_rl.drivers.opencv_camera import OpenCVCamera, OpenCVCameraConfig

    path = str(tmp_path / "cam.avi")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for k in range(10):
        vw.write(frame_rgb(k * 20)[:, :, ::-1].copy())  # OpenCV writes BGR
    vw.release()
    with OpenCVCamera(OpenCVCameraConfig(device=path, intrinsics_fx_fy_cx_cy_px=(600.0, 600.0, 319.5, 239.5))) as cam:
        f = cam.read()
        assert f.color.shape == (128, 128, 3)
        assert abs(int(f.color[0, 0, 1]) - (80 + 1) // 3) <= 4  # RGB order, centred crop (JPEG tolerance)
        assert np.isclose(f.intrinsics.fx, 600.0 * 128 / 480)
        for _ in range(8):
            cam.read()
        with pytest.raises(CameraFrozenError):  # the file ends: no frames, a clear error, no hang
            for _ in range(10):
                cam.read()


def test_opencv_absent_device_is_a_clear_error():
    pytest.importorskip("cv2")
    from robot_rl.drivers.opencv_camera import OpenCVCamera, OpenCVCameraConfig

    with pytest.raises(CameraNotFoundError, match="no camera at"):
        OpenCVCamera(OpenCVCameraConfig(device="/dev/video_robot_rl_absent")).start()


# ---- the node over DDS --------------------------------------------------------------------------------------
def _node(args: list[str], domain: int):
    return subprocess.Popen([sys.executable, "-m", "robot_rl.drivers.camera_node", "--ros-args", *args], cwd=ROOT,
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.parametrize("args, message", [
    (["-p", "driver:=realsense", "-p", "serial:='000000000042'"], "no RealSense with serial"),
    (["-p", "driver:=opencv", "-p", "device:=/dev/video_robot_rl_absent"], "no camera at"),
    (["-p", "driver:=kinect"], "camera_node: camera: parameter driver='kinect' is invalid: expected one of"),
    (["-p", "crop_xywh_px:=[0, 0, 10]"], "parameter crop_xywh_px=[0, 0, 10] is invalid: expected 4 integers"),
])
def test_camera_node_exits_nonzero_when_the_camera_is_absent(args, message):
    p = _node(args, 90)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 2, out
    assert message in out


def test_camera_node_publishes_image_and_camera_info_with_the_recorded_intrinsics(recording):
    rclpy = pytest.importorskip("rclpy")
    import signal

    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    domain = 160 + os.getpid() % 60
    from robot_rl.contract.topics import camera

    # under a launch namespace: the contract's relative names move with it
    node = _node(["-p", "name:=front", "-p", "driver:=realsense", "-p", f"playback_file:={recording}",
                  "-r", "__ns:=/cell1"], domain)
    topic = {k: "/cell1/" + e.name for k, e in camera("front").items()}
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    client = rclpy.create_node("camera_node_test", context=ctx)
    got: dict = {}
    client.create_subscription(Image, topic["color"], lambda m: got.__setitem__("image", m),
                               qos_profile_sensor_data)
    client.create_subscription(CameraInfo, topic["color_info"], lambda m: got.__setitem__("info", m),
                               qos_profile_sensor_data)
    client.create_subscription(Image, topic["depth"],
                               lambda m: got.__setitem__("depth", m), qos_profile_sensor_data)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(client)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not {"image", "info", "depth"} <= got.keys():
            ex.spin_once(timeout_sec=0.05)
            assert node.poll() is None, node.stdout.read()
        assert {"image", "info", "depth"} <= got.keys(), f"got only {sorted(got)}"
    finally:
        node.send_signal(signal.SIGINT)
        try:
            rc = node.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            rc = None
        ex.shutdown()
        client.destroy_node()
        rclpy.shutdown(context=ctx)
    assert rc == 0, node.stdout.read()
    img, info, depth = got["image"], got["info"], got["depth"]
    assert (img.width, img.height, img.encoding, img.step) == (128, 128, "rgb8", 384)
    arr = np.frombuffer(bytes(img.data), np.uint8).reshape(128, 128, 3)
    assert abs(int(arr[0, 0, 1]) - (80 + 1) // 3) <= 1
    expected = RECORDED.crop_resize(center_square_crop(W, H), 128, 128)
    assert (info.width, info.height) == (128, 128)
    assert np.allclose(info.k, expected.k(), atol=1e-3)
    assert np.allclose(info.p, expected.p(), atol=1e-3)
    assert info.header.frame_id == img.header.frame_id == "front_color_optical_frame"
    assert (depth.encoding, depth.width) == ("16UC1", 128)
    d = np.frombuffer(bytes(depth.data), np.uint16).reshape(128, 128)
    assert 750 <= int(d[64, 64]) < 770
