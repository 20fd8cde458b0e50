"""The quadrotor's parameters and I/O layout (numpy only): one definition for both twins (MuJoCo and PyBullet), the
controllers and, later, the Crazyflie driver -- the role ``contract/arm.py`` plays for the arm.

* :class:`QuadParams`: a Crazyflie 2.x (cf2x) with its units in the field names and the source of each value;
  :data:`CF2X` is the default instance. Rotors in X configuration, numbered as in gym-pybullet-drones' cf2x.urdf:
  :data:`ROTOR_SIGNS_XY` gives each rotor's (x, y) quadrant (front = +x, left = +y) and :data:`ROTOR_SPIN` the sign
  of its drag torque about body z.
* the rotor model (shared by the two engines and the mixer): rpm set point from a normalised command in [-1, 1]
  (:func:`rpm_from_command`), first-order lag of the rpm with ``motor_time_constant_s`` (exact discretisation,
  :func:`motor_lag_alpha`), thrust ``kf * rpm^2`` and drag torque ``km * rpm^2`` (:func:`rotor_thrust_n`), and
  the allocation ``[Fz, tau_x, tau_y, tau_z] = A @ thrusts`` (:func:`allocation_matrix`).
* the observation (:data:`STATE_LAYOUT`): position error to the target (world), the rotation matrix (body ->
  world, row-major), linear velocity (world), body rates (body), the last ``history`` actions, task features.
* the two action conventions (:data:`ACTION_MODES`), both float32 (4,) in [-1, 1]: ``attitude`` (the default,
  Crazyflie's ``cmd_vel_legacy`` convention: roll, pitch, yaw rate, collective thrust; flown by the cascaded
  controller) and ``rotors`` (normalised rotor commands, Learning-to-Fly style).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.params import param
from robot_rl.contract.rotations import quat_to_mat

ROTOR_SIGNS_XY = np.array([[1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])  # front-right, back-right, ...
ROTOR_SPIN = np.array([-1.0, 1.0, -1.0, 1.0])  # drag torque direction about body z (Learning to Fly's layout)


@dataclass(frozen=True)
class QuadParams:
    """A Crazyflie 2.x. Sources: [P] gym-pybullet-drones ``assets/cf2x.urdf``; [L] Learning to Fly in Seconds
    (Eschmann, Albani, Loianno 2023), ``parameters/dynamics/crazy_flie.h`` of arplaboratory/learning-to-fly."""

    mass_kg: float = param(0.027, gt=0.0, doc="[P] m 0.027, [L] 0.027")
    # [P] arm 0.0397 (centre to rotor); [L] rotors at (+-0.028, +-0.028): 0.0396
    arm_length_m: float = param(0.0397, gt=0.0, doc="centre to rotor axis")
    # [P] ixx = iyy 1.4e-5, izz 2.17e-5 ([L] identifies 7.7e-6 / 1.19e-5 and trains with half of that)
    inertia_kg_m2: tuple[float, ...] = param((1.4e-5, 1.4e-5, 2.17e-5), doc="principal inertia about body x, y, z")
    thrust_coeff_n_per_rpm2: float = param(3.16e-10, gt=0.0, doc="[P] kf 3.16e-10, [L] 3.16e-10: T = kf rpm^2")
    # [P] km 7.94e-12 (km / kf = 0.0251 m); [L] uses a drag torque of 0.00596 m per newton of thrust
    drag_torque_coeff_nm_per_rpm2: float = param(7.94e-12, gt=0.0, doc="rotor drag torque = km rpm^2")
    # [L] lists 0.15 s (crazy_flie_old*, its sim2real build) and 0.01 .. 0.03 s (other variants); we fly 0.03 s
    # nominal and the randomiser spans the rest
    motor_time_constant_s: float = param(0.03, gt=0.0, doc="first-order lag of the rotor rpm")
    max_rpm: float = param(21702.0, gt=0.0, doc="[L] action limit 21702 rpm (thrust/weight 2.25 = [P]'s)")
    min_rpm: float = param(0.0, ge=0.0, doc="[L] 0")
    gravity_m_per_s2: float = param(9.81, gt=0.0, doc="[L] 9.81 ([P] 9.8)")
    max_tilt_rad: float = param(0.6, gt=0.0, lt=1.5, doc="hard tilt limit the safety filter keeps (34 deg)")
    max_body_rate_rad_per_s: tuple[float, ...] = param((10.0, 10.0, 5.0), doc="rate set point limits x, y, z")

    @property
    def weight_n(self) -> float:
        return self.mass_kg * self.gravity_m_per_s2

    @property
    def hover_thrust_per_rotor_n(self) -> float:
        return self.weight_n / 4.0

    @property
    def max_thrust_per_rotor_n(self) -> float:
        return self.thrust_coeff_n_per_rpm2 * self.max_rpm ** 2

    @property
    def min_thrust_per_rotor_n(self) -> float:
        return self.thrust_coeff_n_per_rpm2 * self.min_rpm ** 2

    @property
    def drag_torque_per_thrust_m(self) -> float:
        return self.drag_torque_coeff_nm_per_rpm2 / self.thrust_coeff_n_per_rpm2

    @property
    def rotor_xy_m(self) -> np.ndarray:
        return ROTOR_SIGNS_XY * (self.arm_length_m / math.sqrt(2.0))


CF2X = QuadParams()


@dataclass
class QuadState:
    """Rigid-body state: position [m] and linear velocity [m/s] (world), quaternion w, x, y, z (body -> world),
    body rates [rad/s] (body frame). What the twins report and the controllers take."""

    pos: np.ndarray
    quat: np.ndarray
    linvel: np.ndarray
    angvel_body: np.ndarray

    @functools.cached_property
    def rot(self) -> np.ndarray:
        """Rotation matrix body -> world (computed once per state)."""
        return quat_to_mat(self.quat)

    def finite(self) -> bool:
        return bool(np.isfinite(self.pos).all() and np.isfinite(self.quat).all() and
                    np.isfinite(self.linvel).all() and np.isfinite(self.angvel_body).all() and
                    float(self.quat @ self.quat) > 1e-9)


def rpm_from_command(u, p: QuadParams) -> np.ndarray:
    """Rotor rpm set points of normalised commands ``u`` in [-1, 1] (clipped): -1 -> min_rpm, +1 -> max_rpm."""
    u = np.clip(np.asarray(u, dtype=float), -1.0, 1.0)
    return p.min_rpm + 0.5 * (u + 1.0) * (p.max_rpm - p.min_rpm)


def command_from_thrust(thrust_n, p: QuadParams) -> np.ndarray:
    """The normalised commands whose steady-state rpm gives ``thrust_n`` per rotor (clipped to the rotor's range)."""
    t = np.clip(np.asarray(thrust_n, dtype=float), p.min_thrust_per_rotor_n, p.max_thrust_per_rotor_n)
    rpm = np.sqrt(t / p.thrust_coeff_n_per_rpm2)
    return 2.0 * (rpm - p.min_rpm) / (p.max_rpm - p.min_rpm) - 1.0


def hover_command(p: QuadParams) -> float:
    """The normalised rotor command that holds the vehicle's weight."""
    return float(command_from_thrust(p.hover_thrust_per_rotor_n, p))


def motor_lag_alpha(dt_s: float, motor_time_constant_s: float) -> float:
    """rpm += alpha (set point - rpm) per step of ``dt_s``: the exact step of a first-order lag."""
    return 1.0 - math.exp(-dt_s / motor_time_constant_s)


def rotor_thrust_n(rpm, thrust_coeff_n_per_rpm2: float) -> np.ndarray:
    return thrust_coeff_n_per_rpm2 * np.square(np.asarray(rpm, dtype=float))


def allocation_matrix(p: QuadParams) -> np.ndarray:
    """(4, 4): per-rotor thrusts [N] -> [collective thrust N, torque about body x, y, z Nm]."""
    xy = p.rotor_xy_m
    return np.stack([np.ones(4), xy[:, 1], -xy[:, 0], ROTOR_SPIN * p.drag_torque_per_thrust_m])


# ---- observation ------------------------------------------------------------------------------------------------
STATE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("pos_error", 3),  # position - target [m], world frame
    ("rot", 9),  # rotation matrix body -> world, row-major
    ("linvel", 3),  # [m/s], world frame
    ("angvel", 3),  # body rates [rad/s], body frame
)
STATE_SLICES: dict[str, slice] = {name: slice(i, i + n) for (name, n), i in
                                   zip(STATE_LAYOUT, np.cumsum([0] + [n for _, n in STATE_LAYOUT]).tolist())}
PROPRIO_DIM: int = sum(n for _, n in STATE_LAYOUT)  # then the action history (history * ACTION_DIM), task features
ACTION_DIM = 4
ACTION_MODES = ("attitude", "rotors")


@dataclass(frozen=True)
class QuadTaskIO:
    """A quad task's policy I/O (no physics): rates, action scaling and what the state vector holds."""

    n_task_features: int
    episode_steps: int = 50  # 5 s
    policy_hz: float = 10.0  # attitude set points (the arm's rate too); the rotors convention runs at rotors_policy_hz
    rotors_policy_hz: float = 100.0  # Learning to Fly: 100 Hz
    action_history: int = 2  # last actions in the observation
    max_tilt_cmd_rad: float = 0.5  # attitude convention: roll / pitch = action * this
    max_yaw_rate_cmd_rad_per_s: float = 2.0
    thrust_span: float = 1.0  # collective thrust = hover * (1 + action * span)

    def state_dim(self) -> int:
        return PROPRIO_DIM + self.action_history * ACTION_DIM + self.n_task_features


QUAD_TASKS: dict[str, QuadTaskIO] = {
    "quad_hover": QuadTaskIO(n_task_features=0),
    "quad_waypoints": QuadTaskIO(n_task_features=3, episode_steps=120),  # the gate after the current one (3)
}


def quad_task_io(task: str) -> QuadTaskIO:
    if task not in QUAD_TASKS:
        raise ValueError(f"unknown quad task {task!r}; known: {', '.join(sorted(QUAD_TASKS))}")
    return QUAD_TASKS[task]


def checked_action(action) -> np.ndarray:
    """``action`` as 4 float64 clipped to [-1, 1]; ValueError for a wrong shape (NaN/inf pass through: the safety
    filter turns them into a hover)."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (ACTION_DIM,):
        raise ValueError(f"a quad action has {ACTION_DIM} numbers, got shape {np.shape(action)}")
    return np.clip(a, -1.0, 1.0)


def attitude_from_action(a, io: QuadTaskIO, p: QuadParams) -> tuple[float, float, float, float]:
    """The ``attitude`` convention: (roll rad, pitch rad, yaw rate rad/s, collective thrust N) of an action."""
    hover = p.weight_n
    return (float(a[0]) * io.max_tilt_cmd_rad, float(a[1]) * io.max_tilt_cmd_rad,
            float(a[2]) * io.max_yaw_rate_cmd_rad_per_s, hover * (1.0 + float(a[3]) * io.thrust_span))


def action_from_attitude(roll_rad, pitch_rad, yaw_rate_rad_per_s, thrust_n, io: QuadTaskIO, p: QuadParams):
    """The inverse of :func:`attitude_from_action` (clipped to [-1, 1]): how an expert speaks the convention."""
    a = np.array([roll_rad / io.max_tilt_cmd_rad, pitch_rad / io.max_tilt_cmd_rad,
                  yaw_rate_rad_per_s / io.max_yaw_rate_cmd_rad_per_s, (thrust_n / p.weight_n - 1.0) / io.thrust_span])
    return np.clip(a, -1.0, 1.0)


def state_vector(pos_error, rot, linvel, angvel_body, history, features=()) -> np.ndarray:
    """The state vector (float32) in :data:`STATE_LAYOUT` order, then the action history, then task features."""
    return np.concatenate([np.asarray(pos_error, float).reshape(3), np.asarray(rot, float).reshape(9),
                           np.asarray(linvel, float).reshape(3), np.asarray(angvel_body, float).reshape(3),
                           np.asarray(history, float).reshape(-1),
                           np.asarray(features, float).reshape(-1)]).astype(np.float32)


def action_from_velocity(vel_cmd_m_per_s, yaw_rate_cmd_rad_per_s: float, linvel, rot, io: QuadTaskIO, p: QuadParams,
                         gain_per_s: float = 2.0) -> np.ndarray:
    """A velocity command (world, m/s; yaw rate rad/s) as an ``attitude`` action: the acceleration
    ``gain_per_s * (v_cmd - v)`` plus gravity gives the thrust and, at the current heading, roll and pitch
    (R = Rz(yaw) Ry(pitch) Rx(roll)). How a human's velocity teleop speaks the policy's convention, so a takeover
    is recorded as the action that was flown."""
    r = np.asarray(rot, float).reshape(3, 3)
    f = gain_per_s * (np.asarray(vel_cmd_m_per_s, float) - np.asarray(linvel, float))
    f[2] += p.gravity_m_per_s2
    yaw = math.atan2(r[1, 0], r[0, 0])
    c, s = math.cos(yaw), math.sin(yaw)
    fx, fy = c * f[0] + s * f[1], -s * f[0] + c * f[1]  # in the heading frame
    fz = max(float(f[2]), 1e-3)
    pitch = math.atan2(fx, fz)
    roll = math.atan2(-fy, math.hypot(fx, fz))
    thrust = p.mass_kg * float(np.linalg.norm([fx, fy, fz]))
    return action_from_attitude(roll, pitch, yaw_rate_cmd_rad_per_s, thrust, io, p)
