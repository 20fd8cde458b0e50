"""The actor behind ``actor_node``: runs episodes on any env of the learner's conventions (normally
:class:`robot_rl.envs.ros_env.RosArmEnv`, or :class:`robot_rl.envs.ros_quad_env.RosQuadEnv` for a quadrotor),
merges the human through the :class:`InterventionMux`, numbers and queues transitions in an :class:`Outbox`, and
swaps in new weights at a fixed step cadence (also mid-episode). With no weights yet it explores uniformly; with no learner it keeps acting on its last weights.
No rclpy here."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.params import param
from robot_rl.learning.policy import Policy
from robot_rl.runtime.delivery import Outbox
from robot_rl.runtime.intervention import InterventionMux
from robot_rl.runtime.wire import Transition, decode_weights


@dataclass(frozen=True)
class ActorConfig:
    actor_id: str = param("actor0", doc="this actor's id in transitions and acks")
    mode: str = param("policy", choices=("policy", "teleop"), doc="policy (+ human takeover) or teleop (demos)")
    weights_every_steps: int = param(10, ge=1, doc="look for new weights this often [env steps] (mid-episode too)")
    deterministic: bool = param(False, doc="act with the policy's mean")
    seed: int = param(0, ge=0, doc="seeds exploration")
    # every Nth episode (once weights have arrived) is an evaluation episode: the deterministic policy, announced
    # to listeners (a scripted human stands down); a real human's takeover still wins and marks it intervened.
    # Its transitions are streamed like any other. 0: never.
    eval_every_episodes: int = param(0, ge=0, doc="every Nth episode is a deterministic evaluation (0: never)")


class WeightsPolicy:
    """The policy of a weights payload (safetensors; the algorithm config and obs spec in its metadata): only the
    policy is built (no critics, no optimiser, no env)."""

    def __init__(self, payload: bytes, device: str = "cpu"):
        tensors, self.version, meta = decode_weights(payload)
        self.policy = Policy.from_payload(tensors, meta, device)
        # one inference now (torch's lazy first-call setup), so the first action on these weights is not slow
        dummy = {k: np.zeros(shape, dtype) for k, (shape, dtype) in self.policy.obs_spec.items()}
        self.policy.act(dummy, deterministic=True)

    def act(self, obs: dict, deterministic: bool, rng: np.random.Generator) -> np.ndarray:
        return self.policy.act(obs, deterministic=deterministic, rng=rng)


class ActorCore:
    def __init__(self, env, cfg: ActorConfig, mux: InterventionMux, outbox: Outbox, lock: threading.Lock | None = None,
                 clock=time.monotonic):
        self.env, self.cfg, self.mux, self.outbox = env, cfg, mux, outbox
        self.lock = lock or threading.Lock()
        self.clock = clock
        self.rng = np.random.default_rng(cfg.seed)
        self.policy: WeightsPolicy | None = None
        self._pending_weights: WeightsPolicy | None = None
        self.weights_version = -1
        self.weight_loads = 0
        self.episode = 0
        self.steps = 0
        self.on_step = None  # hook(decision, obs, next_obs, reward, info) e.g. a recorder
        self.on_episode_end = None  # hook(episode info dict) at the end of each episode
        self.on_episode_start = None  # hook({"episode", "eval"}) after the reset, before the first action
        self._evaluating = False

    def offer_weights(self, payload: bytes) -> None:
        """Called from the transport thread: the policy is decoded and built here, off the control loop, and
        swapped in at the next cadence point (so a weights update never delays an action). Raises
        ``ValueError`` (``WireError``) for weights that do not fit."""
        p = WeightsPolicy(payload)
        with self.lock:
            if self._pending_weights is None or p.version > self._pending_weights.version:
                self._pending_weights = p

    def _maybe_load_weights(self) -> None:
        with self.lock:
            p, self._pending_weights = self._pending_weights, None
        if p is not None and p.version > self.weights_version:
            self.policy, self.weights_version = p, p.version
            self.weight_loads += 1

    def policy_action(self, obs) -> np.ndarray:
        if self.cfg.mode == "teleop":  # no human input: hold still (the env's own idea of it, else the arm's)
            hold = getattr(self.env, "hold_action", None)
            return hold() if hold is not None else np.array([0, 0, 0, 0, 0, 0, -1], np.float32)
        if self.policy is None:
            n = self.env.action_space.shape[0] if getattr(self.env, "action_space", None) is not None else 7
            return self.rng.uniform(-1.0, 1.0, n).astype(np.float32)
        return self.policy.act(obs, self.cfg.deterministic or self._evaluating, self.rng)

    def is_eval_episode(self, episode: int) -> bool:
        n = self.cfg.eval_every_episodes
        return self.cfg.mode == "policy" and n > 0 and episode % n == 0 and self.policy is not None

    def run_episode(self, stop: threading.Event | None = None) -> dict:
        obs, _ = self.env.reset()
        with self.lock:
            self.mux.reset()
        self.episode += 1
        self._maybe_load_weights()  # an evaluation episode scores the newest weights from its first step
        self._evaluating = self.is_eval_episode(self.episode)
        if self.on_episode_start is not None:
            self.on_episode_start({"episode": self.episode, "eval": self._evaluating})
        ret, success, human_steps, n = 0.0, False, 0, 0
        while stop is None or not stop.is_set():
            if self.steps % self.cfg.weights_every_steps == 0:
                self._maybe_load_weights()
            a = self.policy_action(obs)
            with self.lock:
                d = self.mux.decide(a, self.clock())
            if self.cfg.mode == "teleop" and not d.intervened:
                d.intervened = True  # in teleop mode every executed action is the human's (zero = hold still)
            next_obs, reward, term, trunc, info = self.env.step(d.action)
            if d.label == "success":
                reward, term, info = 1.0, True, {**info, "success": True}
            elif d.label == "fail":
                trunc = True
            success = success or bool(info.get("success"))
            t = Transition(obs, d.action, float(reward), next_obs, bool(term), bool(trunc), intervened=d.intervened,
                           takeover_started=d.takeover_started, success=bool(info.get("success")), episode=self.episode)
            with self.lock:  # the node's timer thread sends, acks and trims the same outbox (and its spool)
                self.outbox.add(t)
            if self.on_step is not None:
                self.on_step(d, obs, next_obs, reward, info)
            obs = next_obs
            ret += reward
            n += 1
            self.steps += 1
            human_steps += int(d.intervened)
            if term or trunc:
                break
        out = {"episode": self.episode, "success": success, "return": ret, "steps": n, "intervened_steps": human_steps,
               "weights_version": self.weights_version, "eval": self._evaluating}
        self._evaluating = False
        if self.on_episode_end is not None:
            self.on_episode_end(out)
        return out
