"""Small env wrappers, one concern each (SERL's habit): state-only observations for baselines, a Box observation as
the ``state`` of a Dict, actions in [-1, 1] rescaled to the env's Box bounds, and the discrete gripper of the
hybrid action."""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from robot_rl.learning.networks import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY


class StateOnly(gym.ObservationWrapper):
    """Dict observation -> its ``state`` vector (for libraries that want a Box, e.g. SB3)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = env.observation_space["state"]

    def observation(self, observation):
        return observation["state"]


class StateDict(gym.ObservationWrapper):
    """Box observation -> ``{"state": float32 vector}`` (any numeric dtype, any shape, flattened)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        box = env.observation_space
        n = int(np.prod(box.shape))
        low = np.broadcast_to(np.asarray(box.low, np.float64), box.shape).reshape(n).astype(np.float32)
        high = np.broadcast_to(np.asarray(box.high, np.float64), box.shape).reshape(n).astype(np.float32)
        self.observation_space = gym.spaces.Dict({"state": gym.spaces.Box(low, high, (n,), np.float32)})

    def observation(self, observation):
        return {"state": np.asarray(observation, dtype=np.float32).reshape(-1)}


class UnitActions(gym.ActionWrapper):
    """The agent acts in [-1, 1]^d; the env receives ``low + (a + 1) / 2 (high - low)`` (its Box bounds)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        box = env.action_space
        if not np.all(np.isfinite(box.low)) or not np.all(np.isfinite(box.high)):
            raise ValueError("action space has infinite bounds; cannot rescale [-1, 1] to it")
        self._low = np.asarray(box.low, np.float64)
        self._half = (np.asarray(box.high, np.float64) - self._low) / 2.0
        self._dtype = box.dtype
        self.action_space = gym.spaces.Box(-1.0, 1.0, box.shape, np.float32)

    def action(self, action):
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        return (self._low + (a + 1.0) * self._half).astype(self._dtype)


class DiscreteGripper(gym.ActionWrapper):
    """Hybrid action: ``a[:6]`` continuous arm, ``a[6]`` the index of {close, stay, open}. The env's absolute
    gripper command (-1 open .. 1 closed) is remembered and changed only by close / open."""

    def __init__(self, env: gym.Env, initial_command: float = -1.0):
        super().__init__(env)
        self.initial_command = initial_command
        self.command = initial_command
        low = np.concatenate([env.action_space.low[:6], [0.0]]).astype(np.float32)
        high = np.concatenate([env.action_space.high[:6], [2.0]]).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)

    def reset(self, **kwargs):
        self.command = self.initial_command
        return self.env.reset(**kwargs)

    def action(self, action):
        g = int(np.clip(np.rint(action[6]), 0, 2))
        if g == GRIPPER_CLOSE:
            self.command = 1.0
        elif g == GRIPPER_OPEN:
            self.command = -1.0
        return np.concatenate([np.asarray(action[:6], np.float32), [self.command]]).astype(np.float32)


def to_discrete_gripper(prev_command: float, command: float, threshold: float = 0.0) -> int:
    """The discrete gripper index an absolute command corresponds to, given the previous command (for
    converting continuous demos to the hybrid action)."""
    was_closed, closed = prev_command > threshold, command > threshold
    if closed and not was_closed:
        return GRIPPER_CLOSE
    if was_closed and not closed:
        return GRIPPER_OPEN
    return GRIPPER_STAY
