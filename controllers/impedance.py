"""Cartesian impedance control with reference clipping (plain numpy, no I/O).

The law (the libfranka Cartesian-impedance example, with SERL's reference clipping):

    e      = clip([x - x_d ; rotvec(R R_d^T)], -clip, clip)       pose error, clipped per axis
    F      = -K e - D (J dq)                                       task-space spring-damper
    tau    = J^T F + N (K_n (q_n - q) - D_n dq) + bias             N: null-space projector of J^T

Because the pose error is clipped per axis before the spring acts, the steady spring force is bounded by
``K * clip`` per axis whatever target the policy sends: the compliance that makes learning on contact safe.
``bias`` is what the robot needs on top (Coriolis on a Franka, whose firmware adds gravity; gravity + Coriolis
in the twin). The twin and the Franka driver both call :meth:`CartesianImpedanceController.compute` with the
model quantities of their robot, so they run the very same law.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy._core import umath  # ufunc clip: ~5x less call overhead than np.clip on 6-vectors

from robot_rl.contract.rotations import mat_to_rotvec


@dataclass(frozen=True)
class CartesianImpedanceConfig:
    translational_stiffness_n_per_m: float = 2000.0
    rotational_stiffness_nm_per_rad: float = 150.0
    translational_damping_n_s_per_m: float = 89.0
    rotational_damping_nm_s_per_rad: float = 7.0
    translational_clip_m: tuple[float, float, float] = (0.01, 0.01, 0.01)
    rotational_clip_rad: tuple[float, float, float] = (0.05, 0.05, 0.05)
    nullspace_stiffness_nm_per_rad: float = 10.0
    nullspace_damping_nm_s_per_rad: float = 2.0 * math.sqrt(10.0)
    # Damping of the pseudo-inverse used for the null-space projector (keeps it defined at singularities).
    pinv_damping: float = 1e-3
    # The projector changes slowly with the posture; recomputing it every few ticks keeps the tick cheap.
    nullspace_projector_period_ticks: int = 10
    joint_torque_limit_nm: tuple[float, ...] = field(default=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0))

    def validate(self) -> None:
        for name in ("translational_stiffness_n_per_m", "rotational_stiffness_nm_per_rad",
                     "translational_damping_n_s_per_m", "rotational_damping_nm_s_per_rad",
                     "nullspace_stiffness_nm_per_rad", "nullspace_damping_nm_s_per_rad"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"CartesianImpedanceConfig.{name} must be finite and >= 0, got {v!r}")
        if self.nullspace_projector_period_ticks < 1:
            raise ValueError("CartesianImpedanceConfig.nullspace_projector_period_ticks must be >= 1")
        for name in ("translational_clip_m", "rotational_clip_rad", "joint_torque_limit_nm"):
            v = np.asarray(getattr(self, name), dtype=float)
            if not (np.all(np.isfinite(v)) and np.all(v > 0.0)):
                raise ValueError(f"CartesianImpedanceConfig.{name} must be finite and > 0, got {v!r}")


def rotation_error(r: np.ndarray, r_d: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rotation vector (axis * angle, base frame) of R R_d^T: the rotation that takes the target onto the current
    (the contract's log map, ``robot_rl.contract.rotations.mat_to_rotvec``)."""
    return mat_to_rotvec(r.dot(r_d.T), out)


class CartesianImpedanceController:
    """Call :meth:`compute` every control tick. State: preallocated buffers and the cached null-space projector."""

    def __init__(self, cfg: CartesianImpedanceConfig = CartesianImpedanceConfig(), n_joints: int = 7):
        cfg.validate()
        self.cfg = cfg
        self.n = n_joints
        self.neg_k = -np.array([cfg.translational_stiffness_n_per_m] * 3 + [cfg.rotational_stiffness_nm_per_rad] * 3)
        self.neg_d = -np.array([cfg.translational_damping_n_s_per_m] * 3 + [cfg.rotational_damping_nm_s_per_rad] * 3)
        self.clip = np.concatenate([np.asarray(cfg.translational_clip_m, float), np.asarray(cfg.rotational_clip_rad, float)])
        self.neg_clip = -self.clip
        tau = np.asarray(cfg.joint_torque_limit_nm, dtype=float)
        if tau.shape != (n_joints,):
            raise ValueError(f"joint_torque_limit_nm has {tau.shape[0]} entries for a {n_joints}-joint arm")
        self.tau_max = tau
        self.neg_tau_max = -tau
        self._eye_n = np.eye(n_joints)
        self._reg6 = np.eye(6) * cfg.pinv_damping
        self._projector = np.eye(n_joints)
        self._ticks_since_projector = cfg.nullspace_projector_period_ticks  # forces an update on the first tick
        self.error = np.zeros(6)  # clipped pose error of the last tick (telemetry)
        self._e_pos, self._e_rot = self.error[:3], self.error[3:]
        self.kn = cfg.nullspace_stiffness_nm_per_rad
        self.dn = cfg.nullspace_damping_nm_s_per_rad

    def reset(self) -> None:
        """Forget the cached null-space projector (call when the arm state jumps, e.g. at an episode reset)."""
        self._ticks_since_projector = self.cfg.nullspace_projector_period_ticks

    def pose_error(self, pos, rot, target_pos, target_rot) -> np.ndarray:
        """Clipped pose error [m, rad], written into (and returned as) ``self.error``."""
        np.subtract(pos, target_pos, out=self._e_pos)
        rotation_error(rot, target_rot, out=self._e_rot)
        return umath.clip(self.error, self.neg_clip, self.clip, out=self.error)

    def nullspace_projector(self, jac) -> np.ndarray:
        """I - J^T (J^T)^+, with (J^T)^+ = (J J^T + eps I)^-1 J; recomputed every ``period`` ticks."""
        self._ticks_since_projector += 1
        if self._ticks_since_projector >= self.cfg.nullspace_projector_period_ticks:
            self._ticks_since_projector = 0
            jt_pinv = np.linalg.solve(jac @ jac.T + self._reg6, jac)
            self._projector = self._eye_n - jac.T @ jt_pinv
        return self._projector

    def compute(self, pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias=None) -> np.ndarray:
        """Joint torques [Nm] (before any safety filter), saturated at the joint torque limits.

        pos (3,), rot (3, 3): measured end-effector pose in the base frame; jac (6, n): [linear; angular]
        Jacobian of that point; q, dq (n,): joint positions and velocities; target_pos (3,), target_rot (3, 3):
        the impedance target; q_nullspace (n,): posture for the redundant DoF; bias (n,): added as is.
        """
        e = self.pose_error(pos, rot, target_pos, target_rot)
        f = self.neg_k * e
        f += self.neg_d * jac.dot(dq)
        tau = jac.T.dot(f)
        tau_n = self.kn * (q_nullspace - q)
        tau_n -= self.dn * dq
        tau += self.nullspace_projector(jac).dot(tau_n)
        if bias is not None:
            tau += bias
        return umath.clip(tau, self.neg_tau_max, self.tau_max, out=tau)
