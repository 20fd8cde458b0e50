"""``robot-rl train``: RLPD/SAC on a twin task (``--task``, with the scripted expert's demos) or on any gymnasium env
(``--env``, e.g. ``Pendulum-v1``); demos from a file (``--demo-path``), a registered expert, or none; resumable.

Every field of :class:`robot_rl.learning.config.TrainConfig` is a flag, generated from the dataclass (dotted for
the nested configs: ``--sac.discount 0.99``, ``--replay.online-fraction 0.5``); the short flags of earlier
versions (``--steps``, ``--width``, ``--utd`` ...) remain as aliases. ``--preset`` picks the defaults
(``sparse_manipulation`` for ``--task``, ``quad_hover`` for ``--task quad_*``, ``dense_control`` for ``--env``). Bad input: one line, exit code 2."""
from __future__ import annotations

import argparse
import re
import sys

# short flags of earlier versions -> dotted config names
ALIASES = {"steps": "total_env_steps", "demos": "num_demos", "width": "sac.hidden_width", "critics": "sac.num_critics",
           "utd": "utd_ratio", "batch": "batch_size", "eval-every": "eval_every_env_steps",
           "discrete-gripper": "sac.discrete_gripper", "gripper-penalty": "sac.gripper_change_penalty",
           "intervention-prob": "intervention_prob_per_step", "pretrained-encoder": "encoder.pretrained_weights_path"}
RANDOM_STEPS = "random-steps"  # sets random_action_steps and start_training_after_steps together


def _flag(name: str) -> str:
    return name.replace("_", "-")


def config_from_args(a):
    """The :class:`TrainConfig` of parsed flags (preset, then every flag given). Raises ``ParameterError``."""
    from robot_rl.learning.config import TrainConfig, preset

    values = {}
    for dest, v in vars(a).items():
        if dest.startswith("cfg:"):
            values[dest[4:]] = v
    if getattr(a, "random_steps", None) is not None:
        values.setdefault("random_action_steps", a.random_steps)
        values.setdefault("start_training_after_steps", a.random_steps)
    task = values.get("task", "")
    name = a.preset or ("dense_control" if values.get("env") else
                        "quad_hover" if str(task).startswith("quad_") else "sparse_manipulation")
    return preset(TrainConfig, name, values, where="train: ")


def default_out(cfg) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", cfg.env or cfg.task)
    return f"runs/train/{name}_{'pixels' if cfg.pixels else 'state'}_seed{cfg.seed}"


def _run(a) -> int:
    import torch

    from robot_rl.contract.params import ParameterError
    from robot_rl.envs.sources import EnvSourceError
    from robot_rl.learning.checkpoint import CheckpointError
    from robot_rl.learning.policy import ObsSpecError
    from robot_rl.loops.demos import DemoError
    from robot_rl.loops.trainer import Trainer

    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        if a.resume:
            steps = getattr(a, "cfg:total_env_steps", None)
            trainer = Trainer.resume(a.resume, progress=not a.no_progress,
                                     total_env_steps=int(steps) if steps is not None else None)
            print(f"resuming {a.resume} at env step {trainer.step} / {trainer.cfg.total_env_steps}", file=sys.stderr)
        else:
            cfg = config_from_args(a)
            trainer = Trainer(cfg, a.out or default_out(cfg), progress=not a.no_progress)
        summary = trainer.run()
    except CheckpointError as e:
        print(f"error: cannot resume: {e}", file=sys.stderr)
        return 2
    except (ParameterError, EnvSourceError, DemoError, ObsSpecError, ValueError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyError as e:  # unknown twin task
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    h = summary["history"][-1]
    n = trainer.cfg.eval_episodes
    what = f"eval success {100 * h['success_rate']:.0f} %" if h["success_rate"] is not None else \
        f"eval mean return {h['mean_return']:.1f}"
    print(f"{summary['task']}: {what} over {n} episodes after {summary['env_steps']} env steps "
          f"({summary['updates']} updates, UTD {summary['utd_ratio']}, {summary['wall_s']:.0f} s, {summary['device']})")
    if h["success_rate"] is not None:
        s90 = summary["steps_to_90pct"]
        print(f"env steps to 90 % eval success: {s90 if s90 is not None else 'not reached'}")
    extra = _quad_eval(trainer, a) if summary["task"].startswith("quad_") and not trainer.cfg.env else ""
    print(f"out: {trainer.out}  (learning_curve.png, {extra}summary.json, checkpoint/, "
          f"{summary['log']['kind']} logs in {summary['log']['path']})")
    return 0


def _quad_eval(trainer, a) -> str:
    """Quadrotor tasks: the final policy on seeded initial states (the issue's figures) and the eval figure."""
    import json

    from robot_rl.io import atomic_write_bytes
    from robot_rl.tools.bench.quad_eval import evaluate, plot_eval, summary_only

    res = evaluate(trainer.policy(deterministic=True), trainer.eval_env, a.quad_eval_episodes, trainer.cfg.seed)
    plot_eval(trainer.out / "eval_figure.png", res, trainer.name)
    atomic_write_bytes(trainer.out / "eval.json", json.dumps(summary_only(res), indent=1).encode())
    print(f"{trainer.name} final policy on {res['episodes']} seeded initial states: success "
          f"{100 * res['success_rate']:.0f} %, crashes {100 * res['crash_rate']:.0f} %, position RMS over the last "
          f"2 s: median {100 * res['pos_rms_last_2s_m_median']:.1f} cm ({trainer.wall_s:.0f} s of training)")
    return "eval_figure.png, eval.json, "


def add_config_flags(p: argparse.ArgumentParser, cls, aliases: dict[str, str], skip: tuple[str, ...] = ()) -> None:
    """A flag per (dotted) field of ``cls`` but ``skip``; values stay strings, checked by ``params.build``."""
    from robot_rl.contract.params import flat_fields

    by_field = {}
    for alias, name in aliases.items():
        by_field.setdefault(name, []).append("--" + alias)
    for f in flat_fields(cls):
        if f.name in skip:
            continue
        flags = ["--" + _flag(f.name)] + by_field.get(f.name, [])
        text = f"{f.doc} [{f.valid_range()}] (default {f.default!r}, or the preset's)".strip()
        if f.kind == "bool":
            p.add_argument(*flags, dest="cfg:" + f.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=text)
        else:
            p.add_argument(*flags, dest="cfg:" + f.name, default=argparse.SUPPRESS, metavar=f.kind.upper(), help=text)


def add_parser(sub) -> None:
    from robot_rl.learning.config import PRESETS, TrainConfig

    p = sub.add_parser("train", help="train RLPD/SAC on a twin task or any gymnasium env (resumable)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="defaults to start from (sparse_manipulation for --task, quad_hover for --task quad_*, "
                        "dense_control for --env)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly from its last checkpoint")
    p.add_argument("--" + RANDOM_STEPS, dest="random_steps", type=int, default=None,
                   help="uniform-random env steps before the policy acts and updates start")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared CPU more threads spin against other processes "
                        "and can be many times slower; 0: torch's default)")
    p.add_argument("--out", default=None, help="run folder (default runs/train/<task or env>_<obs>_seed<seed>)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quad-eval-episodes", type=int, default=50,
                   help="quad_* tasks: seeded episodes the final policy is scored on (eval_figure.png, eval.json)")
    add_config_flags(p, TrainConfig, ALIASES, skip=("preset",))  # --preset sets it
    p.set_defaults(func=_run)
