"""The quadrotor tasks as data: ``quad_hover`` and ``quad_waypoints`` (their policy I/O is ``contract/quad.py``'s
:data:`QUAD_TASKS`), the initial-state distribution, the fence, the gates, rewards and domain randomisation.

Initial states follow Learning to Fly's ``orientation_biggest_angle`` (``parameters/init/default.h``): position
uniform within +-0.2 m of the target per axis, attitude a rotation by up to 90 deg about a random axis, linear
velocity uniform +-1 m/s and body rates uniform +-1 rad/s per axis. Rotors start at the hover rpm.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import QUAD_TASKS, QuadParams, QuadTaskIO
from robot_rl.contract.rotations import rotvec_to_quat


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


@dataclass(frozen=True)
class QuadTaskConfig:
    name: str
    io: QuadTaskIO
    target_m: tuple[float, ...] = (0.0, 0.0, 1.0)
    fence_min_m: tuple[float, ...] = (-1.0, -1.0, 0.05)
    fence_max_m: tuple[float, ...] = (1.0, 1.0, 2.0)
    init_pos_halfwidth_m: float = 0.2
    init_tilt_max_rad: float = math.pi / 2
    init_linvel_max_m_per_s: float = 1.0
    init_angvel_max_rad_per_s: float = 1.0
    success_radius_m: float = 0.1  # hover: final position error below this
    # dense reward per step: 1 / (1 + cost), cost = pos_weight |e| + vel_weight |v| + rate_weight |w| +
    # action_change_weight |da|: in (0, 1], so ending an episode early never pays, and it still slopes far away
    pos_weight_per_m: float = 4.0
    vel_weight_s_per_m: float = 0.2
    rate_weight_s_per_rad: float = 0.02
    action_change_weight: float = 0.1
    # waypoints
    n_gates: int = 0
    gate_radius_m: float = 0.25  # a gate is passed when its plane is crossed within this of its centre
    gate_spacing_m: tuple[float, float] = (0.6, 0.9)
    gate_box_min_m: tuple[float, ...] = (-1.0, -1.0, 0.6)  # gate centres are drawn inside this box
    gate_box_max_m: tuple[float, ...] = (1.0, 1.0, 1.6)

    def sample_initial_state(self, rng: np.random.Generator) -> dict:
        """pos, quat (wxyz), linvel, angvel_body of one episode's start (Learning to Fly's distribution)."""
        pos = np.asarray(self.target_m) + rng.uniform(-1, 1, 3) * self.init_pos_halfwidth_m
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        quat = rotvec_to_quat(axis * rng.uniform(0.0, self.init_tilt_max_rad))
        return {"pos": pos, "quat": quat, "linvel": rng.uniform(-1, 1, 3) * self.init_linvel_max_m_per_s,
                "angvel_body": rng.uniform(-1, 1, 3) * self.init_angvel_max_rad_per_s}

    def sample_gates(self, start, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(centres (n, 3), unit normals (n, 3)): each gate a random step of ``gate_spacing_m`` from the last
        (mostly horizontal), inside the gate box; its normal points along the step."""
        lo, hi = np.asarray(self.gate_box_min_m), np.asarray(self.gate_box_max_m)
        centres, normals, prev = [], [], np.clip(np.asarray(start, float), lo, hi)
        for _ in range(self.n_gates):
            for _try in range(100):
                yaw, climb = rng.uniform(0, 2 * math.pi), rng.uniform(-0.4, 0.4)
                d = np.array([math.cos(yaw), math.sin(yaw), climb])
                c = prev + rng.uniform(*self.gate_spacing_m) * d / np.linalg.norm(d)
                if np.all(c >= lo) and np.all(c <= hi):
                    break
            else:
                c = np.clip(c, lo, hi)
            centres.append(c)
            n = c - prev
            normals.append(n / max(np.linalg.norm(n), 1e-9))
            prev = c
        return np.array(centres).reshape(-1, 3), np.array(normals).reshape(-1, 3)


QUAD_TASK_CONFIGS: dict[str, QuadTaskConfig] = {
    "quad_hover": QuadTaskConfig("quad_hover", QUAD_TASKS["quad_hover"]),
    "quad_waypoints": QuadTaskConfig("quad_waypoints", QUAD_TASKS["quad_waypoints"], fence_min_m=(-1.5, -1.5, 0.05),
                                     fence_max_m=(1.5, 1.5, 2.2), init_pos_halfwidth_m=0.1, init_tilt_max_rad=0.3,
                                     init_linvel_max_m_per_s=0.3, init_angvel_max_rad_per_s=0.5, n_gates=4),
}


def quad_task(name: str) -> QuadTaskConfig:
    if name not in QUAD_TASK_CONFIGS:
        raise KeyError(f"unknown quad task {name!r}; known: {', '.join(sorted(QUAD_TASK_CONFIGS))}")
    return QUAD_TASK_CONFIGS[name]
