"""A gymnasium env that flies any robot speaking the quadrotor contract (Crazyswarm2's, DESIGN.md) -- the quad twin
node or the Crazyflie node -- through a :class:`QuadLink` (``robot_rl/runtime/quad_adapter.py`` implements it over
rclpy; this file never imports rclpy).

Same observation / action convention as :class:`robot_rl.sim.quad_env.QuadEnv` with ``action_mode="attitude"`` (its
default): both take the policy I/O from ``contract/quad.py`` (action -> roll, pitch, yaw rate, collective thrust)
and the observation, reward, crash test and success from ``contract/quad_tasks.py``, so data and policies carry
over. Reward and success are computed here from ``odom`` (on hardware no twin publishes task state).

``step``: the action's attitude set point is sent as ``cmd_vel_legacy`` and re-sent at ``command_hz`` for one
policy period (the node's setpoint watchdog stays fed), then the env waits (up to ``obs_timeout_s``) for an odom
that arrived after the period. Leaving the fence by ``FENCE_EXIT_M`` or touching the ground ends the episode (a
crash, reward 0); the node's setpoint guard keeps the vehicle safe meanwhile, whatever the policy sends.

``reset``: streaming ends (``notify_setpoints_stop``: the vehicle's high-level commander holds), a vehicle below
``takeoff_below_m`` takes off (``takeoff``), and ``go_to`` flies it to a start drawn from the task's initial box
(within ``init_pos_halfwidth_m`` of the target, yaw within ``start_yaw_max_rad``); the episode starts once odom
says it is within ``start_tolerance_m`` of the start. Nothing here is twin-only: the same reset flies hardware. The
twin env's start distribution is wider (tilt up to 90 deg, +-1 m/s): over ROS a start is a hover, which a
Crazyflie's high-level commander can reach safely.
"""
from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import gymnasium as gym
import numpy as np

from robot_rl.contract import quad_tasks as rules
from robot_rl.contract.params import ParameterError, param
from robot_rl.contract.quad import (ACTION_DIM, CF2X, QuadParams, action_from_velocity, attitude_from_action,
                                    checked_action)
from robot_rl.contract.rotations import quat_to_mat
from robot_rl.envs.ros_env import ObservationTimeout, ResetRefused


@dataclass
class QuadSample:
    """The latest odom; ``t`` is its arrival time on the link's monotonic clock."""

    pos: np.ndarray | None = None
    quat: np.ndarray | None = None  # w, x, y, z (body -> world)
    linvel: np.ndarray = field(default_factory=lambda: np.zeros(3))  # world
    angvel_body: np.ndarray = field(default_factory=lambda: np.zeros(3))
    t: float = -math.inf
    count: int = 0


class QuadLink(Protocol):
    def snapshot(self) -> QuadSample: ...

    def send_attitude(self, roll_rad: float, pitch_rad: float, yaw_rate_rad_per_s: float, thrust_n: float) -> None: ...

    def takeoff(self, height_m: float, duration_s: float) -> tuple[bool, str]: ...

    def go_to(self, xyz, yaw_rad: float, duration_s: float) -> tuple[bool, str]: ...

    def notify_setpoints_stop(self) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class RosQuadEnvConfig:
    task: str = param("quad_hover", doc="quad task of contract/quad_tasks.py (hover tasks only over ROS)")
    reward: str = param("dense", choices=("dense", "sparse"), doc="dense (shaped) | sparse (1 within the radius)")
    command_hz: float = param(50.0, gt=0.0, le=500.0, doc="the set point is re-sent at this rate within a period")
    obs_timeout_s: float = param(1.0, gt=0.0, doc="no fresh odom within this: ObservationTimeout")
    service_timeout_s: float = param(5.0, gt=0.0, doc="a takeoff / go_to / notify service not answering in this")
    takeoff_below_m: float = param(0.2, ge=0.0, doc="a reset takes off first when the vehicle is below this")
    takeoff_duration_s: float = param(2.0, gt=0.0)
    go_to_speed_m_per_s: float = param(1.0, gt=0.0, doc="a reset's go_to duration: distance / this ...")
    go_to_min_duration_s: float = param(0.8, gt=0.0, doc="... but at least this")
    settle_s: float = param(0.3, ge=0.0, doc="after a go_to's duration, before checking the start")
    start_tolerance_m: float = param(0.1, gt=0.0, doc="a reset is done within this of the start")
    start_yaw_max_rad: float = param(0.5, ge=0.0, le=math.pi, doc="start yaw uniform in +- this")
    reset_attempts: int = param(3, ge=1, doc="tries before a reset is refused")
    teleop_max_speed_m_per_s: float = param(0.5, gt=0.0, doc="a full teleop stick: this world velocity")
    teleop_gain_per_s: float = param(2.0, gt=0.0, doc="teleop velocity error -> acceleration gain")


class RosQuadEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, link: QuadLink, cfg: RosQuadEnvConfig = RosQuadEnvConfig(), params: QuadParams = CF2X,
                 seed: int = 0, clock=time.monotonic, sleep=time.sleep):
        self.link, self.cfg, self.p = link, cfg, params
        if cfg.task not in rules.QUAD_TASK_CONFIGS or rules.QUAD_TASK_CONFIGS[cfg.task].n_gates:
            hover = [k for k, t in rules.QUAD_TASK_CONFIGS.items() if not t.n_gates]
            raise ParameterError(f"task: {cfg.task!r} does not fly over ROS (hover tasks only: {', '.join(hover)})")
        self.task = rules.quad_task(cfg.task)
        self.io = self.task.io
        self.clock, self.sleep = clock, sleep
        self.period_s = 1.0 / self.io.policy_hz
        self.target = np.asarray(self.task.target_m, float)
        self.observation_space = gym.spaces.Dict(
            {"state": gym.spaces.Box(-np.inf, np.inf, (self.io.state_dim(),), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._rng = np.random.default_rng(seed)
        self._history = collections.deque(maxlen=max(self.io.action_history, 1))
        self._steps = 0
        self.start: np.ndarray | None = None
        self.last_sample: QuadSample | None = None

    # ---- gym API -----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        start = rules.sample_start_position(self.task, self._rng)
        yaw = float(self._rng.uniform(-1.0, 1.0) * self.cfg.start_yaw_max_rad)
        why = ""
        for _ in range(self.cfg.reset_attempts):
            why = self._fly_to_start(start, yaw)
            if not why:
                break
        else:
            raise ResetRefused(f"quad reset: {why}")
        self.start = start
        self._steps = 0
        for _ in range(self._history.maxlen):
            self._history.append(np.zeros(ACTION_DIM))
        s = self._wait_odom(self.clock())
        return self._obs(s), self._info(s, False, False)

    def _fly_to_start(self, start: np.ndarray, yaw: float) -> str:
        """'' once at the start; else why not (a refused or silent service, the vehicle not there)."""
        c = self.cfg
        ok, msg = self.link.notify_setpoints_stop()
        if not ok:
            return msg
        s = self._wait_odom(self.clock())
        if s.pos[2] < c.takeoff_below_m:
            ok, msg = self.link.takeoff(float(start[2]), c.takeoff_duration_s)
            if not ok:
                return msg
            self.sleep(c.takeoff_duration_s)
            s = self._wait_odom(self.clock())
        dur = max(c.go_to_min_duration_s, float(np.linalg.norm(start - s.pos)) / c.go_to_speed_m_per_s)
        ok, msg = self.link.go_to(start, yaw, dur)
        if not ok:
            return msg
        self.sleep(dur + c.settle_s)
        s = self._wait_odom(self.clock())
        err = float(np.linalg.norm(s.pos - start))
        if err > c.start_tolerance_m:
            return f"the vehicle is {err:.2f} m from the start {np.round(start, 2).tolist()} after go_to"
        return ""

    def step(self, action):
        a = checked_action(action)
        prev = self._history[-1]
        att = attitude_from_action(a, self.io, self.p)
        t0 = self.clock()
        end = t0 + self.period_s
        while True:
            self.link.send_attitude(*att)
            now = self.clock()
            if now >= end:
                break
            self.sleep(min(1.0 / self.cfg.command_hz, end - now))
        s = self._wait_odom(end - 0.5 / self.cfg.command_hz, keep_fed=att)
        self._history.append(np.where(np.isfinite(a), a, 0.0))
        self._steps += 1
        err = float(np.linalg.norm(s.pos - self.target))
        crashed = rules.crashed(self.task, s.pos)
        truncated = self._steps >= self.io.episode_steps and not crashed
        success = rules.hover_success(self.task, err, truncated, crashed)
        reward = 0.0 if crashed else rules.step_reward(self.task, self.cfg.reward, err, s.linvel, s.angvel_body, a,
                                                       prev)
        return self._obs(s), reward, crashed, truncated, self._info(s, crashed, success)

    # ---- teleop: a human's velocity command in this env's action convention -----------------------------------
    def human_action(self, twist6) -> np.ndarray:
        """``teleop/twist`` (normalised: linear = world velocity / ``teleop_max_speed_m_per_s``, angular.z = yaw
        rate / the task's max) as the attitude action that flies it, from the latest odom (level hover thrust
        before any odom)."""
        v = np.clip(np.asarray(twist6, float), -1.0, 1.0)
        s = self.last_sample if self.last_sample is not None else self.link.snapshot()
        yaw_rate = float(v[5]) * self.io.max_yaw_rate_cmd_rad_per_s
        if s is None or s.pos is None:
            return np.array([0.0, 0.0, yaw_rate / self.io.max_yaw_rate_cmd_rad_per_s, 0.0], np.float32)
        a = action_from_velocity(v[:3] * self.cfg.teleop_max_speed_m_per_s, yaw_rate, s.linvel, quat_to_mat(s.quat),
                                 self.io, self.p, self.cfg.teleop_gain_per_s)
        return a.astype(np.float32)

    def hold_action(self) -> np.ndarray:
        """What teleop mode flies with no human input: hold the current position's velocity at zero."""
        return self.human_action(np.zeros(6))

    # ---- pieces ----------------------------------------------------------------------------------------------
    def _wait_odom(self, after: float, keep_fed=None) -> QuadSample:
        deadline = self.clock() + self.cfg.obs_timeout_s
        while True:
            s = self.link.snapshot()
            if s.pos is not None and s.t >= after:
                self.last_sample = s
                return s
            if self.clock() > deadline:
                raise ObservationTimeout(f"no fresh odom within {self.cfg.obs_timeout_s} s")
            if keep_fed is not None:
                self.link.send_attitude(*keep_fed)
            self.sleep(0.002)

    def _obs(self, s: QuadSample) -> dict:
        return {"state": rules.observation(self.task, s.pos, quat_to_mat(s.quat), s.linvel, s.angvel_body,
                                           self.target, self._history)}

    def _info(self, s: QuadSample, crashed: bool, success: bool) -> dict:
        return {"success": bool(success), "crashed": bool(crashed),
                "pos_error_m": float(np.linalg.norm(s.pos - self.target))}

    @property
    def steps(self) -> int:
        return self._steps


__all__ = ["QuadLink", "QuadSample", "RosQuadEnv", "RosQuadEnvConfig"]
