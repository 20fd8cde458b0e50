"""Configs, constants, errors and state types of the Franka driver (``drivers/franka.py``); numpy only."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from robot_rl.controllers.filtered_loop import FiltersConfig
from robot_rl.controllers.impedance import CartesianImpedanceConfig
from robot_rl.controllers.watchdog import ArmWatchdogConfig

Vec6 = tuple[float, float, float, float, float, float]
Vec7 = tuple[float, float, float, float, float, float, float]

FRANKA_HOME_Q_RAD: Vec7 = (0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4)
FRANKA_COMMAND_PORT = 1337  # libfranka's TCP command port (robot)
FRANKA_GRIPPER_PORT = 1338
FRANKA_ROBOT_PROTOCOL_VERSION = 10  # libfranka 0.21 robot protocol (any answer counts in probe_franka)
FRANKA_GRIPPER_PROTOCOL_VERSION = 3
JOINT_NAMES = tuple(f"fr3_joint{i}" for i in range(1, 8))


class FrankaError(RuntimeError):
    """A clear, user-facing driver error (bad config, no robot, refused command)."""


class FrankaConnectionError(FrankaError):
    """No Franka answered at the configured address."""


class DriverMode(enum.Enum):
    IDLE = "idle"  # not started
    WAITING = "waiting"  # running, no target yet: holds the start pose
    TRACKING = "tracking"
    HOLD = "hold"  # target stale: holds the pose captured then
    ESTOP = "estop"  # latched: holds the pose captured at the e-stop
    RESETTING = "resetting"  # joint-space move to the reset posture
    FAULT = "fault"  # loop stopped by an exception; needs recover()
    STOPPED = "stopped"  # stopped on request



def _vec(name: str, v, n: int, positive: bool = False) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be {n} finite numbers, got {v!r}")
    if positive and not np.all(a > 0.0):
        raise ValueError(f"{name} must be > 0, got {v!r}")
    return a


@dataclass(frozen=True)
class CollisionBehaviorConfig:
    """Franka's collision/contact reflex thresholds (``Robot.set_collision_behavior``): above the upper
    threshold the robot stops with a reflex; between lower and upper it only flags contact. Defaults: the
    libfranka examples' values."""

    lower_torque_thresholds_nm: Vec7 = (20.0, 20.0, 18.0, 18.0, 16.0, 14.0, 12.0)
    upper_torque_thresholds_nm: Vec7 = (20.0, 20.0, 18.0, 18.0, 16.0, 14.0, 12.0)
    lower_force_thresholds_n_nm: Vec6 = (20.0, 20.0, 20.0, 25.0, 25.0, 25.0)
    upper_force_thresholds_n_nm: Vec6 = (20.0, 20.0, 20.0, 25.0, 25.0, 25.0)

    def validate(self) -> None:
        lt = _vec("lower_torque_thresholds_nm", self.lower_torque_thresholds_nm, 7, positive=True)
        ut = _vec("upper_torque_thresholds_nm", self.upper_torque_thresholds_nm, 7, positive=True)
        lf = _vec("lower_force_thresholds_n_nm", self.lower_force_thresholds_n_nm, 6, positive=True)
        uf = _vec("upper_force_thresholds_n_nm", self.upper_force_thresholds_n_nm, 6, positive=True)
        if np.any(lt > ut) or np.any(lf > uf):
            raise ValueError("collision behaviour: every lower threshold must be <= its upper threshold")


@dataclass(frozen=True)
class GripperConfig:
    enabled: bool = True
    speed_m_per_s: float = 0.1
    grasp_force_n: float = 20.0
    # command >= this closes with a grasp (force-controlled), below it the fingers move to a width
    grasp_threshold: float = 0.5
    # grasp succeeds for any object width: these are the tolerances libfranka checks the final width against
    grasp_epsilon_m: float = 0.08
    # width changes smaller than this are not sent (the latest command wins; the gripper is slow)
    command_deadband_m: float = 0.002
    state_poll_s: float = 0.02

    def validate(self) -> None:
        for name in ("speed_m_per_s", "grasp_force_n", "grasp_epsilon_m", "state_poll_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"GripperConfig.{name} must be finite and > 0, got {v!r}")
        if not (0.0 < self.grasp_threshold <= 1.0):
            raise ValueError(f"GripperConfig.grasp_threshold must be in (0, 1], got {self.grasp_threshold!r}")
        if not (math.isfinite(self.command_deadband_m) and self.command_deadband_m >= 0.0):
            raise ValueError("GripperConfig.command_deadband_m must be finite and >= 0")


@dataclass(frozen=True)
class ResetMotionConfig:
    """Joint-space move to the reset posture, inside the same torque loop (through the safety torque stage)."""

    q_rad: Vec7 = FRANKA_HOME_Q_RAD
    max_joint_speed_rad_per_s: float = 0.5
    # libfranka's joint-impedance example gains
    stiffness_nm_per_rad: Vec7 = (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)
    damping_nm_s_per_rad: Vec7 = (50.0, 50.0, 50.0, 20.0, 20.0, 20.0, 10.0)
    tolerance_rad: float = 0.01
    settle_speed_rad_per_s: float = 0.02
    timeout_s: float = 20.0

    def validate(self) -> None:
        _vec("ResetMotionConfig.q_rad", self.q_rad, 7)
        _vec("ResetMotionConfig.stiffness_nm_per_rad", self.stiffness_nm_per_rad, 7, positive=True)
        _vec("ResetMotionConfig.damping_nm_s_per_rad", self.damping_nm_s_per_rad, 7, positive=True)
        for name in ("max_joint_speed_rad_per_s", "tolerance_rad", "settle_speed_rad_per_s", "timeout_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"ResetMotionConfig.{name} must be finite and > 0, got {v!r}")



@dataclass(frozen=True)
class FrankaArmConfig:
    robot_ip: str = "172.16.0.2"
    # "enforce" on a real-time kernel (a real robot); "ignore" for simulators (franky-sim) and dev machines
    realtime: str = "enforce"
    # Franka's control rate is fixed at 1 kHz: the filters' dt
    control_hz: float = 1000.0
    connect_timeout_s: float = 3.0
    impedance: CartesianImpedanceConfig = field(default_factory=CartesianImpedanceConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    watchdog: ArmWatchdogConfig = field(default_factory=ArmWatchdogConfig)
    collision: CollisionBehaviorConfig = field(default_factory=CollisionBehaviorConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    reset: ResetMotionConfig = field(default_factory=ResetMotionConfig)
    # posture the null space pulls toward; None: the reset posture
    nullspace_q_rad: Vec7 | None = None
    # The loop shares the interpreter with the caller's threads (e.g. a ROS executor): a short GIL switch
    # interval lets it get the GIL back within this time after each network wait. None leaves Python's (5 ms).
    gil_switch_interval_s: float | None = 1e-4

    def validate(self) -> None:
        if not isinstance(self.robot_ip, str) or not self.robot_ip.strip():
            raise ValueError(f"robot_ip must be a host name or address, got {self.robot_ip!r}")
        if self.realtime not in ("enforce", "ignore"):
            raise ValueError(f"realtime must be 'enforce' or 'ignore', got {self.realtime!r}")
        if not (math.isfinite(self.control_hz) and self.control_hz > 0.0):
            raise ValueError(f"control_hz must be finite and > 0, got {self.control_hz!r}")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0.0):
            raise ValueError(f"connect_timeout_s must be finite and > 0, got {self.connect_timeout_s!r}")
        if self.gil_switch_interval_s is not None and not (0.0 < self.gil_switch_interval_s < 1.0):
            raise ValueError(f"gil_switch_interval_s must be in (0, 1) s or None, got {self.gil_switch_interval_s!r}")
        if self.nullspace_q_rad is not None:
            _vec("nullspace_q_rad", self.nullspace_q_rad, 7)
        self.impedance.validate()
        self.watchdog.validate()
        self.collision.validate()
        self.gripper.validate()
        self.reset.validate()


@dataclass(frozen=True)
class ArmSnapshot:
    """State of one control tick (base frame; SI units)."""

    stamp_s: float  # time.monotonic() of the tick
    q: np.ndarray
    dq: np.ndarray
    tau_measured_nm: np.ndarray  # tau_J
    tau_commanded_nm: np.ndarray  # what this driver sent (gravity excluded: the firmware adds it)
    ee_pos: np.ndarray
    ee_rot: np.ndarray
    ee_wrench: np.ndarray  # O_F_ext_hat_K: estimated external wrench [N, Nm], base frame
    mode: DriverMode
    ticks: int
    # the robot's own clock (RobotState.time) [s]: a log replays on it (a simulator may run slower than wall time)
    robot_time_s: float = float("nan")


@dataclass(frozen=True)
class _Target:
    seq: int
    pos: np.ndarray
    rot: np.ndarray
    arrival_s: float
    age_s: float = 0.0  # how old it was on arrival, by its stamp

