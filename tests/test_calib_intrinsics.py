"""ChArUco intrinsics against ground truth: boards rendered by MuJoCo from known intrinsics and known board poses
(a pinhole camera with an off-centre principal point, and the same views through a lens warp with known plumb_bob
coefficients) calibrate to fx, fy within 0.5 %, cx, cy within 2 px, RMS < 0.5 px. Bad input (no board, too few
views, degenerate poses, a board of another size) is one clear line."""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mujoco")
from robot_rl.calibration.board import BoardSpec, CalibrationError, corner_points  # noqa: E402
from robot_rl.calibration.intrinsics import IntrinsicsCalibrator, IntrinsicsConfig, calibrate_views  # noqa: E402
from robot_rl.calibration.twin_board import (BoardScene, distortion_warp, pose, project,  # noqa: E402
                                             render_distorted, spread_board_poses)
from robot_rl.drivers.camera_common import Intrinsics  # noqa: E402

SPEC = BoardSpec(9, 7, 0.04, 0.03)  # 360 x 280 mm
TRUE = Intrinsics(640, 480, 610.0, 605.0, 331.0, 236.5)
COEFFS = (-0.12, 0.05, 0.0008, -0.0005, 0.0)
N_VIEWS = 30


def assert_close_to_truth(intr: Intrinsics, rms_px: float, truth: Intrinsics = TRUE):
    assert abs(intr.fx / truth.fx - 1) < 0.005 and abs(intr.fy / truth.fy - 1) < 0.005, intr
    assert abs(intr.cx - truth.cx) < 2.0 and abs(intr.cy - truth.cy) < 2.0, intr
    assert rms_px < 0.5


@pytest.fixture(scope="module")
def poses():
    return spread_board_poses(SPEC, TRUE, N_VIEWS, np.random.default_rng(3), distance_m=(0.4, 0.9), max_tilt_deg=45,
                              coeffs=COEFFS)


@pytest.fixture(scope="module")
def pinhole_views(poses):
    scene = BoardScene(SPEC, TRUE)
    views = [(f"v{k}", scene.render(t)) for k, t in enumerate(poses)]
    scene.close()
    return views


def test_the_rendered_board_projects_where_the_camera_model_says(pinhole_views, poses):
    """The ground truth itself: corners detected in the render sit where OpenCV projects the known board pose
    through the known intrinsics (so the scene's texture, camera frame and principal point are right)."""
    cal = IntrinsicsCalibrator(SPEC)
    det, _ = cal.detector.detect(pinhole_views[0][1])
    err = project(TRUE, poses[0], corner_points(SPEC)[det.ids]) - det.corners_px
    assert np.sqrt((err ** 2).sum(1).mean()) < 0.5 and np.all(np.abs(err.mean(0)) < 0.2)


def test_pinhole_twin_render_calibrates_to_the_true_intrinsics(pinhole_views):
    lines = []
    res = calibrate_views(SPEC, pinhole_views, progress=lambda fb, cov: lines.append((fb.line(), cov)))
    assert_close_to_truth(res.intrinsics, res.rms_px)
    assert len(res.per_view_rms_px) >= N_VIEWS - 2 and max(res.per_view_rms_px.values()) < 1.0
    assert np.all(np.abs(res.intrinsics.coeffs[:4]) < 0.02)  # no distortion invented
    assert "corners, board at" in lines[0][0] and "still missing" in lines[0][1]  # coverage feedback per view
    assert lines[-1][1].startswith(f"{len(res.per_view_rms_px)} views")
    assert "px from the running fit" in lines[-1][0] and "running fit" not in lines[0][0]  # once there is a fit
    print("pinhole:", res.summary())


def test_distorted_warp_with_known_coefficients_calibrates_to_them(poses):
    big, mx, my = distortion_warp(TRUE, COEFFS, pad_px=80)
    scene = BoardScene(SPEC, big)
    views = [(f"d{k}", render_distorted(scene, TRUE, (mx, my), t)) for k, t in enumerate(poses)]
    scene.close()
    cal = IntrinsicsCalibrator(SPEC)
    det, _ = cal.detector.detect(views[0][1])  # the warp is the model: corners land where OpenCV projects them
    err = project(TRUE, poses[0], corner_points(SPEC)[det.ids], COEFFS) - det.corners_px
    assert np.sqrt((err ** 2).sum(1).mean()) < 0.5
    res = calibrate_views(SPEC, views)
    assert_close_to_truth(res.intrinsics, res.rms_px)
    # k1, k2, k3 trade off against each other; the lens they describe is what must match: where the views put
    # corners (all but the image's extreme corners, which no fully visible board reached), the fitted model sends
    # each ray to within half a pixel of where the true one does
    u, v = np.meshgrid(np.linspace(0, TRUE.width - 1, 17), np.linspace(0, TRUE.height - 1, 13))
    rays = cv2.undistortPoints(np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2), TRUE.matrix(),
                               np.array(COEFFS)).reshape(-1, 2)
    pts = np.c_[rays, np.ones(len(rays))]
    fitted, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), res.intrinsics.matrix(), np.array(res.intrinsics.coeffs))
    truth, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), TRUE.matrix(), np.array(COEFFS))
    e = np.linalg.norm((fitted - truth).reshape(13, 17, 2), axis=2)
    assert np.max(e[1:-1, 2:-2]) < 0.5
    print("distorted:", res.summary(), f"; lens model error {np.max(e[1:-1, 2:-2]):.2f} px inside, "
          f"{np.max(e):.2f} px at the image corners")


def test_views_without_a_board_say_so():
    cal = IntrinsicsCalibrator(SPEC)
    for _ in range(3):
        assert not cal.add_view(np.full((480, 640, 3), 128, np.uint8)).accepted
    with pytest.raises(CalibrationError, match="no board found in any of 3 views .*no board markers found"):
        cal.calibrate()


def test_too_few_views_say_how_many_are_needed(pinhole_views):
    with pytest.raises(CalibrationError, match=r"too few views with the board: 3 \(need 8\); 3 views; still missing"):
        calibrate_views(SPEC, pinhole_views[:3])


def test_a_board_of_another_size_is_named_as_such(pinhole_views):
    wrong = BoardSpec(7, 5, 0.04, 0.03)
    with pytest.raises(CalibrationError, match=r"no ChArUco corners: is the board 7x5\? \(marker ids \[17"):
        calibrate_views(wrong, pinhole_views[:4])


def test_fronto_parallel_views_are_degenerate():
    """The board only slid around at one distance, never tilted: focal length is not observable."""
    scene = BoardScene(SPEC, TRUE, supersample=1)
    views = []
    for k, (dx, dy) in enumerate([(-0.08, -0.05), (0.0, -0.05), (0.08, -0.05), (-0.08, 0.05), (0.0, 0.05),
                                  (0.08, 0.05), (-0.04, 0.0), (0.04, 0.0), (0.0, 0.0)]):
        views.append((f"flat{k}", scene.render(pose(np.eye(3), (dx - 0.18, dy - 0.14, 0.7)))))
    scene.close()
    with pytest.raises(CalibrationError, match="degenerate poses: the board's normal varies by only"):
        calibrate_views(SPEC, views, IntrinsicsConfig(duplicate_px=0.5))


def test_a_repeated_view_is_not_counted_twice(pinhole_views):
    cal = IntrinsicsCalibrator(SPEC)
    assert cal.add_view(pinhole_views[0][1], "a").accepted
    fb = cal.add_view(pinhole_views[0][1].copy(), "b")
    assert not fb.accepted and fb.reason == "same view as a"
