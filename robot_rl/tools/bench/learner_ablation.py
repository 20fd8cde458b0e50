"""``robot-rl bench learner-ablation``: learner configurations side by side on the twin tasks from state with demos,
several seeds each, through the one trainer (:class:`robot_rl.loops.trainer.Trainer`) and the one update loop.

Per (task, configuration), over seeds: the interquartile mean (IQM, the mean of the middle 50 %; Agarwal et al.,
"Deep RL at the Edge of the Statistical Precipice", NeurIPS 2021) with a percentile-bootstrap 95 % confidence
interval (resampling seeds) of

- ``env_steps_to_90pct``: the first evaluation with success >= 90 %;
- ``learner_cpu_s_to_90pct``: the learner's compute until then, the process CPU seconds spent inside
  ``SAC.update_block`` (``SAC.update_cpu_s``; env steps, evaluation and checkpoints excluded), read at each
  evaluation of the same run;
- ``worst_drop_after_80pct``: after the first evaluation >= 80 %, the largest fall of eval success below its best
  so far (0: it kept what it learned), over the runs that reached 80 %.

Censoring: a run that never reaches 90 % enters the first two at its budget (the env steps it ran; all its
learner CPU seconds) and is counted in ``n_censored``; the IQM and CI are then lower bounds (``lower_bound``).
Runs go whole budgets (no stop at 90 %: the drop needs what follows). Each finished (task, config, seed) is
``<out>/<task>/<config>_seed<n>.json`` and reused by a later call with the same settings; runs go seed by seed (all
tasks and configurations at seed 0 first), and ``summary.json`` plus ``curves_<task>.png`` (mean eval success over
the seeds finished, per configuration) and ``table.md`` (:func:`markdown_table`, the README's) are rewritten after
each run, so an interrupted ablation reports what finished with its true n.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from robot_rl.tools.bench.sample_efficiency import cached_runs, write_summary

THRESHOLD, KEEP = 0.9, 0.8
# name -> (preset of robot_rl.learning.config.PRESETS, dotted overrides on it)
CONFIGS: dict[str, tuple[str, dict]] = {
    "rlpd10": ("rlpd", {}),  # the defaults before: 10 critics + LayerNorm, REDQ min over 2, actor on the mean
    "hil_serl2": ("hil_serl", {}),  # 2 critics + LayerNorm, actor on the mean
    "sac2_min": ("sac2_min", {}),  # 2 critics + LayerNorm, target and actor on the min
    "crossq": ("crossq", {}),  # no target critics, batch renorm, UTD 1, policy delay 3
    "rlpd10_subset2": ("rlpd", {"sac.actor_q_reduction": "subset_mean"}),  # actor on 2 random of 10
    # hil_serl2 + a behaviour-cloning term on the demo rows: the defaults (sparse_manipulation) since the ablation
    "hil_serl2_bc": ("hil_serl", {"sac.bc_weight": 1.0}),
    "rlpd10_bc": ("rlpd", {"sac.bc_weight": 1.0}),  # rlpd10 + the same term
}
DEFAULT_CONFIGS = ("hil_serl2_bc", "rlpd10", "hil_serl2", "sac2_min", "crossq")  # the default first
DEFAULT_TASKS = ("reach", "pick_cube", "peg_insert")
CENSORING = ("a run that never reaches 90 % enters env_steps_to_90pct at the env steps it ran and "
             "learner_cpu_s_to_90pct at all its learner CPU seconds (n_censored counts them); lower_bound is then "
             "true: the true IQM is at least this")


# ---- statistics ------------------------------------------------------------------------------------------------
def iqm(values) -> float:
    """Interquartile mean: the mean after dropping floor(n / 4) values at each end (scipy's trim_mean(x, 0.25))."""
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        raise ValueError("iqm of no values")
    k = x.size // 4
    return float(x[k:x.size - k].mean())


def bootstrap_ci(values, stat=iqm, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap: resample ``values`` with replacement ``n_boot`` times; the central ``confidence``
    interval of ``stat`` over the resamples (one value: that value twice)."""
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, x.size, (n_boot, x.size))
    stats = np.array([stat(x[i]) for i in idx])
    lo, hi = np.percentile(stats, [50 * (1 - confidence), 50 * (1 + confidence)])
    return [float(lo), float(hi)]


def first_reaching(curve, threshold: float):
    """The first point ``(step, success, cpu_s)`` of ``curve`` with success >= ``threshold``, else None."""
    return next((p for p in curve if p[1] is not None and p[1] >= threshold), None)


def worst_drop_after(successes, keep: float = KEEP):
    """After the first value >= ``keep``, the largest fall below the best value so far; None if none reaches it."""
    vals = [v for v in successes if v is not None]
    start = next((i for i, v in enumerate(vals) if v >= keep), None)
    if start is None:
        return None
    best, worst = vals[start], 0.0
    for v in vals[start:]:
        best = max(best, v)
        worst = max(worst, best - v)
    return round(worst, 6)


def run_metrics(run: dict) -> dict:
    """One run's three figures; censored (never 90 %) runs at their budget and whole learner CPU seconds."""
    hit = first_reaching(run["curve"], THRESHOLD)
    return {"reached_90pct": hit is not None,
            "env_steps_to_90pct": hit[0] if hit else run["env_steps"],
            "learner_cpu_s_to_90pct": hit[2] if hit else run["learner_cpu_s"],
            "worst_drop_after_80pct": worst_drop_after([p[1] for p in run["curve"]])}


def summarize_cell(runs: list[dict], n_boot: int = 2000) -> dict:
    """The (task, config) entry of the summary from its finished runs."""
    ms = [run_metrics(r) for r in runs]
    seeds = [str(r["seed"]) for r in runs]
    censored = sum(not m["reached_90pct"] for m in ms)
    out: dict = {"n": len(runs), "seeds": seeds, "n_reached_90pct": len(runs) - censored, "n_censored": censored}
    for key in ("env_steps_to_90pct", "learner_cpu_s_to_90pct"):
        vals = [m[key] for m in ms]
        out[key] = {"iqm": iqm(vals) if vals else None, "ci95": bootstrap_ci(vals, n_boot=n_boot) if vals else None,
                    "per_seed": dict(zip(seeds, vals)), "censored_seeds": [s for s, m in zip(seeds, ms)
                                                                          if not m["reached_90pct"]],
                    "lower_bound": censored > 0}
    drops = {s: m["worst_drop_after_80pct"] for s, m in zip(seeds, ms)}
    reached = [v for v in drops.values() if v is not None]
    out["worst_drop_after_80pct"] = {"iqm": iqm(reached) if reached else None,
                                     "ci95": bootstrap_ci(reached, n_boot=n_boot) if reached else None,
                                     "n_reached_80pct": len(reached), "per_seed": drops,
                                     "max": max(reached) if reached else None}
    for key in ("learner_cpu_s", "wall_s", "updates", "env_steps"):
        out[f"{key}_per_seed"] = {s: r[key] for s, r in zip(seeds, runs)}
    return out


# ---- runs ------------------------------------------------------------------------------------------------------
def _settings(a, task: str, config: str) -> dict:
    name, over = CONFIGS[config]
    return {"task": task, "config": config, "preset": name, "overrides": over, "demos": a.demos, "steps": a.steps,
            "eval_every": a.eval_every, "eval_episodes": a.eval_episodes, "random_steps": a.random_steps,
            "device": a.device, "threshold": THRESHOLD, "keep": KEEP}


def run_one(s: dict, seed: int, out: Path, progress: bool, stop_at: float | None = None) -> dict:
    """One training run through the trainer; the learner's CPU seconds read at every evaluation. The ablation
    runs whole budgets; ``stop_at`` (a success rate) ends the run at the first evaluation at or above it."""
    import torch

    from robot_rl.learning.config import TrainConfig, preset
    from robot_rl.loops.trainer import Trainer

    values = {**s["overrides"], "task": s["task"], "seed": seed, "total_env_steps": s["steps"],
              "num_demos": s["demos"], "eval_every_env_steps": s["eval_every"], "eval_episodes": s["eval_episodes"],
              "checkpoint_every_env_steps": 10**12, "device": s["device"]}
    if s["random_steps"] is not None:
        values.update(random_action_steps=s["random_steps"], start_training_after_steps=max(1, s["random_steps"]))
    cfg = preset(TrainConfig, s["preset"], values, where="learner-ablation: ")
    trainer = Trainer(cfg, out / s["task"] / f"{s['config']}_seed{seed}", progress=progress)

    def on_eval(res: dict) -> bool:  # res is the trainer's history entry of this evaluation
        res["learner_cpu_s"] = round(trainer.agent.update_cpu_s, 3)
        print(f"{s['task']} {s['config']} seed {seed} step {res['step']}: eval success {res['success_rate']:.2f}, "
              f"learner {res['learner_cpu_s']:.1f} CPU-s", flush=True)
        return stop_at is not None and (res["success_rate"] or 0.0) >= stop_at

    c0 = time.process_time()
    summary = trainer.run(on_eval=on_eval)
    return {"task": s["task"], "config": s["config"], "seed": seed,
            "curve": [(h["step"], h["success_rate"], h["learner_cpu_s"]) for h in trainer.history],
            "env_steps": summary["env_steps"], "updates": summary["updates"],
            "update_blocks": trainer.agent.update_blocks, "learner_cpu_s": round(trainer.agent.update_cpu_s, 3),
            "process_cpu_s": round(time.process_time() - c0, 3), "wall_s": summary["wall_s"],
            "torch_threads": torch.get_num_threads()}


def _plot(out: Path, task: str, runs: dict[str, list[dict]], s: dict) -> str:
    from robot_rl.loops.logs import plot_curves

    curves = {}
    for config, rs in runs.items():
        if rs:
            steps = sorted({p[0] for r in rs for p in r["curve"]})
            by = [{p[0]: p[1] for p in r["curve"]} for r in rs]
            curves[f"{config} (n={len(rs)})"] = [(x, float(np.mean([b[x] for b in by if x in b]))) for x in steps]
    return str(plot_curves(out / f"curves_{task}.png", curves, f"{task}: mean eval success over seeds, "
                                                              f"{s['demos']} demos (state)", target=THRESHOLD))


def summarize(a, results: dict, missing: list) -> dict:
    """The ablation's JSON from the finished runs ``results[task][config] = [run, ...]``."""
    summary: dict = {"bench": "learner_ablation", "tasks": list(results), "configs": {c: {"preset": CONFIGS[c][0],
                     "overrides": CONFIGS[c][1]} for c in a.configs}, "seeds": a.seeds, "demos": a.demos,
                     "steps": a.steps, "eval_every": a.eval_every, "eval_episodes": a.eval_episodes,
                     "threshold": THRESHOLD, "keep_threshold": KEEP, "ci": f"percentile bootstrap over seeds, "
                     f"{a.bootstrap} resamples, 95 %", "censoring": CENSORING, "results": {}, "curves_png": {},
                     "missing_runs": missing}
    for task, by_config in results.items():
        summary["results"][task] = {c: summarize_cell(rs, a.bootstrap) for c, rs in by_config.items() if rs}
        if any(by_config.values()):
            summary["curves_png"][task] = _plot(Path(a.out), task, by_config, {"demos": a.demos})
    return summary


def _fmt(cell: dict, key: str, digits: int) -> str:
    v = cell[key]
    if v["iqm"] is None:
        return "-"
    lo, hi = v["ci95"]
    bound = "≥ " if v.get("lower_bound") else ""
    return f"{bound}{v['iqm']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown_table(summary: dict) -> str:
    """The summary as one markdown table (the README's): per task and configuration, the runs that reached 90 %,
    the IQM [95 % CI] of env steps and learner CPU-s to 90 % (``≥``: censored runs, a lower bound) and of the
    worst drop after 80 %."""
    rows = ["| task | configuration | reached 90 % | env steps to 90 % | learner CPU-s to 90 % "
            "| worst drop after 80 % |", "|---|---|---|---|---|---|"]
    for task, cells in summary["results"].items():
        for config, c in cells.items():
            d = c["worst_drop_after_80pct"]
            drop = "-" if d["iqm"] is None else f"{d['iqm']:.2f} [{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}] " \
                                                f"(n={d['n_reached_80pct']})"
            rows.append(f"| {task} | {config} | {c['n_reached_90pct']}/{c['n']} | {_fmt(c, 'env_steps_to_90pct', 0)} "
                        f"| {_fmt(c, 'learner_cpu_s_to_90pct', 1)} | {drop} |")
    return "\n".join(rows) + "\n"


def _write(out: Path, summary: dict) -> None:
    write_summary(out, summary, markdown_table(summary))


def run(a) -> dict:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {t: {c: [] for c in a.configs} for t in a.tasks}
    todo = [(seed, t, c) for seed in a.seeds for t in a.tasks for c in a.configs]
    missing = cached_runs(
        out, todo, lambda task, config: _settings(a, task, config),
        lambda s, seed: run_one(s, seed, out / "runs", not a.no_progress), a.report_only,
        on_result=lambda seed, task, config, r, ran: results[task][config].append(r),
        on_new=lambda missing: _write(out, summarize(a, results, missing)))
    summary = summarize(a, results, missing)
    _write(out, summary)
    return {**summary, "table_md": str(out / "table.md")}


def _csv(kind, allowed=None):
    def parse(text: str):
        items = tuple(kind(x) for x in text.split(",") if x.strip())
        bad = [x for x in items if allowed is not None and x not in allowed]
        if bad or not items:
            import argparse

            raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list"
                                             + (f" of {', '.join(allowed)}" if allowed else ""))
        return items
    return parse


def add_parser(sub) -> None:
    p = sub.add_parser("learner-ablation", help="learner configurations x tasks x seeds: IQM + bootstrap CI of env "
                                                "steps and learner CPU-s to 90 %% eval success, worst drop after 80 %%")
    p.add_argument("--tasks", type=_csv(str), default=DEFAULT_TASKS, help="comma-separated twin tasks")
    p.add_argument("--configs", type=_csv(str, tuple(CONFIGS)), default=DEFAULT_CONFIGS,
                   help=f"comma-separated, of: {', '.join(CONFIGS)}")
    p.add_argument("--seeds", type=_csv(int), default=(0, 1, 2, 3, 4), help="comma-separated seeds")
    p.add_argument("--steps", type=int, default=15_000, help="env-step budget per run")
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--demos", type=int, default=20)
    p.add_argument("--random-steps", type=int, default=None, help="random steps before learning (default: preset)")
    p.add_argument("--device", default="cpu", help="the learner's device (CPU-seconds are the figure)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default); 1 by default: "
                   "on a loaded 2-core CPU two threads' OpenMP spin-waits counted as CPU time (4x the CPU-s per "
                   "update measured)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--out", default="runs/bench/learner_ablation")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--report-only", action="store_true", help="run nothing: summarize the finished runs in --out "
                                                              "(the others are listed in missing_runs)")
    p.add_argument("--json", action="store_true")

    from robot_rl.tools.bench.cli import runner

    p.set_defaults(func=runner(run))
