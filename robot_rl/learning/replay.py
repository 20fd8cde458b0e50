"""Replay: a bounded ring buffer that stores every observation once and samples on the learner's device;
symmetric online/prior sampling (RLPD); HIL-SERL's routing of interventions; RLIF's takeover reward.

Frames (observations) and transitions live in two rings. A transition stores the absolute ids of its obs
frame and its next_obs frame; within an episode the next_obs frame of one transition *is* the obs frame of
the next one, so images are stored once. The frame ring is a little larger than the transition ring (the
first frame of each episode is extra); a transition whose obs frame has been overwritten is evicted.

Feature cache (:meth:`ReplayBuffer.enable_feature_cache`, used by ``SAC.update_block`` when
``encoder.feature_cache`` is on): a frozen encoder's features of every stored frame are computed once, in chunks,
for the frames written since the last sample (so once per frame, just after it entered the buffer), kept in a
third ring ``features/<camera>`` beside the frames, and sampled batches carry them in place of the images. The
images stay stored (checkpoints, resume, the policy's own encoding); the features are derived and not saved: a
loaded buffer recomputes them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from typing import Callable

import numpy as np
import torch

from robot_rl.io import atomic_write_bytes

FEATURE_PREFIX = "features/"  # as robot_rl.learning.networks.FEATURE_PREFIX (the encoder reads these keys)
IMAGE_PREFIX = "images/"
FEATURE_CHUNK_FRAMES = 256  # frames encoded per featurizer call when the cache catches up (demos, a loaded buffer)

ObsSpec = dict[str, tuple[tuple[int, ...], np.dtype]]


def obs_spec_of(observation_space) -> ObsSpec:
    """``{key: (shape, dtype)}`` from a gymnasium Dict space; a Box is the ``state`` entry."""
    spaces = getattr(observation_space, "spaces", None)
    if isinstance(spaces, dict):
        return {k: (tuple(s.shape), np.dtype(s.dtype)) for k, s in spaces.items()}
    return {"state": (tuple(observation_space.shape), np.dtype(observation_space.dtype))}


class ReplayBuffer:
    def __init__(self, obs_spec: ObsSpec, action_dim: int, capacity_transitions: int,
                 extra_frame_fraction: float = 0.1, device: str | torch.device = "cpu"):
        if capacity_transitions < 1:
            raise ValueError("capacity_transitions must be >= 1")
        self.obs_spec = {k: (tuple(s), np.dtype(d)) for k, (s, d) in obs_spec.items()}
        self.action_dim = action_dim
        self.capacity = int(capacity_transitions)
        self.frame_capacity = self.capacity + max(1, int(np.ceil(self.capacity * extra_frame_fraction)))
        self.device = torch.device(device)
        self.frames = {k: torch.zeros((self.frame_capacity, *s), dtype=_torch_dtype(d), device=self.device)
                       for k, (s, d) in self.obs_spec.items()}
        T = self.capacity
        self.actions = torch.zeros((T, action_dim), dtype=torch.float32, device=self.device)
        self.rewards = torch.zeros(T, dtype=torch.float32, device=self.device)
        self.terminated = torch.zeros(T, dtype=torch.float32, device=self.device)
        self.obs_frame = torch.zeros(T, dtype=torch.int64, device=self.device)  # absolute frame ids
        self.next_frame = torch.zeros(T, dtype=torch.int64, device=self.device)
        self._obs_frame_host = np.zeros(T, dtype=np.int64)  # for eviction without device syncs
        self.frames_written = 0  # absolute counters
        self.transitions_written = 0
        self.start = 0  # absolute id of the oldest valid transition
        self._episode_open = False  # the last transition did not end its episode
        self._last_next_obs: dict[str, np.ndarray] | None = None  # host copy, to detect a continuing episode
        self._featurize: Callable | None = None  # feature cache (enable_feature_cache); None: batches carry images
        self._feature_dtype = torch.float16
        self.features: dict[str, torch.Tensor] = {}  # "features/<camera>" -> [frame_capacity, D]
        self._features_upto = 0  # absolute frame id up to which the cached features are computed

    # ---- writing -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.transitions_written - self.start

    def _write_frame(self, obs: dict) -> int:
        fid = self.frames_written
        slot = fid % self.frame_capacity
        for k, (shape, dtype) in self.obs_spec.items():
            v = np.asarray(obs[k], dtype=dtype)
            if v.shape != shape:
                raise ValueError(f"observation {k!r} has shape {v.shape}, the buffer expects {shape}")
            self.frames[k][slot] = torch.from_numpy(np.ascontiguousarray(v)).to(self.device, non_blocking=True)
        self.frames_written += 1
        oldest_kept_frame = self.frames_written - self.frame_capacity
        while self.start < self.transitions_written and \
                self._obs_frame_host[self.start % self.capacity] < oldest_kept_frame:
            self.start += 1
        return fid

    def _continues_episode(self, obs: dict) -> bool:
        if not self._episode_open or self._last_next_obs is None:
            return False
        return all(np.array_equal(np.asarray(obs[k]), self._last_next_obs[k]) for k in self.obs_spec)

    def add(self, obs: dict, action, reward: float, next_obs: dict, terminated: bool, truncated: bool) -> None:
        """One transition. ``terminated`` stops bootstrapping; ``truncated`` only ends the episode."""
        if self._continues_episode(obs):
            obs_id = self.frames_written - 1
        else:
            obs_id = self._write_frame(obs)
        next_id = self._write_frame(next_obs)
        if self.transitions_written - self.start >= self.capacity:
            self.start = self.transitions_written - self.capacity + 1
        i = self.transitions_written % self.capacity
        self.actions[i] = torch.as_tensor(np.asarray(action, dtype=np.float32), device=self.device)
        self.rewards[i] = float(reward)
        self.terminated[i] = float(terminated)
        self.obs_frame[i] = obs_id
        self.next_frame[i] = next_id
        self._obs_frame_host[i] = obs_id
        self.transitions_written += 1
        self._episode_open = not (terminated or truncated)
        self._last_next_obs = {k: np.array(next_obs[k], copy=True) for k in self.obs_spec}

    # ---- feature cache -------------------------------------------------------------------------------------
    def enable_feature_cache(self, featurize: Callable, dtype: torch.dtype = torch.float16) -> None:
        """Sampled batches carry ``features/<camera>`` (``dtype``) instead of ``images/<camera>``: ``featurize({
        "images/<camera>": uint8 [n, H, W, 3]}) -> {camera: [n, D]}`` runs once per stored frame (a frozen
        encoder's output). Re-enabling (another featurizer) drops the cache and recomputes it."""
        self._featurize, self._feature_dtype = featurize, dtype
        self.features, self._features_upto = {}, 0

    @property
    def feature_cache_enabled(self) -> bool:
        return self._featurize is not None

    @property
    def featurizer(self) -> Callable | None:
        return self._featurize

    def refresh_features(self) -> int:
        """Compute the features of the frames written since the last call (those still stored); returns how many."""
        if self._featurize is None:
            return 0
        lo = max(self._features_upto, self.frames_written - self.frame_capacity)
        hi = self.frames_written
        images = [k for k in self.frames if k.startswith(IMAGE_PREFIX)]
        for s in range(lo, hi, FEATURE_CHUNK_FRAMES):
            slots = torch.arange(s, min(s + FEATURE_CHUNK_FRAMES, hi), device=self.device) % self.frame_capacity
            out = self._featurize({k: self.frames[k][slots] for k in images})
            for cam, f in out.items():
                key = FEATURE_PREFIX + cam
                if key not in self.features:
                    self.features[key] = torch.zeros((self.frame_capacity, f.shape[-1]), dtype=self._feature_dtype,
                                                     device=self.device)
                self.features[key][slots] = f.detach().to(self._feature_dtype)
        self._features_upto = hi
        return max(0, hi - lo)

    # ---- sampling ------------------------------------------------------------------------------------------
    def sample_indices(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        r = torch.randint(0, len(self), (n,), generator=generator, device=self.device)
        return (r + self.start) % self.capacity

    def gather(self, idx: torch.Tensor, images: bool = False) -> dict:
        """Transitions ``idx``; with the feature cache on, obs and next_obs carry ``features/<camera>`` in place of
        ``images/<camera>`` (``images=True``: the images anyway)."""
        of = self.obs_frame[idx] % self.frame_capacity
        nf = self.next_frame[idx] % self.frame_capacity
        frames = self.frames
        if self._featurize is not None and not images:
            self.refresh_features()
            frames = {**{k: v for k, v in self.frames.items() if not k.startswith(IMAGE_PREFIX)}, **self.features}
        return {
            "obs": {k: v[of] for k, v in frames.items()},
            "next_obs": {k: v[nf] for k, v in frames.items()},
            "action": self.actions[idx],
            "reward": self.rewards[idx],
            "terminated": self.terminated[idx],
        }

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict:
        return self.gather(self.sample_indices(n, generator))

    # ---- persistence (npz, no pickle) ----------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The arrays to persist; a buffer that has not wrapped yet writes only its written prefix (a checkpoint
        costs what the data holds, not the capacity)."""
        wrapped = self.frames_written > self.frame_capacity or self.transitions_written > self.capacity
        nf = self.frame_capacity if wrapped else self.frames_written
        nt = self.capacity if wrapped else self.transitions_written
        arrs = {f"frames/{k}": v[:nf].cpu().numpy() for k, v in self.frames.items()}
        arrs.update(actions=self.actions[:nt].cpu().numpy(), rewards=self.rewards[:nt].cpu().numpy(),
                    terminated=self.terminated[:nt].cpu().numpy(), obs_frame=self.obs_frame[:nt].cpu().numpy(),
                    next_frame=self.next_frame[:nt].cpu().numpy())
        counters = [self.frames_written, self.transitions_written, self.start, int(self._episode_open),
                    self.capacity, self.frame_capacity, self.action_dim]
        arrs["counters"] = np.asarray(counters, dtype=np.int64)
        if self._last_next_obs is not None:
            arrs.update({f"last_next_obs/{k}": v for k, v in self._last_next_obs.items()})
        return arrs

    def save(self, path) -> None:
        bio = io.BytesIO()
        np.savez(bio, **self.state_arrays())
        atomic_write_bytes(path, bio.getvalue())

    def load(self, path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.load_arrays({k: z[k] for k in z.files})

    def load_arrays(self, arrs: dict[str, np.ndarray]) -> None:
        """Restore a saved buffer. Same capacities: an exact restore (``--resume``). A smaller buffer that never
        wrapped (e.g. demos written by ``robot-rl record-demos``) also loads into a larger one: its frame and
        transition ids are then valid slots here too."""
        fw, tw, start, open_, cap, fcap, adim = (int(x) for x in arrs["counters"])
        same = (cap, fcap) == (self.capacity, self.frame_capacity)
        fits = fw <= fcap and tw <= cap and fw <= self.frame_capacity and tw <= self.capacity
        if adim != self.action_dim or not (same or fits):
            raise ValueError(f"buffer file has capacity/frames/action_dim {(cap, fcap, adim)} "
                             f"({tw} transitions, {fw} frames written), this buffer "
                             f"{(self.capacity, self.frame_capacity, self.action_dim)}")
        nf, nt = (fcap, cap) if same else (fw, tw)
        for k in self.frames:  # the file may hold only the written prefix (see state_arrays)
            a = arrs[f"frames/{k}"][:nf]
            self.frames[k][:len(a)].copy_(torch.from_numpy(a))
        for name in ("actions", "rewards", "terminated", "obs_frame", "next_frame"):
            a = arrs[name][:nt]
            getattr(self, name)[:len(a)].copy_(torch.from_numpy(a))
        a = arrs["obs_frame"][:nt]
        self._obs_frame_host[:len(a)] = a.astype(np.int64)
        self.frames_written, self.transitions_written, self.start = fw, tw, start
        self._features_upto = 0  # the frames changed: the cache (if any) recomputes every stored frame
        self._episode_open = bool(open_)
        last = {k: arrs[f"last_next_obs/{k}"] for k in self.obs_spec if f"last_next_obs/{k}" in arrs}
        self._last_next_obs = last if len(last) == len(self.obs_spec) else None


def _torch_dtype(d: np.dtype) -> torch.dtype:
    """Storage dtype: uint8 stays uint8 (images); every other numeric dtype (bool, ints, floats) is float32."""
    d = np.dtype(d)
    if d == np.uint8:
        return torch.uint8
    if d == np.bool_ or np.issubdtype(d, np.number):
        return torch.float32
    raise ValueError(f"observation dtype {d} is not numeric")


def concat_batches(a: dict, b: dict) -> dict:
    out = {}
    for k in a:
        out[k] = concat_batches(a[k], b[k]) if isinstance(a[k], dict) else torch.cat([a[k], b[k]])
    return out


def sample_mixed(online: ReplayBuffer, prior: ReplayBuffer, batch_size: int, online_fraction: float = 0.5,
                 generator: torch.Generator | None = None) -> dict:
    """RLPD's symmetric sampling: ``online_fraction`` of the batch from online data, the rest from prior data
    (demos + interventions). Falls back to whichever buffer has data when the other is empty. The first
    ``n_online`` rows of the batch are online; the batch's ``"n_online"`` entry (an int) says how many."""
    n_online = int(round(batch_size * online_fraction))
    if len(prior) == 0:
        n_online = batch_size
    elif len(online) == 0:
        n_online = 0
    parts = []
    if n_online:
        parts.append(online.sample(n_online, generator))
    if batch_size - n_online:
        parts.append(prior.sample(batch_size - n_online, generator))
    batch = parts[0] if len(parts) == 1 else concat_batches(parts[0], parts[1])
    batch["n_online"] = n_online
    return batch


@dataclass
class TransitionRouter:
    """Where a transition goes (HIL-SERL): every transition to the online buffer; human interventions also to
    the prior buffer, so they are sampled in the prior half of each batch.

    RLIF mode (Luo et al. 2023): the task reward is dropped (0 on every transition) and ``takeover_reward`` goes on
    the *policy's* last transition before a human takes over: the action that made the human step in, not the
    human's first (corrective) action. A takeover on an episode's first step has no policy transition to blame and
    labels nothing."""

    online: ReplayBuffer
    prior: ReplayBuffer
    rlif: bool = False
    takeover_reward: float = -1.0
    # online-buffer write index of the open episode's latest transition when the policy drove it, else None
    _last_policy: int | None = field(default=None, init=False, repr=False)

    def add(self, obs, action, reward, next_obs, terminated, truncated, intervened: bool = False,
            takeover_started: bool = False) -> float:
        if self.rlif:
            reward = 0.0
            if takeover_started:
                self._label_takeover()
        self._store(obs, action, reward, next_obs, terminated, truncated, intervened, takeover_started)
        ends = terminated or truncated
        self._last_policy = None if (intervened or ends) else self.online.transitions_written - 1
        return reward

    def _label_takeover(self) -> None:
        i = self._last_policy
        if i is not None and i >= self.online.start:  # still in the ring
            self.online.rewards[i % self.online.capacity] = float(self.takeover_reward)

    def _store(self, obs, action, reward, next_obs, terminated, truncated, intervened, takeover_started) -> None:
        self.online.add(obs, action, reward, next_obs, terminated, truncated)
        if intervened:
            self.prior.add(obs, action, reward, next_obs, terminated, truncated)


