"""Replay storage that keeps HIL-SERL's per-transition flags: which stored transitions were a human's
(``intervened``) and on which the human took over (``takeover_started``).

:class:`robot_rl.learning.replay.ReplayBuffer` stores obs/action/reward/terminated only; the runtime needs to know,
after the fact, which prior-buffer transitions came from interventions (and which from demos), so
:class:`FlaggedReplayBuffer` adds two flag rings aligned with the transition ring, persisted with the buffer
(``npz`` / checkpoint arrays ``intervened`` and ``takeover_started``; files without them load as all-zero).
:class:`FlaggedRouter` is :class:`robot_rl.learning.replay.TransitionRouter` writing those flags: every transition
to the online buffer, human interventions also to the prior buffer, both with their flags. Sampling is
unchanged (the agent sees the same batches)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from robot_rl.learning.replay import ReplayBuffer, TransitionRouter

FLAG_KEYS = ("intervened", "takeover_started")


class FlaggedReplayBuffer(ReplayBuffer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.flags = {k: np.zeros(self.capacity, dtype=np.uint8) for k in FLAG_KEYS}

    def add(self, obs: dict, action, reward: float, next_obs: dict, terminated: bool, truncated: bool,
            intervened: bool = False, takeover_started: bool = False) -> None:
        i = self.transitions_written % self.capacity
        super().add(obs, action, reward, next_obs, terminated, truncated)
        self.flags["intervened"][i] = int(bool(intervened))
        self.flags["takeover_started"][i] = int(bool(takeover_started))

    def slots(self) -> np.ndarray:
        """Ring slots of the valid transitions, oldest first."""
        return np.arange(self.start, self.transitions_written, dtype=np.int64) % self.capacity

    def stored_flags(self, key: str = "intervened") -> np.ndarray:
        """The flag of every valid transition, oldest first (bool array, ``len(self)`` long)."""
        return self.flags[key][self.slots()].astype(bool)

    def stored_actions(self) -> np.ndarray:
        return self.actions[torch.as_tensor(self.slots())].cpu().numpy()

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrs = super().state_arrays()
        arrs.update({k: v.copy() for k, v in self.flags.items()})
        return arrs

    def load_arrays(self, arrs: dict[str, np.ndarray]) -> None:
        super().load_arrays(arrs)
        for k in FLAG_KEYS:
            v = arrs.get(k)
            self.flags[k][:] = 0
            if v is not None:  # a smaller saved buffer (never wrapped, checked by the base class) fills a prefix
                n = min(v.shape[0], self.capacity)
                self.flags[k][:n] = v[:n].astype(np.uint8)


@dataclass
class FlaggedRouter(TransitionRouter):
    """HIL-SERL routing with flags kept: the buffers must be :class:`FlaggedReplayBuffer`."""

    def _store(self, obs, action, reward, next_obs, terminated, truncated, intervened, takeover_started) -> None:
        self.online.add(obs, action, reward, next_obs, terminated, truncated, intervened=intervened,
                        takeover_started=takeover_started)
        if intervened:
            self.prior.add(obs, action, reward, next_obs, terminated, truncated, intervened=True,
                           takeover_started=takeover_started)
