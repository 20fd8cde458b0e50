"""``robot-rl bench twin``: twin control steps/s (state-only and with two cameras) and the overhead of our env
step (action handling, the impedance law every tick, observations) against raw ``mj_step`` of the same
physics steps: the same states replayed with the same applied torques, timed without any of our code."""
from __future__ import annotations

import statistics
import time

import mujoco
import numpy as np


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
    from sim.arm_env import TwinArmEnv
    from sim.experts import make_expert

    env = TwinArmEnv(task)
    cam_env = TwinArmEnv(task, cameras=("front", "wrist"))
    physics_steps = env.ticks_per_step * env.twin.physics_steps_per_tick
    state_s, cam_s, raw_s = [], [], []
    for r in range(repeats):
        snaps: list = []
        # snapshots are taken after each step; the raw replay starts from them, i.e. the same states one step on
        state_s.append(_run_env(env, make_expert(env), steps, seed + 1000 * r, snaps))
        raw_s.append(_raw(env, snaps, physics_steps))
        cam_s.append(_run_env(cam_env, make_expert(cam_env), max(steps // 3, 10), seed + 1000 * r, None) * 3)
    env.close()
    cam_env.close()
    t_state, t_cam, t_raw = (statistics.median(x) for x in (state_s, cam_s, raw_s))
    return {
        "bench": "twin",
        "task": task,
        "env_steps": steps,
        "repeats": repeats,
        "policy_hz": env.tcfg.policy_hz,
        "control_hz": env.cfg.twin.control_hz,
        "physics_hz": 1.0 / env.model.opt.timestep,
        "physics_steps_per_control_step": physics_steps,
        "control_steps_per_s_state": steps / t_state,
        "control_steps_per_s_2cams": steps / t_cam,
        "raw_mj_step_control_steps_per_s": steps / t_raw,
        "us_per_physics_step_raw": 1e6 * t_raw / (steps * physics_steps),
        "overhead_ratio": t_state / t_raw,
        # our absolute cost per impedance tick (action, law, observations spread over the ticks), medians
        "our_us_per_tick": 1e6 * (t_state - t_raw) / (steps * env.ticks_per_step),
        "overhead_ratio_2cams": t_cam / t_raw,
    }


def add_parser(sub) -> None:
    p = sub.add_parser("twin", help="twin control steps/s and overhead vs raw mj_step (key overhead_ratio)")
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--steps", type=int, default=300, help="env (policy) steps per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements; medians are reported")
    p.add_argument("--json", action="store_true")

    def _go(a):
        from robot_rl.bench.cli import emit

        return emit(run(a.task, a.steps, a.repeats), a.json)

    p.set_defaults(func=_go)
