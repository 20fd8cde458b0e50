"""RealSense playback keeps the camera contract: the recording's serial must match the requested one, the end of a
recording does what ``playback_end`` says (loop / stop / hold, each logged), depth is published in millimetres
whatever units the device recorded, and the distortion model is labelled as the device reports it. All through the
real pyrealsense2 pipeline on recordings written with ``rs.software_device``."""
from __future__ import annotations

import logging

import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2")
from robot_rl.drivers.camera_common import CameraNotFoundError, Intrinsics  # noqa: E402
from robot_rl.drivers.realsense import (RealSenseCamera, RealSenseConfig, RecordingEnded,  # noqa: E402
                                        write_recording)

W, H, FPS, N = 320, 240, 30, 6
SERIAL = "923322071945"


def _frames():
    return [np.full((H, W, 3), 10 * k, np.uint8) for k in range(N)]


def _record(path, depth_units_m=0.001, distortion="", coeffs=(0.0,) * 5, depth_value=750):
    intr = Intrinsics(W, H, 300.0, 300.0, 160.0, 120.0, coeffs=tuple(coeffs))
    depth = [np.full((H, W), depth_value, np.uint16) for _ in range(N)]
    write_recording(str(path), _frames(), intr, FPS, depth, intr, serial=SERIAL, depth_units_m=depth_units_m,
                    distortion=distortion)
    return str(path)


def _cam(path, **kw):
    return RealSenseCamera(RealSenseConfig(playback_file=path, color_width_px=W, color_height_px=H, fps=FPS,
                                           depth_width_px=W, depth_height_px=H, frame_timeout_ms=400, **kw))


def test_playback_refuses_a_recording_of_another_serial(tmp_path):
    path = _record(tmp_path / "a.db3")
    with pytest.raises(CameraNotFoundError, match=f"recording .* is of RealSense {SERIAL}, not of the requested"):
        _cam(path, serial="111111111111").start()
    with _cam(path, serial=SERIAL) as cam:  # the matching serial streams
        assert cam.read().color.shape == (128, 128, 3)


def test_playback_end_stop_raises_recording_ended_with_a_log_line(tmp_path, caplog):
    path = _record(tmp_path / "b.db3")
    caplog.set_level(logging.INFO, logger="robot_rl.drivers.realsense")
    with _cam(path, playback_end="stop") as cam:
        numbers = []
        with pytest.raises(RecordingEnded, match="end of recording"):
            for _ in range(3 * N):
                numbers.append(cam.read().frame_number)
    assert 0 < len(numbers) <= N and numbers == sorted(numbers)  # never wrapped around
    assert any("end reached" in r.getMessage() for r in caplog.records)


def test_playback_end_hold_repeats_the_last_frame(tmp_path, caplog):
    path = _record(tmp_path / "c.db3")
    caplog.set_level(logging.INFO, logger="robot_rl.drivers.realsense")
    with _cam(path, playback_end="hold") as cam:
        frames = [cam.read() for _ in range(2 * N)]
    last = max(f.frame_number for f in frames)
    assert frames[-1].frame_number == frames[-2].frame_number == last
    assert np.array_equal(frames[-1].color, frames[-2].color)
    assert frames[-1].stamp_s > frames[-2].stamp_s
    assert sum("end reached" in r.getMessage() for r in caplog.records) == 1


def test_playback_end_loop_starts_over_and_says_so(tmp_path, caplog):
    path = _record(tmp_path / "d.db3")
    caplog.set_level(logging.INFO, logger="robot_rl.drivers.realsense")
    with _cam(path, playback_end="loop") as cam:
        for _ in range(3 * N):
            cam.read()
        assert cam.playback_passes >= 2
    assert any("looping from the start" in r.getMessage() for r in caplog.records)


def test_bad_playback_end_is_refused():
    with pytest.raises(ValueError, match="playback_end must be one of loop, stop, hold"):
        RealSenseConfig(playback_end="forever").validate()


def test_depth_recorded_in_tenth_millimetres_is_published_in_millimetres(tmp_path):
    """A plane at 0.5 m recorded with 0.1 mm units reads 5000 raw; the frame carries 500 (mm)."""
    path = _record(tmp_path / "e.db3", depth_units_m=0.0001, depth_value=5000)
    with _cam(path) as cam:
        f = cam.read()
    assert cam.depth_units_m == pytest.approx(0.0001)
    assert f.depth_units_m == 0.001 and f.depth.dtype == np.uint16
    assert int(np.median(f.depth)) == 500


def test_inverse_brown_conrady_is_not_labelled_plumb_bob(tmp_path):
    coeffs = (0.1, -0.05, 0.001, 0.002, 0.0)
    path = _record(tmp_path / "f.db3", distortion="inverse_brown_conrady", coeffs=coeffs)
    with _cam(path) as cam:
        assert cam.intrinsics.distortion_model == "inverse_brown_conrady"
        assert cam.intrinsics.coeffs == pytest.approx(coeffs)
    plain = _record(tmp_path / "g.db3")
    with _cam(plain) as cam:
        assert cam.intrinsics.distortion_model == "plumb_bob"


def test_camera_node_with_playback_end_stop_exits_0_at_the_end_of_the_recording(tmp_path):
    pytest.importorskip("rclpy")
    import os
    import random
    import subprocess
    import sys

    path = _record(tmp_path / "h.db3")
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.Random().randint(100, 200))}
    r = subprocess.run([sys.executable, "-m", "robot_rl.drivers.camera_node", "--ros-args", "-p", "name:=front",
                        "-p", f"playback_file:={path}", "-p", "playback_end:=stop", "-p", f"width_px:={W}",
                        "-p", f"height_px:={H}", "-p", "frame_timeout_ms:=400"],
                       capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-2000:]
    assert "end of recording: stopping (playback_end=stop)" in out and "Traceback" not in out, out[-2000:]


def test_the_offline_reader_returns_every_recorded_colour_frame_once_in_order_with_its_pixels(tmp_path):
    from robot_rl.drivers.realsense import read_recording_color

    frames = read_recording_color(_record(tmp_path / "a.db3"))
    assert [int(img[0, 0, 0]) for _, img in frames] == [10 * k for k in range(N)]
    assert len({n for n, _ in frames}) == N and all(img.shape == (H, W, 3) for _, img in frames)


def test_the_offline_reader_names_a_missing_recording(tmp_path):
    from robot_rl.drivers.realsense import read_recording_color

    with pytest.raises(CameraNotFoundError, match="recording not found"):
        read_recording_color(str(tmp_path / "none.db3"))
