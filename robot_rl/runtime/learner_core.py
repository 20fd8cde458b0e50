"""The learner behind ``learner_node``: takes transitions from any number of actors (exactly once each, see
:mod:`robot_rl.runtime.delivery`), routes them HIL-SERL-style (interventions also into the prior buffer), trains the
RLPD/SAC agent of :mod:`robot_rl.learning` at a bounded update-to-data ratio, exports the actor's weights, and
checkpoints everything (networks, optimiser, both buffers, per-actor received counters, episode statistics).
A learner restarted on the same ``out_dir`` resumes from that checkpoint; the actors re-send whatever came
after it, so nothing is lost. No rclpy here."""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robot_rl.learning.checkpoint import (CheckpointError, optimizer_from_tensors, read_checkpoint, restore_rng,
                                        save_checkpoint)
from robot_rl.learning.config import SACConfig
from robot_rl.learning.replay import sample_mixed
from robot_rl.learning.sac import SACAgent, pick_device
from robot_rl.runtime.delivery import Inbox
from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter
from robot_rl.io import atomic_write_bytes
from robot_rl.runtime.wire import Transition

CHECKPOINT = "checkpoint"
STATS = "stats.json"


@dataclass(frozen=True)
class LearnerConfig:
    task: str = "reach"
    seed: int = 0
    cameras: tuple[str, ...] = ()  # image keys the agent uses (state-only when empty)
    image_size_px: int = 128
    num_demos: int = 10  # scripted demos collected in an in-process twin on a fresh start (0: none)
    demo_noise_std: float = 0.1
    prior_buffer_path: str = ""  # a prior buffer written by `robot-rl record-demos` (npz), loaded on a fresh start
    capacity_transitions: int = 200_000
    batch_size: int = 256
    utd_ratio: int = 2  # at most this many updates per received online transition
    start_training_after: int = 100  # online transitions before the first update
    hidden_width: int = 256
    hidden_layers: int = 2
    num_critics: int = 10
    device: str = "auto"


class LearnerCore:
    def __init__(self, cfg: LearnerConfig, out_dir: str | Path):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        from robot_rl.envs.ros_env import state_dim_for

        self.state_dim = state_dim_for(cfg.task)
        self.action_dim = 7
        spec = {"state": ((self.state_dim,), np.dtype(np.float32))}
        for cam in cfg.cameras:
            spec[f"images/{cam}"] = ((cfg.image_size_px, cfg.image_size_px, 3), np.dtype(np.uint8))
        self.spec = spec
        self.sac_cfg = SACConfig(hidden_width=cfg.hidden_width, hidden_layers=cfg.hidden_layers,
                                 num_critics=cfg.num_critics)
        self.agent = SACAgent(self.state_dim, self.action_dim, self.sac_cfg, cameras=tuple(cfg.cameras),
                              image_size_px=cfg.image_size_px, device=self.device)
        # flagged buffers: which stored transitions were the human's (demos loaded from a file keep their flags)
        self.online = FlaggedReplayBuffer(spec, self.action_dim, cfg.capacity_transitions, device=self.device)
        self.prior = FlaggedReplayBuffer(spec, self.action_dim, cfg.capacity_transitions, device=self.device)
        self.router = FlaggedRouter(self.online, self.prior)
        self.inbox = Inbox()
        self.persisted: dict[str, int] = {}
        self.updates = 0
        self.online_received = 0
        self.interventions = 0
        self.episodes: list[dict] = []  # one entry per finished episode
        self._open_eps: dict[tuple[str, int], dict] = {}
        self.resumed = False
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(cfg.seed)
        if (self.out / CHECKPOINT / "meta.json").is_file():
            self._resume()
        else:
            self._prepare_prior()

    # ---- start ---------------------------------------------------------------------------------------------
    def _prepare_prior(self) -> None:
        c = self.cfg
        if c.prior_buffer_path:
            self.prior.load(c.prior_buffer_path)
        elif c.num_demos > 0:
            import robot_rl.sim  # noqa: F401
            from robot_rl.loops.trainer import collect_demos
            from robot_rl.sim.arm_env import TwinArmEnv

            env = TwinArmEnv(c.task, cameras=tuple(c.cameras), image_size_px=c.image_size_px)
            collect_demos(env, self.prior, c.num_demos, c.demo_noise_std, c.seed)
            env.close()
        n = min(self.prior.frames_written, self.prior.frame_capacity)
        if n > 1:
            self.agent.set_state_normalization(self.prior.frames["state"][:n].cpu().numpy())

    def _resume(self) -> None:
        ck = read_checkpoint(self.out / CHECKPOINT)
        meta = ck["meta"]
        try:
            self.agent.load_state_dict(ck["model"])
            optimizer_from_tensors(self.agent.optimizer, ck["optimizer"], meta["optimizer"])
            self.online.load_arrays(ck["buffers"]["online"])
            self.prior.load_arrays(ck["buffers"]["prior"])
            self.inbox = Inbox({k: int(v) for k, v in meta["received"].items()})
            self.persisted = dict(self.inbox.received)
            self.updates = int(meta["updates"])
            self.online_received = int(meta["online_received"])
            self.interventions = int(meta["interventions"])
            self.episodes = list(meta["episodes"])
            self._open_eps = {(a, int(e)): v for a, e, v in meta["open_episodes"]}
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{self.out}: checkpoint does not match this learner configuration ({e})") from None
        restore_rng(ck["rng"])
        self.resumed = True

    # ---- data ----------------------------------------------------------------------------------------------
    def ingest(self, ts: list[Transition]) -> int:
        """Accept the next-in-sequence transitions of each actor; returns how many were new."""
        n = 0
        for t in ts:
            if not self.inbox.accept(t):
                continue
            obs = {k: t.obs[k] for k in self.spec}
            nxt = {k: t.next_obs[k] for k in self.spec}
            self.router.add(obs, t.action, t.reward, nxt, t.terminated, t.truncated, intervened=t.intervened,
                            takeover_started=t.takeover_started)
            self.online_received += 1
            self.interventions += int(t.intervened)
            key = (t.actor_id, t.episode)
            ep = self._open_eps.setdefault(key, {"actor": t.actor_id, "episode": t.episode, "steps": 0,
                                                 "intervened_steps": 0, "success": False})
            ep["steps"] += 1
            ep["intervened_steps"] += int(t.intervened)
            ep["success"] = ep["success"] or t.success
            if t.terminated or t.truncated:
                ep["end_seq"] = t.seq
                ep["at_transition"] = self.online_received
                self.episodes.append(self._open_eps.pop(key))
            n += 1
        return n

    def train(self, max_updates: int) -> int:
        """Up to ``max_updates`` gradient updates, never more than ``utd_ratio`` per online transition."""
        c = self.cfg
        if self.online_received < c.start_training_after:
            return 0
        allowed = min(max_updates, c.utd_ratio * self.online_received - self.updates)
        for _ in range(max(0, allowed)):
            batch = sample_mixed(self.online, self.prior, c.batch_size, 0.5, self.gen)
            self.agent.update(batch, update_actor=True)
            self.updates += 1
        return max(0, allowed)

    # ---- outputs -------------------------------------------------------------------------------------------
    def actor_weights(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The tensors an actor needs to act (policy + state normalisation [+ encoder]) and its architecture."""
        sd = self.agent.state_dict()
        keep = {k: v.detach().float().cpu().numpy() for k, v in sd.items()
                if k.startswith(("actor.", "encoder.", "state_mean", "state_std"))}
        arch = {"task": self.cfg.task, "state_dim": str(self.state_dim), "action_dim": str(self.action_dim),
                "hidden_width": str(self.cfg.hidden_width), "hidden_layers": str(self.cfg.hidden_layers),
                "cameras": ",".join(self.cfg.cameras), "image_size_px": str(self.cfg.image_size_px)}
        return keep, arch

    def acks(self) -> dict[str, tuple[int, int]]:
        return {a: (r, self.persisted.get(a, 0)) for a, r in self.inbox.received.items()}

    def checkpoint(self) -> Path:
        """Everything to disk (atomic); afterwards what was received counts as persisted."""
        received = dict(self.inbox.received)
        meta = {"received": received, "updates": self.updates, "online_received": self.online_received,
                "interventions": self.interventions, "episodes": self.episodes,
                "open_episodes": [[a, e, v] for (a, e), v in self._open_eps.items()],
                "config": dataclasses.asdict(self.cfg)}
        d = save_checkpoint(self.out / CHECKPOINT, model=self.agent, optimizer=self.agent.optimizer,
                            buffers={"online": self.online, "prior": self.prior}, meta=meta)
        self.persisted = received
        atomic_write_bytes(self.out / STATS, json.dumps(self.stats(), indent=1).encode())
        return d

    def stats(self) -> dict:
        eps = self.episodes
        return {"time": time.time(), "online_transitions": self.online_received, "prior_transitions": len(self.prior),
                "prior_intervention_transitions": int(self.prior.stored_flags("intervened").sum()),
                "interventions": self.interventions, "updates": self.updates, "received": dict(self.inbox.received),
                "persisted": dict(self.persisted), "duplicates": self.inbox.duplicates, "gaps": self.inbox.gaps,
                "episodes": len(eps), "resumed": self.resumed, "episode_log": eps}


def success_rate(episodes: list[dict], policy_only: bool = False) -> float | None:
    eps = [e for e in episodes if not policy_only or e["intervened_steps"] == 0]
    return sum(e["success"] for e in eps) / len(eps) if eps else None
