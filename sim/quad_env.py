"""The quadrotor tasks as gymnasium envs, over either engine (``engine="mujoco"`` or ``"pybullet"``).

Each env step holds the policy's action for ``control_hz / policy_hz`` control ticks of the fast loop
(:class:`robot_rl.controllers.quad_stack.QuadFlightStack`: watchdog, safety filter, cascade), each tick one
physics step. ``action_mode="attitude"`` (default) sends the action as a roll / pitch / yaw-rate / thrust command;
``"rotors"`` as normalised rotor commands (still through the safety filter unless ``safety_enabled=False``).

``info``: ``success``, ``crashed`` (below the floor or outside the fence), ``pos_error_m``, ``gates_passed``,
``safety`` (what the fast loop flew on the last tick: ``track``, ``filtered``, ``fence``, ``hover_nan`` ...).
"""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from robot_rl.contract import quad_tasks as rules
from robot_rl.contract.quad import ACTION_DIM, ACTION_MODES, CF2X, QuadParams, attitude_from_action, checked_action
from robot_rl.controllers.quad_safety import QuadSafetyConfig
from robot_rl.controllers.quad_stack import QuadFlightStack, QuadStackConfig
from robot_rl.sim.quad_tasks import QuadRandomizationConfig, QuadTaskConfig, quad_task
from robot_rl.sim.quad_twin import QuadTwin


@dataclass(frozen=True)
class QuadEnvConfig:
    engine: str = "mujoco"
    action_mode: str = "attitude"
    control_hz: float = 200.0  # fast loop and physics rate
    safety_enabled: bool = True
    reward: str = "dense"  # dense (shaped) | sparse (1 while within the success radius)
    params: QuadParams = CF2X  # nominal: what the controllers assume
    randomization: QuadRandomizationConfig = field(default_factory=QuadRandomizationConfig)

    def validate(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.reward not in ("dense", "sparse"):
            raise ValueError(f"reward must be 'dense' or 'sparse', got {self.reward!r}")


class QuadEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, task: str | QuadTaskConfig = "quad_hover", cfg: QuadEnvConfig | None = None, **overrides):
        cfg = dataclasses.replace(cfg or QuadEnvConfig(), **overrides)
        cfg.validate()
        self.cfg = cfg
        self.task = quad_task(task) if isinstance(task, str) else task
        io = self.task.io
        self.policy_hz = io.policy_hz if cfg.action_mode == "attitude" else io.rotors_policy_hz
        self.ticks_per_step = int(round(cfg.control_hz / self.policy_hz))
        if abs(self.ticks_per_step * self.policy_hz - cfg.control_hz) > 1e-6:
            raise ValueError(f"control_hz {cfg.control_hz} is not a multiple of the policy rate {self.policy_hz}")
        self.dt_s = 1.0 / cfg.control_hz
        self.episode_steps = int(round(io.episode_steps * self.policy_hz / io.policy_hz))
        self.twin = QuadTwin(cfg.engine, cfg.params, self.dt_s)
        t = self.task
        safety = QuadSafetyConfig(fence_min_m=t.fence_min_m, fence_max_m=t.fence_max_m)
        self.stack = QuadFlightStack(cfg.params, QuadStackConfig(safety=safety, safety_enabled=cfg.safety_enabled))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (io.state_dim(),), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self.spec = gym.envs.registration.EnvSpec(f"robot_rl/{t.name}-v0", max_episode_steps=self.episode_steps)
        self._rng = np.random.default_rng(0)
        self._history = collections.deque(maxlen=max(io.action_history, 1))
        self.gates = np.zeros((0, 3))
        self.gate_normals = np.zeros((0, 3))

    # ---- episode -----------------------------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng, t = self._rng, self.task
        true_params, self.latency_ticks, self.wind_n = (
            self.cfg.randomization.sample(self.cfg.params, rng) if self.cfg.randomization.enabled
            else (self.cfg.params, 0, np.zeros(3)))
        if true_params is not self.twin.params:
            self.twin.set_params(true_params)
        init = t.sample_initial_state(rng)
        self.twin.reset(init["pos"], init["quat"], init["linvel"], init["angvel_body"])
        self.gates, self.gate_normals = t.sample_gates(init["pos"], rng) if t.n_gates else (np.zeros((0, 3)),) * 2
        self.gates_passed = 0
        self.stack.reset()
        self.time_s = 0.0
        self.steps = 0
        self._pending = collections.deque()  # (due tick, kind, values): latency
        self._tick = 0
        for _ in range(self._history.maxlen):
            self._history.append(np.zeros(ACTION_DIM))
        self.state = self.twin.state()
        return self._obs(), self._info(False)

    @property
    def target(self) -> np.ndarray:
        if self.task.n_gates:
            return self.gates[min(self.gates_passed, len(self.gates) - 1)]
        return np.asarray(self.task.target_m, dtype=float)

    def command_of(self, a: np.ndarray) -> tuple[str, np.ndarray]:
        """The fast-loop command an action means (the env's action convention)."""
        if self.cfg.action_mode == "rotors":
            return "rotors", a
        return "attitude", np.array(attitude_from_action(a, self.task.io, self.cfg.params))

    def step(self, action):
        a = checked_action(action)
        prev = self._history[-1]
        kind, values = self.command_of(a)
        self._pending.append((self._tick + self.latency_ticks, kind, values))
        pos_before = self.state.pos.copy()
        crashed = False
        for _ in range(self.ticks_per_step):
            while self._pending and self._pending[0][0] <= self._tick:
                _, k, v = self._pending.popleft()
                self.stack.set_command(self.time_s, k, v)
            u = self.stack.tick(self.time_s, self.state)
            self.twin.step(u, self.wind_n if self.cfg.randomization.wind_force_max_n > 0 else None)
            self._tick += 1
            self.time_s += self.dt_s
            self.state = self.twin.state()
            if not self._in_bounds():
                crashed = True
                break
        self._history.append(np.where(np.isfinite(a), a, 0.0))
        self.steps += 1
        if self.task.n_gates:
            self._check_gate(pos_before, self.state.pos)
        err = float(np.linalg.norm(self.state.pos - self.target))
        done_gates = self.task.n_gates and self.gates_passed >= self.task.n_gates
        truncated = self.steps >= self.episode_steps and not crashed
        success = bool(done_gates and not crashed) if self.task.n_gates else \
            rules.hover_success(self.task, err, truncated, crashed)
        reward = 0.0 if crashed else rules.step_reward(self.task, self.cfg.reward, err, self.state.linvel,
                                                       self.state.angvel_body, a, prev)
        return self._obs(), reward, bool(crashed or done_gates), bool(truncated and not done_gates), \
            self._info(crashed, success)

    # ---- pieces ------------------------------------------------------------------------------------------------
    def _in_bounds(self) -> bool:  # leaving the fence (by FENCE_EXIT_M) or touching the ground: a crash
        return not rules.crashed(self.task, self.state.pos)

    def _check_gate(self, p0, p1) -> None:
        if self.gates_passed >= len(self.gates):
            return
        c, n = self.gates[self.gates_passed], self.gate_normals[self.gates_passed]
        d0, d1 = float((p0 - c) @ n), float((p1 - c) @ n)
        if d0 < 0.0 <= d1:
            x = p0 + (p1 - p0) * (d0 / (d0 - d1))
            if np.linalg.norm(x - c) <= self.task.gate_radius_m:
                self.gates_passed += 1

    def _features(self) -> np.ndarray:
        if not self.task.n_gates:
            return np.zeros(0)
        nxt = self.gates_passed + 1
        return (self.gates[nxt] - self.state.pos) if nxt < len(self.gates) else np.zeros(3)

    def _obs(self) -> np.ndarray:
        s = self.state
        return rules.observation(self.task, s.pos, s.rot, s.linvel, s.angvel_body, self.target, self._history,
                                 self._features())

    def _info(self, crashed: bool, success: bool = False) -> dict:
        return {"success": success, "crashed": crashed,
                "pos_error_m": float(np.linalg.norm(self.state.pos - self.target)),
                "gates_passed": self.gates_passed, "safety": self.stack.last_reason}

    def close(self) -> None:
        self.twin.close()
