"""The policy that ships to actors: observation normalisation + pixel encoder + tanh-Gaussian actor (+ the discrete
gripper head of the hybrid action). No critics, no optimiser, no env.

A weights payload (:meth:`Policy.payload`) carries the tensors plus, as metadata, the full algorithm config and
the observation spec, so :meth:`Policy.from_payload` rebuilds exactly this network on an actor.

Observations: a dict with ``state`` (any numeric dtype, cast to float32) and optional ``images/<camera>``
(uint8 HxWx3). The spec is ``{key: (shape, dtype)}`` (:func:`robot_rl.learning.replay.obs_spec_of`).
"""
from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from robot_rl.learning.config import AlgoConfig, from_dict, to_flat
from robot_rl.learning.networks import NUM_GRIPPER_ACTIONS, GripperCritic, PixelEncoder, TanhGaussianActor

STATE_STD_FLOOR = 0.1  # normalisation never divides by less than this (features constant in the demos)
IMAGE_PREFIX = "images/"


class ObsSpecError(ValueError):
    """An observation spec the learner cannot use (one-line message)."""


def check_obs_spec(spec: dict) -> tuple[int, tuple[str, ...], int]:
    """(state_dim, cameras, image_size_px) of a spec; :class:`ObsSpecError` for one the networks cannot take."""
    if "state" not in spec:
        raise ObsSpecError(f"observation has no 'state' entry (keys: {', '.join(sorted(spec)) or 'none'}); "
                           f"expected a Box or a Dict of 'state' and 'images/<camera>'")
    other = [k for k in spec if k != "state" and not k.startswith(IMAGE_PREFIX)]
    if other:
        raise ObsSpecError(f"observation key {other[0]!r} is neither 'state' nor 'images/<camera>'")
    shape, dtype = spec["state"]
    if len(shape) != 1 or not np.issubdtype(np.dtype(dtype), np.number) and np.dtype(dtype) != np.bool_:
        raise ObsSpecError(f"observation 'state' must be a numeric vector, got shape {shape} dtype {dtype}")
    cams = tuple(k[len(IMAGE_PREFIX):] for k in spec if k.startswith(IMAGE_PREFIX))
    sizes = {tuple(spec[IMAGE_PREFIX + c][0]) for c in cams}
    if cams and (len(sizes) != 1 or len(next(iter(sizes))) != 3 or next(iter(sizes))[2] != 3
                 or next(iter(sizes))[0] != next(iter(sizes))[1]):
        raise ObsSpecError(f"camera images must all be square HxWx3, got {sorted(sizes)}")
    return int(shape[0]), cams, (next(iter(sizes))[0] if cams else 128)


def spec_to_json(spec: dict) -> dict:
    return {k: [list(s), np.dtype(d).str] for k, (s, d) in spec.items()}


def spec_from_json(d: dict) -> dict:
    return {k: (tuple(int(x) for x in s), np.dtype(t)) for k, (s, t) in d.items()}


class Policy(nn.Module):
    """pi(a | obs) for acting: ``act(obs) -> action`` in [-1, 1] (hybrid: the gripper index as a float)."""

    def __init__(self, obs_spec: dict, action_dim: int, cfg: AlgoConfig, use_cameras: bool = True):
        super().__init__()
        self.obs_spec = {k: (tuple(s), np.dtype(d)) for k, (s, d) in obs_spec.items()}
        state_dim, cams, size = check_obs_spec(self.obs_spec)
        if not use_cameras:
            self.obs_spec = {"state": self.obs_spec["state"]}
            cams = ()
        self.cfg = cfg
        s = cfg.sac
        self.cameras = cams
        self.state_dim, self.action_dim = state_dim, action_dim  # action_dim as the env sees it
        self.arm_dim = action_dim - 1 if s.discrete_gripper else action_dim
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.encoder = PixelEncoder(cams, state_dim, cfg.encoder, size) if cams else None
        self.feature_dim = self.encoder.out_dim if cams else state_dim
        self.actor = TanhGaussianActor(self.feature_dim, self.arm_dim, s.hidden_width, s.hidden_layers,
                                       s.log_std_min, s.log_std_max)
        self.gripper_critic = GripperCritic(self.feature_dim, s.hidden_width, s.hidden_layers) \
            if s.discrete_gripper else None
        self.amp = cfg.amp

    @property
    def device(self) -> torch.device:
        return self.state_mean.device

    # ---- observations ----------------------------------------------------------------------------------
    def set_state_normalization(self, states) -> None:
        """Fix the state normalisation from prior data (e.g. the demos); saved with the weights."""
        s = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        self.state_mean.copy_(s.mean(0))
        self.state_std.copy_(s.std(0).clamp_min(STATE_STD_FLOOR) if len(s) > 1 else torch.ones_like(s[0]))

    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        state = (obs["state"].float() - self.state_mean) / self.state_std
        if self.encoder is None:
            return state
        return self.encoder({**obs, "state": state})

    def to_tensors(self, obs: dict) -> dict[str, torch.Tensor]:
        """One env observation (numpy, any numeric dtype) -> a batch of one on this device."""
        out = {}
        for k in self.obs_spec:
            v = np.asarray(obs[k])
            v = v if v.dtype == np.uint8 and k.startswith(IMAGE_PREFIX) else v.astype(np.float32, copy=False)
            out[k] = torch.as_tensor(v)[None].to(self.device)
        return out

    # ---- acting ----------------------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    @torch.no_grad()
    def act(self, obs: dict, deterministic: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        """Action for one env observation, float32 (hybrid: gripper index as float)."""
        if not isinstance(obs, dict):
            obs = {"state": obs}
        with self.autocast():
            x = self.encode(self.to_tensors(obs))
            a, _ = self.actor(x, deterministic=deterministic)
        a = a[0].float().cpu().numpy()
        if self.gripper_critic is None:
            return a.astype(np.float32)
        g = int(self.gripper_critic(x).argmax(-1)[0])
        if not deterministic and rng is not None and rng.random() < self.cfg.sac.gripper_epsilon:
            g = int(rng.integers(NUM_GRIPPER_ACTIONS))
        return np.concatenate([a, [float(g)]]).astype(np.float32)

    # ---- weights payload -------------------------------------------------------------------------------
    def payload(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """(tensors, metadata) an actor needs to rebuild this policy: the algorithm config and the obs spec."""
        tensors = {k: v.detach().float().cpu().numpy() for k, v in self.state_dict().items()}
        meta = {"algo_config": json.dumps(to_flat(self.cfg)), "obs_spec": json.dumps(spec_to_json(self.obs_spec)),
                "action_dim": str(self.action_dim)}
        return tensors, meta

    @classmethod
    def from_payload(cls, tensors: dict[str, np.ndarray], meta: dict[str, str],
                     device: str | torch.device = "cpu") -> "Policy":
        """The policy of a payload (:meth:`payload`); ``ValueError`` when the tensors do not fit."""
        try:
            from robot_rl.contract.params import build

            cfg = build(AlgoConfig, json.loads(meta["algo_config"]))
            spec = spec_from_json(json.loads(meta["obs_spec"]))
            action_dim = int(meta["action_dim"])
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"weights metadata lacks the policy's config or obs spec ({e})") from None
        cfg = from_dict(AlgoConfig, {**_asdict(cfg), "encoder": {**_asdict(cfg.encoder),
                                                                 "pretrained_weights_path": None}})
        p = cls(spec, action_dim, cfg).to(device)
        sd = {k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}
        missing, unexpected = p.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ValueError(f"weights do not fit the policy (missing {missing[:3]}, unexpected {unexpected[:3]})")
        return p.eval()


def _asdict(cfg) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)
