"""The learner's compute to a skill: CPU-seconds of learner updates until 90 % eval success, our default
learner against Stable-Baselines3's SAC given the same demos, on a twin task from state (``pick_cube``).

``robot-rl bench skill-time`` runs it alone; ``robot-rl bench learner`` puts the same figures under its
``seconds_to_90pct`` key. Per seed, ours and SB3 run one after the other in the same process (same machine
load window), both evaluated by the trainer's :func:`~robot_rl.loops.trainer.evaluate` on the same evaluation
seeds every ``eval_every`` env steps, both stopped at the first evaluation >= 90 %. Each finished run is
``<out>/<side>_seed<n>.json`` and is reused by a later call with the same settings.

- **ours**: the learner's defaults (preset ``sparse_manipulation``) through the trainer; learner CPU-seconds are
  ``SAC.update_cpu_s`` (process CPU time inside the one update loop, env steps and evaluation excluded).
- **SB3**: ``stable_baselines3.SAC`` with its own defaults except the hidden width and batch size, which are ours
  (so the network and batch are the same size), and the same expert demos preloaded into its replay buffer
  (:func:`~robot_rl.tools.bench.sample_efficiency.preload_sb3_demos`). Its learner CPU-seconds are the process CPU
  time inside ``SAC.train`` (its gradient steps), read at each evaluation.

Per side: each seed's CPU-seconds and env steps to 90 % (a run that never reaches it enters at its whole budget,
is counted in ``n_censored``, and the figure is then a lower bound), the interquartile mean with a percentile
bootstrap 95 % CI over seeds, and ``sb3_over_ours`` (ratio of the IQMs; a lower bound when SB3 is censored).
"""
from __future__ import annotations

import time
from pathlib import Path

THRESHOLD = 0.9


def run_ours(task: str, seed: int, steps: int, eval_every: int, eval_episodes: int, demos: int, out: Path) -> dict:
    from robot_rl.tools.bench.learner_ablation import run_one

    s = {"task": task, "config": "default", "preset": "sparse_manipulation", "overrides": {}, "demos": demos,
         "steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes, "random_steps": None,
         "device": "cpu"}
    r = run_one(s, seed, out, progress=False, stop_at=THRESHOLD)
    return {"seed": seed, "curve": r["curve"], "env_steps": r["env_steps"], "learner_cpu_s": r["learner_cpu_s"],
            "updates": r["updates"], "wall_s": r["wall_s"]}


def run_sb3(task: str, seed: int, steps: int, eval_every: int, eval_episodes: int, demos: int) -> dict:
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from robot_rl.envs.wrappers import StateOnly
    from robot_rl.learning.config import TrainConfig
    from robot_rl.loops.trainer import evaluate, make_env
    from robot_rl.tools.bench.sample_efficiency import preload_sb3_demos

    cfg = TrainConfig(task=task, seed=seed)  # our defaults: the width and batch SB3 gets, the demos' expert noise
    torch.manual_seed(seed)
    env, eval_env = make_env(cfg), make_env(cfg)
    cpu = [0.0]

    class TimedSAC(SAC):
        def train(self, gradient_steps: int, batch_size: int = 64) -> None:
            t0 = time.process_time()
            super().train(gradient_steps, batch_size)
            cpu[0] += time.process_time() - t0

    width = cfg.sac.hidden_width
    model = TimedSAC("MlpPolicy", StateOnly(env), batch_size=cfg.batch_size, seed=seed, device="cpu", verbose=0,
                     policy_kwargs={"net_arch": [width] * cfg.sac.hidden_layers}, buffer_size=steps + 100 * demos + 1)
    demo_transitions = preload_sb3_demos(model, env, cfg, demos, seed) if demos > 0 else 0
    curve: list[tuple[int, float, float]] = []
    t0 = time.perf_counter()

    def do_eval(step: int) -> bool:
        r = evaluate(lambda o: model.predict(o["state"], deterministic=True)[0], eval_env, eval_episodes, seed)
        curve.append((step, r["success_rate"], round(cpu[0], 3)))
        print(f"{task} sb3 seed {seed} step {step}: eval success {r['success_rate']:.2f}, "
              f"learner {cpu[0]:.1f} CPU-s", flush=True)
        return r["success_rate"] >= THRESHOLD

    class Every(BaseCallback):
        def _on_step(self) -> bool:
            return not (self.num_timesteps % eval_every == 0 and do_eval(self.num_timesteps))

    if not do_eval(0):
        model.learn(total_timesteps=steps, callback=Every(), progress_bar=False)
    return {"seed": seed, "curve": curve, "env_steps": int(model.num_timesteps), "learner_cpu_s": round(cpu[0], 3),
            "updates": int(model._n_updates), "demo_transitions": demo_transitions,
            "wall_s": round(time.perf_counter() - t0, 1), "batch_size": cfg.batch_size, "hidden_width": width}


def side_summary(runs: list[dict], n_boot: int = 2000) -> dict:
    """One side's figures over its seeds (censored runs at their budget; see the module doc)."""
    from robot_rl.tools.bench.learner_ablation import bootstrap_ci, first_reaching, iqm

    seeds = [str(r["seed"]) for r in runs]
    hits = [first_reaching(r["curve"], THRESHOLD) for r in runs]
    cpu = [h[2] if h else r["learner_cpu_s"] for h, r in zip(hits, runs)]
    env = [h[0] if h else r["env_steps"] for h, r in zip(hits, runs)]
    censored = [s for s, h in zip(seeds, hits) if h is None]
    return {"n": len(runs), "n_reached_90pct": len(runs) - len(censored), "censored_seeds": censored,
            "lower_bound": bool(censored),
            "learner_cpu_s_to_90pct": {"iqm": iqm(cpu), "ci95": bootstrap_ci(cpu, n_boot=n_boot),
                                       "per_seed": dict(zip(seeds, cpu))},
            "env_steps_to_90pct": {"iqm": iqm(env), "ci95": bootstrap_ci(env, n_boot=n_boot),
                                   "per_seed": dict(zip(seeds, env))},
            "wall_s_per_seed": {s: r["wall_s"] for s, r in zip(seeds, runs)},
            "curves": {s: r["curve"] for s, r in zip(seeds, runs)}}


def run(task: str = "pick_cube", seeds: tuple[int, ...] = (0,), steps: int = 5_000, sb3_steps: int = 15_000,
        eval_every: int = 500, eval_episodes: int = 10, demos: int = 20, out: str = "runs/bench/skill_time") -> dict:
    import torch

    if task not in ("reach", "pick_cube", "peg_insert"):
        raise ValueError(f"skill-time: task must be a twin task (reach, pick_cube, peg_insert), not {task!r}")
    from robot_rl.tools.bench.sample_efficiency import load_cached, save_run

    ours, sb3 = [], []
    common = {"task": task, "demos": demos, "eval_every": eval_every, "eval_episodes": eval_episodes}
    for seed in seeds:  # each finished run is <out>/<side>_seed<n>.json, reused by a later call with the same settings
        for side, runs, budget, go in (
                ("ours", ours, steps, lambda b: run_ours(task, seed, b, eval_every, eval_episodes, demos, Path(out))),
                ("sb3", sb3, sb3_steps, lambda b: run_sb3(task, seed, b, eval_every, eval_episodes, demos))):
            settings = {**common, "side": side, "budget_env_steps": budget}
            path = Path(out) / f"{side}_seed{seed}.json"
            r = load_cached(path, lambda st: st == settings)
            runs.append(r if r is not None else save_run(path, go(budget), settings))
    res = {"task": task, "threshold": THRESHOLD, "demos": demos, "seeds": list(seeds), "ours_budget_env_steps": steps,
           "sb3_budget_env_steps": sb3_steps, "eval_every": eval_every, "eval_episodes": eval_episodes,
           "torch_threads": torch.get_num_threads(), "ours_preset": "sparse_manipulation",
           "ours": side_summary(ours), "sb3": side_summary(sb3)}
    o, t = res["ours"]["learner_cpu_s_to_90pct"]["iqm"], res["sb3"]["learner_cpu_s_to_90pct"]["iqm"]
    res["sb3_over_ours"] = round(t / o, 3) if o else None
    res["sb3_over_ours_is_lower_bound"] = res["sb3"]["lower_bound"] and not res["ours"]["lower_bound"]
    return res


def add_parser(sub) -> None:
    p = sub.add_parser("skill-time", help="learner CPU-seconds to 90 %% eval success: our default vs SB3 SAC with "
                                          "the same demos (state)")
    p.add_argument("--task", default="pick_cube", help="twin task (reach, pick_cube, peg_insert)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds; each runs ours then SB3")
    p.add_argument("--steps", type=int, default=5_000, help="env-step budget of ours per seed")
    p.add_argument("--sb3-steps", type=int, default=15_000, help="env-step budget of SB3 per seed (UTD 1)")
    p.add_argument("--eval-every", type=int, default=500, help="env steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--demos", type=int, default=20, help="expert demo episodes, the same for both")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the figure is CPU-seconds)")
    p.add_argument("--out", default="runs/bench/skill_time", help="folder of the runs (finished ones are reused)")
    p.add_argument("--json", action="store_true")

    from robot_rl.tools.bench.cli import runner

    p.set_defaults(func=runner(lambda a: run(a.task, tuple(int(x) for x in a.seeds.split(",")), a.steps,
                                             a.sb3_steps, a.eval_every, a.eval_episodes, a.demos, a.out)))
