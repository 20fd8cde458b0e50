"""Safety filter for the arm's fast loop (plain numpy, no I/O): the limits every tick's command must respect.

Two stages, both called every control tick:

* :meth:`SafetyFilter.filter_target` (before the impedance law), on the impedance target:
  non-finite target -> rejected, the previous (filtered) target is held; position clamped into the workspace
  box; the target moves at most ``max_ee_speed_m_per_s * dt`` and turns at most
  ``max_ee_angular_speed_rad_per_s * dt`` per tick (a commanded end-effector speed limit). Because the box is
  convex and the filtered target starts inside it, every filtered target lies in the box.
* :meth:`SafetyFilter.filter_torque` (the last stage: what it returns is what the motors get), on the active
  torque ``a = tau - bias`` (``bias``: what the plant needs on top, e.g. gravity, which Franka's firmware adds
  itself; the limits below act on the torque the controller commands, as on a Franka):

  1. end-effector overspeed guard: when the measured linear TCP speed ``s`` exceeds ``max_ee_speed_m_per_s``,
     the part of ``a`` doing positive work on the joint motion is removed and a brake
     ``-k (1 - s_max/s) J_v^T v`` added, so that ``a . dq < 0`` before the limits of 3. (the active torque only
     takes energy out);
  2. joint position limits as a barrier, ros2_control's soft-limit rule for effort joints: per joint the
     velocity must stay in ``[-gamma (q - q_min), gamma (q_max - q)]`` (clamped to the joint's velocity limit);
     the torque is clamped to ``[-k_v (dq - v_min), -k_v (dq - v_max)]``, so a joint moving toward its limit
     faster than allowed always gets a decelerating torque, and the allowed speed vanishes at the limit.
     Why it holds: pushed toward its upper limit by any command, a joint of inertia ``I`` (distance to the soft
     limit ``x``) follows at worst ``I x'' + k_v x' + k_v gamma x = 0``; with ``k_v >= 4 gamma I`` that is
     overdamped with both poles faster than ``-gamma``, so from ``dq <= gamma x`` it never reaches ``x = 0``.
     It also needs ``k_v dt <= I`` (the discrete clamp does not overshoot) and ``gamma v_max I <= 2 tau_max``
     (the torque limit affords the braking). The defaults meet all three for the Panda twin's joint inertias
     (joint 1: 0.22 .. 3.6 kg m^2, wrist: 0.1 .. 0.16); tests/test_safety.py checks them on a double
     integrator under arbitrary commands. The torque-rate limit below slows the braking torque's build-up;
     the soft limits' margin inside the hard ones absorbs that;
  3. joint torque limits ``|a_i| <= tau_max_i`` and the torque-rate limit ``|a_i - a_prev_i| <= rate dt``
     (libfranka: 1000 Nm/s). These two are hardware limits and always hold on the output; where they conflict
     with the barrier (a barrier torque further than one rate step away), they win.

  NaN or inf anywhere in the tick's inputs or result -> the command is rejected and the *hold* torque is sent:
  ``bias - D_hold dq`` (gravity compensation plus joint damping, a braking hold), with ``dq`` taken as 0 if it
  is not finite and ``bias`` dropped if it is not finite, passed through the torque and rate limits.

Reference clipping (bounded pose error -> bounded spring force) lives in the impedance law
(``CartesianImpedanceConfig.translational_clip_m`` / ``rotational_clip_rad``); this module exposes the bound
it implies (:func:`spring_wrench_bound`) and checks it against ``max_spring_force_n`` / ``max_spring_torque_nm``
(:meth:`SafetyConfig.validate_impedance`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy._core import umath  # ufunc clip: far less call overhead than np.clip on small vectors

from robot_rl.contract.rotations import rotvec_to_mat
from robot_rl.controllers.impedance import CartesianImpedanceConfig, rotation_error

Vec3 = tuple[float, float, float]
Vec7 = tuple[float, float, float, float, float, float, float]

# Franka Panda datasheet limits (the defaults below; another arm passes its own).
_PANDA_Q_MIN_RAD: Vec7 = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)
_PANDA_Q_MAX_RAD: Vec7 = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)
_PANDA_DQ_MAX_RAD_PER_S: Vec7 = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
_PANDA_TAU_MAX_NM: Vec7 = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)


@dataclass(frozen=True)
class SafetyConfig:
    # workspace box for the impedance target position, base frame
    workspace_min_m: Vec3 = (0.15, -0.5, 0.0)
    workspace_max_m: Vec3 = (0.85, 0.5, 0.7)
    # commanded end-effector speed (target slew per tick) and the measured-speed overspeed guard
    max_ee_speed_m_per_s: float = 0.5
    max_ee_angular_speed_rad_per_s: float = 2.0
    ee_overspeed_brake_n_s_per_m: float = 100.0
    # bounds the impedance law's reference clipping must imply (checked, not applied: the law clips)
    max_spring_force_n: float = 30.0
    max_spring_torque_nm: float = 10.0
    # joint position barrier (ros2_control soft limits): soft limits are the hard ones moved inward by the margin
    joint_position_min_rad: tuple[float, ...] = _PANDA_Q_MIN_RAD
    joint_position_max_rad: tuple[float, ...] = _PANDA_Q_MAX_RAD
    joint_soft_limit_margin_rad: float = 0.05
    joint_limit_gain_per_s: float = 5.0  # gamma (ros2_control k_position)
    # k_velocity, per joint: 4 gamma I_max <= k_v <= I_min / dt (see the module docstring)
    joint_limit_damping_nm_s_per_rad: tuple[float, ...] = (100.0, 100.0, 30.0, 50.0, 10.0, 10.0, 10.0)
    joint_velocity_limit_rad_per_s: tuple[float, ...] = _PANDA_DQ_MAX_RAD_PER_S
    # hardware limits on the commanded (active) torque
    joint_torque_limit_nm: tuple[float, ...] = _PANDA_TAU_MAX_NM
    torque_rate_limit_nm_per_s: float = 1000.0
    # the hold sent when a tick is rejected (non-finite input): bias - D_hold dq
    hold_joint_damping_nm_s_per_rad: tuple[float, ...] = (20.0, 20.0, 20.0, 20.0, 3.0, 3.0, 3.0)

    def validate(self, n_joints: int = 7) -> None:
        lo, hi = np.asarray(self.workspace_min_m, float), np.asarray(self.workspace_max_m, float)
        if lo.shape != (3,) or hi.shape != (3,) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("SafetyConfig.workspace_min_m / workspace_max_m must be 3 finite numbers each")
        if not np.all(lo < hi):
            raise ValueError(f"SafetyConfig: workspace_min_m {lo} must be below workspace_max_m {hi}")
        for name in ("max_ee_speed_m_per_s", "max_ee_angular_speed_rad_per_s", "max_spring_force_n",
                     "max_spring_torque_nm", "joint_limit_gain_per_s", "torque_rate_limit_nm_per_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"SafetyConfig.{name} must be finite and > 0, got {v!r}")
        for name in ("ee_overspeed_brake_n_s_per_m", "joint_soft_limit_margin_rad"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"SafetyConfig.{name} must be finite and >= 0, got {v!r}")
        for name, positive in (("joint_position_min_rad", False), ("joint_position_max_rad", False),
                               ("joint_limit_damping_nm_s_per_rad", True), ("joint_velocity_limit_rad_per_s", True),
                               ("joint_torque_limit_nm", True), ("hold_joint_damping_nm_s_per_rad", False)):
            v = np.asarray(getattr(self, name), float)
            if v.shape != (n_joints,) or not np.all(np.isfinite(v)):
                raise ValueError(f"SafetyConfig.{name} must be {n_joints} finite numbers, got {v!r}")
            if positive and not np.all(v > 0.0):
                raise ValueError(f"SafetyConfig.{name} must be > 0, got {v!r}")
            if name == "hold_joint_damping_nm_s_per_rad" and not np.all(v >= 0.0):
                raise ValueError(f"SafetyConfig.{name} must be >= 0, got {v!r}")
        q_lo, q_hi = self.soft_joint_limits_rad()
        if not np.all(q_lo < q_hi):
            raise ValueError("SafetyConfig: joint soft limits are empty (margin too large or min >= max)")

    def soft_joint_limits_rad(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.joint_soft_limit_margin_rad
        return (np.asarray(self.joint_position_min_rad, float) + m, np.asarray(self.joint_position_max_rad, float) - m)

    def validate_impedance(self, imp: CartesianImpedanceConfig) -> None:
        """Reference clipping must bound the spring wrench within this config's bounds."""
        f, t = spring_wrench_bound(imp)
        if np.any(f > self.max_spring_force_n * (1.0 + 1e-12)) or np.any(t > self.max_spring_torque_nm * (1.0 + 1e-12)):
            raise ValueError(
                f"impedance reference clipping allows a spring wrench of {f} N / {t} Nm per axis, above the safety "
                f"bounds max_spring_force_n={self.max_spring_force_n}, max_spring_torque_nm={self.max_spring_torque_nm}"
            )


def spring_wrench_bound(imp: CartesianImpedanceConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis bound [N], [Nm] of the impedance spring wrench implied by reference clipping: K * clip."""
    return (imp.translational_stiffness_n_per_m * np.asarray(imp.translational_clip_m, float),
            imp.rotational_stiffness_nm_per_rad * np.asarray(imp.rotational_clip_rad, float))


class SafetyFilter:
    """Stateful (previous target and torque), preallocated; one instance per arm.

    Counters (monotone, for telemetry and the env's violation cost): ``target_rejections``, ``box_clamps``,
    ``slew_limited_ticks`` (target speed limit engaged), ``overspeed_ticks``, ``torque_limited_ticks``
    (barrier or torque limit changed the command), ``rate_limited_ticks``, ``holds``. ``violation`` is True when
    the last tick's command broke a limit (target rejected or outside the box, overspeed, barrier/torque limit,
    hold); the slew and rate limits are smoothing, not violations.
    """

    def __init__(self, cfg: SafetyConfig = SafetyConfig(), dt_s: float = 0.002, n_joints: int = 7):
        cfg.validate(n_joints)
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s must be finite and > 0, got {dt_s!r}")
        self.cfg = cfg
        self.dt_s = dt_s
        self.n = n_joints
        self.box_lo = np.asarray(cfg.workspace_min_m, float)
        self.box_hi = np.asarray(cfg.workspace_max_m, float)
        self.max_step_m = cfg.max_ee_speed_m_per_s * dt_s
        self.max_step_rad = cfg.max_ee_angular_speed_rad_per_s * dt_s
        self.max_ee_speed = cfg.max_ee_speed_m_per_s
        self.brake = cfg.ee_overspeed_brake_n_s_per_m
        q_lo, q_hi = cfg.soft_joint_limits_rad()
        kv = np.asarray(cfg.joint_limit_damping_nm_s_per_rad, float)
        self.kv = kv
        self.kvkp = kv * cfg.joint_limit_gain_per_s
        self.kvkp_q_lo, self.kvkp_q_hi = self.kvkp * q_lo, self.kvkp * q_hi
        self.kv_vmax = kv * np.asarray(cfg.joint_velocity_limit_rad_per_s, float)
        self.neg_kv_vmax = -self.kv_vmax
        tau = np.asarray(cfg.joint_torque_limit_nm, float)
        self.tau_max, self.neg_tau_max = tau, -tau
        self.rate_step_nm = cfg.torque_rate_limit_nm_per_s * dt_s
        self.neg_hold_d = -np.asarray(cfg.hold_joint_damping_nm_s_per_rad, float)
        # buffers (and fixed views of them) so that a tick allocates as little as possible
        self.target_pos = np.zeros(3)
        self.target_rot = np.eye(3)
        self._cmd_pos = np.zeros(3)  # last finite command, and whether the filtered target has reached it
        self._cmd_rot = np.eye(3)
        self._settled = False
        self._p = np.zeros(3)
        self._d = np.zeros(3)
        self._a = np.zeros(n_joints)
        self._a_in = np.zeros(n_joints)
        self._diff = np.zeros(n_joints)
        self._kv_dq = np.zeros(n_joints)
        self._kvkp_q = np.zeros(n_joints)
        self._lo = np.zeros(n_joints)
        self._hi = np.zeros(n_joints)
        self._ones = np.ones(n_joints)
        self.prev_active = np.zeros(n_joints)
        self.tau_out = np.zeros(n_joints)
        self.target_rejections = 0
        self.box_clamps = 0
        self.slew_limited_ticks = 0
        self.overspeed_ticks = 0
        self.torque_limited_ticks = 0
        self.rate_limited_ticks = 0
        self.holds = 0
        self.violation = False
        self._target_violation = False

    def reset(self, pos=None, rot=None) -> None:
        """Snap the filtered target to ``pos``/``rot`` (no slew from the old one) and zero the previous torque."""
        if pos is not None:
            self.target_pos[:] = umath.clip(np.asarray(pos, float), self.box_lo, self.box_hi)
        if rot is not None:
            self.target_rot[:] = rot
        self.prev_active[:] = 0.0
        self.violation = False
        self._target_violation = False
        self._settled = False

    def counters(self) -> dict:
        return {k: getattr(self, k) for k in ("target_rejections", "box_clamps", "slew_limited_ticks",
                                              "overspeed_ticks", "torque_limited_ticks", "rate_limited_ticks",
                                              "holds")}

    # ---- target stage ------------------------------------------------------------------------------------
    def filter_target(self, pos, rot) -> tuple[np.ndarray, np.ndarray]:
        """The filtered impedance target (buffers owned by the filter: read, don't keep)."""
        if self._settled and (pos == self._cmd_pos).all() and (rot == self._cmd_rot).all():
            # same command as last tick and the filtered target has reached it: nothing to do (most ticks)
            if self._target_violation:
                self.box_clamps += 1
            return self.target_pos, self.target_rot
        if not math.isfinite(float(pos.sum()) + float(rot.sum())):
            self.target_rejections += 1
            self._target_violation = True
            self._settled = False
            return self.target_pos, self.target_rot
        self._cmd_pos[:] = pos
        self._cmd_rot[:] = rot
        p = umath.clip(pos, self.box_lo, self.box_hi, out=self._p)
        clamped = not (p == pos).all()
        if clamped:
            self.box_clamps += 1
        self._target_violation = clamped
        d = umath.subtract(p, self.target_pos, out=self._d)
        n2 = d.dot(d)
        settled = True
        if n2 > self.max_step_m * self.max_step_m:
            d *= self.max_step_m / math.sqrt(n2)
            self.target_pos += d
            settled = False
        else:
            self.target_pos[:] = p
        w = rotation_error(rot, self.target_rot)  # rot = exp(w) target_rot
        ang = math.sqrt(w.dot(w))
        if ang > self.max_step_rad:
            self.target_rot[:] = rotvec_to_mat(w * (self.max_step_rad / ang)).dot(self.target_rot)
            settled = False
        else:
            self.target_rot[:] = rot
        if not settled:
            self.slew_limited_ticks += 1
        self._settled = settled
        return self.target_pos, self.target_rot

    # ---- torque stage ------------------------------------------------------------------------------------
    def filter_torque(self, tau, q, dq, bias=None, ee_vel=None, jac=None) -> np.ndarray:
        """The torque to send [Nm] for the commanded ``tau`` (bias included, if any) at joint state ``q``,
        ``dq``. ``ee_vel`` (6,: [linear; angular] = J dq) and ``jac`` (6, n) enable the overspeed guard.
        Returns the filter's own buffer."""
        a = self._a
        if bias is None:
            a[:] = tau
        else:
            umath.subtract(tau, bias, out=a)
        # inf would be clipped to a finite bound below, so check the inputs first: any inf/NaN in tau or bias makes
        # the sum of a non-finite, any in q or dq the product q . dq (0 * inf is NaN)
        if not math.isfinite(float(a.dot(self._ones)) + float(q.dot(dq))):
            return self._hold(dq, bias)
        a_in = self._a_in
        a_in[:] = a
        # 1. end-effector overspeed guard
        overspeed = False
        if ee_vel is not None:
            vx, vy, vz = ee_vel[0], ee_vel[1], ee_vel[2]
            s2 = vx * vx + vy * vy + vz * vz
            if not math.isfinite(s2):
                return self._hold(dq, bias)
            if s2 > self.max_ee_speed * self.max_ee_speed and jac is not None:
                overspeed = True
                self.overspeed_ticks += 1
                s = math.sqrt(s2)
                p = a.dot(dq)
                dq2 = dq.dot(dq)
                if p > 0.0 and dq2 > 0.0:
                    a -= (p / dq2) * dq
                a -= (self.brake * (1.0 - self.max_ee_speed / s)) * jac[:3].T.dot(ee_vel[:3])
                if not math.isfinite(float(a.dot(self._ones))):
                    return self._hold(dq, bias)
        # 2. joint position barrier (ros2_control soft limits for effort joints), as
        #    k_v (clip(gamma (q_lim - q), -v_max, v_max) - dq) = clip(k_v gamma (q_lim - q), -k_v v_max, k_v v_max) - k_v dq
        kv_dq = umath.multiply(self.kv, dq, out=self._kv_dq)
        kvkp_q = umath.multiply(self.kvkp, q, out=self._kvkp_q)
        lo = umath.subtract(self.kvkp_q_lo, kvkp_q, out=self._lo)
        umath.clip(lo, self.neg_kv_vmax, self.kv_vmax, out=lo)
        umath.subtract(lo, kv_dq, out=lo)
        hi = umath.subtract(self.kvkp_q_hi, kvkp_q, out=self._hi)
        umath.clip(hi, self.neg_kv_vmax, self.kv_vmax, out=hi)
        umath.subtract(hi, kv_dq, out=hi)
        umath.clip(a, lo, hi, out=a)
        # 3. torque limit, then the rate limit (prev is within the torque limit, so the result satisfies both)
        umath.clip(a, self.neg_tau_max, self.tau_max, out=a)
        d = umath.subtract(a, a_in, out=self._diff)
        torque_limited = float(d.dot(d)) > 0.0
        a_in[:] = a
        rate_lo = umath.subtract(self.prev_active, self.rate_step_nm, out=self._lo)
        rate_hi = umath.add(self.prev_active, self.rate_step_nm, out=self._hi)
        umath.clip(a, rate_lo, rate_hi, out=a)
        d = umath.subtract(a, a_in, out=self._diff)
        if float(d.dot(d)) > 0.0:
            self.rate_limited_ticks += 1
        if torque_limited:
            self.torque_limited_ticks += 1
        self.violation = self._target_violation or torque_limited or overspeed
        self.prev_active[:] = a
        out = self.tau_out
        if bias is None:
            out[:] = a
        else:
            umath.add(a, bias, out=out)
        return out

    def hold_torque(self, dq, bias=None) -> np.ndarray:
        """The safe hold, sent when a tick is rejected: ``bias - D_hold dq`` (non-finite ``dq`` -> 0, non-finite
        ``bias`` dropped), through the rate and torque limits."""
        return self._hold(dq, bias)

    def _hold(self, dq, bias) -> np.ndarray:
        self.holds += 1
        self.violation = True
        a = self._a
        dq = np.asarray(dq, float)
        if dq.shape == a.shape and np.all(np.isfinite(dq)):
            umath.multiply(self.neg_hold_d, dq, out=a)
        else:
            a[:] = 0.0
        umath.clip(a, self.neg_tau_max, self.tau_max, out=a)
        rate_lo = umath.subtract(self.prev_active, self.rate_step_nm, out=self._lo)
        rate_hi = umath.add(self.prev_active, self.rate_step_nm, out=self._hi)
        umath.clip(a, rate_lo, rate_hi, out=a)
        self.prev_active[:] = a
        out = self.tau_out
        if bias is not None and np.shape(bias) == a.shape and np.all(np.isfinite(bias)):
            umath.add(a, bias, out=out)
        else:
            out[:] = a
        return out
