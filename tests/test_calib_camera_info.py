"""The camera_info calibration YAML: written and read back unchanged (the ROS camera_calibration_parsers layout),
a malformed file is one line naming the entry, and the camera node publishes CameraInfo from it (K, D, R, P, not
the device's factory values) transformed through its crop and resize, over real DDS from a real RealSense
recording."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from robot_rl.drivers.camera_common import (Intrinsics, crop_resize_matrix, read_camera_info_yaml,
                                            write_camera_info_yaml)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALIBRATED = Intrinsics(640, 480, 615.25, 613.5, 318.75, 244.125, "plumb_bob", (-0.11, 0.06, 0.0007, -0.0004, 0.01),
                        (600.0, 0.0, 316.0, 0.0, 0.0, 598.0, 243.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
FACTORY = Intrinsics(640, 480, 600.0, 600.0, 320.0, 240.0)


def test_camera_info_yaml_round_trip_keeps_every_field(tmp_path):
    path = str(tmp_path / "front.yaml")
    write_camera_info_yaml(path, CALIBRATED, "front")
    d = yaml.safe_load(open(path))
    assert list(d) == ["image_width", "image_height", "camera_name", "camera_matrix", "distortion_model",
                       "distortion_coefficients", "rectification_matrix", "projection_matrix"]
    assert d["camera_matrix"] == {"rows": 3, "cols": 3, "data": CALIBRATED.k()}
    assert d["projection_matrix"]["rows"] == 3 and d["projection_matrix"]["cols"] == 4
    name, back = read_camera_info_yaml("file://" + path)
    assert name == "front" and back == CALIBRATED
    write_camera_info_yaml(path, FACTORY, "front")  # no R, P given: identity and [K | 0] are written
    assert read_camera_info_yaml(path)[1].p() == FACTORY.p()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("camera_matrix"), "camera_matrix missing or not 3x3 numbers"),
    (lambda d: d["projection_matrix"].update(data=[1.0, 2.0]), "projection_matrix missing or not 3x4 numbers"),
    (lambda d: d.update(image_width=None), "image_width / image_height missing"),
])
def test_a_malformed_calibration_file_names_the_entry(tmp_path, edit, message):
    path = str(tmp_path / "bad.yaml")
    write_camera_info_yaml(path, CALIBRATED, "front")
    d = yaml.safe_load(open(path))
    edit(d)
    yaml.safe_dump(d, open(path, "w"))
    with pytest.raises(ValueError, match=f"calibration file {path}: {message}"):
        read_camera_info_yaml(path)


def test_calibration_at_another_resolution_scales_and_another_aspect_is_refused():
    half = CALIBRATED.at_size(320, 240)
    assert np.allclose(half.matrix(), crop_resize_matrix((0, 0, 640, 480), 320, 240) @ CALIBRATED.matrix())
    assert half.fx == pytest.approx(CALIBRATED.fx / 2) and half.cx == pytest.approx((CALIBRATED.cx + 0.5) / 2 - 0.5)
    with pytest.raises(ValueError, match="calibration is for 640x480, the stream is 640x360"):
        CALIBRATED.at_size(640, 360)


def start_camera_node(params: list[str], domain: int) -> subprocess.Popen:
    args = [a for p in params for a in ("-p", p)]
    return subprocess.Popen([sys.executable, "-m", "robot_rl.drivers.camera_node", "--ros-args", *args], cwd=ROOT,
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def stop(node: subprocess.Popen) -> str:
    """Ctrl-C (SIGKILL after 20 s); the node's output."""
    if node.poll() is None:
        node.send_signal(signal.SIGINT)
    try:
        return node.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        return node.communicate()[0]


def _spin_for_info(topic: str, domain: int, node: subprocess.Popen):
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    client = rclpy.create_node("camera_info_test", context=ctx)
    got = []
    client.create_subscription(CameraInfo, topic, got.append, qos_profile_sensor_data)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(client)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not got and node.poll() is None:
            ex.spin_once(timeout_sec=0.05)
    finally:
        ex.shutdown()
        client.destroy_node()
        rclpy.shutdown(context=ctx)
    return got


def test_camera_node_publishes_the_calibrated_camera_info_through_crop_and_resize(tmp_path):
    """Recording with factory intrinsics, a calibration file with others (and its own P): the node's CameraInfo
    is the calibration's K, D and P mapped through the 400x300 crop at (100, 80) and the resize to 160x120."""
    pytest.importorskip("rclpy")
    pytest.importorskip("pyrealsense2")
    from robot_rl.contract.topics import camera
    from robot_rl.drivers.realsense import write_recording

    rec = str(tmp_path / "wrist.db3")
    frames = [np.full((480, 640, 3), 20 * k, np.uint8) for k in range(10)]
    write_recording(rec, frames, FACTORY, 30, serial="000000000014")
    calib = str(tmp_path / "wrist.yaml")
    write_camera_info_yaml(calib, CALIBRATED, "wrist")
    domain = random.Random().randint(100, 200)
    node = start_camera_node(["name:=wrist", f"playback_file:={rec}", "depth_enabled:=false",
                              f"camera_info_url:=file://{calib}", "crop_xywh_px:=[100, 80, 400, 300]",
                              "output_width_px:=160", "output_height_px:=120"], domain)
    try:
        got = _spin_for_info(camera("wrist")["color_info"].name, domain, node)
    finally:
        out = stop(node)
    assert got, out[-2000:]
    info = got[-1]
    s = crop_resize_matrix((100, 80, 400, 300), 160, 120)
    assert (info.width, info.height) == (160, 120)
    assert np.allclose(np.reshape(info.k, (3, 3)), s @ CALIBRATED.matrix(), atol=1e-9)
    assert np.allclose(np.reshape(info.p, (3, 4)), s @ np.reshape(CALIBRATED.projection, (3, 4)), atol=1e-9)
    assert np.allclose(info.d, CALIBRATED.coeffs) and info.distortion_model == "plumb_bob"
    assert not np.allclose(np.reshape(info.k, (3, 3)), s @ FACTORY.matrix(), atol=1.0)  # not the factory values
    # the same map is what a point's pixel goes through: u' + 0.5 = (u + 0.5 - x) * 160 / 400
    assert info.k[2] + 0.5 == pytest.approx((CALIBRATED.cx + 0.5 - 100) * 160 / 400)


def test_camera_node_with_a_broken_calibration_file_exits_2_with_one_line(tmp_path):
    pytest.importorskip("rclpy")
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\n")
    r = subprocess.run([sys.executable, "-m", "robot_rl.drivers.camera_node", "--ros-args", "-p",
                        f"camera_info_url:={bad}"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ROS_DOMAIN_ID="97", PYTHONPATH=ROOT))
    assert r.returncode == 2, r.stderr
    assert f"calibration file {bad}: camera_matrix missing or not 3x3 numbers" in r.stderr
    assert "Traceback" not in r.stderr


def test_opencv_camera_reports_the_calibration_through_its_crop_and_resize(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from robot_rl.drivers.camera_common import center_square_crop
    from robot_rl.drivers.opencv_camera import OpenCVCamera, OpenCVCameraConfig

    path = str(tmp_path / "cam.avi")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for k in range(3):
        vw.write(np.full((240, 320, 3), 40 * k, np.uint8))
    vw.release()
    # a 640x480 calibration, a 320x240 stream of the same sensor: scaled, then the centred crop and resize
    with OpenCVCamera(OpenCVCameraConfig(device=path, calibration=CALIBRATED,
                                         intrinsics_fx_fy_cx_cy_px=(1.0, 1.0, 1.0, 1.0))) as cam:
        f = cam.read()
    want = CALIBRATED.at_size(320, 240).crop_resize(center_square_crop(320, 240), 128, 128)
    assert f.intrinsics == want and f.intrinsics.coeffs == CALIBRATED.coeffs
