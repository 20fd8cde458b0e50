"""A gymnasium env that drives any robot speaking the arm contract (DESIGN.md) -- the twin node or the hardware
driver -- through an :class:`ArmLink` (``robot_rl/ros_adapter.py`` implements it over rclpy; this file never
imports rclpy).

Same observation/action convention as :class:`robot_rl.sim.arm_env.TwinArmEnv` -- both take it from the contract
(``robot_rl.contract.arm``: state layout, action -> target rule, task I/O registry), so data and policies carry
over and this module needs neither MuJoCo nor ``robot_rl.sim`` (the actor runs on the robot's computer):
``state = [tcp_pos(3), tcp_quat wxyz(4), tcp_linvel(3), tcp_angvel(3), gripper_width(1), wrench(6), task
features]`` (velocities by finite difference of the two latest poses), ``images/<camera>`` uint8 HxWx3.

``step``: the target (measured pose + scaled EE-frame delta, clipped to the workspace box) is sent and re-sent at
``target_hz`` until the policy period ends, so the driver's watchdog stays fed. Periods run on a fixed schedule, as
a robot's control loop does: each ends one period after the last one ended (the first: after the reset's
observation), so the time the caller takes to compute the action comes out of the period instead of stretching it
(before, on franky-sim, 10 Hz ran at ~8.8 Hz: each period was 0.1 s plus ~13 ms of inference and I/O); a step that
starts more than half a period late restarts the schedule and is counted in ``overruns``. Then the env waits (up to
``obs_timeout_s``) for a pose and camera frames that arrived after the period began. With cameras and
``camera_sync`` (the default) the step is paced by the camera instead: it sends for ``period - camera_sync_slack_s``
and then ends on the first frames (of every camera) that arrive after that, so the next action is computed on frames
just received rather than on frames up to a camera period old (``robot-rl bench latency``).
``on_action_sent(image_stamps, sent)`` (optional) is called right after the first publish of each action with the
header stamps of the camera frames the action was computed from and whatever ``link.send_target`` returned (the
ROS link: its clock's time right after the publish). Reward and success come
from the ``/task/state`` stream (the twin publishes it; on hardware a reward classifier would).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import gymnasium as gym
import numpy as np

from robot_rl.contract import arm
from robot_rl.contract.arm import PROPRIO_DIM, ArmTaskIO
from robot_rl.contract.rotations import mat_to_quat, mat_to_rotvec, quat_to_mat


class ObservationTimeout(TimeoutError):
    """No fresh observation from the robot within the timeout (driver, cameras or task stream silent)."""


class ResetRefused(RuntimeError):
    """The robot refused (or did not answer) the reset service: not up yet, e-stopped, or faulted."""


@dataclass
class ArmSample:
    """The latest value of every input stream; ``*_t`` are arrival times on the link's monotonic clock."""

    pos: np.ndarray | None = None
    quat: np.ndarray | None = None  # w, x, y, z
    pose_t: float = -math.inf
    pose_stamp_s: float = 0.0
    prev_pos: np.ndarray | None = None
    prev_quat: np.ndarray | None = None
    prev_pose_stamp_s: float = 0.0
    wrench: np.ndarray = field(default_factory=lambda: np.zeros(6))
    gripper_width: float = 0.0
    task: np.ndarray | None = None  # [reward, success, features...]
    task_t: float = -math.inf
    images: dict[str, tuple[np.ndarray, float, float]] = field(default_factory=dict)  # cam -> (img, arrival, stamp)


class ArmLink(Protocol):
    def snapshot(self) -> ArmSample: ...

    def send_target(self, pos: np.ndarray, quat_wxyz: np.ndarray, gripper: float | None) -> float | None: ...

    def reset(self, timeout_s: float) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class RosEnvConfig:
    task: str = "reach"
    cameras: tuple[str, ...] = ()
    image_size_px: int = 128
    target_hz: float = 50.0  # target re-sent at this rate within a policy period (feeds the driver's watchdog)
    obs_timeout_s: float = 1.0
    reset_timeout_s: float = 10.0
    reset_settle_s: float = 0.2  # after the reset service returns, wait for poses newer than this
    camera_sync: bool = True  # with cameras: a step ends on fresh frames (see the module docstring)
    camera_sync_slack_s: float = 0.05  # accept frames arriving this long before the policy period is over


def state_vector(s: ArmSample) -> np.ndarray:
    """The contract's state vector (``robot_rl.contract.arm.state_vector``) from a sample."""
    dt = s.pose_stamp_s - s.prev_pose_stamp_s
    lin = np.zeros(3)
    ang = np.zeros(3)
    if s.prev_pos is not None and dt > 1e-6:
        lin = (s.pos - s.prev_pos) / dt
        ang = mat_to_rotvec(quat_to_mat(s.quat) @ quat_to_mat(s.prev_quat).T) / dt
    feats = s.task[2:] if s.task is not None else np.zeros(0)
    return arm.state_vector(s.pos, s.quat, lin, ang, s.gripper_width, s.wrench, feats)


class RosArmEnv(gym.Env):
    def __init__(self, link: ArmLink, cfg: RosEnvConfig = RosEnvConfig(), clock=time.monotonic, sleep=time.sleep):
        self.link = link
        self.cfg = cfg
        self.tcfg: ArmTaskIO = arm.arm_task_io(cfg.task)  # ValueError for an unknown task
        self.clock, self.sleep = clock, sleep
        self.period_s = 1.0 / self.tcfg.policy_hz
        self._steps = 0
        self._state_dim: int | None = None
        self.action_space = gym.spaces.Box(-1.0, 1.0, (arm.ACTION_DIM,), np.float32)
        self.observation_space = None  # known after the first observation (task features come from the robot)
        self.last_target: tuple[np.ndarray, np.ndarray, float | None] | None = None
        self.obs_image_stamps: dict[str, float] = {}  # header stamps of the frames in the latest observation
        self.on_action_sent = None  # hook(image_stamps, sent) after the first publish of each action
        self._sync = bool(cfg.cameras) and cfg.camera_sync
        self._period_end: float | None = None  # where the current period's schedule ended (the clock's time)
        self.overruns = 0  # steps that started more than half a period late (the schedule restarted there)

    # ---- gym API -----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        ok, msg = self.link.reset(self.cfg.reset_timeout_s)
        if not ok:
            raise ResetRefused(f"reset refused by the robot: {msg}")
        # forget the last episode's target before waiting for the first observation: _wait_obs re-sends
        # last_target to feed the watchdog, and that would pull the arm from the start pose back toward where the
        # last episode ended (on franky-sim it drew ~0.4 J of the 2 J energy tank before the episode began)
        self.last_target = None
        t = self.clock()
        self.sleep(self.cfg.reset_settle_s)
        settled = t + self.cfg.reset_settle_s
        obs, _, success = self._wait_obs(settled, settled if self._sync else t)
        self._steps = 0
        self._period_end = self.clock()
        return obs, {"success": success}

    def step(self, action):
        a = arm.checked_action(action)
        t0 = self.clock()
        pos, quat, grip = self.target_for(a, self.link.snapshot())
        sent = self.link.send_target(pos, quat, grip)
        if self.on_action_sent is not None:
            self.on_action_sent(dict(self.obs_image_stamps), sent)
        deadline = t0 + self.period_s
        if self._period_end is not None:
            deadline = self._period_end + self.period_s
            if deadline - t0 < 0.5 * self.period_s:  # the caller overran: restart the schedule from now
                self.overruns += 1
                deadline = t0 + self.period_s
        self._period_end = deadline
        end = deadline - (self.cfg.camera_sync_slack_s if self._sync else 0.0)
        while True:
            now = self.clock()
            if now >= end:
                break
            self.sleep(min(1.0 / self.cfg.target_hz, end - now))
            self.link.send_target(pos, quat, grip)
        if self._sync:  # pose and every camera's frame newer than the end of sending
            obs, reward, success = self._wait_obs(end, end)
        else:
            obs, reward, success = self._wait_obs(end - 0.5 / self.cfg.target_hz, t0)
        self._steps += 1
        terminated = bool(success)
        truncated = self._steps >= self.tcfg.episode_steps
        return obs, reward, terminated, truncated, {"success": bool(success)}

    def target_for(self, a: np.ndarray, s: ArmSample) -> tuple[np.ndarray, np.ndarray, float | None]:
        """The impedance target for action ``a`` from the measured pose (the contract's rule,
        ``robot_rl.contract.arm.action_to_target``, as TwinArmEnv.apply_action)."""
        if s.pos is None:
            raise ObservationTimeout("no pose received from the robot yet")
        pos, trot, grip = arm.action_to_target(a, s.pos, quat_to_mat(s.quat), self.tcfg)
        self.last_target = (pos, mat_to_quat(trot), grip)
        return self.last_target

    def _wait_obs(self, pose_after: float, images_after: float) -> tuple[dict, float, bool]:
        deadline = self.clock() + self.cfg.obs_timeout_s
        while True:
            s = self.link.snapshot()
            missing = []
            if s.pos is None or s.pose_t < pose_after:
                missing.append("pose")
            if s.task is None or s.task_t < pose_after:
                missing.append("task state")
            for cam in self.cfg.cameras:
                if cam not in s.images or s.images[cam][1] < images_after:
                    missing.append(f"camera {cam}")
            if not missing:
                break
            if self.clock() > deadline:
                raise ObservationTimeout(f"no fresh {', '.join(missing)} within {self.cfg.obs_timeout_s} s")
            if self.last_target is not None:  # keep the watchdog fed while waiting
                self.link.send_target(*self.last_target)
            self.sleep(0.002)
        obs = {"state": state_vector(s)}
        for cam in self.cfg.cameras:
            obs[f"images/{cam}"] = s.images[cam][0]
        self.obs_image_stamps = {cam: s.images[cam][2] for cam in self.cfg.cameras}
        if self.observation_space is None:
            spaces = {"state": gym.spaces.Box(-np.inf, np.inf, obs["state"].shape, np.float32)}
            for cam in self.cfg.cameras:
                spaces[f"images/{cam}"] = gym.spaces.Box(0, 255, obs[f"images/{cam}"].shape, np.uint8)
            self.observation_space = gym.spaces.Dict(spaces)
        return obs, float(s.task[0]), bool(s.task[1] > 0.5)

    @property
    def steps(self) -> int:
        return self._steps


__all__ = ["ArmLink", "ArmSample", "ObservationTimeout", "ResetRefused", "PROPRIO_DIM", "RosArmEnv", "RosEnvConfig",
           "state_vector"]
