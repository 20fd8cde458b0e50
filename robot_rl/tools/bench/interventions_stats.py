"""Statistics and report of ``robot-rl bench interventions`` (:mod:`robot_rl.tools.bench.interventions`): per
run the env steps to the threshold (censored at the budget) and the success at budget; per (task, arm) IQM /
mean with bootstrap CIs; per task the paired-by-seed differences; the curves PNG and the markdown table."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.tools.bench.learner_ablation import bootstrap_ci, iqm
from robot_rl.tools.bench.sample_efficiency import steps_to, write_summary

HUMAN_ARMS = ("with", "rlif")
CENSORING = ("a run that never reaches the threshold enters at its budget (the env steps it ran) and is counted in "
             "n_censored; lower_bound is then true: the true IQM is at least this")


# ---- statistics --------------------------------------------------------------------------------------------------
def run_figure(run: dict, threshold: float) -> tuple[int, bool]:
    """(env steps to the threshold, reached): a censored run at the env steps it ran."""
    x = steps_to(run["curve"], threshold)
    return (x, True) if x is not None else (int(run["env_steps"]), False)


def summarize_arm(runs: list[dict], threshold: float, n_boot: int, final_evals: int = 0) -> dict:
    """One (task, arm) over its seeds; ``final_evals`` > 0 (whole-budget runs) adds success at budget."""
    seeds = [str(r["seed"]) for r in runs]
    figs = [run_figure(r, threshold) for r in runs]
    vals = [f[0] for f in figs]
    censored = [s for s, f in zip(seeds, figs) if not f[1]]
    per = lambda k: {s: r.get(k) for s, r in zip(seeds, runs)}  # noqa: E731
    human = [r["human_steps"] for r in runs]
    env = [r["env_steps"] for r in runs]
    return {"n": len(runs), "seeds": seeds, "n_reached": len(runs) - len(censored), "n_censored": len(censored),
            "env_steps_to_threshold": {"iqm": iqm(vals), "ci95": bootstrap_ci(vals, n_boot=n_boot),
                                       "per_seed": dict(zip(seeds, vals)), "censored_seeds": censored,
                                       "lower_bound": bool(censored)},
            "takeovers": {"total": int(sum(r["takeovers"] for r in runs)), "per_seed": per("takeovers")},
            "human_steps": {"total": int(sum(human)), "per_seed": per("human_steps"),
                            "share_of_env_steps": float(sum(human) / max(1, sum(env)))},
            "wrong_takeovers": {"total": int(sum(r["wrong_takeovers"] for r in runs)), "per_seed": per("wrong_takeovers")},
            "partial_takeovers": {"total": int(sum(r["partial_takeovers"] for r in runs)),
                                  "per_seed": per("partial_takeovers")},
            "final_policy_only_success": {s: r["curve"][-1][1] if r["curve"] else None for s, r in zip(seeds, runs)},
            **({"success_at_budget": _success_cell(runs, seeds, final_evals, n_boot)} if final_evals else {}),
            **{f"{k}_per_seed": per(k) for k in ("env_steps", "updates", "wall_s", "cpu_s")}}


def _success_cell(runs: list[dict], seeds: list[str], final_evals: int, n_boot: int) -> dict:
    v = [success_at_budget(r, final_evals) for r in runs]
    return {"mean": float(np.mean(v)), "ci95": bootstrap_ci(v, stat=np.mean, n_boot=n_boot),
            "per_seed": dict(zip(seeds, v)), "final_evals": final_evals}


def paired_difference(a_runs: list[dict], b_runs: list[dict], threshold: float, n_boot: int) -> dict | None:
    """Per seed both arms ran: steps(a) - steps(b) (censored runs at their budget); the mean with a percentile
    bootstrap 95 % CI over seeds (seeds resampled, pairs kept), and whether the CI excludes zero."""
    a = {r["seed"]: run_figure(r, threshold) for r in a_runs}
    b = {r["seed"]: run_figure(r, threshold) for r in b_runs}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = [a[s][0] - b[s][0] for s in seeds]
    lo, hi = bootstrap_ci(d, stat=np.mean, n_boot=n_boot)
    cens = [str(s) for s in seeds if not (a[s][1] and b[s][1])]
    return {"seeds": [str(s) for s in seeds], "per_seed": {str(s): v for s, v in zip(seeds, d)},
            "mean": float(np.mean(d)), "ci95": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0),
            "pairs_with_a_censored_run": cens,
            "note": "censored runs enter at their budget, so a difference with a censored run is a bound, not exact"}


def success_at_budget(run: dict, final_evals: int) -> float:
    """Mean policy-only eval success of the run's last ``final_evals`` evaluations (the fixed-budget figure)."""
    vals = [v for _, v in run["curve"][-final_evals:]]
    return float(np.mean(vals)) if vals else float("nan")


def paired_success(a_runs: list[dict], b_runs: list[dict], final_evals: int, n_boot: int) -> dict | None:
    """Per seed both arms ran: success_at_budget(a) - success_at_budget(b); the mean with a percentile bootstrap
    95 % CI over seeds (pairs kept), and whether the CI excludes zero."""
    a = {r["seed"]: success_at_budget(r, final_evals) for r in a_runs}
    b = {r["seed"]: success_at_budget(r, final_evals) for r in b_runs}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = [a[s] - b[s] for s in seeds]
    lo, hi = bootstrap_ci(d, stat=np.mean, n_boot=n_boot)
    return {"seeds": [str(s) for s in seeds], "per_seed": {str(s): v for s, v in zip(seeds, d)},
            "mean": float(np.mean(d)), "ci95": [lo, hi], "excludes_zero": bool(lo > 0 or hi < 0)}


def _plot(out: Path, task: str, by_arm: dict[str, list[dict]], s: dict) -> str:
    """Per arm, the share of seeds that have reached the threshold by each env step (runs stop there)."""
    from robot_rl.loops.logs import plot_curves

    t = s["threshold"]
    curves = {}
    for arm, rs in by_arm.items():
        if not rs:
            continue
        figs = [run_figure(r, t) for r in rs]
        xs = sorted({0, s["steps"], *(f[0] for f in figs if f[1])})
        curves[f"{arm} (n={len(rs)})"] = [(x, sum(f[1] and f[0] <= x for f in figs) / len(rs)) for x in xs]
    path = plot_curves(out / f"curves_{task}.png", curves, f"{task}: seeds at >= {t:.0%} policy-only success, "
                       f"{s['demos']} demos", ylabel=f"share of seeds reached {t:.0%}", target=None)
    if s.get("full"):  # whole budgets: also the mean policy-only success curve of each arm over its seeds
        mean = {}
        for arm, rs in by_arm.items():
            steps = sorted({int(x) for r in rs for x, _ in r["curve"]})
            at = [{int(x): v for x, v in r["curve"]} for r in rs]
            mean[f"{arm} (n={len(rs)})"] = [(x, float(np.mean([c[x] for c in at if x in c]))) for x in steps]
        plot_curves(out / f"success_{task}.png", {k: v for k, v in mean.items() if v},
                    f"{task}: mean policy-only success over seeds, {s['demos']} demos", ylabel="eval success",
                    target=None)
    return str(path)


def summarize(a, results: dict, missing: list, human: dict) -> dict:
    """The bench's summary of the runs in ``results`` (task -> arm -> runs); ``human``: the person's settings."""
    th = a.threshold
    summary: dict = {"bench": "interventions", "what": "in-process twin + the learner's Trainer (no ROS); a person-like "
                     "scripted human (late, partial, sometimes wrong); policy-only deterministic evaluation; human "
                     "steps count as env steps", "tasks": list(results), "arms": list(a.arms), "seeds": list(a.seeds),
                     "preset": a.preset, "demos": a.demos, "steps": dict(zip(a.tasks, a.steps)),
                     "eval_every": dict(zip(a.tasks, a.eval_every)), "eval_episodes": a.eval_episodes,
                     "random_steps": a.random_steps,
                     "threshold": th, "stop_at_threshold": not a.full, "human": human,
                     "ci": f"percentile bootstrap over seeds, {a.bootstrap} resamples, 95 %", "censoring": CENSORING,
                     "results": {}, "paired": {}, "curves_png": {}, "missing_runs": missing,
                     "success_at_budget": (f"mean policy-only success of each run's last {a.final_evals} evaluations"
                                           if a.full else "not reported: runs stop at the threshold (use --full)"),
                     "paired_success_at_budget": {}}
    for task, by_arm in results.items():
        k = a.final_evals if a.full else 0
        summary["results"][task] = {arm: summarize_arm(rs, th, a.bootstrap, k) for arm, rs in by_arm.items() if rs}
        if k:
            summary["paired_success_at_budget"][task] = {
                f"{other}_minus_without": paired_success(by_arm[other], by_arm["without"], k, a.bootstrap)
                for other in HUMAN_ARMS if by_arm.get("without") and by_arm.get(other)}
        summary["paired"][task] = {}
        for other in HUMAN_ARMS:
            if by_arm.get("without") and by_arm.get(other):
                summary["paired"][task][f"without_minus_{other}"] = paired_difference(
                    by_arm["without"], by_arm[other], th, a.bootstrap)
        if any(by_arm.values()):
            summary["curves_png"][task] = _plot(Path(a.out), task, by_arm, {"threshold": th, "demos": a.demos,
                                                                             "steps": summary["steps"][task],
                                                                             "full": a.full})
    return summary


def markdown_table(summary: dict) -> str:
    pct = f"{summary['threshold']:.0%}"
    rows = [f"| task | arm | reached {pct} | env steps to {pct}, IQM [95 % CI] | takeovers | human steps (share) "
            f"| wrong / partial takeovers |", "|---|---|---|---|---|---|---|"]
    for task, cells in summary["results"].items():
        for arm, c in cells.items():
            e = c["env_steps_to_threshold"]
            bound = "≥ " if e["lower_bound"] else ""
            hs = c["human_steps"]
            rows.append(f"| {task} | {arm} | {c['n_reached']}/{c['n']} | {bound}{e['iqm']:.0f} [{e['ci95'][0]:.0f}, "
                        f"{e['ci95'][1]:.0f}] | {c['takeovers']['total']} | {hs['total']} "
                        f"({hs['share_of_env_steps']:.0%}) | {c['wrong_takeovers']['total']} / "
                        f"{c['partial_takeovers']['total']} |")
    rows += ["", "| task | paired difference (env steps) | mean [95 % CI] | excludes 0 | pairs with a censored run |",
             "|---|---|---|---|---|"]
    for task, diffs in summary["paired"].items():
        for name, d in diffs.items():
            if d:
                rows.append(f"| {task} | {name.replace('_minus_', ' − ')} | {d['mean']:.0f} [{d['ci95'][0]:.0f}, "
                            f"{d['ci95'][1]:.0f}] | {'yes' if d['excludes_zero'] else 'no'} | "
                            f"{len(d['pairs_with_a_censored_run'])}/{len(d['seeds'])} |")
    if summary.get("paired_success_at_budget"):
        rows += ["", f"| task | arm | success at budget ({summary['success_at_budget']}), mean [95 % CI] "
                 "| paired vs without, mean [95 % CI] | excludes 0 |", "|---|---|---|---|---|"]
        for task, cells in summary["results"].items():
            diffs = summary["paired_success_at_budget"].get(task, {})
            for arm, c in cells.items():
                b = c.get("success_at_budget")
                if b is None:
                    continue
                d = diffs.get(f"{arm}_minus_without")
                pair = "-" if not d else f"{d['mean']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"
                ex = "-" if not d else ("yes" if d["excludes_zero"] else "no")
                rows.append(f"| {task} | {arm} | {b['mean']:.2f} [{b['ci95'][0]:.2f}, {b['ci95'][1]:.2f}] "
                            f"| {pair} | {ex} |")
    return "\n".join(rows) + "\n"


def _write(out: Path, summary: dict) -> None:
    write_summary(out, summary, markdown_table(summary))
