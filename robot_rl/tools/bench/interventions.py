"""``robot-rl bench interventions``: does a human in the loop make the learner reach 90 % policy-only success in
fewer env steps? Three arms on the same task, seeds, demos, env-step budget and evaluation:

- ``without``: no human (the learner alone, from its demos);
- ``with``: HIL-SERL (Luo et al. 2024): a scripted person takes over when the policy strays; its steps go to the
  online buffer and, flagged, to the prior buffer (:class:`robot_rl.learning.flagged_replay.FlaggedRouter`, as the
  learner node routes them), with the task's reward;
- ``rlif``: RLIF (Luo et al. 2023, "RLIF: Interactive Imitation Learning as Reinforcement Learning"): the same
  human and routing, but the reward is only the takeover signal (``TrainConfig.rlif``: ``rlif_takeover_reward`` on
  the policy's transition just before a takeover starts, the action that made the person step in; 0 on every other
  one, the human's own included; the demos' task rewards are zeroed too, so no task reward reaches the learner).

The person is :class:`robot_rl.runtime.person_like_human.PersonLikeHuman`: it judges a stray from the task's
features (no progress of the task's remaining distance over ``--patience`` steps), takes over **late** (a random
reaction delay), **partially** (a random takeover length, handing back whether or not the task is done) and
**sometimes wrong** (with ``--wrong-prob`` per takeover its first part heads for a shifted target or is much
noisier). It drives the task's privileged scripted expert on the in-process twin (``TwinArmEnv``, no ROS: the A/B
fits on a CPU). Its random draws are seeded by the run's seed, so ``with`` and ``rlif`` face the same person.

What is measured: the learner (:class:`~robot_rl.loops.trainer.Trainer`, the learner's defaults, preset
``--preset``) is evaluated **policy only** (deterministic actions, the human off, seeds disjoint from training)
every ``--eval-every`` env steps; human steps count as env steps. Per run: the env steps of the first evaluation at
or above ``--threshold``. Per (task, arm), over seeds: the IQM with a percentile-bootstrap 95 % CI (Agarwal et al.,
NeurIPS 2021; :func:`robot_rl.tools.bench.learner_ablation.iqm` / ``bootstrap_ci``); a run that never reaches the
threshold enters at its budget (counted in ``n_censored``; the figure is then a lower bound, as in the learner
ablation). Per task, the paired-by-seed differences ``without - with`` and ``without - rlif`` (positive: the human
arm needed fewer env steps), their mean with a bootstrap CI over seeds, and whether that CI excludes zero.

With ``--full`` (whole budgets, no stop at the threshold) a second, uncensored figure: **success at budget**, the
mean policy-only success of a run's last ``--final-evals`` evaluations, per arm (mean, bootstrap CI) and paired by
seed as ``with - without`` and ``rlif - without`` (positive: the human arm ends better), with whether the CI
excludes zero. Every run ends at its budget, so no pair is censored.

Each finished (task, arm, seed) run is ``<out>/<task>/<arm>_seed<n>.json`` and reused by a later call with the same
settings; ``summary.json``, ``table.md`` and ``curves_<task>.png`` are rewritten after each new run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from robot_rl.io import atomic_write_bytes
from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter
from robot_rl.tools.bench.learner_ablation import _csv, bootstrap_ci, iqm
from robot_rl.tools.bench.sample_efficiency import cached_runs, steps_to

ARMS = ("with", "without", "rlif")
TASKS = ("reach", "pick_cube", "peg_insert")
HUMAN_ARMS = ("with", "rlif")
CENSORING = ("a run that never reaches the threshold enters at its budget (the env steps it ran) and is counted in "
             "n_censored; lower_bound is then true: the true IQM is at least this")


def _trainer_cls():
    from robot_rl.loops.trainer import Trainer

    class HumanInTheLoopTrainer(Trainer):
        """The Trainer (env, agent, demos, its one training loop and evaluation) with flagged buffers and a
        person-like scripted human as its takeover source (``human_cfg``; None: no human)."""

        def __init__(self, cfg, out_dir, human_cfg=None):
            super().__init__(cfg, out_dir, progress=False)
            from robot_rl.learning.mixer import DataMixer

            spec = self.online.obs_spec
            rc = cfg.replay
            self.online = FlaggedReplayBuffer(spec, self.action_dim, self.online.capacity, rc.extra_frame_fraction,
                                              self.device)
            # the prior buffer holds demos + every intervention (a human may drive most of a budget)
            self.prior = FlaggedReplayBuffer(spec, self.action_dim, self.prior.capacity + cfg.total_env_steps,
                                             rc.extra_frame_fraction, self.device)
            self.router = FlaggedRouter(self.online, self.prior, rlif=cfg.rlif, takeover_reward=cfg.rlif_takeover_reward)
            self.mixer = DataMixer.of(self.online, self.prior, cfg)
            self.human = None
            if human_cfg is not None:
                from robot_rl.runtime.intervention import WatcherTakeover
                from robot_rl.runtime.person_like_human import PersonLikeHuman

                self.human = PersonLikeHuman(human_cfg, self.env.unwrapped)
                self.takeover = WatcherTakeover(self.human, self._observe)

        def prepare(self) -> None:
            super().prepare()
            if self.cfg.rlif:  # RLIF: the takeover is the only reward; the demos keep their actions, not the task's
                self.prior.rewards.zero_()

        def _task_state(self) -> np.ndarray:
            """What the twin node publishes on task/state: [reward, success, task features]."""
            env = self.env.unwrapped
            tcp, _ = env.twin.ee_pose()
            s = float(env.task.success(env.model, env.data, tcp))
            return np.concatenate([[s, s], env.task.features(env.model, env.data, tcp)])

        def _observe(self, human) -> None:
            pos, rot = self.env.unwrapped.twin.ee_pose()
            human.observe(pos, rot, self._task_state())

        def run_arm(self, threshold: float, stop_at_threshold: bool) -> dict:
            t0, c0 = time.perf_counter(), time.process_time()
            s = self.run(on_eval=lambda r: stop_at_threshold and r["success_rate"] >= threshold)
            tk = self.takeover
            h = self.human.stats() if self.human is not None else {}
            return {"curve": self.curve(), "env_steps": self.step, "updates": s["updates"],
                    "human_steps": tk.human_steps if tk else 0, "takeovers": tk.takeovers if tk else 0,
                    **{k: h.get(k, 0) for k in ("wrong_takeovers", "wrong_target_takeovers", "partial_takeovers")},
                    "mean_takeover_steps": h.get("mean_takeover_steps"),
                    "mean_reaction_delay_steps": h.get("mean_reaction_delay_steps"),
                    "prior_transitions": int(len(self.prior)),
                    "prior_flagged_intervened": int(self.prior.stored_flags("intervened").sum()),
                    "prior_flagged_takeover_started": int(self.prior.stored_flags("takeover_started").sum()),
                    "online_reward_sum": float(self.online.rewards[:len(self.online)].sum()),
                    "demo_transitions": int(self.demo_info.get("demo_transitions", 0)),
                    "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)}

    return HumanInTheLoopTrainer


def human_config(s: dict, seed: int):
    from robot_rl.runtime.person_like_human import PersonLikeHumanConfig

    h = s["human"]
    return PersonLikeHumanConfig(task=s["task"], seed=seed, **{k: tuple(v) if isinstance(v, list) else v
                                                              for k, v in h.items()})


def run_one(s: dict, seed: int, out: Path) -> dict:
    """One (task, arm, seed) run: ``s`` is the run's settings (:func:`settings`)."""
    from robot_rl.learning.config import TrainConfig, preset

    arm = s["arm"]
    values = {**s["overrides"], "task": s["task"], "seed": seed, "total_env_steps": s["steps"],
              "num_demos": s["demos"], "eval_every_env_steps": s["eval_every"], "eval_episodes": s["eval_episodes"],
              "checkpoint_every_env_steps": 10**12, "device": "cpu", "rlif": arm == "rlif"}
    if s["random_steps"] is not None:
        values.update(random_action_steps=s["random_steps"], start_training_after_steps=max(1, s["random_steps"]))
    cfg = preset(TrainConfig, s["preset"], values, where="bench interventions: ")
    hcfg = human_config(s, seed) if arm in HUMAN_ARMS else None
    t = _trainer_cls()(cfg, out / s["task"] / f"{arm}_seed{seed}", hcfg)
    r = t.run_arm(s["threshold"], s["stop_at_threshold"])
    r.update(task=s["task"], arm=arm, seed=seed, human=hcfg is not None)
    return r


def train_arm(s: dict, seed: int, human: bool, out: Path) -> dict:
    """The earlier A/B's entry point (reach, explicit width / critics / batch / UTD, one fixed-length takeover,
    no delay, never wrong): ``human`` True is the ``with`` arm, False ``without``."""
    sett = {"task": s["task"], "arm": "with" if human else "without", "preset": "sparse_manipulation",
            "overrides": {"reward": s["reward"], "batch_size": s["batch"], "utd_ratio": s["utd"],
                          "sac.hidden_width": s["width"], "sac.num_critics": s["critics"],
                          "sac.critic_subset_size": min(2, s["critics"])},
            "demos": s["demos"], "steps": s["steps"], "eval_every": s["eval_every"],
            "eval_episodes": s["eval_episodes"], "random_steps": s["warmup"], "threshold": s["threshold"],
            "stop_at_threshold": not s["full"],
            "human": {"noise_std": s["human_noise"], "patience_steps": s["patience"],
                      "reaction_delay_steps": [0, 0], "takeover_steps": [s["takeover_steps"]] * 2, "wrong_prob": 0.0}}
    return run_one(sett, seed, out)


# ---- settings ----------------------------------------------------------------------------------------------------
def _human_settings(a) -> dict:
    return {"noise_std": a.human_noise, "patience_steps": a.patience, "progress_m": a.progress_m,
            "reaction_delay_steps": list(a.reaction_delay), "takeover_steps": list(a.takeover_steps),
            "wrong_prob": a.wrong_prob, "wrong_fraction": list(a.wrong_fraction),
            "wrong_target_prob": a.wrong_target_prob, "wrong_offset_m": a.wrong_offset_m,
            "wrong_noise_std": a.wrong_noise}


def settings(a, task: str, arm: str) -> dict:
    """What a run of (task, arm) depends on (the cache key; ``without`` does not depend on the human)."""
    return {"task": task, "arm": arm, "preset": a.preset, "overrides": {}, "demos": a.demos,
            "steps": dict(zip(a.tasks, a.steps))[task], "eval_every": dict(zip(a.tasks, a.eval_every))[task],
            "eval_episodes": a.eval_episodes, "random_steps": a.random_steps,
            "threshold": a.threshold, "stop_at_threshold": not a.full,
            "human": _human_settings(a) if arm in HUMAN_ARMS else None}


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
    return str(plot_curves(out / f"curves_{task}.png", curves, f"{task}: seeds at >= {t:.0%} policy-only success, "
                           f"{s['demos']} demos", ylabel=f"share of seeds reached {t:.0%}", target=None))


def summarize(a, results: dict, missing: list) -> dict:
    th = a.threshold
    summary: dict = {"bench": "interventions", "what": "in-process twin + the learner's Trainer (no ROS); a person-like "
                     "scripted human (late, partial, sometimes wrong); policy-only deterministic evaluation; human "
                     "steps count as env steps", "tasks": list(results), "arms": list(a.arms), "seeds": list(a.seeds),
                     "preset": a.preset, "demos": a.demos, "steps": dict(zip(a.tasks, a.steps)),
                     "eval_every": dict(zip(a.tasks, a.eval_every)), "eval_episodes": a.eval_episodes,
                     "random_steps": a.random_steps,
                     "threshold": th, "stop_at_threshold": not a.full, "human": _human_settings(a),
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
                                                                             "steps": summary["steps"][task]})
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
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "table.md", markdown_table(summary).encode())


def run(a) -> dict:
    for name in ("steps", "eval_every"):
        v = getattr(a, name)
        if len(v) == 1:
            setattr(a, name, tuple(v) * len(a.tasks))
        elif len(v) != len(a.tasks):
            raise SystemExit(f"bench interventions: --{name.replace('_', '-')} gives {len(v)} values for "
                             f"{len(a.tasks)} tasks (one for all, or one per task)")
    if a.final_evals < 1:
        raise SystemExit(f"bench interventions: --final-evals must be >= 1, got {a.final_evals}")
    try:  # a bad human parameter fails here, in one line
        human_config(settings(a, a.tasks[0], "with"), 0)
    except ValueError as e:
        raise SystemExit(f"bench interventions: {e}") from None
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {t: {arm: [] for arm in a.arms} for t in a.tasks}
    todo = [(seed, t, arm) for seed in a.seeds for t in a.tasks for arm in a.arms]

    def keep(seed, task, arm, r, ran):
        if not a.json:
            x, reached = run_figure(r, a.threshold)
            at_budget = f", success at budget {success_at_budget(r, a.final_evals):.2f}" if a.full else ""
            print(f"{task} {arm} seed {seed}: steps to {a.threshold:.0%} {'' if reached else '>= '}{x}, "
                  f"takeovers {r['takeovers']}, human steps {r['human_steps']}, {r['cpu_s']} CPU-s{at_budget}"
                  f"{'' if ran else ' (cached)'}", flush=True)
        results[task][arm].append(r)

    missing = cached_runs(out, todo, lambda task, arm: settings(a, task, arm),
                          lambda s, seed: run_one(s, seed, out / "runs"), a.report_only, on_result=keep,
                          on_new=lambda missing: _write(out, summarize(a, results, missing)))
    summary = summarize(a, results, missing)
    _write(out, summary)
    return {**summary, "table_md": str(out / "table.md")}


def _range(kind):
    def parse(text: str):
        import argparse

        try:
            lo, hi = (kind(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected LO,HI") from None
        if not 0 <= lo <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: expected 0 <= LO <= HI")
        return (lo, hi)
    return parse


def add_parser(sub) -> None:
    from robot_rl.runtime.person_like_human import PersonLikeHumanConfig

    h = PersonLikeHumanConfig()
    p = sub.add_parser("interventions", help="human in the loop: without vs with (HIL-SERL) vs RLIF takeovers of a "
                                             "person-like scripted human; env steps to 90 %% policy-only success")
    p.add_argument("--tasks", type=_csv(str, TASKS), default=("pick_cube", "peg_insert"),
                   help=f"comma-separated, of: {', '.join(TASKS)}")
    p.add_argument("--arms", type=_csv(str, ARMS), default=ARMS, help=f"comma-separated, of: {', '.join(ARMS)}")
    p.add_argument("--seeds", type=_csv(int), default=(0, 1, 2, 3, 4), help="comma-separated seeds (each runs "
                   "every arm; the human's draws are seeded by it)")
    p.add_argument("--steps", type=_csv(int), default=(2000,), help="env-step budget per run, human steps included "
                   "(one for all tasks, or one per task, comma-separated)")
    p.add_argument("--demos", type=int, default=3, help="scripted-expert demo episodes in the prior buffer (few, so "
                   "that there is room for the human to matter)")
    p.add_argument("--preset", default="sparse_manipulation", help="the learner's preset (robot_rl.learning.config."
                   "PRESETS; default: the learner's defaults)")
    p.add_argument("--random-steps", type=int, default=None, help="env steps of uniform-random actions (and no "
                   "updates) at the start (default: the preset's)")
    p.add_argument("--eval-every", type=_csv(int), default=(250,), help="env steps between policy-only evaluations "
                   "(one for all tasks, or one per task, comma-separated)")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation")
    p.add_argument("--threshold", type=float, default=0.9, help="policy-only eval success to reach (fraction)")
    p.add_argument("--full", action="store_true", help="run whole budgets (default: stop a run at the threshold); "
                   "adds the uncensored figure success at budget")
    p.add_argument("--final-evals", type=int, default=2, help="with --full: success at budget is the mean of each "
                   "run's last N evaluations")
    g = p.add_argument_group("the person-like human (robot_rl.runtime.person_like_human); a step is one policy "
                             "period, 0.1 s at 10 Hz")
    g.add_argument("--patience", type=int, default=h.patience_steps, help="steps without progress = a stray")
    g.add_argument("--progress-m", type=float, default=h.progress_m, help="m: the task's remaining distance must "
                   "shrink by this over --patience steps, else the policy strayed")
    g.add_argument("--reaction-delay", type=_range(int), default=h.reaction_delay_steps,
                   help="LO,HI steps (uniform): the policy keeps acting this long after the human noticed a stray")
    g.add_argument("--takeover-steps", type=_range(int), default=h.takeover_steps,
                   help="LO,HI steps (uniform) per takeover; it hands back then, task done or not")
    g.add_argument("--wrong-prob", type=float, default=h.wrong_prob, help="chance per takeover that its first part "
                   "is wrong")
    g.add_argument("--wrong-fraction", type=_range(float), default=h.wrong_fraction,
                   help="LO,HI (uniform, fractions of the takeover) of its wrong first part")
    g.add_argument("--wrong-target-prob", type=float, default=h.wrong_target_prob,
                   help="of the wrong takeovers, the share heading for a shifted target (the rest: a noisier action)")
    g.add_argument("--wrong-offset-m", type=float, default=h.wrong_offset_m, help="m: horizontal shift of the wrong "
                   "target")
    g.add_argument("--wrong-noise", type=float, default=h.wrong_noise_std, help="action units: extra noise std of a "
                   "noisy wrong takeover")
    g.add_argument("--human-noise", type=float, default=h.noise_std, help="action units: the human's normal noise std")
    p.add_argument("--report-only", action="store_true", help="summarise the finished (cached) runs of these "
                   "settings; run nothing (the others are listed in missing_runs)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="runs/bench/interventions")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")

    from robot_rl.tools.bench.cli import runner

    p.set_defaults(func=runner(run))
