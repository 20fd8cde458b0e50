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

import time
from pathlib import Path

import numpy as np

from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter
from robot_rl.tools.bench.interventions_stats import HUMAN_ARMS, _write, run_figure, success_at_budget, summarize
from robot_rl.tools.bench.learner_ablation import _csv
from robot_rl.tools.bench.sample_efficiency import cached_runs

ARMS = ("with", "without", "rlif")
TASKS = ("reach", "pick_cube", "peg_insert")
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
                          on_new=lambda missing: _write(out, summarize(a, results, missing, _human_settings(a))))
    summary = summarize(a, results, missing, _human_settings(a))
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
