"""``robot-rl bench quad-twin``: the quadrotor twin in each engine -- env steps/s under the scripted controller,
the overhead of our env step (fast loop: watchdog, safety filter, cascade, rotor model, observations) against the
engine's raw physics steps (the same number of steps with the same recorded forces and torques, nothing else), and
the scripted controller's success on ``quad_hover`` (key ``expert_success_rate``) and ``quad_waypoints`` in each
engine over seeded episodes."""
from __future__ import annotations

import statistics
import time

import numpy as np

from robot_rl.tools.bench.quad_eval import evaluate, summary_only


def _timed_env(env, expert, steps: int, seed: int) -> tuple[float, list]:
    """Seconds for ``steps`` env steps under the expert (expert and resets excluded), and the (force, torque)
    the engine received each physics step."""
    body = env.twin.body
    wrenches: list = []
    real_step = body.step

    def recording_step(force, torque):
        wrenches.append((np.array(force, float), np.array(torque, float)))
        real_step(force, torque)

    obs, _ = env.reset(seed=seed)
    total, done, ep = 0.0, 0, 0
    body.step = recording_step
    try:
        while done < steps:
            a = expert.act(obs)
            t0 = time.perf_counter()
            obs, _, term, trunc, _ = env.step(a)
            total += time.perf_counter() - t0
            done += 1
            if term or trunc:
                ep += 1
                obs, _ = env.reset(seed=seed + ep)
    finally:
        body.step = real_step
    return total, wrenches


def _timed_raw(env, wrenches: list) -> float:
    """The engine alone: the same number of physics steps with the recorded wrenches."""
    body = env.twin.body
    env.reset(seed=0)
    t0 = time.perf_counter()
    for f, tau in wrenches:
        body.step(f, tau)
    return time.perf_counter() - t0


def run(steps: int = 200, repeats: int = 3, episodes: int = 50, seed: int = 0) -> dict:
    from robot_rl.sim.quad_env import QuadEnv
    from robot_rl.sim.quad_expert import QuadExpert
    from robot_rl.sim.quad_twin import ENGINES

    out: dict = {"bench": "quad-twin", "env_steps": steps, "repeats": repeats, "episodes": episodes}
    for engine in ENGINES:
        env = QuadEnv("quad_hover", engine=engine)
        expert = QuadExpert(env)
        t_env, t_raw = [], []
        for r in range(repeats):
            te, wrenches = _timed_env(env, expert, steps, seed + 1000 * r)
            t_env.append(te)
            t_raw.append(_timed_raw(env, wrenches))
        te, tr = statistics.median(t_env), statistics.median(t_raw)
        physics_steps = steps * env.ticks_per_step
        out[f"{engine}_env_steps_per_s"] = steps / te
        out[f"{engine}_raw_physics_steps_per_s"] = physics_steps / tr
        out[f"{engine}_overhead_ratio"] = te / tr
        out[f"{engine}_our_us_per_tick"] = 1e6 * (te - tr) / physics_steps
        hover = summary_only(evaluate(expert, env, episodes, seed))
        out[f"{engine}_expert_hover"] = hover
        env.close()
        way = QuadEnv("quad_waypoints", engine=engine)
        out[f"{engine}_expert_waypoints_success_rate"] = evaluate(QuadExpert(way), way, episodes, seed)["success_rate"]
        way.close()
        out["policy_hz"], out["control_hz"] = env.policy_hz, env.cfg.control_hz
    out["expert_success_rate"] = out["mujoco_expert_hover"]["success_rate"]  # quad_hover, MuJoCo (the default)
    return out


def add_parser(sub) -> None:
    from robot_rl.tools.bench.cli import emit

    p = sub.add_parser("quad-twin", help="quadrotor twin env steps/s per engine (mujoco, pybullet), overhead vs raw "
                                         "physics steps, scripted controller success (expert_success_rate)")
    p.add_argument("--steps", type=int, default=200, help="env (policy) steps per timing")
    p.add_argument("--repeats", type=int, default=3, help="timings; medians are reported")
    p.add_argument("--episodes", type=int, default=50, help="seeded episodes for the expert success rates")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: emit(run(a.steps, a.repeats, a.episodes), a.json))
