"""The training loop in the twin: demos into the prior buffer, online data collection, RLPD updates at the
configured UTD, periodic evaluation, logging (TensorBoard, or CSV without it), a learning-curve PNG and atomic
checkpoints that ``resume`` continues exactly."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from robot_rl.learning.checkpoint import (CheckpointError, optimizer_from_tensors, read_checkpoint, restore_rng,
                                        save_checkpoint)
from robot_rl.learning.config import EncoderConfig, ReplayConfig, SACConfig, TrainConfig
from robot_rl.learning.replay import ReplayBuffer, TransitionRouter, obs_spec_of, sample_mixed
from robot_rl.learning.sac import SACAgent, pick_device
from robot_rl.envs.wrappers import DiscreteGripper, to_discrete_gripper
from robot_rl.io import atomic_write_bytes

EVAL_SEED_OFFSET = 1_000_000  # eval episodes use seeds disjoint from training episodes and demos
DEMO_SEED_OFFSET = 2_000_000


def make_env(cfg: TrainConfig):
    import robot_rl.sim  # noqa: F401  (registers the twin tasks)
    from robot_rl.sim.arm_env import TwinArmEnv

    env = TwinArmEnv(cfg.task, cameras=tuple(cfg.cameras) if cfg.pixels else (), reward=cfg.reward)
    return DiscreteGripper(env) if cfg.sac.discrete_gripper else env


def collect_demos(env, buffer: ReplayBuffer, episodes: int, noise_std: float, seed: int,
                  discrete_gripper: bool = False) -> dict:
    """Scripted-expert episodes into ``buffer`` (successful ones only, as a human would keep)."""
    from robot_rl.sim.experts import make_expert

    base = env.unwrapped
    expert = make_expert(base, noise_std=noise_std, seed=seed)
    kept, tried = 0, 0
    while kept < episodes and tried < 5 * max(episodes, 1):
        obs, _ = env.reset(seed=seed + DEMO_SEED_OFFSET + tried)
        expert.reset()
        tried += 1
        episode, prev_cmd, success = [], -1.0, False
        while True:
            a = expert.act(obs)
            stored = a
            if discrete_gripper:
                stored = np.concatenate([a[:6], [float(to_discrete_gripper(prev_cmd, float(a[6])))]]).astype(np.float32)
                prev_cmd = float(a[6]) if abs(a[6]) > 0 else prev_cmd
            next_obs, r, term, trunc, info = base.step(a)  # the expert acts in the env's own convention
            episode.append((obs, stored, r, next_obs, term, trunc))
            obs = next_obs
            success = success or info["success"]
            if term or trunc:
                break
        if success:
            for t in episode:
                buffer.add(*t)
            kept += 1
    return {"demos": kept, "demo_attempts": tried, "demo_transitions": len(buffer)}


def evaluate(policy, env, episodes: int, seed: int = 0) -> dict:
    """Deterministic rollouts on fixed seeds; ``policy(obs) -> action``. Success rate and mean return."""
    successes, returns = 0, []
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED_OFFSET + seed * 1000 + i)
        ret, success = 0.0, False
        while True:
            obs, r, term, trunc, info = env.step(policy(obs))
            ret += r
            success = success or info["success"]
            if term or trunc:
                break
        successes += success
        returns.append(ret)
    return {"success_rate": successes / max(episodes, 1), "mean_return": float(np.mean(returns))}


class ScalarLogger:
    """TensorBoard when it is importable, otherwise ``metrics.csv``; ``kind`` says which."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(directory / "tb"))
            self.kind = "tensorboard"
            self.path = directory / "tb"
        except ImportError:
            self._tb = None
            self.kind = "csv"
            self.path = directory / "metrics.csv"
            self._f = open(self.path, "a", newline="")
            self._csv = csv.writer(self._f)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            if self._tb is not None:
                self._tb.add_scalar(k, v, step)
            else:
                self._csv.writerow([step, k, v])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        else:
            self._f.close()


def plot_curves(path: Path, curves: dict[str, list[tuple[int, float]]], title: str, ylabel: str = "eval success rate",
                target: float | None = 0.9) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, pts in curves.items():
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", ms=3, label=label)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1)
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, bio.getvalue())


def config_to_json(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def config_from_json(d: dict) -> TrainConfig:
    d = dict(d)
    sac = SACConfig(**d.pop("sac"))
    enc = EncoderConfig(**d.pop("encoder"))
    rep = ReplayConfig(**d.pop("replay"))
    d["cameras"] = tuple(d["cameras"])
    return TrainConfig(**d, sac=sac, encoder=enc, replay=rep)


class Trainer:
    """Owns the env, the agent, the two buffers and the counters; ``run`` trains to ``total_env_steps``."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: bool = True,
                 buffer_capacities: tuple[int, int] | None = None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.device = pick_device(cfg.device)
        self.env = make_env(cfg)
        self.eval_env = make_env(cfg)
        spec = obs_spec_of(self.env.observation_space)
        self.action_dim = self.env.action_space.shape[0]
        rc = cfg.replay
        # sized for this run's budget (a resumed run keeps the capacities it was started with)
        online_cap, prior_cap = buffer_capacities or (
            min(rc.capacity_transitions, cfg.total_env_steps + 1),
            min(rc.capacity_transitions,
                cfg.num_demos * self.env.unwrapped.tcfg.episode_steps + cfg.total_env_steps // 10 + 1))
        self.online = ReplayBuffer(spec, self.action_dim, online_cap, rc.extra_frame_fraction, self.device)
        self.prior = ReplayBuffer(spec, self.action_dim, prior_cap, rc.extra_frame_fraction, self.device)
        self.router = TransitionRouter(self.online, self.prior, rlif=cfg.rlif, takeover_reward=cfg.rlif_takeover_reward)
        state_dim = spec["state"][0][0]
        self.agent = SACAgent(state_dim, self.action_dim, cfg.sac, cameras=tuple(cfg.cameras) if cfg.pixels else (),
                              encoder_cfg=cfg.encoder, image_size_px=self.env.unwrapped.cfg.image_size_px,
                              device=self.device, amp=cfg.amp, compile=cfg.compile)
        self.step = 0
        self.episodes = 0
        self.updates = 0
        self.history: list[dict] = []  # eval results
        self.wall_s = 0.0
        self.demo_info: dict = {}
        self._expert = None

    # ---- persistence ---------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoint"

    def save(self) -> Path:
        meta = {"step": self.step, "episodes": self.episodes, "updates": self.updates, "history": self.history,
                "wall_s": self.wall_s, "demo_info": self.demo_info, "config": config_to_json(self.cfg),
                "numpy_rng": self.rng.bit_generator.state,
                "buffer_capacities": [self.online.capacity, self.prior.capacity]}
        return save_checkpoint(self.checkpoint_dir, model=self.agent, optimizer=self.agent.optimizer,
                               buffers={"online": self.online, "prior": self.prior}, meta=meta)

    @classmethod
    def resume(cls, out_dir: str | Path, progress: bool = True, total_env_steps: int | None = None) -> "Trainer":
        ck = read_checkpoint(Path(out_dir) / "checkpoint")
        meta = ck["meta"]
        try:
            cfg = config_from_json(meta["config"])
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{out_dir}: checkpoint config unreadable ({e})") from None
        if total_env_steps is not None:
            cfg = dataclasses.replace(cfg, total_env_steps=total_env_steps)
        try:
            caps = tuple(int(c) for c in meta["buffer_capacities"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{out_dir}: checkpoint meta lacks buffer capacities ({e})") from None
        t = cls(cfg, out_dir, progress, buffer_capacities=caps)
        try:
            t.agent.load_state_dict(ck["model"])
            optimizer_from_tensors(t.agent.optimizer, ck["optimizer"], meta["optimizer"])
            t.online.load_arrays(ck["buffers"]["online"])
            t.prior.load_arrays(ck["buffers"]["prior"])
            t.rng.bit_generator.state = meta["numpy_rng"]
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{out_dir}: checkpoint does not match this configuration ({e})") from None
        restore_rng(ck["rng"])
        t.step, t.episodes, t.updates = int(meta["step"]), int(meta["episodes"]), int(meta["updates"])
        t.history, t.wall_s, t.demo_info = meta["history"], float(meta["wall_s"]), meta["demo_info"]
        return t

    # ---- loop ----------------------------------------------------------------------------------------------
    def policy(self, deterministic: bool):
        return lambda obs: self.agent.act(obs, deterministic=deterministic, rng=self.rng)

    def _human(self):
        if self._expert is None:
            from robot_rl.sim.experts import make_expert

            self._expert = make_expert(self.env.unwrapped, noise_std=self.cfg.demo_noise_std, seed=self.cfg.seed)
        return self._expert

    def _human_action(self, obs) -> np.ndarray:
        """The scripted human's action, in the agent's action convention (hybrid: gripper index)."""
        a = self._human().act(obs)
        if self.cfg.sac.discrete_gripper:
            g = to_discrete_gripper(self.env.command, float(a[6]))
            a = np.concatenate([a[:6], [float(g)]]).astype(np.float32)
        return a

    def random_action(self) -> np.ndarray:
        a = self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
        if self.cfg.sac.discrete_gripper:
            a[-1] = float(self.rng.integers(3))
        return a

    def prepare(self) -> None:
        """Demos into the prior buffer and the state normalisation from them (fresh runs only)."""
        if self.step == 0 and len(self.prior) == 0 and self.cfg.num_demos > 0:
            self.demo_info = collect_demos(self.env, self.prior, self.cfg.num_demos, self.cfg.demo_noise_std,
                                           self.cfg.seed, self.cfg.sac.discrete_gripper)
        if self.step == 0:
            n = len(self.prior)
            if n:
                states = self.prior.frames["state"][:min(self.prior.frames_written, self.prior.frame_capacity)]
                self.agent.set_state_normalization(states.cpu().numpy())

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
        ep_ret, ep_len = 0.0, 0
        next_eval = (self.step // cfg.eval_every_env_steps + 1) * cfg.eval_every_env_steps
        next_ckpt = (self.step // cfg.checkpoint_every_env_steps + 1) * cfg.checkpoint_every_env_steps
        next_log = self.step + cfg.log_every_env_steps
        metrics: dict = {}
        t0 = time.perf_counter()
        stop = False
        if self.step == 0 and not self.history:
            stop = self._eval(logger, bar, on_eval)
        takeover_left = 0
        while self.step < cfg.total_env_steps and not stop:
            takeover_started = False
            if takeover_left == 0 and cfg.intervention_prob_per_step > 0 and \
                    self.rng.random() < cfg.intervention_prob_per_step:
                takeover_left, takeover_started = cfg.intervention_steps, True
                self._human().reset()
            human = takeover_left > 0
            if human:
                action = self._human_action(obs)
                takeover_left -= 1
            elif self.step < cfg.random_action_steps:
                action = self.random_action()
            else:
                action = self.agent.act(obs, deterministic=False, rng=self.rng)
            next_obs, reward, term, trunc, info = self.env.step(action)
            reward = self.router.add(obs, action, reward, next_obs, term, trunc, intervened=human,
                                     takeover_started=takeover_started)
            obs = next_obs
            ep_ret += reward
            ep_len += 1
            self.step += 1
            if self.step >= cfg.start_training_after_steps:
                for g in range(cfg.utd_ratio):
                    batch = sample_mixed(self.online, self.prior, cfg.batch_size, cfg.replay.online_fraction)
                    metrics = self.agent.update(batch, update_actor=(g == cfg.utd_ratio - 1))
                    self.updates += 1
            if bar is not None:
                bar.update(1)
            episode_over = term or trunc
            if episode_over:
                self.episodes += 1
                logger.log(self.step, {"train/episode_return": ep_ret, "train/episode_length": ep_len,
                                       "train/success": float(info["success"])})
                obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
                ep_ret, ep_len, takeover_left = 0.0, 0, 0
            if self.step >= next_log and metrics:
                logger.log(self.step, {f"train/{k}": float(v) for k, v in metrics.items()})
                next_log += cfg.log_every_env_steps
            if self.step >= next_eval:
                self.wall_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                stop = self._eval(logger, bar, on_eval)
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
            self._eval(logger, bar, on_eval)
        if bar is not None:
            bar.close()
        self.save()
        logger.close()
        plot_curves(self.out / "learning_curve.png", {f"ours seed {cfg.seed}": self.curve()},
                    f"{cfg.task}: eval success ({'pixels' if cfg.pixels else 'state'}, {cfg.num_demos} demos, "
                    f"UTD {cfg.utd_ratio})")
        summary = self.summary()
        atomic_write_bytes(self.out / "summary.json", json.dumps(summary, indent=1).encode())
        return summary

    def _eval(self, logger, bar, on_eval) -> bool:
        """Evaluate and log; returns whether ``on_eval`` asks to stop."""
        res = evaluate(self.policy(deterministic=True), self.eval_env, self.cfg.eval_episodes, self.cfg.seed)
        res["step"] = self.step
        res["wall_s"] = round(self.wall_s, 2)
        self.history.append(res)
        logger.log(self.step, {"eval/success_rate": res["success_rate"], "eval/mean_return": res["mean_return"]})
        if bar is not None:
            bar.set_postfix(eval_success=f"{res['success_rate']:.2f}", ret=f"{res['mean_return']:.2f}")
        return bool(on_eval(res)) if on_eval is not None else False

    def curve(self) -> list[tuple[int, float]]:
        return [(h["step"], h["success_rate"]) for h in self.history]

    def summary(self) -> dict:
        return {
            "task": self.cfg.task, "seed": self.cfg.seed, "pixels": self.cfg.pixels, "env_steps": self.step,
            "updates": self.updates, "utd_ratio": self.cfg.utd_ratio, "num_critics": self.cfg.sac.num_critics,
            "demos": self.demo_info, "final_eval_success_rate": self.history[-1]["success_rate"] if self.history else None,
            "steps_to_90pct": steps_to_threshold(self.curve(), 0.9), "wall_s": round(self.wall_s, 1),
            "device": str(self.device), "log": {"kind": getattr(self, "log_kind", None), "path": str(getattr(self, "log_path", ""))},
            "history": self.history,
        }


def steps_to_threshold(curve: list[tuple[int, float]], threshold: float) -> int | None:
    for step, value in curve:
        if value >= threshold:
            return int(step)
    return None
