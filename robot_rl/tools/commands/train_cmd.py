"""``robot-rl train``: RLPD/SAC in the twin with the scripted expert's demos; resumable."""
from __future__ import annotations

import dataclasses
import sys


def _run(a) -> int:
    import torch

    from robot_rl.learning.checkpoint import CheckpointError
    from robot_rl.learning.config import EncoderConfig, SACConfig, TrainConfig
    from robot_rl.loops.trainer import Trainer

    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        if a.resume:
            trainer = Trainer.resume(a.resume, progress=not a.no_progress, total_env_steps=a.steps)
            print(f"resuming {a.resume} at env step {trainer.step} / {trainer.cfg.total_env_steps}", file=sys.stderr)
        else:
            sac = SACConfig(hidden_width=a.width, num_critics=a.critics, discrete_gripper=a.discrete_gripper,
                            gripper_change_penalty=a.gripper_penalty)
            enc = EncoderConfig(pretrained_weights_path=a.pretrained_encoder)
            cfg = TrainConfig(task=a.task, reward=a.reward, seed=a.seed, total_env_steps=a.steps or 15_000,
                              num_demos=a.demos, pixels=a.pixels, batch_size=a.batch, utd_ratio=a.utd,
                              eval_every_env_steps=a.eval_every, eval_episodes=a.eval_episodes, device=a.device,
                              compile=a.compile, amp=a.amp, rlif=a.rlif, sac=sac, encoder=enc,
                              random_action_steps=a.random_steps, start_training_after_steps=a.random_steps,
                              intervention_prob_per_step=a.intervention_prob)
            if a.pixels:
                cfg = dataclasses.replace(cfg, cameras=tuple(a.cameras.split(",")))
            out = a.out or f"runs/train/{a.task}_{'pixels' if a.pixels else 'state'}_seed{a.seed}"
            trainer = Trainer(cfg, out, progress=not a.no_progress)
        summary = trainer.run()
    except CheckpointError as e:
        print(f"error: cannot resume: {e}", file=sys.stderr)
        return 2
    except KeyError as e:  # unknown task
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    h = summary["history"][-1]
    print(f"{summary['task']}: eval success {100 * h['success_rate']:.0f} % over {trainer.cfg.eval_episodes} episodes "
          f"after {summary['env_steps']} env steps ({summary['updates']} updates, UTD {summary['utd_ratio']}, "
          f"{summary['wall_s']:.0f} s, {summary['device']})")
    s90 = summary["steps_to_90pct"]
    print(f"env steps to 90 % eval success: {s90 if s90 is not None else 'not reached'}")
    print(f"out: {trainer.out}  (learning_curve.png, summary.json, checkpoint/, "
          f"{summary['log']['kind']} logs in {summary['log']['path']})")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train RLPD/SAC in the twin from expert demos (resumable)")
    p.add_argument("--task", default="pick_cube", help="reach | pick_cube | peg_insert (default: pick_cube)")
    p.add_argument("--demos", type=int, default=20, help="scripted-expert demos in the prior buffer (default 20)")
    p.add_argument("--pixels", action="store_true", help="learn from the cameras (+ proprio) instead of state")
    p.add_argument("--cameras", default="front,wrist", help="cameras for --pixels (default front,wrist)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly from its last checkpoint")
    p.add_argument("--steps", type=int, default=None, help="total env steps (default 15000)")
    p.add_argument("--utd", type=int, default=2, help="gradient updates per env step (default 2)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=128, help="hidden width of actor and critics (default 128)")
    p.add_argument("--critics", type=int, default=10, help="critic ensemble size (default 10)")
    p.add_argument("--reward", default="sparse", choices=("sparse", "dense"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=1000, help="env steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--discrete-gripper", action="store_true", help="hybrid action: close/stay/open gripper head")
    p.add_argument("--gripper-penalty", type=float, default=0.0, help="reward penalty per gripper change")
    p.add_argument("--random-steps", type=int, default=500,
                   help="uniform-random env steps before the policy acts and updates start (default 500)")
    p.add_argument("--intervention-prob", type=float, default=0.0,
                   help="per-step probability that the scripted human takes over (interventions; default 0)")
    p.add_argument("--rlif", action="store_true", help="RLIF: reward -1 on takeover, no task reward")
    p.add_argument("--pretrained-encoder", default=None, help="local safetensors of the conv trunk (frozen)")
    p.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the loss computation")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared CPU more threads spin against other processes "
                        "and can be many times slower; 0: torch's default)")
    p.add_argument("--out", default=None, help="run folder (default runs/train/<task>_<obs>_seed<seed>)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)
