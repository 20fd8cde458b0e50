"""The quadrotor twin: one rotor model (``contract/quad.py``) driving either physics engine.

:class:`QuadTwin` owns the rotor state (rpm, first-order lag) and turns normalised rotor commands into the body
wrench (per-rotor thrusts along body z at the rotor positions, drag torques about body z), expressed in the world
frame and applied by our code at the centre of mass; the engine (``sim/quad_mujoco.py`` or ``sim/quad_bullet.py``)
only integrates the rigid body under gravity. Both engines therefore see exactly the same forces, and their
trajectories differ only by their integrators (``tests/test_quad_twins.py`` bounds the difference).

Per physics step, in order: rpm lag toward the commanded rpm, thrust and drag torque from the new rpm, plus an
optional external force (wind), then one engine step.
"""
from __future__ import annotations

import numpy as np

from robot_rl.contract.quad import (CF2X, QuadParams, QuadState, allocation_matrix, motor_lag_alpha, rotor_thrust_n,
                                    rpm_from_command)
from robot_rl.contract.rotations import quat_to_mat

__all__ = ["QuadState", "QuadTwin", "make_engine", "ENGINES"]
ENGINES = ("mujoco", "pybullet")


def make_engine(engine: str, params: QuadParams, dt_s: float):
    """The rigid-body engine by name (``mujoco`` or ``pybullet``)."""
    if engine == "mujoco":
        from robot_rl.sim.quad_mujoco import MujocoQuadBody

        return MujocoQuadBody(params, dt_s)
    if engine == "pybullet":
        from robot_rl.sim.quad_bullet import BulletQuadBody

        return BulletQuadBody(params, dt_s)
    raise ValueError(f"unknown quad engine {engine!r}; known: {', '.join(ENGINES)}")


class QuadTwin:
    """A quadrotor in one engine. ``params`` are the true (possibly randomised) physics; the controllers use the
    nominal ones."""

    def __init__(self, engine: str = "mujoco", params: QuadParams = CF2X, dt_s: float = 0.002):
        self.engine_name = engine
        self.dt_s = dt_s
        self.body = make_engine(engine, params, dt_s)
        self.set_params(params)
        self.rpm = np.zeros(4)

    def set_params(self, params: QuadParams) -> None:
        """Use ``params`` from now on (mass and inertia in the engine, rotor model here)."""
        self.params = params
        self._alloc = allocation_matrix(params)
        self._alpha = motor_lag_alpha(self.dt_s, params.motor_time_constant_s)
        self.body.set_mass(params.mass_kg, params.inertia_kg_m2)

    def reset(self, pos, quat, linvel=(0.0, 0.0, 0.0), angvel_body=(0.0, 0.0, 0.0), rpm=None) -> None:
        """Place the vehicle; the rotors start at ``rpm`` (default: the hover rpm)."""
        p = self.params
        hover_rpm = np.sqrt(p.hover_thrust_per_rotor_n / p.thrust_coeff_n_per_rpm2)
        self.rpm = np.full(4, hover_rpm) if rpm is None else np.asarray(rpm, dtype=float).copy()
        self.body.reset(np.asarray(pos, float), np.asarray(quat, float), np.asarray(linvel, float),
                        np.asarray(angvel_body, float))

    def wrench_body(self, rotor_cmd) -> np.ndarray:
        """Advance the rotor lag one step toward ``rotor_cmd`` (normalised, (4,)); [Fz, tau_x, tau_y, tau_z] of
        the new rpm (body frame)."""
        target = rpm_from_command(rotor_cmd, self.params)
        self.rpm += self._alpha * (target - self.rpm)
        return self._alloc @ rotor_thrust_n(self.rpm, self.params.thrust_coeff_n_per_rpm2)

    def step(self, rotor_cmd, external_force_world_n=None) -> None:
        """One physics step with normalised rotor commands ``rotor_cmd`` (4,) in [-1, 1]."""
        w = self.wrench_body(rotor_cmd)
        rot = quat_to_mat(self.body.quat())
        force = rot[:, 2] * w[0]
        if external_force_world_n is not None:
            force = force + external_force_world_n
        self.body.step(force, rot @ w[1:])

    def state(self) -> QuadState:
        return self.body.state()

    def close(self) -> None:
        self.body.close()
