"""Hand-eye from the twin: a guided capture moves the MuJoCo arm twin through planned poses via its target
interface (streamed, clipped into the workspace box), the twin renders the ChArUco board from its calibrated
camera, and cv2.calibrateHandEye recovers the known camera mount from the measured poses with noise (0.1 deg,
0.5 mm per axis): within 0.2 deg and 2 mm, eye-in-hand (wrist) and eye-to-hand (front). Bad input (too few
views, rotations about one axis, a board of the wrong size, an unknown method) is one clear line."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("mujoco")
from robot_rl.calibration.board import BoardSpec, CalibrationError  # noqa: E402
from robot_rl.calibration.guided import (TwinArm, TwinBoardView, board_poses, guided_capture,  # noqa: E402
                                         nominal_mount, plan, rig_board)
from robot_rl.calibration.hand_eye import METHODS, calibrate_hand_eye, read_mount_yaml  # noqa: E402
from robot_rl.calibration.twin_board import camera_spec, pose  # noqa: E402
from robot_rl.contract.rotations import rotvec_to_mat  # noqa: E402
from robot_rl.drivers.camera_common import Intrinsics  # noqa: E402

SPEC = BoardSpec()  # 7x5, 35 mm squares
WRIST = Intrinsics(640, 480, 420.0, 420.0, 322.0, 238.0)
FRONT = Intrinsics(640, 480, 600.0, 600.0, 318.0, 242.0)
WRIST_MOUNT = nominal_mount("eye_in_hand")  # T_tcp_cam: 7 cm beside the TCP, looking past the fingers
FRONT_MOUNT = nominal_mount("eye_to_hand")  # T_base_cam: 1 m in front of the arm
BOARD_IN_BASE = rig_board(SPEC, "eye_in_hand")["board_in_base"]
ACCURATE = ("tsai", "park", "horaud", "daniilidis")  # andreff (linear) is checked on rotation only


def noisy(poses, rng, sigma_deg=0.1, sigma_m=0.0005):
    return [pose(p[:3, :3] @ rotvec_to_mat(np.radians(sigma_deg) * rng.standard_normal(3)),
                 p[:3, 3] + sigma_m * rng.standard_normal(3)) for p in poses]


def errors(mount, truth):
    d = mount[:3, :3].T @ truth[:3, :3]
    return (float(np.degrees(np.arccos(np.clip((np.trace(d) - 1) / 2, -1, 1)))),
            1000 * float(np.linalg.norm(mount[:3, 3] - truth[:3, 3])))


def _capture(cams, camera, intr, targets, **board):
    arm = TwinArm(cameras=cams)
    view = TwinBoardView(SPEC, cams, **board)
    cap = guided_capture(arm, view, camera, targets)
    view.close()
    found = [(e, b) for e, b in zip(cap.ee_poses, board_poses(SPEC, intr, cap.images)) if b is not None]
    return cap, [e for e, _ in found], [b for _, b in found]


@pytest.fixture(scope="module")
def eye_in_hand():
    cams = (camera_spec(WRIST, "wrist", WRIST_MOUNT),)
    targets = plan("eye_in_hand", WRIST_MOUNT, 20, np.random.default_rng(0))
    return _capture(cams, "wrist", WRIST, targets, **rig_board(SPEC, "eye_in_hand"))


@pytest.fixture(scope="module")
def eye_to_hand():
    cams = (camera_spec(FRONT, "front", FRONT_MOUNT),)
    targets = plan("eye_to_hand", FRONT_MOUNT, 25, np.random.default_rng(0))
    return _capture(cams, "front", FRONT, targets, **rig_board(SPEC, "eye_to_hand"))


@pytest.mark.parametrize("setup", ["eye_in_hand", "eye_to_hand"])
def test_hand_eye_from_noisy_twin_poses_is_within_0p2_deg_and_2_mm(setup, eye_in_hand, eye_to_hand, tmp_path):
    cap, ee, boards = eye_in_hand if setup == "eye_in_hand" else eye_to_hand
    truth = WRIST_MOUNT if setup == "eye_in_hand" else FRONT_MOUNT
    assert len(boards) >= 15 and len(boards) >= len(cap.images) - 2  # the plan keeps the board in view
    arm = noisy(ee, np.random.default_rng(1))
    for method in METHODS:
        res = calibrate_hand_eye(arm, boards, setup, method)
        deg, mm = errors(res.mount, truth)
        print(f"{setup} {method}: {deg:.3f} deg, {mm:.2f} mm; {res.summary()}")
        assert deg < 0.2, (method, deg)
        if method in ACCURATE:
            assert mm < 2.0, (method, mm)
            assert res.rms_deg < 1.0 and res.rms_mm < 5.0 and abs(res.scale - 1) < 0.02
    path = str(tmp_path / "mount.yaml")
    res.write_yaml(path, f"{'wrist' if setup == 'eye_in_hand' else 'front'}_color_optical_frame")
    back, d = read_mount_yaml(path)
    assert np.allclose(back, res.mount) and d["setup"] == setup
    assert d["parent_frame"] == ("tcp" if setup == "eye_in_hand" else "base")


def test_guided_capture_moves_through_spread_poses_and_records_the_measured_ones(eye_in_hand):
    cap, ee, _ = eye_in_hand
    rots = [p[:3, :3] for p in ee]
    spread = max(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))) for a in rots for b in rots)
    assert spread > 30.0
    assert np.ptp([p[:3, 3] for p in ee], axis=0).min() > 0.05  # spread along x, y and z


def test_a_target_outside_the_workspace_box_is_clipped_and_the_view_skipped():
    arm = TwinArm()
    view = TwinBoardView(SPEC, (camera_spec(WRIST, "wrist", WRIST_MOUNT),), board_in_base=BOARD_IN_BASE)
    p, r = arm.twin.ee_pose()
    cap = guided_capture(arm, view, "wrist", [pose(r, p + [0.0, 0.0, 0.3])])  # above the box's 0.45 m ceiling
    view.close()
    assert cap.skipped == 1 and not cap.images
    assert arm.twin.ee_pose()[0][2] <= arm.hi[2] + 0.005


def test_a_board_of_the_wrong_square_size_is_caught_by_the_translation_scale(eye_in_hand):
    _, ee, boards = eye_in_hand
    scaled = [pose(b[:3, :3], 1.1 * b[:3, 3]) for b in boards]  # as if the squares were 10 % larger than said
    with pytest.raises(CalibrationError, match=r"board scale mismatch: the camera measures the arm's motions 1\.1\d\dx as long"):
        calibrate_hand_eye(ee, scaled, "eye_in_hand")


def test_degenerate_and_too_few_views_are_refused(eye_in_hand):
    _, ee, boards = eye_in_hand
    with pytest.raises(CalibrationError, match=r"too few hand-eye views: 4 \(need 6\)"):
        calibrate_hand_eye(ee[:4], boards[:4])
    about_z = [pose(rotvec_to_mat((0.0, 0.0, 0.2 * k)), (0.5, 0.0, 0.3)) for k in range(8)]
    with pytest.raises(CalibrationError, match="degenerate poses: every rotation between views is about one axis"):
        calibrate_hand_eye(about_z, boards[:8])
    shifted = [pose(np.eye(3), (0.5 + 0.01 * k, 0.0, 0.3)) for k in range(8)]
    with pytest.raises(CalibrationError, match="degenerate poses: the arm rotated at most 0.0 deg"):
        calibrate_hand_eye(shifted, boards[:8])
    with pytest.raises(CalibrationError, match="unknown hand-eye method 'magic': expected one of tsai, park"):
        calibrate_hand_eye(ee, boards, method="magic")


def test_the_twin_camera_at_the_calibrated_mount_lines_up_with_the_real_one(eye_in_hand):
    """The twin re-rendered with the hand-eye result (from noisy poses) in place of the true mount: its board corners
    land within a pixel of the "real" camera's (the true mount's) at the same arm configurations."""
    from robot_rl.calibration.board import BoardDetector

    cap, ee, boards = eye_in_hand
    res = calibrate_hand_eye(noisy(ee, np.random.default_rng(1)), boards, "eye_in_hand", "park")
    twin = TwinBoardView(SPEC, (camera_spec(WRIST, "wrist", res.mount),), **rig_board(SPEC, "eye_in_hand"))
    det = BoardDetector(SPEC)
    errs = []
    for q, real in zip(cap.qpos, cap.images):
        a, _ = det.detect(real)
        b, _ = det.detect(twin.render("wrist", q))
        if a is None or b is None:
            continue
        common, i, j = np.intersect1d(a.ids, b.ids, return_indices=True)
        errs.append(np.sqrt(np.mean(np.sum((a.corners_px[i] - b.corners_px[j]) ** 2, axis=1))))
    twin.close()
    print(f"twin at the calibrated wrist mount vs the real camera: {np.sqrt(np.mean(np.square(errs))):.2f} px RMS "
          f"over {len(errs)} views (worst {max(errs):.2f} px)")
    assert len(errs) >= 15 and max(errs) < 2.0
