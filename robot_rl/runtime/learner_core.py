"""The learner behind ``learner_node``: takes transitions from any number of actors (exactly once each, see
:mod:`robot_rl.runtime.delivery`), routes them HIL-SERL-style (interventions also into the prior buffer), trains the
RLPD/SAC agent of :mod:`robot_rl.learning` at a bounded update-to-data ratio, exports the actor's weights, and
checkpoints everything (networks, optimiser, both buffers, per-actor received counters, episode statistics).
A learner restarted on the same ``out_dir`` resumes from the newest intact checkpoint generation (two are kept:
one killed mid-write or damaged falls back to the one before); the actors keep and re-send whatever is not in both
generations, so nothing is lost. No rclpy here."""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robot_rl.contract.params import param
from robot_rl.io import atomic_write_bytes
from robot_rl.learning.checkpoint import has_checkpoint, restore_newest, save_rotating
from robot_rl.learning.config import AlgoConfig, algo_of
from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter
from robot_rl.learning.mixer import DataMixer
from robot_rl.learning.replay import obs_spec_of
from robot_rl.learning.sac import SAC, pick_device
from robot_rl.runtime.delivery import Inbox
from robot_rl.runtime.wire import Transition

CHECKPOINT = "checkpoint"
STATS = "stats.json"


@dataclass(frozen=True)
class LearnerConfig(AlgoConfig):
    """The ROS learner: the algorithm (:class:`AlgoConfig`, same defaults as ``robot-rl train``) + its data."""

    task: str = param("reach", doc="registered env source whose observation layout (and expert) the robot has")
    seed: int = param(0, ge=0, doc="seeds torch and the batch sampling")
    cameras: tuple[str, ...] = param((), doc="image keys the agent uses (state-only when empty)")
    image_size_px: int = param(128, ge=8, doc="camera image side [px]")
    num_demos: int = param(10, ge=0, doc="scripted demos collected in-process on a fresh start (0: none)")
    demo_noise_std: float = param(0.1, ge=0.0, doc="action noise of the scripted expert")
    prior_buffer_path: str = param("", doc="prior buffer npz (robot-rl record-demos) loaded on a fresh start")


class LearnerCore:
    def __init__(self, cfg: LearnerConfig, out_dir: str | Path):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        env = self._source_env()
        self.spec = obs_spec_of(env.observation_space)
        self.state_dim = self.spec["state"][0][0]
        self.action_dim = int(env.action_space.shape[0])
        self.agent = SAC(self.spec, self.action_dim, algo_of(cfg), device=self.device)
        # flagged buffers: which stored transitions were the human's (demos loaded from a file keep their flags)
        cap = cfg.replay.capacity_transitions
        self.online = FlaggedReplayBuffer(self.spec, self.action_dim, cap, cfg.replay.extra_frame_fraction, self.device)
        self.prior = FlaggedReplayBuffer(self.spec, self.action_dim, cap, cfg.replay.extra_frame_fraction, self.device)
        self.router = FlaggedRouter(self.online, self.prior)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(cfg.seed)
        self.mixer = DataMixer.of(self.online, self.prior, cfg, self.gen)
        self.inbox = Inbox()
        self.persisted: dict[str, int] = {}
        self._received_at_last_checkpoint: dict[str, int] = {}
        self.resumed_from = None
        self.updates = 0
        self.online_received = 0
        self.interventions = 0
        self.episodes: list[dict] = []  # one entry per finished episode
        self._open_eps: dict[tuple[str, int], dict] = {}
        self.resumed = False
        self.skipped_checkpoints: list[str] = []  # damaged generations passed over on resume (one line each)
        if has_checkpoint(self.out / CHECKPOINT):
            self._resume()
        else:
            self._prepare_prior(env)
        env.close()

    def _source_env(self):
        """The task's env from the source registry: its spaces are the robot's (and it hosts the expert)."""
        from robot_rl.envs.sources import open_env

        c = self.cfg
        return open_env(c.task, cameras=tuple(c.cameras), image_size_px=c.image_size_px)

    # ---- start ---------------------------------------------------------------------------------------------
    def _prepare_prior(self, env) -> None:
        c = self.cfg
        if c.prior_buffer_path:
            from robot_rl.loops.demos import load_demo_file

            load_demo_file(c.prior_buffer_path, self.prior)
        elif c.num_demos > 0:
            from robot_rl.envs.sources import get_source
            from robot_rl.loops.demos import HybridDemoActions, collect_expert_demos

            expert = get_source(c.task).make_expert(env, noise_std=c.demo_noise_std, seed=c.seed)
            to_stored = HybridDemoActions() if c.sac.discrete_gripper else None  # the hybrid action's gripper index
            collect_expert_demos(env, expert, self.prior, c.num_demos, c.seed, to_stored)
        n = min(self.prior.frames_written, self.prior.frame_capacity)
        if n > 1:
            self.agent.set_state_normalization(self.prior.frames["state"][:n].cpu().numpy())

    def _resume(self) -> None:
        meta, self.resumed_from = restore_newest(self.out / CHECKPOINT, self.agent,
                                                 {"online": self.online, "prior": self.prior}, f"{self.out}",
                                                 on_skip=self.skipped_checkpoints.append)
        try:
            self.inbox = Inbox({k: int(v) for k, v in meta["received"].items()})
            # acknowledged as persisted: what the generation before this one held (module docstring)
            self._received_at_last_checkpoint = dict(self.inbox.received)
            self.persisted = {k: int(v) for k, v in meta.get("received_prev", meta["received"]).items()}
            self.updates = int(meta["updates"])
            self.online_received = int(meta["online_received"])
            self.interventions = int(meta["interventions"])
            self.episodes = list(meta["episodes"])
            self._open_eps = {(a, int(e)): v for a, e, v in meta["open_episodes"]}
        except (KeyError, ValueError, TypeError) as e:
            from robot_rl.learning.checkpoint import CheckpointError

            raise CheckpointError(f"{self.out}: checkpoint meta does not match this learner ({e})") from None
        self.resumed = True

    # ---- data ----------------------------------------------------------------------------------------------
    def transition_problem(self, t: Transition) -> tuple[str, str] | None:
        """``(cause, detail)`` if ``t`` does not fit this learner (keys, shapes, non-finite values, an action
        outside [-1, 1]): it must never reach the replay. None if it fits."""
        for side in (t.obs, t.next_obs):
            for k, (shape, *_) in self.spec.items():
                v = side.get(k)
                if v is None or tuple(np.shape(v)) != tuple(shape):
                    return "transition: observation does not fit", f"{k} {None if v is None else np.shape(v)}, " \
                                                                   f"expected {tuple(shape)}"
                if np.asarray(v).dtype.kind == "f" and not np.all(np.isfinite(v)):
                    return "transition: observation not finite", k
        a = np.asarray(t.action, float)
        if a.shape != (self.action_dim,) or not np.all(np.isfinite(a)) or np.abs(a).max(initial=0.0) > 1.0 + 1e-6:
            return "transition: action not in [-1, 1]^n", f"shape {a.shape}, expected ({self.action_dim},)"
        if not math.isfinite(float(t.reward)):
            return "transition: reward not finite", f"{t.reward!r}"
        return None

    def ingest(self, ts: list[Transition], on_reject=None) -> int:
        """Accept the next-in-sequence transitions of each actor; returns how many were new. One that does not
        fit (:meth:`transition_problem`) is refused before its sequence number counts: ``on_reject(cause,
        detail)``."""
        n = 0
        for t in ts:
            bad = self.transition_problem(t)
            if bad is not None:
                if on_reject is not None:
                    on_reject(*bad)
                continue
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
        """Up to ``max_updates`` gradient updates (whole UTD blocks of :meth:`SAC.update_block`, at least one),
        never more than ``utd_ratio`` per online transition received."""
        c = self.cfg
        if self.online_received < c.start_training_after_steps:
            return 0
        blocks = min(max(1, max_updates // c.utd_ratio), self.online_received - self.updates // c.utd_ratio)
        for _ in range(max(0, blocks)):
            self.agent.update_block(self.mixer)
            self.updates += c.utd_ratio
        return max(0, blocks) * c.utd_ratio

    # ---- outputs -------------------------------------------------------------------------------------------
    def actor_weights(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The policy's payload (tensors, metadata with the algorithm config and obs spec) plus the task."""
        tensors, meta = self.agent.policy.payload()
        return tensors, {**meta, "task": self.cfg.task}

    def acks(self) -> dict[str, tuple[int, int]]:
        return {a: (r, self.persisted.get(a, 0)) for a, r in self.inbox.received.items()}

    def checkpoint(self) -> Path:
        """Everything to disk, in two generations (:func:`save_rotating`). A transition counts as persisted (the
        actors may forget it) once it is in both: a damaged newest generation then loses updates, never data."""
        received = dict(self.inbox.received)
        before = self._received_at_last_checkpoint
        meta = {"received": received, "received_prev": before, "updates": self.updates, "online_received": self.online_received,
                "interventions": self.interventions, "episodes": self.episodes,
                "open_episodes": [[a, e, v] for (a, e), v in self._open_eps.items()],
                "config": dataclasses.asdict(self.cfg)}
        d = save_rotating(self.out / CHECKPOINT, self.agent, {"online": self.online, "prior": self.prior}, meta)
        self.persisted, self._received_at_last_checkpoint = before, received
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
