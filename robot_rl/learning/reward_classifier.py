"""A learned success detector (HIL-SERL's reward classifier): a binary classifier on observations (state, or
cameras + state through the same pixel encoder as the agent), whose decision threshold is picked from
held-out precision rather than tuned by hand, and a wrapper that makes it the env's reward."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.learning.config import EncoderConfig
from robot_rl.learning.networks import PixelEncoder, mlp, random_shift


@dataclass(frozen=True)
class ClassifierConfig:
    hidden_width: int = 128
    hidden_layers: int = 2
    lr: float = 3e-4
    epochs: int = 50
    batch_size: int = 64
    held_out_fraction: float = 0.25  # frames kept aside to pick the threshold
    min_precision: float = 0.95  # the threshold is the lowest score reaching this held-out precision
    seed: int = 0


def select_threshold(scores: np.ndarray, labels: np.ndarray, min_precision: float) -> float:
    """The lowest threshold ``t`` (predict success when ``score >= t``) whose precision on these held-out
    scores is at least ``min_precision`` — the most recall the precision budget allows. If no threshold
    reaches it, one above every score (the classifier then never fires: a false success is the costly error)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    predicted = np.arange(1, len(s) + 1)
    precision = tp / predicted
    best = None
    for i in range(len(s)):
        # a threshold equal to s[i] predicts every score >= s[i]: take the last of a run of ties
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue
        if precision[i] >= min_precision and tp[i] > 0:
            best = s[i]
    return float(best) if best is not None else float(np.nextafter(s.max(), np.inf)) if len(s) else float("inf")


class RewardClassifier(nn.Module):
    def __init__(self, state_dim: int, cfg: ClassifierConfig, cameras: tuple[str, ...] = (),
                 encoder_cfg: EncoderConfig | None = None, image_size_px: int = 128):
        super().__init__()
        self.cfg = cfg
        self.cameras = tuple(cameras)
        self.encoder_cfg = encoder_cfg or EncoderConfig()
        self.encoder = PixelEncoder(self.cameras, state_dim, self.encoder_cfg, image_size_px) if cameras else None
        in_dim = self.encoder.out_dim if cameras else state_dim
        self.head = mlp(in_dim, cfg.hidden_width, cfg.hidden_layers, 1)
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def logits(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        state = (obs["state"] - self.state_mean) / self.state_std
        x = self.encoder({**obs, "state": state}) if self.encoder is not None else state
        return self.head(x).squeeze(-1)

    def probability(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.sigmoid(self.logits(obs))

    @torch.no_grad()
    def is_success(self, obs: dict[str, np.ndarray]) -> bool:
        t = {k: torch.as_tensor(np.asarray(v))[None] for k, v in obs.items() if k == "state" or k.startswith("images/")}
        return bool(self.probability(t)[0] >= self.threshold)

    def fit(self, obs: dict[str, np.ndarray], labels: np.ndarray) -> dict:
        """Train on labelled frames (``obs``: key -> array with a leading frame axis) and pick the threshold
        from the held-out part. Returns held-out precision / recall at that threshold."""
        cfg = self.cfg
        rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        labels = np.asarray(labels, dtype=np.float32)
        n = len(labels)
        perm = rng.permutation(n)
        n_val = max(1, int(round(n * cfg.held_out_fraction)))
        val, train = perm[:n_val], perm[n_val:]
        data = {k: torch.as_tensor(np.asarray(v)) for k, v in obs.items()}
        y = torch.as_tensor(labels)
        s = data["state"][train].float()
        self.state_mean.copy_(s.mean(0))
        self.state_std.copy_(s.std(0).clamp_min(0.1) if len(s) > 1 else torch.ones_like(s[0]))
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        pos_weight = ((len(train) - y[train].sum()).clamp_min(1) / y[train].sum().clamp_min(1)).detach()
        pad = self.encoder_cfg.augment_pad_px
        for _ in range(cfg.epochs):
            order = torch.as_tensor(rng.permutation(train))
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                batch = {k: (random_shift(v[idx], pad) if k.startswith("images/") else v[idx]) for k, v in data.items()}
                loss = F.binary_cross_entropy_with_logits(self.logits(batch), y[idx], pos_weight=pos_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        with torch.no_grad():
            p_val = self.probability({k: v[val] for k, v in data.items()}).numpy()
        thr = select_threshold(p_val, labels[val], cfg.min_precision)
        self.threshold.fill_(thr)
        pred = p_val >= thr
        tp = float((pred & (labels[val] > 0.5)).sum())
        return {"threshold": thr, "held_out": int(n_val), "held_out_precision": tp / max(pred.sum(), 1),
                "held_out_recall": tp / max((labels[val] > 0.5).sum(), 1)}


class ClassifierReward(gym.Wrapper):
    """The env's reward becomes the classifier's verdict (1 on detected success, which ends the episode); the
    env's own success stays in ``info['task_success']`` for evaluation."""

    def __init__(self, env: gym.Env, classifier: RewardClassifier, terminate_on_success: bool = True):
        super().__init__(env)
        self.classifier = classifier
        self.terminate_on_success = terminate_on_success

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        success = self.classifier.is_success(obs)
        info = {**info, "task_success": info.get("success"), "success": success}
        return obs, float(success), bool(terminated or (success and self.terminate_on_success)), truncated, info
