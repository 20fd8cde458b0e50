"""The twin as a stand-in for the arm driver: wall-clock paced physics, the driver's watchdog and e-stop, the
workspace clip on incoming targets, cameras. No ROS here; ``sim/twin_node.py`` translates messages.

The impedance law runs at the twin's control rate (``TwinConfig.control_hz``, 500 Hz) inside the physics;
:meth:`TwinRuntime.advance` steps as many control ticks as wall time has elapsed since the last call, so the
node may call it at any rate (it publishes at ``state_hz``). Before each batch of ticks the watchdog decides
the target (``ArmWatchdog.servo_target``, the driver's rule): the last received target while fresh, else the pose
held when it went stale or when the e-stop came in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.arm import ARM_TASKS
from robot_rl.contract.params import param
from robot_rl.contract.rotations import mat_to_quat, quat_to_mat
from robot_rl.controllers.watchdog import ArmMode, ArmWatchdog, ArmWatchdogConfig
from robot_rl.sim.arm_env import TwinArmEnv
from robot_rl.sim.arm_twin import TwinConfig, camera_intrinsics
from robot_rl.sim.panda_model import CameraSpec


CALIBRATION_FIELDS = "fx, fy, cx, cy [px at image_size_px], mount x, y, z [m], qw, qx, qy, qz"


@dataclass(frozen=True)
class CameraCalibrationParams:
    """Calibrated twin cameras as numbers (``robot-rl calibrate twin-params`` writes them from the camera_info and
    mount files): 11 values each, CALIBRATION_FIELDS; the mount is the OpenCV optical frame in the TCP frame
    (wrist) or the base frame (front). Empty: the model's default camera."""

    front: tuple[float, ...] = param((), doc=f"calibrated front camera: {CALIBRATION_FIELDS} (empty: default)")
    wrist: tuple[float, ...] = param((), doc=f"calibrated wrist camera: {CALIBRATION_FIELDS} (empty: default)")


def calibrated_cameras(cal: CameraCalibrationParams, size_px: int) -> tuple[CameraSpec, ...]:
    specs = []
    for name in ("front", "wrist"):
        v = tuple(getattr(cal, name))
        if not v:
            continue
        if len(v) != 11 or not all(math.isfinite(x) for x in v) or min(v[:2]) <= 0:
            raise ValueError(f"calibration.{name} must be 11 finite numbers ({CALIBRATION_FIELDS}), got {list(v)}")
        quat = np.asarray(v[7:], float)
        if abs(np.linalg.norm(quat) - 1.0) > 1e-3:
            raise ValueError(f"calibration.{name}: the mount quaternion {list(v[7:])} is not unit")
        specs.append(CameraSpec(name, size_px, size_px, *v[:4], position_m=tuple(v[4:7]), quaternion_wxyz=tuple(quat)))
    return tuple(specs)


@dataclass(frozen=True)
class TwinRuntimeConfig:
    """The twin node's parameters (``sim/twin_node.py`` declares them as ROS parameters, ranges checked)."""

    task: str = param("reach", choices=tuple(ARM_TASKS), doc="task (sim/tasks.py)")
    cameras: tuple[str, ...] = param(("front", "wrist"), doc="cameras to render; empty = state only")
    image_size_px: int = param(128, ge=8, le=2048, doc="rendered image side")
    state_hz: float = param(100.0, gt=0, le=1000, doc="joint states, ee pose/wrench, gripper and task state rate")
    camera_hz: float = param(10.0, gt=0, le=120, doc="camera image rate")
    target_timeout_s: float = param(0.2, gt=0, le=10, doc="watchdog: a target older than this -> hold")
    max_catch_up_s: float = param(0.1, gt=0, le=10,
                                  doc="at most this much simulated time per advance() (a stalled process does not sprint)")
    seed: int = param(0, ge=0, doc="episode e is reset with seed + e")
    # task/state's reward: "sparse" (1 on success, what a success classifier would give on hardware) or "dense"
    # (the task's shaping + 1 on success, as TwinArmEnv(reward="dense")); a twin-only training aid
    reward: str = param("sparse", choices=("sparse", "dense"), doc="task/state reward")
    base_frame: str = param("base", doc="frame_id of poses and wrenches; a target in another frame is rejected")
    max_future_stamp_s: float = param(0.5, ge=0, le=60,
                                      doc="a target stamped further ahead of this node's clock is rejected [s]")
    calibration: CameraCalibrationParams = CameraCalibrationParams()
    dynamics_file: str = param("", doc="identified twin dynamics YAML (robot-rl calibrate twin); empty: nominal")


class TwinRuntime:
    def __init__(self, cfg: TwinRuntimeConfig = TwinRuntimeConfig()):
        self.cfg = cfg
        if cfg.reward not in ("sparse", "dense"):
            raise ValueError(f"reward must be 'sparse' or 'dense', got {cfg.reward!r}")
        twin = TwinConfig(cameras=calibrated_cameras(cfg.calibration, cfg.image_size_px))
        if cfg.dynamics_file:
            from robot_rl.sim.twin_dynamics import apply_dynamics, load_dynamics

            twin = apply_dynamics(twin, load_dynamics(cfg.dynamics_file))
        self.env = TwinArmEnv(cfg.task, image_size_px=cfg.image_size_px, twin=twin)
        for cam in cfg.cameras:
            if cam not in self.env.camera_names():
                raise ValueError(f"unknown camera {cam!r}; the scene has {self.env.camera_names()}")
        self.twin = self.env.twin
        self.tcfg = self.env.tcfg
        self._ws_lo = np.asarray(self.tcfg.workspace_min_m, float)
        self._ws_hi = np.asarray(self.tcfg.workspace_max_m, float)
        self._wd_cfg = ArmWatchdogConfig(cfg.target_timeout_s)
        self.watchdog = ArmWatchdog(self._wd_cfg)
        self._target_pos = None
        self._target_rot = None
        self._last_s: float | None = None
        self.ticks = 0
        self.episode = 0
        self.rejected_targets = 0
        self.reset()

    # ---- inputs ------------------------------------------------------------------------------------------
    def on_target(self, pos, quat_wxyz, now_s: float, age_s: float = 0.0) -> str | None:
        """A target pose arrived, ``age_s`` old by its stamp; clipped into the workspace box like the driver does.
        Returns the cause if it is rejected (the arm keeps its last target, or holds), else None."""
        pos = np.asarray(pos, float)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            self.rejected_targets += 1
            return "target: position not finite"
        try:
            rot = quat_to_mat(quat_wxyz)
        except ValueError:  # RotationError (zero, NaN, wrong size) included
            self.rejected_targets += 1
            return "target: quaternion is not a rotation"
        self._target_pos = np.clip(pos, self._ws_lo, self._ws_hi)
        self._target_rot = rot
        self.watchdog.on_target(now_s, age_s)
        return None

    def on_gripper(self, closedness: float) -> str | None:
        """0 open ... 1 closed; the cause if rejected (not finite, or outside [0, 1]), else None."""
        if not math.isfinite(closedness):
            return "gripper command: not finite"
        if not 0.0 <= closedness <= 1.0:
            return "gripper command: outside [0, 1]"
        if self.tcfg.gripper_locked_closedness is None:
            self.twin.set_gripper(closedness)
        return None

    def estop(self) -> None:
        self.watchdog.estop()

    @property
    def estopped(self) -> bool:
        return self.watchdog.estop_latched

    def recover(self) -> tuple[bool, str]:
        """Clear a latched e-stop (the driver's ``arm/recover``): the arm keeps holding where it is and tracks
        again only on a target newer than the recovery."""
        if not self.estopped:
            return True, "nothing to recover: no e-stop latched"
        self.watchdog.reset_estop()
        return True, "e-stop cleared: holding until a new target arrives"

    def reset(self) -> tuple[bool, str]:
        """Back to a (randomised) start pose with a new task instance; refused while the e-stop is latched."""
        if self.estopped:
            return False, "e-stop latched: reset refused"
        self.env.reset(seed=self.cfg.seed + self.episode)
        self.episode += 1
        self.watchdog = ArmWatchdog(self._wd_cfg)  # a fresh watchdog holds the new start pose
        self._target_pos = self._target_rot = None
        return True, f"episode {self.episode}"

    # ---- the loop ----------------------------------------------------------------------------------------
    def advance(self, now_s: float) -> ArmMode:
        """Step the physics up to ``now_s`` (wall clock) under the watchdog's decision."""
        if self._last_s is None:
            self._last_s = now_s
        dt = min(max(0.0, now_s - self._last_s), self.cfg.max_catch_up_s)
        pos, rot = self.twin.ee_pose()
        mode, target_pos, target_rot = self.watchdog.servo_target(now_s, pos, rot, self._target_pos, self._target_rot)
        self.twin.set_target(target_pos, target_rot)
        n = int(dt / self.twin.tick_dt_s)
        if n > 0:
            self.twin.step(n)
            self.ticks += n
            self._last_s += n * self.twin.tick_dt_s
        if now_s - self._last_s > self.cfg.max_catch_up_s:
            self._last_s = now_s  # fell behind (stall): drop the backlog
        return mode

    # ---- outputs -----------------------------------------------------------------------------------------
    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        names = [f"joint{i}" for i in range(1, self.twin.n + 1)]
        return names, self.twin.q.copy(), self.twin.dq.copy(), self.twin.last_tau.copy()

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Position [m] and quaternion (w, x, y, z) of the TCP, base frame."""
        pos, rot = self.twin.ee_pose()
        return pos, mat_to_quat(rot)

    def ee_wrench(self) -> np.ndarray:
        return self.twin.ee_wrench()

    def gripper_width(self) -> float:
        return self.twin.gripper_width()

    def task_state(self) -> np.ndarray:
        """Privileged twin-only signal for training without a reward classifier: [reward, success, features...]."""
        env = self.env
        tcp, _ = self.twin.ee_pose()
        success = env.task.success(env.model, env.data, tcp)
        feats = env.task.features(env.model, env.data, tcp)
        reward = float(success)
        if self.cfg.reward == "dense":
            reward += float(env.task.dense_reward(env.model, env.data, tcp))
        return np.concatenate([[reward, float(success)], feats]).astype(np.float64)

    def render(self, camera: str) -> np.ndarray:
        return self.env.render_camera(camera)

    def camera_intrinsics(self, camera: str) -> tuple[int, int, float, float, float, float]:
        """(width, height, fx, fy, cx, cy) of a MuJoCo camera: the calibration's when it is calibrated, else the
        pinhole of its vertical field of view."""
        s = self.cfg.image_size_px
        return (s, s, *camera_intrinsics(self.env.model, camera, s, s))

    def close(self) -> None:
        self.env.close()
