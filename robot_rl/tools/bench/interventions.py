"""``robot-rl bench interventions``: A/B of training with and without a scripted human's interventions (HIL-SERL),
same task, seeds, demos, env-step budget and evaluation; env steps to the success threshold for each.

What runs: the in-process twin (``TwinArmEnv``, no ROS, so that the A/B fits in minutes on a CPU) with the
learner (RLPD/SAC, the :class:`~robot_rl.loops.trainer.Trainer`'s env, agent, demos, training loop and
evaluation), and the **same scripted human as the ROS runtime** (:class:`robot_rl.runtime.scripted_human.ScriptedHuman`:
takes over when the TCP made less than ``progress_m`` progress toward the goal over ``patience_steps`` policy
steps, then drives the noisy expert for ``takeover_steps``). It sees what the twin node publishes (TCP pose and
the task state). Arm A has the human on, arm B off; everything else is identical. Human steps count as env steps.

Interventions are routed like the learner node does (:class:`robot_rl.learning.flagged_replay.FlaggedRouter`): online
buffer, and also the prior buffer with their ``intervened`` / ``takeover_started`` flags; the summary reports how
many prior-buffer transitions carry the flag. Evaluation is **policy only** (deterministic, the human off) on
seeds disjoint from training, every ``--eval-every`` env steps; ``steps_to_<pct>pct`` is the first evaluation at
or above ``--threshold`` (``None``: not reached within the budget; the curves and the final policy-only success
are reported either way).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from robot_rl.tools.bench.sample_efficiency import steps_to
from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter


def _trainer_cls():
    from robot_rl.loops.trainer import Trainer

    class HumanInTheLoopTrainer(Trainer):
        """The Trainer (env, agent, demos, its one training loop and evaluation) with flagged buffers and a
        stray-triggered scripted human as its takeover source."""

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
            self.router = FlaggedRouter(self.online, self.prior)
            self.mixer = DataMixer.of(self.online, self.prior, cfg)
            if human_cfg is not None:
                from robot_rl.runtime.intervention import WatcherTakeover
                from robot_rl.runtime.scripted_human import ScriptedHuman

                self.takeover = WatcherTakeover(ScriptedHuman(human_cfg), self._observe)

        def _task_state(self) -> np.ndarray:
            """What the twin node publishes on task/state: [reward, success, features (goal, goal - tcp)]."""
            env = self.env.unwrapped
            tcp, _ = env.twin.ee_pose()
            s = float(env.task.success(env.model, env.data, tcp))
            return np.concatenate([[s, s], env.task.features(env.model, env.data, tcp)])

        def _observe(self, human) -> None:
            pos, rot = self.env.unwrapped.twin.ee_pose()
            human.observe(pos, rot, self._task_state())

        def run_ab(self, threshold: float, stop_at_threshold: bool) -> dict:
            t0 = time.perf_counter()
            s = self.run(on_eval=lambda r: stop_at_threshold and r["success_rate"] >= threshold)
            self.wall_s = time.perf_counter() - t0
            tk = self.takeover
            return {"curve": self.curve(), "env_steps": self.step, "updates": s["updates"],
                    "human_steps": tk.human_steps if tk else 0, "takeovers": tk.takeovers if tk else 0,
                    "prior_transitions": int(len(self.prior)),
                    "prior_flagged_intervened": int(self.prior.stored_flags("intervened").sum()),
                    "prior_flagged_takeover_started": int(self.prior.stored_flags("takeover_started").sum()),
                    "demo_transitions": int(self.demo_info.get("demo_transitions", 0)),
                    "wall_s": round(self.wall_s, 1)}

    return HumanInTheLoopTrainer


def train_arm(s: dict, seed: int, human: bool, out: Path) -> dict:
    from robot_rl.learning.config import SACConfig, TrainConfig
    from robot_rl.runtime.scripted_human import ScriptedHumanConfig

    cfg = TrainConfig(task=s["task"], reward=s["reward"], seed=seed, total_env_steps=s["steps"], num_demos=s["demos"],
                      batch_size=s["batch"], utd_ratio=s["utd"], eval_every_env_steps=s["eval_every"],
                      eval_episodes=s["eval_episodes"], checkpoint_every_env_steps=10**12,
                      start_training_after_steps=s["warmup"], random_action_steps=s["warmup"],
                      sac=SACConfig(hidden_width=s["width"], num_critics=s["critics"]))
    hcfg = ScriptedHumanConfig(task=s["task"], noise_std=s["human_noise"], patience_steps=s["patience"],
                               takeover_steps=s["takeover_steps"], seed=seed) if human else None
    t = _trainer_cls()(cfg, out / f"{'human' if human else 'no_human'}_seed{seed}", hcfg)
    r = t.run_ab(s["threshold"], not s["full"])
    r.update(seed=seed, human=human)
    return r


def run(a) -> dict:
    s = {"task": a.task, "reward": a.reward, "steps": a.steps, "demos": a.demos, "utd": a.utd, "width": a.width, "critics": a.critics,
         "batch": a.batch, "warmup": a.warmup, "eval_every": a.eval_every, "eval_episodes": a.eval_episodes,
         "threshold": a.threshold, "full": a.full, "human_noise": a.human_noise, "patience": a.patience,
         "takeover_steps": a.takeover_steps}
    seeds = [int(x) for x in a.seeds.split(",")]
    out = Path(a.out)
    runs: dict[str, list[dict]] = {"with_interventions": [], "without_interventions": []}
    for seed in seeds:
        for arm, human in (("with_interventions", True), ("without_interventions", False)):
            r = train_arm(s, seed, human, out)
            if not a.json:
                print(f"{arm} seed {seed}: steps to {a.threshold:.0%} = {steps_to(r['curve'], a.threshold)} "
                      f"({r['wall_s']} s)", flush=True)
            runs[arm].append(r)
    pct = int(round(100 * a.threshold))
    res: dict = {"bench": "interventions", "what": "in-process twin + agents Trainer (no ROS), same scripted human "
                 "as the ROS runtime; policy-only deterministic evaluation", **s, "seeds": seeds}
    for arm, rs in runs.items():
        st = [steps_to(r["curve"], a.threshold) for r in rs]
        reached = [x for x in st if x is not None]
        res[arm] = {
            f"steps_to_{pct}pct": {str(r["seed"]): x for r, x in zip(rs, st)},
            "seeds_reaching": len(reached),
            f"median_steps_to_{pct}pct": statistics.median(reached) if reached else None,
            "final_policy_only_success": {str(r["seed"]): r["curve"][-1][1] for r in rs},
            "curves": {str(r["seed"]): r["curve"] for r in rs},
            **{k: {str(r["seed"]): r[k] for r in rs} for k in ("env_steps", "human_steps", "takeovers",
                                                                 "prior_transitions", "prior_flagged_intervened",
                                                                 "demo_transitions", "wall_s")},
        }
    w = res["with_interventions"][f"median_steps_to_{pct}pct"]
    wo = res["without_interventions"][f"median_steps_to_{pct}pct"]
    res["without_over_with_steps"] = (wo / w) if w and wo else None
    return res


def add_parser(sub) -> None:
    p = sub.add_parser("interventions", help="A/B: training with vs without scripted-human interventions "
                                             "(env steps to the success threshold, policy-only eval)")
    p.add_argument("--task", default="reach", help="the scripted human supports 'reach'")
    p.add_argument("--reward", choices=("sparse", "dense"), default="dense",
                   help="sparse: 1 on success, what the twin node publishes on /task/state; dense: task shaping")
    p.add_argument("--seeds", default="0", help="comma-separated; each seed runs both arms")
    p.add_argument("--steps", type=int, default=2000, help="env-step budget per run (human steps count)")
    p.add_argument("--demos", type=int, default=10)
    p.add_argument("--utd", type=int, default=1)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--critics", type=int, default=4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=100, help="random-action / no-update env steps at the start")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--human-noise", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--takeover-steps", type=int, default=15)
    p.add_argument("--full", action="store_true", help="run whole budgets (default: stop at the threshold)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="runs/bench/interventions")
    p.add_argument("--json", action="store_true")

    from robot_rl.tools.bench.cli import runner

    p.set_defaults(func=runner(run))
