"""Gymnasium env of a twin task: 10 Hz policy over the 1 kHz impedance loop.

Observation (DESIGN.md): ``{"state": float32 (n,), "images/<camera>": uint8 (H, W, 3)}``; the state layout and
the action -> impedance-target rule are the contract's (``robot_rl.contract.arm``: ``state_vector``,
``action_to_target``), shared with the ROS env: ``state = [tcp_pos(3), tcp_quat wxyz(4), tcp_linvel(3),
tcp_angvel(3), gripper_width(1), wrench(6), task features]``; action float32 (7,) in [-1, 1]: EE-frame xyz and
rotation-vector deltas scaled by the task, gripper closedness mapped from [-1, 1] to [0 open, 1 closed].
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import gymnasium as gym
import mujoco
import numpy as np

from robot_rl.contract.arm import ACTION_DIM, PROPRIO_DIM, action_to_target, checked_action, state_vector
from robot_rl.contract.rotations import mat_to_quat
from robot_rl.sim.arm_twin import ArmTwin, TwinConfig
from robot_rl.sim.randomization import DomainRandomizationConfig, DomainRandomizer
from robot_rl.sim.tasks import Task, make_task

DOWN = np.diag([1.0, -1.0, -1.0])  # TCP orientation pointing at the table, fingers along base y
__all__ = ["DOWN", "EnvConfig", "PROPRIO_DIM", "TwinArmEnv"]


@dataclass(frozen=True)
class EnvConfig:
    twin: TwinConfig = field(default_factory=TwinConfig)
    randomization: DomainRandomizationConfig = field(default_factory=DomainRandomizationConfig)
    cameras: tuple[str, ...] = ()  # e.g. ("front", "wrist")
    image_size_px: int = 128
    reward: str = "sparse"  # "sparse" (1 on success) or "dense" (task shaping)
    terminate_on_success: bool = True
    # Passivity-aware training: info["energy_cost"] [J] per step = energy-tank drawdown + violation_cost_j per tick
    # on which a filter intervened (a safety limit or alpha < 1); usable as a Lagrangian constraint. The reward
    # is reduced by energy_penalty_weight * energy_cost (0: reported only). Needs TwinConfig.filters enabled.
    energy_penalty_weight: float = 0.0
    violation_cost_j: float = 0.01


class TwinArmEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, task: str | Task = "reach", cfg: EnvConfig | None = None, render_mode: str | None = None,
                 **cfg_overrides):
        cfg = cfg or EnvConfig()
        if cfg_overrides:
            cfg = dataclasses.replace(cfg, **cfg_overrides)
        if cfg.reward not in ("sparse", "dense"):
            raise ValueError(f"reward must be 'sparse' or 'dense', got {cfg.reward!r}")
        if not (np.isfinite(cfg.energy_penalty_weight) and cfg.energy_penalty_weight >= 0.0
                and np.isfinite(cfg.violation_cost_j) and cfg.violation_cost_j >= 0.0):
            raise ValueError("energy_penalty_weight and violation_cost_j must be finite and >= 0")
        self.cfg = cfg
        self.task = make_task(task) if isinstance(task, str) else task
        self.tcfg = self.task.cfg
        self.twin = ArmTwin(self.task.objects_xml(), cfg.twin, hand_xml=self.task.hand_xml())
        self.model, self.data = self.twin.model, self.twin.data
        self.task.bind(self.model)
        self.randomizer = DomainRandomizer(self.model, cfg.randomization)
        self.ticks_per_step = self.twin.ticks_for(1.0 / self.tcfg.policy_hz)
        self.render_mode = render_mode
        self._renderer = None
        for cam in cfg.cameras:
            if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, cam) < 0:
                raise ValueError(f"unknown camera {cam!r}; the scene has: {self.camera_names()}")
        n_state = PROPRIO_DIM + self.task.features(self.model, self.data, np.zeros(3)).shape[0]
        spaces = {"state": gym.spaces.Box(-np.inf, np.inf, (n_state,), np.float32)}
        s = cfg.image_size_px
        for cam in cfg.cameras:
            spaces[f"images/{cam}"] = gym.spaces.Box(0, 255, (s, s, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._steps = 0
        self._np_random = np.random.default_rng()

    def camera_names(self) -> list[str]:
        return [self.model.camera(i).name for i in range(self.model.ncam)]

    # ---- gym API -----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        self.randomizer.apply(rng)
        c = self.tcfg
        start = np.array([rng.uniform(*r) for r in c.start_range_m])
        q = self.twin.solve_ik(start, DOWN)
        grip = c.gripper_locked_closedness if c.gripper_locked_closedness is not None else 0.0
        self.twin.reset(q, gripper_closedness=grip)
        self.task.reset(self.model, self.data, rng)
        mujoco.mj_forward(self.model, self.data)
        self.twin.set_target(start, DOWN)
        self.twin.step(self.twin.ticks_for(c.settle_s))
        self._steps = 0
        obs = self._obs()
        return obs, {"success": False}

    def step(self, action):
        self.apply_action(checked_action(action))
        filters = self.twin.filters
        if filters is not None:
            balance0, interventions0 = filters.tank.balance_j, filters.intervention_ticks
        self.twin.step(self.ticks_per_step)
        self._steps += 1
        tcp = self.data.site_xpos[self.twin.tcp_site]
        success = self.task.success(self.model, self.data, tcp)
        if self.cfg.reward == "sparse":
            reward = float(success)
        else:
            reward = self.task.dense_reward(self.model, self.data, tcp) + float(success)
        terminated = bool(success and self.cfg.terminate_on_success)
        truncated = self._steps >= self.tcfg.episode_steps
        energy_cost = 0.0
        if filters is not None:
            energy_cost = (max(0.0, balance0 - filters.tank.balance_j)
                           + self.cfg.violation_cost_j * (filters.intervention_ticks - interventions0))
            reward -= self.cfg.energy_penalty_weight * energy_cost
        return self._obs(), reward, terminated, truncated, {"success": bool(success), "energy_cost": energy_cost}

    def apply_action(self, a: np.ndarray) -> None:
        """Move the impedance target by the end-effector-frame delta from the measured pose; set the gripper
        (the contract's rule, ``robot_rl.contract.arm.action_to_target``, with this env's task config)."""
        pos, rot = self.twin.ee_pose()
        target_pos, target_rot, grip = action_to_target(a, pos, rot, self.tcfg)
        self.twin.set_target(target_pos, target_rot)
        if grip is not None:
            self.twin.set_gripper(grip)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        cam = self.cfg.cameras[0] if self.cfg.cameras else "front"
        return self.render_camera(cam)

    def render_camera(self, camera: str) -> np.ndarray:
        if self._renderer is None:
            s = self.cfg.image_size_px
            self._renderer = mujoco.Renderer(self.model, s, s)
        self._renderer.update_scene(self.data, camera)
        return self._renderer.render().copy()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ---- observation -------------------------------------------------------------------------------------
    def state_vector(self) -> np.ndarray:
        pos, rot = self.twin.ee_pose()
        vel = self.twin.ee_velocity()
        feats = self.task.features(self.model, self.data, pos)
        return state_vector(pos, mat_to_quat(rot), vel[:3], vel[3:], self.twin.gripper_width(), self.twin.ee_wrench(),
                            feats)

    def _obs(self) -> dict:
        obs = {"state": self.state_vector()}
        for cam in self.cfg.cameras:
            obs[f"images/{cam}"] = self.render_camera(cam)
        return obs

    @property
    def steps(self) -> int:
        return self._steps
