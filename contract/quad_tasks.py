"""The quadrotor tasks' rules (numpy only): the task configs (:class:`QuadTaskConfig`: target, fence, initial-state
distribution, gates, reward weights, success radius) and what every backend computes from a measured state with
them -- the observation, the per-step reward, the crash test and success. The twin env (``sim/quad_env.py``) and
the env over ROS (``robot_rl/envs/ros_quad_env.py``: from ``odom``, since on hardware no twin publishes task state)
both call these, so data and policies carry over. The policy I/O (rates, action scaling) is ``contract/quad.py``'s
:data:`~robot_rl.contract.quad.QUAD_TASKS`.

Initial states follow Learning to Fly's ``orientation_biggest_angle`` (``parameters/init/default.h``): position
uniform within +-0.2 m of the target per axis, attitude a rotation by up to 90 deg about a random axis, linear
velocity uniform +-1 m/s and body rates uniform +-1 rad/s per axis (the twin env; over ROS a robot starts from a
hover at a random point of the same box, reached through its high-level commander).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import QUAD_TASKS, QuadTaskIO, state_vector
from robot_rl.contract.rotations import rotvec_to_quat

FENCE_EXIT_M = 0.05  # beyond the fence by this much: a fence exit (the task fails)


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


# ---- the rules both backends apply ----------------------------------------------------------------------------
def crashed(t: QuadTaskConfig, pos) -> bool:
    """Outside the fence by more than :data:`FENCE_EXIT_M`, on (or under) the ground, or not finite."""
    p = np.asarray(pos, float)
    lo, hi = np.asarray(t.fence_min_m) - FENCE_EXIT_M, np.asarray(t.fence_max_m) + FENCE_EXIT_M
    return not bool(np.isfinite(p).all() and (p >= lo).all() and (p <= hi).all() and p[2] > 0.0)


def step_reward(t: QuadTaskConfig, reward: str, err_m: float, linvel, angvel_body, action, prev_action) -> float:
    """``sparse``: 1 within the success radius; ``dense``: 1 / (1 + cost) with cost = pos_weight |e| + vel_weight |v|
    + rate_weight |w| + action_change_weight |a - a_prev| (a non-finite action counts as 0). A crashed step is 0
    (the caller's: see :func:`crashed`)."""
    if reward == "sparse":
        return float(err_m < t.success_radius_m)
    a = np.asarray(action, float)
    da = np.where(np.isfinite(a), a, 0.0) - np.asarray(prev_action, float)
    cost = (t.pos_weight_per_m * err_m + t.vel_weight_s_per_m * float(np.linalg.norm(linvel)) +
            t.rate_weight_s_per_rad * float(np.linalg.norm(angvel_body)) +
            t.action_change_weight * float(np.linalg.norm(da)))
    return 1.0 / (1.0 + cost)


def hover_success(t: QuadTaskConfig, err_m: float, truncated: bool, crashed_: bool) -> bool:
    """Hover: the episode ran its length without a crash and ends within the success radius."""
    return bool(truncated and not crashed_ and err_m < t.success_radius_m)


def observation(t: QuadTaskConfig, pos, rot, linvel, angvel_body, target, history, features=()) -> np.ndarray:
    """The state vector of ``contract/quad.py`` (position error to ``target``, rotation, velocities, the last
    ``io.action_history`` actions of ``history``, task features)."""
    n = t.io.action_history
    hist = list(history)[-n:] if n else []
    return state_vector(np.asarray(pos, float) - np.asarray(target, float), rot, linvel, angvel_body, hist, features)


def sample_start_position(t: QuadTaskConfig, rng: np.random.Generator) -> np.ndarray:
    """A start position of the initial-state box (uniform within ``init_pos_halfwidth_m`` of the target), the
    same draw as :meth:`QuadTaskConfig.sample_initial_state`'s position."""
    return np.asarray(t.target_m, float) + rng.uniform(-1, 1, 3) * t.init_pos_halfwidth_m
