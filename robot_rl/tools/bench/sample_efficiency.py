"""``robot-rl bench sample-efficiency``: our RLPD learner and Stable-Baselines3's SAC side by side on a twin task
(same env, reward, demos, env-step budget ratio, seeds and evaluation episodes); env steps to 90 % eval
success for each, and the curves as one PNG.

SB3 gets the same expert demos preloaded into its replay buffer (plain SAC with offline data: the fair
baseline for "what does the RLPD recipe add"); ``--sb3-no-demos`` runs it from scratch instead. Each
finished run is written to ``<out>/<algo>_seed<n>.json`` and reused by a later call with the same settings, so
the benchmark can be run (or resumed) one piece at a time with ``--only``.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from robot_rl.io import atomic_write_bytes


def _settings(a) -> dict:
    return {"task": a.task, "demos": a.demos, "steps": a.steps, "sb3_steps": a.sb3_steps or 3 * a.steps,
            "utd": a.utd, "width": a.width, "critics": a.critics, "batch": a.batch, "eval_every": a.eval_every,
            "eval_episodes": a.eval_episodes, "threshold": a.threshold, "stop_at_threshold": not a.full,
            "sb3_demos": not a.sb3_no_demos}


_ONLY_OURS = ("steps", "utd", "critics")
_ONLY_SB3 = ("sb3_steps", "sb3_demos")


def _relevant(s: dict, algo: str) -> dict:
    """The settings a finished run of ``algo`` depends on (to decide whether a cached result can be reused)."""
    drop = _ONLY_SB3 if algo == "ours" else _ONLY_OURS
    return {k: v for k, v in s.items() if k not in drop}


def run_ours(s: dict, seed: int, out: Path, progress: bool) -> dict:
    from robot_rl.learning.config import SACConfig, TrainConfig
    from robot_rl.loops.trainer import Trainer

    cfg = TrainConfig(task=s["task"], seed=seed, total_env_steps=s["steps"], num_demos=s["demos"],
                      batch_size=s["batch"], utd_ratio=s["utd"], eval_every_env_steps=s["eval_every"],
                      eval_episodes=s["eval_episodes"], checkpoint_every_env_steps=10**12,
                      sac=SACConfig(hidden_width=s["width"], num_critics=s["critics"]))
    trainer = Trainer(cfg, out / f"ours_seed{seed}", progress=progress)
    stop = s["stop_at_threshold"]
    summary = trainer.run(on_eval=lambda r: stop and r["success_rate"] >= s["threshold"])
    return {"algo": "ours", "seed": seed, "curve": trainer.curve(), "env_steps": summary["env_steps"],
            "updates": summary["updates"], "wall_s": summary["wall_s"], "utd": s["utd"]}


def preload_sb3_demos(model, env, cfg, demos: int, seed: int) -> int:
    """Put ``demos`` scripted-expert episodes (the same expert, noise and seeds as ours: ``collect_expert_demos``)
    into the replay buffer of the SB3 ``model`` (state observations); returns the transitions added."""
    import torch

    from robot_rl.envs.sources import get_source
    from robot_rl.learning.replay import ReplayBuffer, obs_spec_of
    from robot_rl.loops.demos import collect_expert_demos

    demo_buf = ReplayBuffer(obs_spec_of(env.observation_space), 7, 100 * demos + 1)
    expert = get_source(cfg.task).make_expert(env, noise_std=cfg.demo_noise_std, seed=seed)
    collect_expert_demos(env, expert, demo_buf, demos, seed)
    for i in range(len(demo_buf)):
        t = demo_buf.gather(torch.tensor([i]))
        model.replay_buffer.add(t["obs"]["state"].numpy(), t["next_obs"]["state"].numpy(), t["action"].numpy(),
                                t["reward"].numpy(), t["terminated"].numpy(), [{}])
    return len(demo_buf)


def run_sb3(s: dict, seed: int, out: Path, progress: bool) -> dict:
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from robot_rl.envs.wrappers import StateOnly
    from robot_rl.learning.config import TrainConfig
    from robot_rl.loops.trainer import evaluate, make_env

    torch.manual_seed(seed)
    cfg = TrainConfig(task=s["task"], seed=seed)
    env, eval_env = make_env(cfg), make_env(cfg)
    model = SAC("MlpPolicy", StateOnly(env), batch_size=s["batch"], learning_starts=500, seed=seed,
                policy_kwargs={"net_arch": [s["width"], s["width"]]}, buffer_size=s["sb3_steps"] + 10_000,
                device="auto")
    if s["sb3_demos"] and s["demos"] > 0:  # the same demos ours gets, in SB3's own buffer
        preload_sb3_demos(model, env, cfg, s["demos"], seed)
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    eval_s = [0.0]

    def policy(obs):
        return model.predict(obs["state"], deterministic=True)[0]

    def do_eval(step: int) -> bool:
        e0 = time.perf_counter()
        r = evaluate(policy, eval_env, s["eval_episodes"], seed)
        eval_s[0] += time.perf_counter() - e0
        curve.append((step, r["success_rate"]))
        print(f"sb3 seed {seed} step {step}: eval success {r['success_rate']:.2f}", flush=True)
        return s["stop_at_threshold"] and r["success_rate"] >= s["threshold"]

    class EvalCallback(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % s["eval_every"] == 0:
                return not do_eval(self.num_timesteps)
            return True

    if not do_eval(0):
        model.learn(total_timesteps=s["sb3_steps"], callback=EvalCallback(), progress_bar=False)
    if curve[-1][0] != model.num_timesteps:
        do_eval(model.num_timesteps)
    return {"algo": "sb3_sac", "seed": seed, "curve": curve, "env_steps": int(model.num_timesteps),
            "updates": int(model._n_updates), "wall_s": round(time.perf_counter() - t0 - eval_s[0], 1), "utd": 1}


def load_cached(path: Path, matches) -> dict | None:
    """The finished run written by :func:`save_run` at ``path`` when ``matches(its settings)`` (the settings it
    depends on are the caller's), else None: absent, unreadable, or run with other settings."""
    try:
        cached = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and matches(cached.get("settings", {})) else None


def save_run(path: Path, result: dict, settings: dict) -> dict:
    """``result`` with its ``settings``, written atomically to ``path`` (a later call reuses it: :func:`load_cached`)."""
    result = {**result, "settings": settings}
    atomic_write_bytes(path, json.dumps(result).encode())
    return result


def cached_runs(out: Path, todo, settings_of, compute, report_only: bool, on_result=None, on_new=None):
    """Run each ``(seed, task, name)`` of ``todo`` once, caching it at ``out/<task>/<name>_seed<seed>.json``.

    ``settings_of(task, name)`` gives the settings a cached run must match; ``compute(settings, seed)`` runs one.
    With ``report_only`` nothing runs and a run not cached is skipped. ``on_result(seed, task, name, result,
    ran)`` sees every run kept; ``on_new(missing)`` is called after each run computed, so an interrupted bench
    leaves a summary of what finished. Returns the keys ``<task>/<name>_seed<seed>`` that have no result."""
    missing = [f"{t}/{n}_seed{seed}" for seed, t, n in todo]
    for seed, task, name in todo:
        s = settings_of(task, name)
        path = out / task / f"{name}_seed{seed}.json"
        r = load_cached(path, lambda st: st == s)
        if r is None and report_only:
            continue
        ran = r is None
        if ran:
            (out / task).mkdir(parents=True, exist_ok=True)
            r = save_run(path, compute(s, seed), s)
        missing.remove(f"{task}/{name}_seed{seed}")
        if on_result is not None:
            on_result(seed, task, name, r, ran)
        if ran and on_new is not None:
            on_new(missing)
    return missing


def write_summary(out: Path, summary: dict, table_md: str) -> None:
    """A cached bench's report: ``summary.json`` and its markdown ``table.md``, each written atomically."""
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "table.md", table_md.encode())


def steps_to(curve, threshold: float):
    for step, v in curve:
        if v >= threshold:
            return int(step)
    return None


def run(a) -> dict:
    from robot_rl.loops.logs import plot_curves

    s = _settings(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(x) for x in a.seeds.split(",")]
    algos = {"ours": run_ours, "sb3_sac": run_sb3}
    if a.only:
        algos = {a.only: algos[a.only]}
    results: dict[str, list[dict]] = {"ours": [], "sb3_sac": []}
    for algo in ("ours", "sb3_sac"):
        for seed in seeds:
            path = out / f"{algo}_seed{seed}.json"
            cached = load_cached(path, lambda st: _relevant(st, algo) == _relevant(s, algo))
            if cached is not None:
                results[algo].append(cached)
                continue
            if algo not in algos:
                continue
            results[algo].append(save_run(path, algos[algo](s, seed, out, not a.no_progress), s))
    t = s["threshold"]
    summary: dict = {"bench": "sample_efficiency", **{k: v for k, v in s.items()}, "seeds": seeds}
    for algo, runs in results.items():
        st = [steps_to(r["curve"], t) for r in runs]
        summary[f"{algo}_steps_to_{int(100 * t)}pct"] = {str(r["seed"]): x for r, x in zip(runs, st)}
        summary[f"{algo}_seeds_reaching"] = sum(x is not None for x in st)
        reached = [x for x in st if x is not None]
        summary[f"{algo}_median_steps_to_{int(100 * t)}pct"] = statistics.median(reached) if reached else None
        summary[f"{algo}_wall_s"] = {str(r["seed"]): r["wall_s"] for r in runs}
        summary[f"{algo}_env_steps_run"] = {str(r["seed"]): r["env_steps"] for r in runs}
        summary[f"{algo}_updates"] = {str(r["seed"]): r["updates"] for r in runs}
    ours_m, sb3_m = summary[f"ours_median_steps_to_{int(100 * t)}pct"], summary[f"sb3_sac_median_steps_to_{int(100 * t)}pct"]
    summary["sb3_over_ours_steps"] = (sb3_m / ours_m) if ours_m and sb3_m else None
    curves = {f"ours seed {r['seed']} (UTD {r['utd']})": [tuple(p) for p in r["curve"]] for r in results["ours"]}
    curves.update({f"SB3 SAC seed {r['seed']}": [tuple(p) for p in r["curve"]] for r in results["sb3_sac"]})
    png = plot_curves(out / "curves.png", curves, f"{s['task']}: eval success, {s['demos']} demos (state)",
                      target=t)
    summary["curves_png"] = str(png)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    return summary


def add_parser(sub) -> None:
    p = sub.add_parser("sample-efficiency", help="ours vs SB3 SAC: env steps to 90 %% eval success, curves PNG")
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--demos", type=int, default=20)
    p.add_argument("--steps", type=int, default=15_000, help="env-step budget for ours")
    p.add_argument("--sb3-steps", type=int, default=None, help="env-step budget for SB3 (default 3x --steps)")
    p.add_argument("--utd", type=int, default=2, help="our updates per env step")
    p.add_argument("--width", type=int, default=128, help="hidden width, ours and SB3")
    p.add_argument("--critics", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--full", action="store_true", help="run whole budgets (default: stop a run once it reaches "
                                                       "the threshold; steps-to-threshold is unchanged)")
    p.add_argument("--sb3-no-demos", action="store_true")
    p.add_argument("--only", choices=("ours", "sb3_sac"), help="run only one side (finished runs are reused)")
    p.add_argument("--out", default="runs/bench/sample_efficiency")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", action="store_true")

    from robot_rl.tools.bench.cli import runner

    p.set_defaults(func=runner(run))
