"""The quadrotor's cascaded controller (plain numpy, no I/O; the twins run it and the Crazyflie driver will):

position / velocity set point -> desired acceleration (world) -> collective thrust + desired attitude (tilt
limited) -> body-rate set point (geometric attitude error, rate limited) -> body torques (rate P + gyroscopic
term) -> mixer: per-rotor thrusts within the rotors' range (:func:`mix`), then normalised rotor commands.

An ``attitude`` command (roll, pitch, yaw rate, collective thrust: Crazyflie's ``cmd_vel_legacy``) enters the
cascade at the attitude stage. Gains are per second (a gain of ``k`` per s closes its loop with time constant
``1/k`` s); limits carry their units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import QuadParams, QuadState, allocation_matrix, command_from_thrust
from robot_rl.contract.rotations import euler_zyx_to_mat

E3 = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class QuadControlConfig:
    pos_gain_per_s: tuple[float, ...] = (1.6, 1.6, 2.0)  # velocity set point per metre of position error
    max_speed_cmd_m_per_s: float = 1.0  # velocity set points from position errors are clipped to this
    vel_gain_per_s: tuple[float, ...] = (4.0, 4.0, 5.0)  # acceleration per m/s of velocity error
    max_accel_m_per_s2: float = 6.0  # norm of the desired acceleration
    max_tilt_cmd_rad: float = 0.5  # tilt of the thrust direction the attitude stage is given
    min_thrust_fraction_of_weight: float = 0.2  # the collective thrust never drops below this (keeps tilt control)
    att_gain_per_s: tuple[float, ...] = (10.0, 10.0, 4.0)  # body rate per rad of attitude error
    rate_gain_per_s: tuple[float, ...] = (40.0, 40.0, 15.0)  # angular acceleration per rad/s of rate error
    yaw_gain_per_s: float = 2.0  # yaw rate set point per rad of yaw error (position mode)

    def validate(self) -> None:
        for name in ("pos_gain_per_s", "vel_gain_per_s", "att_gain_per_s", "rate_gain_per_s"):
            v = getattr(self, name)
            if len(v) != 3 or not all(math.isfinite(x) and x > 0 for x in v):
                raise ValueError(f"QuadControlConfig.{name} must be 3 finite gains > 0, got {v!r}")
        if not 0.0 < self.max_tilt_cmd_rad < 1.4:
            raise ValueError(f"QuadControlConfig.max_tilt_cmd_rad must be in (0, 1.4), got {self.max_tilt_cmd_rad}")


def cross(a, b) -> np.ndarray:
    """3-vector cross product (np.cross costs ~20x more for one pair)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def yaw_of(rot: np.ndarray) -> float:
    return math.atan2(rot[1, 0], rot[0, 0])


def tilt_of(rot: np.ndarray) -> float:
    """Angle between body z and world z [rad]."""
    return math.acos(max(-1.0, min(1.0, float(rot[2, 2]))))


def mix(collective_n: float, torque_nm, p: QuadParams, alloc_inv: np.ndarray | None = None) -> np.ndarray:
    """Per-rotor thrusts [N] for a collective thrust and body torques, within [min, max] thrust per rotor. When a
    rotor saturates, the yaw torque is dropped first, then the collective thrust gives way (all rotors shifted
    together), then the thrusts are clipped: roll / pitch keep priority."""
    inv = np.linalg.inv(allocation_matrix(p)) if alloc_inv is None else alloc_inv
    lo, hi = p.min_thrust_per_rotor_n, p.max_thrust_per_rotor_n
    collective_n = min(max(collective_n, 4 * lo), 4 * hi)
    t = inv @ np.array([collective_n, torque_nm[0], torque_nm[1], torque_nm[2]])
    if t.min() < lo or t.max() > hi:
        t = inv @ np.array([collective_n, torque_nm[0], torque_nm[1], 0.0])
        if t.max() > hi:
            t -= t.max() - hi
        if t.min() < lo:
            t += lo - t.min()
    return np.clip(t, lo, hi)


class QuadController:
    """The cascade for one vehicle with nominal parameters ``p``. Stateless between calls (no integrators), so
    it can be switched in at any tick (safety overrides, watchdog hover)."""

    def __init__(self, p: QuadParams, cfg: QuadControlConfig = QuadControlConfig()):
        cfg.validate()
        self.p, self.cfg = p, cfg
        self._inv = np.linalg.inv(allocation_matrix(p))
        self._J = np.asarray(p.inertia_kg_m2, dtype=float)
        self._kp, self._kv = np.asarray(cfg.pos_gain_per_s), np.asarray(cfg.vel_gain_per_s)
        self._katt, self._krate = np.asarray(cfg.att_gain_per_s), np.asarray(cfg.rate_gain_per_s)
        self._max_rate = np.asarray(p.max_body_rate_rad_per_s, dtype=float)

    # ---- outer loops -----------------------------------------------------------------------------------------
    def accel_for(self, s: QuadState, pos_sp, vel_sp=None, acc_sp=None) -> np.ndarray:
        """Desired acceleration (world, without gravity) toward ``pos_sp`` (and feed-forward ``vel_sp`` m/s,
        ``acc_sp`` m/s^2: a planned trajectory's, as the firmware's high-level commander hands its controller)."""
        v_des = self._kp * (np.asarray(pos_sp, float) - s.pos)
        n = float(np.linalg.norm(v_des))
        if n > self.cfg.max_speed_cmd_m_per_s:
            v_des *= self.cfg.max_speed_cmd_m_per_s / n
        if vel_sp is not None:
            v_des = v_des + np.asarray(vel_sp, float)
        a = self._kv * (v_des - s.linvel)
        if acc_sp is not None:
            a = a + np.asarray(acc_sp, float)
        n = float(np.linalg.norm(a))
        return a * (self.cfg.max_accel_m_per_s2 / n) if n > self.cfg.max_accel_m_per_s2 else a

    def thrust_attitude_for(self, accel_world, yaw_rad: float) -> tuple[float, np.ndarray]:
        """(collective thrust N, desired rotation) producing ``accel_world``, the tilt limited to
        ``max_tilt_cmd_rad`` and the thrust kept above ``min_thrust_fraction_of_weight``."""
        p, c = self.p, self.cfg
        f = p.mass_kg * (np.asarray(accel_world, float) + p.gravity_m_per_s2 * E3)
        f[2] = max(f[2], c.min_thrust_fraction_of_weight * p.weight_n)
        horiz = math.hypot(f[0], f[1])
        max_h = f[2] * math.tan(c.max_tilt_cmd_rad)
        if horiz > max_h:
            f[0] *= max_h / horiz
            f[1] *= max_h / horiz
        b3 = f / np.linalg.norm(f)
        c1 = np.array([math.cos(yaw_rad), math.sin(yaw_rad), 0.0])
        b2 = cross(b3, c1)
        b2 /= np.linalg.norm(b2)
        return float(np.linalg.norm(f)), np.column_stack([cross(b2, b3), b2, b3])

    # ---- inner loops -----------------------------------------------------------------------------------------
    def rates_for(self, rot: np.ndarray, rot_des: np.ndarray) -> np.ndarray:
        """Body-rate set point from the geometric attitude error (Lee et al.), limited per axis."""
        m = rot_des.T @ rot - rot.T @ rot_des
        e = 0.5 * np.array([m[2, 1], m[0, 2], m[1, 0]])
        return np.clip(-self._katt * e, -self._max_rate, self._max_rate)

    def rotors_for(self, s: QuadState, rot: np.ndarray, collective_n: float, rate_sp) -> np.ndarray:
        """Normalised rotor commands for a collective thrust and a body-rate set point."""
        w = s.angvel_body
        jw = self._J * w
        torque = self._J * (self._krate * (np.clip(rate_sp, -self._max_rate, self._max_rate) - w)) + cross(w, jw)
        return command_from_thrust(mix(collective_n, torque, self.p, self._inv), self.p)

    # ---- entry points ------------------------------------------------------------------------------------------
    def from_accel(self, s: QuadState, accel_world, yaw_sp_rad: float | None = None) -> np.ndarray:
        rot = s.rot
        yaw = yaw_of(rot)
        # the attitude stage gets the current heading: a large yaw error in the geometric attitude error would leak
        # into roll / pitch; heading is flown by the yaw-rate set point alone
        thrust, rot_des = self.thrust_attitude_for(accel_world, yaw)
        rate_sp = self.rates_for(rot, rot_des)
        if yaw_sp_rad is None:
            rate_sp[2] = 0.0
        else:
            err = math.atan2(math.sin(yaw_sp_rad - yaw), math.cos(yaw_sp_rad - yaw))
            rate_sp[2] = self.cfg.yaw_gain_per_s * err
        return self.rotors_for(s, rot, thrust, rate_sp)

    def position(self, s: QuadState, pos_sp, vel_sp=None, yaw_sp_rad: float | None = None, acc_sp=None) -> np.ndarray:
        return self.from_accel(s, self.accel_for(s, pos_sp, vel_sp, acc_sp), yaw_sp_rad)

    def attitude(self, s: QuadState, roll_rad: float, pitch_rad: float, yaw_rate_rad_per_s: float,
                 thrust_n: float) -> np.ndarray:
        """An ``attitude`` command: roll / pitch (ZYX, about the current heading; their tilt limited to
        ``max_tilt_cmd_rad``), yaw rate, collective thrust."""
        rot = s.rot
        roll, pitch = roll_rad, pitch_rad
        tilt = math.acos(max(-1.0, min(1.0, math.cos(roll) * math.cos(pitch))))
        if tilt > self.cfg.max_tilt_cmd_rad:
            roll, pitch = roll * self.cfg.max_tilt_cmd_rad / tilt, pitch * self.cfg.max_tilt_cmd_rad / tilt
        rot_des = euler_zyx_to_mat(roll, pitch, yaw_of(rot))
        rate_sp = self.rates_for(rot, rot_des)
        rate_sp[2] = yaw_rate_rad_per_s
        return self.rotors_for(s, rot, thrust_n, rate_sp)

    def implied_accel(self, s: QuadState, roll_rad: float, pitch_rad: float, thrust_n: float) -> np.ndarray:
        """The world acceleration an attitude command asks for once reached (what the safety filter checks)."""
        rot_des = euler_zyx_to_mat(roll_rad, pitch_rad, yaw_of(s.rot))
        return rot_des[:, 2] * (thrust_n / self.p.mass_kg) - self.p.gravity_m_per_s2 * E3
