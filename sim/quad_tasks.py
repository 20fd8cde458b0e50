"""The quadrotor tasks in the twin: the task configs, rewards and success rules are the contract's
(:mod:`robot_rl.contract.quad_tasks`, re-exported here: the env over ROS computes the same from ``odom``); this
module adds the twin-only part, domain randomisation. Rotors start at the hover rpm.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import QuadParams
from robot_rl.contract.quad_tasks import QUAD_TASK_CONFIGS, QuadTaskConfig, quad_task

__all__ = ["QUAD_TASK_CONFIGS", "QuadRandomizationConfig", "QuadTaskConfig", "quad_task"]


@dataclass(frozen=True)
class QuadRandomizationConfig:
    """Domain randomisation, off by default; every knob is drawn afresh at each reset from the nominal values."""

    mass_scale_range: tuple[float, float] | None = None  # e.g. (0.9, 1.1)
    thrust_coeff_scale_range: tuple[float, float] | None = None  # the thrust curve kf (and km with it)
    motor_time_constant_range_s: tuple[float, float] | None = None  # e.g. (0.02, 0.15) spans Learning to Fly's
    latency_ticks_max: int = 0  # commands reach the fast loop 0 .. this many control ticks late
    wind_force_max_n: float = 0.0  # constant horizontal force of random direction, magnitude uniform 0 .. this

    @property
    def enabled(self) -> bool:
        return any((self.mass_scale_range, self.thrust_coeff_scale_range, self.motor_time_constant_range_s,
                    self.latency_ticks_max > 0, self.wind_force_max_n > 0.0))

    def sample(self, nominal: QuadParams, rng: np.random.Generator) -> tuple[QuadParams, int, np.ndarray]:
        """(true physics parameters, latency in control ticks, wind force world N) for one episode."""
        p = nominal
        if self.mass_scale_range:
            p = dataclasses.replace(p, mass_kg=p.mass_kg * rng.uniform(*self.mass_scale_range))
        if self.thrust_coeff_scale_range:
            k = rng.uniform(*self.thrust_coeff_scale_range)
            p = dataclasses.replace(p, thrust_coeff_n_per_rpm2=p.thrust_coeff_n_per_rpm2 * k,
                                    drag_torque_coeff_nm_per_rpm2=p.drag_torque_coeff_nm_per_rpm2 * k)
        if self.motor_time_constant_range_s:
            p = dataclasses.replace(p, motor_time_constant_s=rng.uniform(*self.motor_time_constant_range_s))
        latency = int(rng.integers(0, self.latency_ticks_max + 1)) if self.latency_ticks_max > 0 else 0
        wind = np.zeros(3)
        if self.wind_force_max_n > 0.0:
            ang = rng.uniform(0, 2 * math.pi)
            wind[:2] = rng.uniform(0, self.wind_force_max_n) * np.array([math.cos(ang), math.sin(ang)])
        return p, latency, wind
