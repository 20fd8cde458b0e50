"""Scripted experts (privileged state, small phase machines) used for demos, tests and the scripted human.

Each expert maps the env's privileged state to an action in the env's convention, so its demos are valid
policy data. ``noise_std`` adds Gaussian action noise (clipped) for more varied demonstrations.
"""
from __future__ import annotations

import abc

import numpy as np

from robot_rl.contract.rotations import rotvec_to_mat
from robot_rl.controllers.impedance import rotation_error
from robot_rl.sim.arm_env import DOWN, TwinArmEnv


class Expert(abc.ABC):
    def __init__(self, env: TwinArmEnv, noise_std: float = 0.0, seed: int | None = None, gain: float = 1.0):
        self.env = env
        self.noise_std = noise_std
        self.gain = gain
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.phase_steps = 0

    def _advance(self) -> None:
        self.phase += 1
        self.phase_steps = 0

    def action_toward(self, point_pos: np.ndarray, desired_pos: np.ndarray, desired_rot: np.ndarray = DOWN,
                      gripper: float = -1.0) -> np.ndarray:
        """Action moving ``point_pos`` (a point rigid with the hand) to ``desired_pos``, the hand to ``desired_rot``."""
        env = self.env
        c = env.tcfg
        _, rot = env.twin.ee_pose()
        a = np.empty(7)
        a[:3] = rot.T @ (desired_pos - point_pos) * (self.gain / c.action_step_m)
        a[3:6] = -rot.T @ rotation_error(rot, desired_rot) * (self.gain / c.action_step_rad)
        a[6] = gripper
        if self.noise_std > 0.0:
            a[:6] += self.rng.normal(0.0, self.noise_std, 6)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    @abc.abstractmethod
    def act(self, obs=None) -> np.ndarray:
        """The expert's action for the env's current (privileged) state."""


class ReachExpert(Expert):
    def act(self, obs=None):
        env = self.env
        tcp, _ = env.twin.ee_pose()
        return self.action_toward(tcp, env.task.goal(env.model))


class PickCubeExpert(Expert):
    hover_m = 0.08
    lift_z_m = 0.25

    def act(self, obs=None):
        env = self.env
        task = env.task
        tcp, _ = env.twin.ee_pose()
        cube = task.cube_pos(env.data)
        yaw = task.cube_yaw(env.data)
        yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # the cube is symmetric under quarter turns
        rot_des = rotvec_to_mat((0.0, 0.0, yaw)) @ DOWN
        self.phase_steps += 1
        if self.phase == 0:  # hover above the cube, open
            goal = cube + [0.0, 0.0, self.hover_m]
            if np.linalg.norm((goal - tcp)[:2]) < 0.006 and abs(goal[2] - tcp[2]) < 0.02:
                self._advance()
            return self.action_toward(tcp, goal, rot_des, -1.0)
        if self.phase == 1:  # descend around it
            goal = cube.copy()
            if abs(goal[2] - tcp[2]) < 0.006 or self.phase_steps > 25:
                self._advance()
            return self.action_toward(tcp, goal, rot_des, -1.0)
        if self.phase == 2:  # close
            if self.phase_steps >= 4:
                self._advance()
            return self.action_toward(tcp, cube, rot_des, 1.0)
        goal = np.array([cube[0], cube[1], self.lift_z_m])  # lift
        if self.phase_steps > 40:  # lost it: start over
            self.reset()
        return self.action_toward(tcp, goal, rot_des, 1.0)


class PegInsertExpert(Expert):
    approach_m = 0.03
    overshoot_m = 0.02

    def act(self, obs=None):
        env = self.env
        task = env.task
        tip = task.tip(env.data)
        hole = task.hole_top(env.model)
        self.phase_steps += 1
        if self.phase == 0:  # tip above the hole
            goal = hole + [0.0, 0.0, self.approach_m]
            if np.linalg.norm((goal - tip)[:2]) < 0.0015 and abs(goal[2] - tip[2]) < 0.01:
                self._advance()
            return self.action_toward(tip, goal, DOWN, 1.0)
        goal = hole - [0.0, 0.0, task.cfg.insert_success_m + self.overshoot_m]  # push in
        if np.linalg.norm((hole - tip)[:2]) > 0.006:  # knocked off the hole: realign
            self.reset()
        return self.action_toward(tip, goal, DOWN, 1.0)


EXPERTS: dict[str, type[Expert]] = {
    "reach": ReachExpert,
    "pick_cube": PickCubeExpert,
    "peg_insert": PegInsertExpert,
}


def make_expert(env: TwinArmEnv, **kwargs) -> Expert:
    from robot_rl.sim.tasks import TASKS

    base = env.unwrapped if hasattr(env, "unwrapped") else env
    return EXPERTS[TASKS[base.task.name].expert](base, **kwargs)


def run_episode(env: TwinArmEnv, expert: Expert, seed: int | None = None, frames: list | None = None,
                camera: str = "front") -> dict:
    """Roll out one episode; returns success, return and length (and appends frames if a list is given)."""
    obs, _ = env.reset(seed=seed)
    expert.reset()
    ret, success, steps = 0.0, False, 0
    while True:
        a = expert.act(obs)
        obs, r, term, trunc, info = env.step(a)
        ret += r
        steps += 1
        success = success or info["success"]
        if frames is not None:
            frames.append(env.render_camera(camera))
        if term or trunc:
            break
    return {"success": success, "return": ret, "steps": steps}
