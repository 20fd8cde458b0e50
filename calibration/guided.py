"""Guided hand-eye capture: plan well-spread arm poses that keep the board in view, move the arm through them via
its target interface (clipped into the workspace box, as the driver and the twin clip ``arm/target_pose``), and
record at each settled pose the measured ``ee_pose`` and the camera image.

In the twin this runs in-process: :class:`TwinArm` is the MuJoCo arm twin driven through ``set_target`` (the
impedance law the twin node runs for ``arm/target_pose``), and :class:`TwinBoardView` renders the twin's scene with
the board (on the table, or held by the hand) from the twin's calibrated cameras. A capture is saved as a folder
(``poses.yaml`` + one PNG per view) that ``robot-rl calibrate hand-eye --data`` reads back.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from robot_rl.calibration.board import BoardSpec, CalibrationError, _cv2
from robot_rl.calibration.twin_board import board_xml, inv, pose
from robot_rl.contract.arm import arm_task_io
from robot_rl.contract.rotations import mat_to_quat, mat_to_rotvec, quat_to_mat, rotvec_to_mat
from robot_rl.sim.panda_model import CameraSpec, build_scene


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Rotation of an optical frame (z forward, y down) at ``eye`` looking at ``target``."""
    z = np.asarray(target, float) - np.asarray(eye, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(z, (1.0, 0.0, 0.0))
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def plan_eye_in_hand(board_centre_m, mount_guess: np.ndarray, n: int, rng: np.random.Generator,
                     distance_m=(0.28, 0.4), max_elevation_deg: float = 30.0, max_roll_deg: float = 35.0):
    """TCP poses (T_base_tcp) for a wrist camera (nominal mount ``T_tcp_cam``) looking at a board lying at
    ``board_centre_m``: camera positions on a cap above the board, each rolled differently."""
    out = []
    for k in range(n):
        el = np.radians(max_elevation_deg) * np.sqrt(rng.uniform(0.1, 1.0))
        az = 2 * np.pi * (k / n) + rng.uniform(-0.3, 0.3)
        d = rng.uniform(*distance_m)
        eye = np.asarray(board_centre_m, float) + d * np.array([np.sin(el) * np.cos(az), np.sin(el) * np.sin(az),
                                                                np.cos(el)])
        rot = look_at(eye, board_centre_m, up=(1.0, 0.0, 0.0)) @ rotvec_to_mat(
            (0.0, 0.0, np.radians(max_roll_deg) * rng.uniform(-1, 1)))
        out.append(pose(rot, eye) @ inv(mount_guess))
    return out


def plan_eye_to_hand(centre_m, base_rot: np.ndarray, n: int, rng: np.random.Generator, spread_m: float = 0.08,
                     max_rotation_deg: float = 25.0):
    """TCP poses around ``centre_m`` for a fixed camera watching a board held by the hand: the hand turned up to
    ``max_rotation_deg`` about every axis from ``base_rot`` and moved up to ``spread_m``."""
    out = []
    for _ in range(n):
        rot = base_rot @ rotvec_to_mat(np.radians(max_rotation_deg) * rng.uniform(-1, 1, 3))
        out.append(pose(rot, np.asarray(centre_m, float) + spread_m * rng.uniform(-1, 1, 3)))
    return out


@dataclass(frozen=True)
class MoveConfig:
    target_hz: float = 10.0  # rate of the streamed targets (the actor's rate)
    step_m: float = 0.02  # at most this far ...
    step_deg: float = 6.0  # ... and this much turn per target
    settle_s: float = 0.6  # held at the goal before the pose is measured
    # over ROS the arm runs on its own clock: after settle_s, hold until the measured pose moves less than
    # settled_m per 0.2 s (at most settle_timeout_s)
    settled_m: float = 0.0003
    settle_timeout_s: float = 5.0


# The twin rig the guided capture plans for (and the tests use): a wrist camera 7 cm beside the TCP looking past
# the fingers; a front camera 1 m in front of the arm; the board lying on the table, or held 5 cm before the fingers.
BOARD_CENTRE_ON_TABLE_M = (0.55, 0.0, 0.0)
HAND_CENTRE_M = (0.55, 0.0, 0.25)  # eye-to-hand: the TCP poses spread around here
FRONT_EYE_M = (1.02, 0.05, 0.40)
_IN_HAND = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # board axes in the TCP frame
_DOWN = np.diag([1.0, -1.0, -1.0])


def nominal_mount(setup: str) -> np.ndarray:
    """eye_in_hand: T_tcp_cam of the rig's wrist camera; eye_to_hand: T_base_cam of its front camera."""
    if setup == "eye_in_hand":
        return pose(rotvec_to_mat((0.0, np.radians(-12), np.radians(90))), (0.07, 0.0, -0.05))
    return pose(look_at(FRONT_EYE_M, (0.6, 0.0, 0.3)), FRONT_EYE_M)


def rig_board(spec: BoardSpec, setup: str) -> dict:
    """The board's placement for :class:`TwinBoardView`: on the table (eye-in-hand) or in the hand (eye-to-hand)."""
    centre = np.array([spec.size_m[0] / 2, spec.size_m[1] / 2, 0.0])
    if setup == "eye_in_hand":
        return {"board_in_base": pose(_DOWN, np.asarray(BOARD_CENTRE_ON_TABLE_M) - _DOWN @ centre + [0, 0, 0.0005])}
    return {"board_in_tcp": pose(_IN_HAND, np.array([0.05, 0.0, -0.05]) - _IN_HAND @ centre)}


def plan(setup: str, mount: np.ndarray, n: int, rng: np.random.Generator) -> list:
    """The rig's TCP targets for ``setup`` (the wrist camera's nominal ``mount`` aims them)."""
    if setup == "eye_in_hand":
        return plan_eye_in_hand(BOARD_CENTRE_ON_TABLE_M, mount, n, rng)
    return plan_eye_to_hand(HAND_CENTRE_M, _DOWN, n, rng)


def target_stream(start: np.ndarray, goal: np.ndarray, cfg: MoveConfig) -> list[np.ndarray]:
    """The targets (T_base_tcp) to send at ``cfg.target_hz`` from ``start`` to ``goal``: straight in position,
    geodesic in rotation, at most ``step_m`` and ``step_deg`` apart."""
    p0, r0 = start[:3, 3], start[:3, :3]
    rv = mat_to_rotvec(r0.T @ goal[:3, :3])
    n = int(max(1, np.ceil(np.linalg.norm(goal[:3, 3] - p0) / cfg.step_m),
                np.ceil(np.linalg.norm(rv) / np.radians(cfg.step_deg))))
    return [pose(r0 @ rotvec_to_mat(rv * k / n), p0 + (goal[:3, 3] - p0) * k / n) for k in range(1, n + 1)]


class TwinArm:
    """The arm twin moved through its target interface: a target is clipped into the task's workspace box and
    tracked by the impedance law until it settles; the measured TCP pose is what a capture records."""

    def __init__(self, task: str = "reach", cameras: tuple[CameraSpec, ...] = (), cfg: MoveConfig = MoveConfig()):
        from robot_rl.controllers.filtered_loop import FiltersConfig
        from robot_rl.sim.arm_twin import ArmTwin, TwinConfig

        # the energy tank only monitors here: its 2 J drain within a few 20-40 cm moves (even streamed at 5 cm/s)
        # and then hold the arm; the safety stage (box, speed, joint barrier, torque limits) stays on
        self.twin = ArmTwin(cfg=TwinConfig(cameras=cameras, filters=FiltersConfig(passivity_enabled=False)))
        io = arm_task_io(task)
        self.lo, self.hi = np.asarray(io.workspace_min_m, float), np.asarray(io.workspace_max_m, float)
        self.cfg = cfg

    def move_to(self, target: np.ndarray) -> np.ndarray:
        """Stream targets from the current pose to ``target`` (T_base_tcp) at ``target_hz`` in bounded steps, as
        a client of ``arm/target_pose`` does, then hold it; return the measured T_base_tcp once settled."""
        per_step = self.twin.ticks_for(1.0 / self.cfg.target_hz)
        p0, r0 = self.twin.ee_pose()
        for t in target_stream(pose(r0, p0), target, self.cfg):
            self.twin.set_target(np.clip(t[:3, 3], self.lo, self.hi), t[:3, :3])  # the driver's workspace clip
            self.twin.step(per_step)
        self.twin.step(self.twin.ticks_for(self.cfg.settle_s))
        p, r = self.twin.ee_pose()
        return pose(r, p)

    @property
    def qpos(self) -> np.ndarray:
        return self.twin.data.qpos.copy()


class TwinBoardView:
    """The twin's scene (same arm, same calibrated cameras) with the board on the table (``board_in_base``) or
    held by the hand (``board_in_tcp``), rendered at a given arm configuration."""

    def __init__(self, spec: BoardSpec, cameras: tuple[CameraSpec, ...], board_in_base: np.ndarray | None = None,
                 board_in_tcp: np.ndarray | None = None):
        import mujoco

        from robot_rl.sim.panda_model import PANDA_TCP_OFFSET_M

        if (board_in_base is None) == (board_in_tcp is None):
            raise ValueError("give the board's pose in the base or in the TCP frame")
        if board_in_tcp is not None:  # the hand body's frame is the TCP's, moved back along z
            asset, body, assets = board_xml(spec, mocap=False,
                                            world_pose=pose(np.eye(3), (0, 0, PANDA_TCP_OFFSET_M)) @ board_in_tcp)
            xml = build_scene(hand_xml=body, cameras=cameras)
        else:
            asset, body, assets = board_xml(spec, mocap=False, world_pose=board_in_base)
            xml = build_scene(objects_xml=body, cameras=cameras)
        xml = xml.replace("<asset>", "<asset>" + asset, 1)
        self.mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.data = mujoco.MjData(self.model)
        self.cameras = {c.name: c for c in cameras}
        self._renderers: dict = {}

    def render(self, camera: str, qpos: np.ndarray) -> np.ndarray:
        c = self.cameras[camera]
        if camera not in self._renderers:
            self._renderers[camera] = self.mujoco.Renderer(self.model, c.height_px, c.width_px)
        self.data.qpos[:] = qpos
        self.mujoco.mj_forward(self.model, self.data)
        r = self._renderers[camera]
        r.update_scene(self.data, camera)
        return r.render().copy()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()


@dataclass
class Capture:
    ee_poses: list  # measured T_base_tcp per view
    images: list  # RGB per view
    skipped: int = 0  # planned poses not reached (joint limits, the workspace box)
    qpos: list = field(default_factory=list)  # the twin's configuration per view (in-process captures only)

    def save(self, folder: str) -> None:
        import yaml

        cv2 = _cv2()
        os.makedirs(folder, exist_ok=True)
        views = []
        for k, (t, img) in enumerate(zip(self.ee_poses, self.images)):
            name = f"view_{k:03d}.png"
            cv2.imwrite(os.path.join(folder, name), img[:, :, ::-1])
            views.append({"image": name, "ee_position_m": [float(v) for v in t[:3, 3]],
                          "ee_rotation_wxyz": [float(v) for v in mat_to_quat(t[:3, :3])]})
        with open(os.path.join(folder, "poses.yaml"), "w") as f:
            yaml.safe_dump({"frame": "base", "views": views}, f, sort_keys=False, default_flow_style=None)


def load_capture(folder: str) -> Capture:
    import yaml

    cv2 = _cv2()
    path = os.path.join(folder, "poses.yaml")
    if not os.path.isfile(path):
        raise CalibrationError(f"hand-eye data {folder}: no poses.yaml (views: image, ee_position_m, ee_rotation_wxyz)")
    try:
        views = yaml.safe_load(open(path))["views"]
        poses = [pose(quat_to_mat(v["ee_rotation_wxyz"]), v["ee_position_m"]) for v in views]
        files = [os.path.join(folder, v["image"]) for v in views]
    except (KeyError, TypeError, ValueError) as e:
        raise CalibrationError(f"{path}: each view needs image, ee_position_m, ee_rotation_wxyz ({e})") from None
    images = []
    for f in files:
        img = cv2.imread(f, cv2.IMREAD_COLOR)
        if img is None:
            raise CalibrationError(f"{f}: not a readable image")
        images.append(img[:, :, ::-1].copy())
    return Capture(poses, images)


def guided_capture(arm, view: TwinBoardView | None, camera: str, targets, tolerance_m: float = 0.005,
                   progress=None, grab=None) -> Capture:
    """Move ``arm`` (``move_to(T_base_tcp) -> measured T_base_tcp``: :class:`TwinArm`, or the ROS client in
    ``hand_eye_capture_node.py``) through ``targets``; at each pose reached within ``tolerance_m`` record the
    measured pose and an image: ``grab()``, default the twin's render of ``camera`` at the arm's configuration."""
    grab = grab or (lambda: view.render(camera, arm.qpos))
    cap = Capture([], [])
    for k, target in enumerate(targets):
        got = arm.move_to(target)
        miss = np.linalg.norm(got[:3, 3] - target[:3, 3])
        if miss > tolerance_m:
            cap.skipped += 1
            if progress is not None:
                progress(k, None, f"not reached ({1000 * miss:.0f} mm away: workspace box or joint limits): skipped")
            continue
        cap.ee_poses.append(got)
        cap.images.append(grab())
        if hasattr(arm, "qpos"):
            cap.qpos.append(arm.qpos)
        if progress is not None:
            progress(k, got, "captured")
    return cap


def board_poses(spec: BoardSpec, intr, images, progress=None) -> list:
    """T_cam_board per image (None where the board is not found), from its corners and the camera's intrinsics
    (a calibration: :class:`~robot_rl.drivers.camera_common.Intrinsics`)."""
    from robot_rl.calibration.intrinsics import IntrinsicsCalibrator

    cal = IntrinsicsCalibrator(spec)
    out = []
    for k, img in enumerate(images):
        det, why = cal.detector.detect(img)
        out.append(None if det is None else cal.view_pose(det, intr))
        if progress is not None:
            progress(k, why or f"{len(det.ids)} corners")
    return out
