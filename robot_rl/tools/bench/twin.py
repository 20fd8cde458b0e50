"""``robot-rl bench twin``: twin control steps/s (state-only and with two cameras) and the overhead of our env
step (action handling, the impedance law every tick, observations) against raw ``mj_step`` of the same
physics steps: the same states replayed with the same applied torques, timed without any of our code."""
from __future__ import annotations

import statistics
import time

import mujoco
import numpy as np

from robot_rl.tools.bench.cli import emit


def _run_env(env, expert, steps: int, seed: int, snapshots: list | None):
    """Time ``steps`` env.step calls under the expert (resets and expert time excluded)."""
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    size = mujoco.mj_stateSize(env.model, spec)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    total, done, ep = 0.0, 0, 0
    while done < steps:
        a = expert.act(obs)
        if snapshots is not None:
            env.apply_action(np.asarray(a, dtype=np.float64))  # the torque of this step's first tick is set below
        t0 = time.perf_counter()
        obs, _, term, trunc, _ = env.step(a)
        total += time.perf_counter() - t0
        if snapshots is not None:
            s = np.empty(size)
            mujoco.mj_getState(env.model, env.data, s, spec)
            snapshots.append(s)
        done += 1
        if term or trunc:
            ep += 1
            obs, _ = env.reset(seed=seed + ep)
            expert.reset()
    return total


def _raw(env, snapshots: list, physics_steps: int) -> float:
    """Raw mj_step over the same physics steps: restore each recorded state, step it with nothing else."""
    m, d = env.model, env.data
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    total = 0.0
    step = mujoco.mj_step
    for s in snapshots:
        mujoco.mj_setState(m, d, s, spec)
        t0 = time.perf_counter()
        for _ in range(physics_steps):
            step(m, d)
        total += time.perf_counter() - t0
    return total


def run(task: str = "pick_cube", steps: int = 300, repeats: int = 3, seed: int = 0) -> dict:
    from robot_rl.controllers.filtered_loop import FiltersConfig
    from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv
    from robot_rl.sim.arm_twin import TwinConfig
    from robot_rl.sim.experts import make_expert

    # The twin as issue-specified (impedance law only) and as it runs by default (with safety + passivity
    # filters), side by side in one run, each against raw mj_step over its own physics steps.
    bare = EnvConfig(twin=TwinConfig(filters=FiltersConfig(enabled=False)))
    envs = {"bare": TwinArmEnv(task, bare), "filters": TwinArmEnv(task)}
    cam_env = TwinArmEnv(task, bare, cameras=("front", "wrist"))
    env = envs["bare"]
    physics_steps = env.ticks_per_step * env.twin.physics_steps_per_tick
    times: dict[str, list[float]] = {k: [] for k in ("bare", "bare_raw", "filters", "filters_raw", "cams")}
    for r in range(repeats):
        for name, e in envs.items():
            snaps: list = []
            # snapshots are taken after each step; the raw replay steps the same states with the same torques
            times[name].append(_run_env(e, make_expert(e), steps, seed + 1000 * r, snaps))
            times[name + "_raw"].append(_raw(e, snaps, physics_steps))
        times["cams"].append(_run_env(cam_env, make_expert(cam_env), max(steps // 3, 10), seed + 1000 * r, None)
                             * steps / max(steps // 3, 10))
    for e in (*envs.values(), cam_env):
        e.close()
    t = {k: statistics.median(v) for k, v in times.items()}
    ticks = steps * env.ticks_per_step
    return {
        "bench": "twin",
        "task": task,
        "env_steps": steps,
        "repeats": repeats,
        "policy_hz": env.tcfg.policy_hz,
        "control_hz": env.cfg.twin.control_hz,
        "physics_hz": 1.0 / env.model.opt.timestep,
        "physics_steps_per_control_step": physics_steps,
        "control_steps_per_s_state": steps / t["bare"],
        "control_steps_per_s_2cams": steps / t["cams"],
        "control_steps_per_s_state_filters_on": steps / t["filters"],
        "raw_mj_step_control_steps_per_s": steps / t["bare_raw"],
        "us_per_physics_step_raw": 1e6 * t["bare_raw"] / (steps * physics_steps),
        # the twin's overhead: impedance law at control_hz, actions, observations (state-only)
        "overhead_ratio": t["bare"] / t["bare_raw"],
        "overhead_ratio_2cams": t["cams"] / t["bare_raw"],
        # the default env config adds the safety and passivity filters to every tick
        "overhead_ratio_filters_on": t["filters"] / t["filters_raw"],
        # our absolute cost per control tick (law, actions, observations spread over the ticks), medians
        "our_us_per_tick": 1e6 * (t["bare"] - t["bare_raw"]) / ticks,
        "our_us_per_tick_filters_on": 1e6 * (t["filters"] - t["filters_raw"]) / ticks,
    }


def add_parser(sub) -> None:
    p = sub.add_parser("twin", help="twin control steps/s and overhead vs raw mj_step (key overhead_ratio), "
                                    "without and with the safety/passivity filters")
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--steps", type=int, default=300, help="env (policy) steps per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements; medians are reported")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: emit(run(a.task, a.steps, a.repeats), a.json))
