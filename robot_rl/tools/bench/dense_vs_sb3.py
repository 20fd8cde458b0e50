"""``robot-rl bench dense-vs-sb3``: our ``dense_control`` preset against Stable-Baselines3's SAC with its defaults,
at equal env steps on a standard gymnasium MuJoCo env (default ``Hopper-v5``), several seeds side by side.

Per seed, ours and SB3 run one after the other (same seed, same machine load window); both are evaluated with
deterministic actions on the same evaluation seeds every ``--eval-every`` env steps. Reported: each seed's final
mean return, the mean over seeds with a 95 % confidence interval (Student t), the ratio of means, and the curves.
"""
from __future__ import annotations

import math
import statistics
import tempfile
import time

# two-sided 95 % Student-t quantiles for n - 1 degrees of freedom (n = 2 .. 10 seeds)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci95(xs: list[float]) -> dict:
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": m, "ci95": None}
    half = T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": m, "ci95": [m - half, m + half]}


def run_ours(env_id: str, seed: int, steps: int, eval_every: int, eval_episodes: int, overrides: dict) -> dict:
    from robot_rl.learning.config import TrainConfig, preset
    from robot_rl.loops.trainer import Trainer

    cfg = preset(TrainConfig, "dense_control", {"env": env_id, "seed": seed, "total_env_steps": steps,
                                                "eval_every_env_steps": eval_every, "eval_episodes": eval_episodes,
                                                "checkpoint_every_env_steps": 10 * steps, "device": "cpu",
                                                **overrides})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        s = Trainer(cfg, d, progress=False).run()
    return {"curve": [(h["step"], h["mean_return"]) for h in s["history"]], "wall_s": time.perf_counter() - t0}


def run_sb3(env_id: str, seed: int, steps: int, eval_every: int, eval_episodes: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from robot_rl.loops.trainer import evaluate

    eval_env = gym.make(env_id)
    curve = []

    def score(model, step):
        res = evaluate(lambda o: model.predict(o, deterministic=True)[0], eval_env, eval_episodes, seed)
        curve.append((step, res["mean_return"]))

    class Every(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                score(self.model, self.num_timesteps)
            return True

    t0 = time.perf_counter()
    model = SAC("MlpPolicy", gym.make(env_id), seed=seed, device="cpu", verbose=0)  # SB3's defaults
    score(model, 0)
    model.learn(total_timesteps=steps, callback=Every())
    if curve[-1][0] != steps:
        score(model, steps)
    return {"curve": curve, "wall_s": time.perf_counter() - t0}


def run(env_id: str = "Hopper-v5", seeds: int = 3, steps: int = 15_000, eval_every: int = 5_000,
        eval_episodes: int = 5, threads: int = 1, overrides: dict | None = None, sb3: bool = True) -> dict:
    import torch

    torch.set_num_threads(threads)
    ours, theirs = [], []
    for seed in range(seeds):
        ours.append(run_ours(env_id, seed, steps, eval_every, eval_episodes, overrides or {}))
        if sb3:
            theirs.append(run_sb3(env_id, seed, steps, eval_every, eval_episodes))
    ours_final = [r["curve"][-1][1] for r in ours]
    out = {"env": env_id, "seeds": seeds, "env_steps": steps, "eval_episodes": eval_episodes,
           "ours_preset": "dense_control", "ours_final_returns": ours_final, "ours": mean_ci95(ours_final),
           "ours_curves": [r["curve"] for r in ours], "ours_wall_s": [round(r["wall_s"], 1) for r in ours]}
    if sb3:
        sb3_final = [r["curve"][-1][1] for r in theirs]
        out.update(sb3_final_returns=sb3_final, sb3=mean_ci95(sb3_final), sb3_curves=[r["curve"] for r in theirs],
                   sb3_wall_s=[round(r["wall_s"], 1) for r in theirs])
        m = out["sb3"]["mean"]
        out["ratio_ours_over_sb3"] = out["ours"]["mean"] / m if m else None
    return out


def _cmd(a) -> int:
    from robot_rl.tools.bench.cli import emit

    return emit(run(a.env, a.seeds, a.steps, a.eval_every, a.eval_episodes, a.threads, sb3=not a.no_sb3), a.json)


def add_parser(sub) -> None:
    p = sub.add_parser("dense-vs-sb3", help="dense_control preset vs SB3 SAC defaults at equal env steps")
    p.add_argument("--env", default="Hopper-v5", help="gymnasium id (default Hopper-v5)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=15_000, help="env steps per run (default 15000)")
    p.add_argument("--eval-every", type=int, default=5_000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-sb3", action="store_true", help="ours only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd)
