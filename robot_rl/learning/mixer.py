"""The data mixer: where each training batch comes from. RLPD's symmetric sampling, ``online_fraction`` of every
batch from the online buffer and the rest from the prior buffer (demos + interventions), 50/50 by default
(:class:`robot_rl.learning.config.ReplayConfig`). Falls back to whichever buffer has data."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from robot_rl.learning.replay import ReplayBuffer, sample_mixed


@dataclass
class DataMixer:
    online: ReplayBuffer
    prior: ReplayBuffer
    batch_size: int
    online_fraction: float = 0.5
    generator: torch.Generator | None = None

    @classmethod
    def of(cls, online: ReplayBuffer, prior: ReplayBuffer, cfg, generator: torch.Generator | None = None):
        """A mixer from an :class:`~robot_rl.learning.config.AlgoConfig` (batch size and online fraction)."""
        return cls(online, prior, cfg.batch_size, cfg.replay.online_fraction, generator)

    def sample(self) -> dict:
        return sample_mixed(self.online, self.prior, self.batch_size, self.online_fraction, self.generator)
