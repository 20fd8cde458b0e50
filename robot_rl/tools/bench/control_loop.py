"""``robot-rl bench control-loop``: microseconds per fast-loop tick for impedance + safety + passivity
(``median_us``), and for the bare impedance law on the same states, side by side.

States are recorded from the twin under the scripted expert (every tick's controller inputs: pose, Jacobian,
joint state, bias, target), then replayed through a fresh controller: each tick's inputs are copied into fixed
buffers laid out as the twin's (the Jacobian a column view of a 6 x nv array), then one ``compute`` call is
timed alone. Each tick is timed once per repeat; medians over all timed ticks are reported.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from robot_rl.tools.bench.cli import emit


class _Recorder:
    """Stands in for the twin's control law for one rollout: records each tick's inputs, then calls the law."""

    def __init__(self, law, ticks: list):
        self.law = law
        self.ticks = ticks

    def compute(self, pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias=None):
        self.ticks.append(tuple(np.array(x, dtype=float) for x in (pos, rot, jac, q, dq, target_pos, target_rot,
                                                                    q_nullspace, bias)))
        return self.law.compute(pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias)


def record_states(task: str = "peg_insert", episodes: int = 3, seed: int = 0) -> tuple[list, object]:
    """Controller inputs of every tick of ``episodes`` expert episodes (filters on), and the env's twin config."""
    from robot_rl.sim.arm_env import TwinArmEnv
    from robot_rl.sim.experts import make_expert, run_episode

    env = TwinArmEnv(task)
    expert = make_expert(env)
    ticks: list = []
    twin = env.twin
    law = twin._law  # the twin's fast loop calls ``_law.compute``; record through it for these rollouts only
    twin._law = _Recorder(law, ticks)
    try:
        for e in range(episodes):
            run_episode(env, expert, seed=seed + e)
    finally:
        twin._law = law
    cfg, nv, n = env.cfg.twin, env.model.nv, twin.n
    env.close()
    return ticks, (cfg, nv, n, twin.tick_dt_s)


def _time(law, ticks: list, nv: int, n: int, reset) -> list[float]:
    jac_full = np.zeros((6, nv))
    jac = jac_full[:, :n]
    pos, rot, q, dq = np.zeros(3), np.eye(3), np.zeros(n), np.zeros(n)
    tp, tr, qn, bias = np.zeros(3), np.eye(3), np.zeros(n), np.zeros(n)
    bufs = (pos, rot, jac, q, dq, tp, tr, qn, bias)
    reset(ticks[0][0], ticks[0][1])
    clock = time.perf_counter
    out = []
    compute = law.compute
    for rec in ticks:
        for b, x in zip(bufs, rec):
            b[...] = x
        t0 = clock()
        compute(pos, rot, jac, q, dq, tp, tr, qn, bias)
        out.append(clock() - t0)
    return out


def run(task: str = "peg_insert", episodes: int = 3, repeats: int = 5, seed: int = 0) -> dict:
    from robot_rl.controllers.filtered_loop import FiltersConfig, FilteredImpedanceLoop
    from robot_rl.controllers.impedance import CartesianImpedanceController

    ticks, (cfg, nv, n, dt) = record_states(task, episodes, seed)
    filters_cfg = cfg.filters if cfg.filters.enabled else FiltersConfig()
    full_s, bare_s = [], []
    for _ in range(repeats):
        ctrl = CartesianImpedanceController(cfg.impedance, n)
        loop = FilteredImpedanceLoop(ctrl, filters_cfg, dt)
        full_s += _time(loop, ticks, nv, n, loop.reset)
        bare = CartesianImpedanceController(cfg.impedance, n)
        bare_s += _time(bare, ticks, nv, n, lambda p, r: None)
    med_full, med_bare = statistics.median(full_s), statistics.median(bare_s)
    q = statistics.quantiles(full_s, n=100)
    return {
        "bench": "control-loop",
        "task": task,
        "ticks_recorded": len(ticks),
        "repeats": repeats,
        "control_hz": cfg.control_hz,
        "median_us": 1e6 * med_full,
        "p90_us": 1e6 * q[89],
        "p99_us": 1e6 * q[98],
        "impedance_only_median_us": 1e6 * med_bare,
        "filters_median_us": 1e6 * (med_full - med_bare),
        "ratio_to_impedance_only": med_full / med_bare,
        "tick_budget_us": 1e6 * dt,
    }


def add_parser(sub) -> None:
    p = sub.add_parser("control-loop",
                       help="us per fast-loop tick: impedance + safety + passivity (key median_us)")
    p.add_argument("--task", default="peg_insert")
    p.add_argument("--episodes", type=int, default=3, help="expert episodes whose ticks are recorded")
    p.add_argument("--repeats", type=int, default=5, help="replays of the recorded ticks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: emit(run(a.task, a.episodes, a.repeats), a.json))
