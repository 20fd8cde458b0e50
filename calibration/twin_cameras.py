"""The twin's cameras from the calibration files, so twin and real images line up: a camera_info YAML (intrinsics
at the real stream's size) and a mount YAML (hand-eye: ``T_tcp_cam`` for the wrist, ``T_base_cam`` for the front
camera) become a :class:`~robot_rl.sim.panda_model.CameraSpec` (``TwinConfig.cameras``), taken through the same
crop and resize as the camera node so the twin renders what the policy gets.

The twin renders an ideal pinhole: the real lens distortion is not rendered. :func:`twin_vs_real` reports, per
view, how far the board corners the twin renders lie from where the real calibration projects them, without
and with that distortion."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.calibration.board import BoardDetector, BoardSpec, CalibrationError, corner_points
from robot_rl.calibration.guided import TwinBoardView
from robot_rl.calibration.hand_eye import read_mount_yaml
from robot_rl.calibration.twin_board import camera_spec, inv, pose, project
from robot_rl.contract.rotations import quat_to_mat
from robot_rl.drivers.camera_common import Intrinsics, center_square_crop, read_camera_info_yaml
from robot_rl.sim.panda_model import CameraSpec

PARENT = {"wrist": "eye_in_hand", "front": "eye_to_hand"}


def policy_intrinsics(intr: Intrinsics, crop: tuple[int, int, int, int] | None, out_w: int, out_h: int) -> Intrinsics:
    """The intrinsics of the image the camera node publishes (crop, default the centred square, then resize)."""
    return intr.crop_resize(crop or center_square_crop(intr.width, intr.height), out_w, out_h)


def twin_camera(name: str, camera_info_yaml: str, mount_yaml: str, crop=None, out_w: int | None = None,
                out_h: int | None = None) -> CameraSpec:
    """A twin camera with the calibration's intrinsics (after ``crop`` and resize to ``out_w`` x ``out_h`` when
    given: the camera node's parameters) and mount. ``wrist`` needs an eye-in-hand mount, ``front`` eye-to-hand."""
    _, intr = read_camera_info_yaml(camera_info_yaml)
    mount, d = read_mount_yaml(mount_yaml)
    if name in PARENT and d["setup"] != PARENT[name]:
        raise CalibrationError(f"mount file {mount_yaml} is {d['setup']}; the twin's {name} camera needs {PARENT[name]}")
    if out_w is not None:
        intr = policy_intrinsics(intr, crop, out_w, out_h or out_w)
    return camera_spec(intr, name, mount)


def twin_params(cameras: list[tuple[str, str, str]], size_px: int, crop=None, node: str = "twin") -> dict:
    """The twin node's params file (``calibration.<name>``: fx, fy, cx, cy at ``size_px``, then the mount x, y, z,
    qw, qx, qy, qz; see ``sim/twin_runtime.py``) for ``(name, camera_info_yaml, mount_yaml)`` cameras, through the
    camera node's ``crop`` and resize to ``size_px`` square (what the policy sees)."""
    cal = {}
    for name, info, mount in cameras:
        c = twin_camera(name, info, mount, crop, size_px, size_px)
        cal[name] = [float(v) for v in (c.fx_px, c.fy_px, c.cx_px, c.cy_px, *c.position_m, *c.quaternion_wxyz)]
    return {f"/**/{node}": {"ros__parameters": {"image_size_px": int(size_px), "calibration": cal}}}


@dataclass(frozen=True)
class TwinVsReal:
    per_view_px: list  # RMS per view, pinhole part of the real calibration [px]
    per_view_distorted_px: list  # RMS per view against the real projection with its lens distortion [px]

    def summary(self) -> str:
        a, b = np.array(self.per_view_px), np.array(self.per_view_distorted_px)
        return (f"twin vs real calibration over {len(a)} views: board corners {np.sqrt(np.mean(a ** 2)):.3f} px RMS "
                f"(worst view {a.max():.3f}) against the real pinhole model; {np.sqrt(np.mean(b ** 2)):.3f} px RMS "
                "with the real lens distortion, which the twin does not render")


def twin_vs_real(spec: BoardSpec, real: Intrinsics, cam: CameraSpec, view: TwinBoardView, qposes, tcp_poses,
                 board_pose: np.ndarray, setup: str) -> TwinVsReal:
    """Render the board in the twin at each arm configuration (``qposes``, with the measured ``tcp_poses``),
    detect its corners and compare with the real calibration's projection of the board's corners: ``real``
    (the calibrated intrinsics, at the twin camera's image size) and the mount the twin camera carries.
    ``board_pose``: T_base_board (eye-in-hand) or T_tcp_board (eye-to-hand)."""
    det = BoardDetector(spec)
    mount = pose(quat_to_mat(cam.quaternion_wxyz), cam.position_m)
    pin, dist = [], []
    pinhole = Intrinsics(real.width, real.height, real.fx, real.fy, real.cx, real.cy)
    for q, tcp in zip(qposes, tcp_poses):
        d, _ = det.detect(view.render(cam.name, q))
        if d is None:
            continue
        t_base_cam = tcp @ mount if setup == "eye_in_hand" else mount
        t_base_board = board_pose if setup == "eye_in_hand" else tcp @ board_pose
        t_cam_board = inv(t_base_cam) @ t_base_board
        pts = corner_points(spec)[d.ids]
        pin.append(_rms(project(pinhole, t_cam_board, pts) - d.corners_px))
        dist.append(_rms(project(real, t_cam_board, pts) - d.corners_px))
    if not pin:
        raise CalibrationError("the twin's camera saw the board in none of the views")
    return TwinVsReal(pin, dist)


def _rms(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(e ** 2, axis=1))))
