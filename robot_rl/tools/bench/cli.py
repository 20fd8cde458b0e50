"""``robot-rl bench <what>``: each benchmark module exposes ``add_parser(sub)`` and prints one JSON object
(figures plus the machine) with ``--json``, or a short human-readable summary without."""
from __future__ import annotations

import importlib
import json

BENCH_MODULES = (
    "robot_rl.tools.bench.twin",
    "robot_rl.tools.bench.control_loop",
    "robot_rl.tools.bench.safety_experiment",
    "robot_rl.tools.bench.learner",
    "robot_rl.tools.bench.sample_efficiency",
    "robot_rl.tools.bench.learner_ablation",
    "robot_rl.tools.bench.skill_time",
    "robot_rl.tools.bench.franka_loop",
    "robot_rl.tools.bench.interventions",
    "robot_rl.tools.bench.latency",
    "robot_rl.tools.bench.dense_vs_sb3",
    "robot_rl.tools.bench.quad_twin",
    "robot_rl.tools.bench.quad_hover",
    "robot_rl.tools.bench.faults",
    "robot_rl.tools.bench.cf_loop",
)


def emit(result: dict, as_json: bool) -> int:
    from robot_rl.tools.bench.machine import machine_info

    result = {**result, "machine": machine_info()}
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:28} {v}")
    return 0


def runner(run):
    """The ``func`` of a bench whose ``run(args)`` returns its figures: torch's CPU threads set from ``--threads``
    (0: torch's default), then the figures printed by :func:`emit`."""

    def go(a) -> int:
        if getattr(a, "threads", 0):
            import torch

            torch.set_num_threads(a.threads)
        return emit(run(a), a.json)

    return go


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks that print figures (see --help of each)")
    bsub = p.add_subparsers(dest="bench", metavar="WHAT")
    bsub.required = True
    for mod in BENCH_MODULES:
        importlib.import_module(mod).add_parser(bsub)
