"""Demos into the prior buffer: from a file, from a registered scripted expert, or none.

Demo file formats (npz, loaded with ``allow_pickle=False``):

1. A replay buffer file as ``robot-rl record-demos`` (and the actor's ``prior_out``) write it: the arrays of
   :meth:`robot_rl.learning.flagged_replay.FlaggedReplayBuffer.state_arrays` (``counters``, ``frames/<key>``,
   ``actions``, ``rewards``, ``terminated``, ``obs_frame``, ``next_frame`` [, ``intervened``, ``takeover_started``]).
2. A plain file of N transitions, in order (an episode's transitions consecutive):
   ``obs`` [N, d] (a Box env) or ``obs/<key>`` per Dict key (``obs/state``, ``obs/images/front`` ...),
   likewise ``next_obs`` / ``next_obs/<key>``; ``action`` [N, A] in [-1, 1] (the learner's action convention);
   ``reward`` [N]; ``terminated`` [N]; ``truncated`` [N] (bool or 0/1). Any numeric obs dtype.

A file whose shapes do not match the env raises :class:`DemoError` (one line).
"""
from __future__ import annotations

import numpy as np

from robot_rl.envs.sources import success_of
from robot_rl.envs.wrappers import to_discrete_gripper

DEMO_SEED_OFFSET = 2_000_000  # demo episodes use seeds disjoint from training and evaluation episodes


class DemoError(ValueError):
    """A demo file that cannot be used with this env (one-line message)."""


def load_demo_file(path, buffer) -> dict:
    """Append the demos of ``path`` to ``buffer`` (an empty :class:`ReplayBuffer`); returns counts."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DemoError(f"demo file {path}: cannot read it as npz ({e})") from None
    if "counters" in arrs:
        _check_buffer_file(path, arrs, buffer)
        try:
            buffer.load_arrays(arrs)
        except (ValueError, KeyError, RuntimeError) as e:
            raise DemoError(f"demo file {path}: {e}") from None
    else:
        _load_plain(path, arrs, buffer)
    return {"demo_file": str(path), "demo_transitions": len(buffer)}


def _check_buffer_file(path, arrs: dict, buffer) -> None:
    for k, (shape, _) in buffer.obs_spec.items():
        a = arrs.get(f"frames/{k}")
        if a is None or tuple(a.shape[1:]) != tuple(shape):
            got = None if a is None else tuple(a.shape[1:])
            raise DemoError(f"demo file {path}: observation {k!r} has shape {got}, the env's is {tuple(shape)}")
    adim = arrs["actions"].shape[1] if arrs.get("actions") is not None and arrs["actions"].ndim == 2 else None
    if adim != buffer.action_dim:
        raise DemoError(f"demo file {path}: actions have {adim} dims, the env's have {buffer.action_dim}")


def _obs_arrays(path, arrs: dict, prefix: str, spec: dict, n: int) -> dict:
    out = {}
    for k, (shape, _) in spec.items():
        a = arrs.get(f"{prefix}/{k}")
        if a is None and k == "state" and len(spec) == 1:
            a = arrs.get(prefix)
        if a is None:
            raise DemoError(f"demo file {path}: no {prefix}/{k} (or {prefix}) array")
        if a.shape != (n, *shape):
            raise DemoError(f"demo file {path}: {prefix} {k!r} has shape {a.shape[1:]}, the env's is {tuple(shape)}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise DemoError(f"demo file {path}: {prefix} {k!r} has non-numeric dtype {a.dtype}")
        out[k] = a
    return out


def _load_plain(path, arrs: dict, buffer) -> None:
    for k in ("action", "reward", "terminated", "truncated"):
        if k not in arrs:
            raise DemoError(f"demo file {path}: missing array {k!r} (expected obs, action, reward, next_obs, "
                            f"terminated, truncated)")
    act = arrs["action"]
    n = act.shape[0] if act.ndim == 2 else -1
    if act.ndim != 2 or act.shape[1] != buffer.action_dim:
        raise DemoError(f"demo file {path}: action has shape {act.shape}, expected [N, {buffer.action_dim}]")
    for k in ("reward", "terminated", "truncated"):
        if arrs[k].shape != (n,):
            raise DemoError(f"demo file {path}: {k} has shape {arrs[k].shape}, expected [{n}]")
    obs = _obs_arrays(path, arrs, "obs", buffer.obs_spec, n)
    nxt = _obs_arrays(path, arrs, "next_obs", buffer.obs_spec, n)
    for i in range(n):
        buffer.add({k: v[i] for k, v in obs.items()}, act[i], float(arrs["reward"][i]),
                   {k: v[i] for k, v in nxt.items()}, bool(arrs["terminated"][i]), bool(arrs["truncated"][i]))


def save_plain_demos(path, transitions: list[tuple]) -> None:
    """Write ``(obs, action, reward, next_obs, terminated, truncated)`` tuples (dict obs) in format 2."""
    from robot_rl.io import atomic_write_bytes
    import io

    keys = list(transitions[0][0])
    arrs = {f"obs/{k}": np.stack([t[0][k] for t in transitions]) for k in keys}
    arrs.update({f"next_obs/{k}": np.stack([t[3][k] for t in transitions]) for k in keys})
    arrs.update(action=np.stack([np.asarray(t[1], np.float32) for t in transitions]),
                reward=np.asarray([t[2] for t in transitions], np.float32),
                terminated=np.asarray([t[4] for t in transitions], bool),
                truncated=np.asarray([t[5] for t in transitions], bool))
    bio = io.BytesIO()
    np.savez(bio, **arrs)
    atomic_write_bytes(path, bio.getvalue())


def collect_expert_demos(env, expert, buffer, episodes: int, seed: int, to_stored=None) -> dict:
    """Scripted-expert episodes into ``buffer``; successful ones only when the env reports success (as a human
    would keep), all of them otherwise. ``env`` is stepped with the expert's action; ``to_stored(action)`` maps it
    to the action stored (e.g. the hybrid gripper index), default the action itself."""
    kept, tried = 0, 0
    while kept < episodes and tried < 5 * max(episodes, 1):
        obs, _ = env.reset(seed=seed + DEMO_SEED_OFFSET + tried)
        expert.reset()
        if to_stored is not None and hasattr(to_stored, "reset"):
            to_stored.reset()
        tried += 1
        episode, success = [], None
        while True:
            a = expert.act(obs)
            stored = to_stored(a) if to_stored is not None else a
            next_obs, r, term, trunc, info = env.step(a)
            episode.append((obs, stored, r, next_obs, term, trunc))
            obs = next_obs
            s = success_of(info)
            success = s if success is None else (success or bool(s))
            if term or trunc:
                break
        if success is None or success:
            for t in episode:
                buffer.add(*t)
            kept += 1
    return {"demos": kept, "demo_attempts": tried, "demo_transitions": len(buffer)}


class HybridDemoActions:
    """Continuous expert actions -> the hybrid action (gripper command -> close/stay/open index)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.prev = -1.0

    def __call__(self, a) -> np.ndarray:
        g = to_discrete_gripper(self.prev, float(a[-1]))
        self.prev = float(a[-1]) if abs(a[-1]) > 0 else self.prev
        return np.concatenate([a[:-1], [float(g)]]).astype(np.float32)
