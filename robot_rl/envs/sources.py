"""Where the learner's envs (and their scripted experts) come from: a small registry of named sources, plus any
gymnasium id.

A source is ``register_source(name, make_env, make_expert=None)``: ``make_env(**options)`` returns a gymnasium env
(options a source may take: ``cameras``, ``reward``, ``image_size_px``), ``make_expert(env, noise_std, seed)``
returns an object with ``reset()`` and ``act(obs) -> action`` in the env's own action convention. The twin tasks
are registered by :mod:`robot_rl.envs.twin_source` (loaded on the first lookup, so the learning core never
imports the twin). :func:`open_env` takes a registered name or a gymnasium id and returns the env as the learner
sees it: a Dict observation (``state`` [+ ``images/<camera>``]) and Box actions in [-1, 1].
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from robot_rl.envs.wrappers import StateDict, UnitActions

PLUGINS = ["robot_rl.envs.twin_source", "robot_rl.envs.quad_source"]  # modules that register sources, imported on the first lookup


class EnvSourceError(ValueError):
    """An env the learner cannot open or use (one-line message)."""


@dataclass(frozen=True)
class EnvSource:
    name: str
    make_env: Callable[..., gym.Env]
    make_expert: Callable | None = None
    doc: str = ""


_SOURCES: dict[str, EnvSource] = {}
_loaded = False


def register_source(name: str, make_env: Callable[..., gym.Env], make_expert: Callable | None = None,
                    doc: str = "") -> None:
    _SOURCES[name] = EnvSource(name, make_env, make_expert, doc)


def _load_plugins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for m in PLUGINS:
            importlib.import_module(m)


def sources() -> dict[str, EnvSource]:
    _load_plugins()
    return dict(_SOURCES)


def get_source(name: str) -> EnvSource | None:
    return sources().get(name)


def open_env(name: str, **options) -> gym.Env:
    """A registered source (``options`` passed on) or a gymnasium id (``gym.make``), adapted for the learner."""
    src = get_source(name)
    if src is not None:
        env = src.make_env(**options)
    else:
        try:
            env = gym.make(name)
        except (gym.error.Error, ImportError) as e:  # ImportError: "module:Id" whose module is not installed
            known = ", ".join(sorted(sources()))
            raise EnvSourceError(f"cannot open env {name!r} (not a registered source [{known}]; as a gymnasium id: "
                                 f"{str(e).splitlines()[0]})") from None
    return adapt(env, name)


def adapt(env: gym.Env, name: str = "env") -> gym.Env:
    """Box observations as ``{"state"}``, actions rescaled from [-1, 1] to the env's bounds; refuses what the
    networks cannot take (non-Box actions, image Boxes, Dicts with keys other than state / images/*)."""
    obs, act = env.observation_space, env.action_space
    if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1:
        raise EnvSourceError(f"{name}: action space {act} is not a 1-D Box (only continuous actions are supported)")
    if isinstance(obs, gym.spaces.Box):
        if len(obs.shape) == 3 and obs.dtype == np.uint8:
            raise EnvSourceError(f"{name}: image observation {obs.shape} needs a Dict with 'state' and "
                                 f"'images/<camera>' entries")
        env = StateDict(env)
    elif isinstance(obs, gym.spaces.Dict):
        from robot_rl.learning.policy import ObsSpecError, check_obs_spec
        from robot_rl.learning.replay import obs_spec_of

        try:
            check_obs_spec(obs_spec_of(obs))
        except ObsSpecError as e:
            raise EnvSourceError(f"{name}: {e}") from None
    else:
        raise EnvSourceError(f"{name}: observation space {type(obs).__name__} is not a Box or a Dict")
    if not (np.all(act.low == -1.0) and np.all(act.high == 1.0)):
        try:
            env = UnitActions(env)
        except ValueError as e:
            raise EnvSourceError(f"{name}: {e}") from None
    return env


def success_of(info: dict) -> bool | None:
    """Task success from ``info["success"]`` or ``info["is_success"]``; None when the env reports neither."""
    for k in ("success", "is_success"):
        if k in info:
            return bool(info[k])
    return None
