"""The in-process training loop, for any gymnasium env: demos into the prior buffer (a file, a registered scripted
expert, or none), online data collection, the algorithm's update-to-data loop (:meth:`SAC.update_block`), periodic
evaluation, logging (TensorBoard, or CSV without it), a learning-curve PNG and atomic checkpoints that ``resume``
continues exactly.

From Python::

    trainer = Trainer(cfg, "runs/x", env=gym.make("Pendulum-v1"), demos="demos.npz")
    summary = trainer.run()

``env`` may be an env or a zero-argument factory (a factory also builds the evaluation env); without it the env is
``cfg.env`` (a gymnasium id or a registered source) or the registered source ``cfg.task`` (the twin tasks).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from robot_rl.envs.sources import EnvSourceError, adapt, get_source, open_env, success_of
from robot_rl.envs.wrappers import DiscreteGripper, to_discrete_gripper
from robot_rl.io import atomic_write_bytes
from robot_rl.learning.checkpoint import CheckpointError, read_checkpoint, restore_training, save_training
from robot_rl.learning.config import TrainConfig, algo_of, from_dict
from robot_rl.learning.mixer import DataMixer
from robot_rl.learning.replay import ReplayBuffer, TransitionRouter, obs_spec_of
from robot_rl.learning.sac import SAC, pick_device
from robot_rl.loops.demos import DEMO_SEED_OFFSET, HybridDemoActions, collect_expert_demos, load_demo_file  # noqa: F401
from robot_rl.loops.logs import ScalarLogger, plot_curves
from robot_rl.runtime.intervention import ExpertTakeover

EVAL_SEED_OFFSET = 1_000_000  # eval episodes use seeds disjoint from training episodes and demos
DEFAULT_EPISODE_STEPS = 1000  # sizing the prior buffer when an env does not say its episode length


def make_env(cfg: TrainConfig):
    """The env of a config, as the learner sees it (Dict obs, actions in [-1, 1], hybrid gripper if asked)."""
    name = cfg.env or cfg.task
    registered = get_source(name) is not None  # a registered source takes these options; gym.make none
    options = {"cameras": tuple(cfg.cameras) if cfg.pixels else (), "reward": cfg.reward} if registered else {}
    env = open_env(name, **options)
    return DiscreteGripper(env) if cfg.sac.discrete_gripper else env


def evaluate(policy, env, episodes: int, seed: int = 0) -> dict:
    """Deterministic rollouts on fixed seeds; ``policy(obs) -> action``. Mean return, and the success rate when
    the env reports success (``info["success"]`` / ``info["is_success"]``; else None)."""
    successes, returns, reported = 0, [], False
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED_OFFSET + seed * 1000 + i)
        ret, success = 0.0, False
        while True:
            obs, r, term, trunc, info = env.step(policy(obs))
            ret += float(r)
            s = success_of(info)
            reported = reported or s is not None
            success = success or bool(s)
            if term or trunc:
                break
        successes += success
        returns.append(ret)
    return {"success_rate": successes / max(episodes, 1) if reported else None,
            "mean_return": float(np.mean(returns))}


def episode_steps_of(env) -> int:
    spec = getattr(env, "spec", None)
    return int(getattr(spec, "max_episode_steps", None) or DEFAULT_EPISODE_STEPS)


class Trainer:
    """Owns the env, the algorithm, the two buffers and the counters; ``run`` trains to ``total_env_steps``."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: bool = True,
                 buffer_capacities: tuple[int, int] | None = None, env=None, eval_env=None, demos=None,
                 expert=None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.device = pick_device(cfg.device)
        self.env, self.eval_env = self._envs(env, eval_env)
        spec = obs_spec_of(self.env.observation_space)
        cams = [k for k in spec if k.startswith("images/")]
        if cfg.pixels and not cams:
            raise EnvSourceError(f"{cfg.env or cfg.task}: pixels asked for but the env has no images/<camera> "
                                 f"observations (keys: {', '.join(spec)})")
        self.spec = spec if cfg.pixels else {"state": spec["state"]}
        self.action_dim = self.env.action_space.shape[0]
        rc = cfg.replay
        self.demos, self.expert = demos, expert
        n_demo = cfg.num_demos * episode_steps_of(self.env) if demos is None and not cfg.demo_path else 0
        # sized for this run's budget (a resumed run keeps the capacities it was started with)
        online_cap, prior_cap = buffer_capacities or (
            min(rc.capacity_transitions, cfg.total_env_steps + 1),
            min(rc.capacity_transitions, n_demo + cfg.total_env_steps // 10 + 1) + self._demo_file_size())
        self.online = ReplayBuffer(self.spec, self.action_dim, online_cap, rc.extra_frame_fraction, self.device)
        self.prior = ReplayBuffer(self.spec, self.action_dim, prior_cap, rc.extra_frame_fraction, self.device)
        self.router = TransitionRouter(self.online, self.prior, rlif=cfg.rlif, takeover_reward=cfg.rlif_takeover_reward)
        self.mixer = DataMixer.of(self.online, self.prior, cfg)
        self.agent = SAC(self.spec, self.action_dim, algo_of(cfg), device=self.device)
        self.step = 0
        self.episodes = 0
        self.updates = 0
        self.history: list[dict] = []  # eval results
        self.wall_s = 0.0
        self.demo_info: dict = {}
        # in-process interventions: a scripted human (the registered expert) takes over at random
        self.takeover = ExpertTakeover(self._human, cfg.intervention_prob_per_step, cfg.intervention_steps) \
            if cfg.intervention_prob_per_step > 0 else None

    def _envs(self, env, eval_env):
        if env is None:
            return make_env(self.cfg), make_env(self.cfg)
        if callable(env) and not hasattr(env, "step"):
            return self._adapt(env()), self._adapt(eval_env() if callable(eval_env) else eval_env or env())
        return self._adapt(env), self._adapt(eval_env) if eval_env is not None else None

    def _adapt(self, env):
        if isinstance(env, DiscreteGripper) or getattr(env, "_robot_rl_adapted", False):
            return env
        env = adapt(env, getattr(getattr(env, "spec", None), "id", None) or type(env).__name__)
        env._robot_rl_adapted = True
        return DiscreteGripper(env) if self.cfg.sac.discrete_gripper else env

    def _demo_file_size(self) -> int:
        path = self.demos if isinstance(self.demos, (str, Path)) else self.cfg.demo_path if self.demos is None else ""
        if not path:
            return 0
        from robot_rl.loops.demos import DemoError

        try:
            with np.load(path, allow_pickle=False) as z:
                return int(z["counters"][1]) if "counters" in z.files else int(z["reward"].shape[0])
        except (OSError, ValueError, KeyError) as e:
            raise DemoError(f"demo file {path}: cannot read it ({type(e).__name__}: {e})") from None

    # ---- persistence ---------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoint"

    def save(self) -> Path:
        meta = {"step": self.step, "episodes": self.episodes, "updates": self.updates, "history": self.history,
                "wall_s": self.wall_s, "demo_info": self.demo_info, "config": dataclasses.asdict(self.cfg),
                "numpy_rng": self.rng.bit_generator.state,
                "buffer_capacities": [self.online.capacity, self.prior.capacity]}
        return save_training(self.checkpoint_dir, self.agent, {"online": self.online, "prior": self.prior}, meta)

    @classmethod
    def resume(cls, out_dir: str | Path, progress: bool = True, total_env_steps: int | None = None,
               **env_kwargs) -> "Trainer":
        meta = read_checkpoint(Path(out_dir) / "checkpoint")["meta"]
        try:
            cfg = from_dict(TrainConfig, meta["config"])
            caps = tuple(int(c) for c in meta["buffer_capacities"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{out_dir}: checkpoint config or buffer capacities unreadable ({e})") from None
        if total_env_steps is not None:
            cfg = dataclasses.replace(cfg, total_env_steps=total_env_steps)
        t = cls(cfg, out_dir, progress, buffer_capacities=caps, demos=lambda buf: {}, **env_kwargs)
        meta = restore_training(t.checkpoint_dir, t.agent, {"online": t.online, "prior": t.prior}, str(out_dir))
        try:
            t.rng.bit_generator.state = meta["numpy_rng"]
            t.step, t.episodes, t.updates = int(meta["step"]), int(meta["episodes"]), int(meta["updates"])
            t.history, t.wall_s, t.demo_info = meta["history"], float(meta["wall_s"]), meta["demo_info"]
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{out_dir}: checkpoint meta unreadable ({e})") from None
        return t

    # ---- the scripted human (an expert, when the env source registers one) ---------------------------------
    def policy(self, deterministic: bool):
        return lambda obs: self.agent.act(obs, deterministic=deterministic, rng=self.rng)

    def _human(self):
        if self.expert is None:
            src = get_source(self.cfg.env or self.cfg.task)
            if src is None or src.make_expert is None:
                raise EnvSourceError(f"{self.cfg.env or self.cfg.task}: no scripted expert is registered for this env "
                                     f"(needed for expert demos or scripted interventions)")
            self.expert = src.make_expert(self._base_env(), noise_std=self.cfg.demo_noise_std, seed=self.cfg.seed)
        return self.expert

    def _base_env(self):
        """The env the expert acts in: the learner's env without the hybrid gripper wrapper."""
        return self.env.env if isinstance(self.env, DiscreteGripper) else self.env

    def _human_action(self, a) -> np.ndarray:
        """A human's action (the env's convention) in the agent's action convention (hybrid: gripper index)."""
        if self.cfg.sac.discrete_gripper:
            g = to_discrete_gripper(self.env.command, float(a[-1]))
            a = np.concatenate([a[:-1], [float(g)]]).astype(np.float32)
        return a

    def random_action(self) -> np.ndarray:
        a = self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
        if self.cfg.sac.discrete_gripper:
            a[-1] = float(self.rng.integers(3))
        return a

    def _load_demos(self) -> dict:
        cfg, d = self.cfg, self.demos
        if callable(d):
            return d(self.prior)
        if d is not None or cfg.demo_path:
            return load_demo_file(d if d is not None else cfg.demo_path, self.prior)
        if cfg.num_demos <= 0:
            return {}
        to_stored = HybridDemoActions() if cfg.sac.discrete_gripper else None
        return collect_expert_demos(self._base_env(), self._human(), self.prior, cfg.num_demos, cfg.seed, to_stored)

    def prepare(self) -> None:
        """Demos into the prior buffer and the state normalisation from them (fresh runs only)."""
        if self.step == 0 and len(self.prior) == 0:
            self.demo_info = self._load_demos()
            n = min(self.prior.frames_written, self.prior.frame_capacity)
            if n:
                self.agent.set_state_normalization(self.prior.frames["state"][:n].cpu().numpy())

    def run(self, on_eval=None) -> dict:
        cfg = self.cfg
        self.prepare()
        logger = ScalarLogger(self.out)
        self.log_kind, self.log_path = logger.kind, logger.path
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.total_env_steps, initial=self.step, unit="step", dynamic_ncols=True)
        obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
        ep_ret, ep_len, ep_success = 0.0, 0, None
        next_eval = (self.step // cfg.eval_every_env_steps + 1) * cfg.eval_every_env_steps
        next_ckpt = (self.step // cfg.checkpoint_every_env_steps + 1) * cfg.checkpoint_every_env_steps
        next_log = self.step + cfg.log_every_env_steps
        metrics: dict = {}
        t0 = time.perf_counter()
        stop = False
        if self.step == 0 and not self.history:
            stop, obs = self._eval_and_continue(logger, bar, on_eval, obs)
        if self.takeover is not None:
            self.takeover.reset()
        while self.step < cfg.total_env_steps and not stop:
            h, takeover_started = self.takeover.decide(obs, self.rng) if self.takeover is not None else (None, False)
            human = h is not None
            if human:
                action = self._human_action(h)
            elif self.step < cfg.random_action_steps:
                action = self.random_action()
            else:
                action = self.agent.act(obs, deterministic=False, rng=self.rng)
            next_obs, reward, term, trunc, info = self.env.step(action)
            reward = self.router.add(obs, action, reward, next_obs, term, trunc, intervened=human,
                                     takeover_started=takeover_started)
            obs = next_obs
            ep_ret += float(reward)
            ep_len += 1
            s = success_of(info)
            ep_success = s if ep_success is None else ep_success or bool(s)
            self.step += 1
            if self.step >= cfg.start_training_after_steps:
                metrics = self.agent.update_block(self.mixer)
                self.updates += cfg.utd_ratio
            if bar is not None:
                bar.update(1)
            episode_over = term or trunc
            if episode_over:
                self.episodes += 1
                logger.log(self.step, {"train/episode_return": ep_ret, "train/episode_length": ep_len,
                                       "train/success": None if ep_success is None else float(ep_success)})
                obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
                ep_ret, ep_len, ep_success = 0.0, 0, None
                if self.takeover is not None:
                    self.takeover.reset()
            if self.step >= next_log and metrics:
                logger.log(self.step, {f"train/{k}": float(v) for k, v in metrics.items()})
                next_log += cfg.log_every_env_steps
            if self.step >= next_eval:
                self.wall_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                stop, obs2 = self._eval_and_continue(logger, bar, on_eval, obs)
                if obs2 is not obs:  # evaluated on the training env: a fresh episode follows
                    obs, ep_ret, ep_len, ep_success, episode_over = obs2, 0.0, 0, None, True
                    if self.takeover is not None:
                        self.takeover.reset()
                next_eval += cfg.eval_every_env_steps
                if stop:  # the caller's condition (e.g. a benchmark reaching its threshold)
                    break
            # checkpoints at episode boundaries, so a resumed run starts a fresh episode exactly as this one would
            if episode_over and self.step >= next_ckpt:
                self.wall_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                self.save()
                next_ckpt += cfg.checkpoint_every_env_steps
        self.wall_s += time.perf_counter() - t0
        if not self.history or self.history[-1]["step"] != self.step:
            self._eval_and_continue(logger, bar, on_eval, obs)
        if bar is not None:
            bar.close()
        self.save()
        logger.close()
        self._plot()
        summary = self.summary()
        atomic_write_bytes(self.out / "summary.json", json.dumps(summary, indent=1).encode())
        return summary

    def _plot(self) -> None:
        cfg = self.cfg
        success = self.history and self.history[-1]["success_rate"] is not None
        key, label = ("success_rate", "eval success rate") if success else ("mean_return", "eval mean return")
        plot_curves(self.out / "learning_curve.png",
                    {f"ours seed {cfg.seed}": [(h["step"], h[key]) for h in self.history]},
                    f"{self.name}: {label} ({'pixels' if cfg.pixels else 'state'}, demos {self.demo_info.get('demo_transitions', 0)} "
                    f"transitions, UTD {cfg.utd_ratio})", ylabel=label, target=0.9 if success else None)

    @property
    def name(self) -> str:
        return self.cfg.env or self.cfg.task

    def _eval_and_continue(self, logger, bar, on_eval, obs):
        """Evaluate and log; returns (whether ``on_eval`` asks to stop, the training observation to go on from:
        a fresh reset when the evaluation used the training env)."""
        env = self.eval_env if self.eval_env is not None else self.env
        res = evaluate(self.policy(deterministic=True), env, self.cfg.eval_episodes, self.cfg.seed)
        res["step"] = self.step
        res["wall_s"] = round(self.wall_s, 2)
        self.history.append(res)
        logger.log(self.step, {"eval/success_rate": res["success_rate"], "eval/mean_return": res["mean_return"]})
        if bar is not None:
            bar.set_postfix(eval_success=res["success_rate"], ret=f"{res['mean_return']:.2f}")
        if self.eval_env is None:
            obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
        stop = bool(on_eval(res)) if on_eval is not None else False
        return stop, obs

    def curve(self, key: str = "success_rate") -> list[tuple[int, float]]:
        return [(h["step"], h[key]) for h in self.history if h[key] is not None]

    def summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        return {
            "task": self.name, "env": self.cfg.env, "preset": self.cfg.preset, "seed": self.cfg.seed,
            "pixels": self.cfg.pixels, "env_steps": self.step, "updates": self.updates, "utd_ratio": self.cfg.utd_ratio,
            "num_critics": self.cfg.sac.num_critics, "demos": self.demo_info,
            "final_eval_success_rate": last.get("success_rate"), "final_eval_mean_return": last.get("mean_return"),
            "steps_to_90pct": steps_to_threshold(self.curve(), 0.9), "wall_s": round(self.wall_s, 1),
            "device": str(self.device), "log": {"kind": getattr(self, "log_kind", None), "path": str(getattr(self, "log_path", ""))},
            "history": self.history,
        }


def steps_to_threshold(curve: list[tuple[int, float]], threshold: float) -> int | None:
    for step, value in curve:
        if value is not None and value >= threshold:
            return int(step)
    return None
