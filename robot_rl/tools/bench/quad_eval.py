"""Scoring a quadrotor policy the way the issue states the goal: success over seeded initial states, position RMS
over the last 2 s of each episode, crash rate; and the eval figure (position error over time per episode).
Shared by ``robot-rl bench quad-hover`` / ``quad-twin`` and ``robot-rl train --task quad_*``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

EVAL_SEED_BASE = 5_000_000  # disjoint from the trainer's training and evaluation seeds
LAST_S = 2.0  # position RMS over the last this many seconds of an episode


def run_episodes(policy, env, seeds) -> dict:
    """``policy(state_vector) -> action`` on ``env`` (a :class:`robot_rl.sim.quad_env.QuadEnv`) for each seed;
    ``policy`` may also be an object with ``reset()`` and ``act(obs)`` (a scripted expert)."""
    base = env.unwrapped
    act = policy.act if hasattr(policy, "act") else policy
    last = max(1, int(round(LAST_S * base.policy_hz)))
    success, crashed, rms, traces = [], [], [], []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        if hasattr(policy, "reset"):
            policy.reset()
        errs = []
        while True:
            obs, _, term, trunc, info = env.step(act(obs))
            errs.append(info["pos_error_m"])
            if term or trunc:
                break
        success.append(bool(info["success"]))
        crashed.append(bool(info["crashed"]))
        rms.append(float(np.sqrt(np.mean(np.square(errs[-last:])))))
        traces.append(errs)
    ok = [r for r, s in zip(rms, success) if s]
    return {"episodes": len(success), "success_rate": float(np.mean(success)), "crash_rate": float(np.mean(crashed)),
            "pos_rms_last_2s_m_median": float(np.median(rms)), "pos_rms_last_2s_m_mean": float(np.mean(rms)),
            "pos_rms_last_2s_m_max_successful": float(max(ok)) if ok else None,
            "policy_hz": base.policy_hz, "traces": traces}


def evaluate(policy, env, n: int = 50, seed: int = 0) -> dict:
    return run_episodes(policy, env, [EVAL_SEED_BASE + 1000 * seed + i for i in range(n)])


def plot_eval(path: Path, res: dict, title: str) -> Path:
    """Position error [m] against time for every evaluated episode, the success radius dashed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.io import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(7, 4))
    dt = 1.0 / res["policy_hz"]
    for tr in res["traces"]:
        ax.plot(np.arange(1, len(tr) + 1) * dt, tr, lw=0.8, alpha=0.6)
    ax.axhline(0.1, color="grey", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("position error [m]")
    ax.set_title(f"{title}: success {100 * res['success_rate']:.0f} % of {res['episodes']}, "
                 f"RMS last 2 s median {100 * res['pos_rms_last_2s_m_median']:.1f} cm")
    ax.grid(alpha=0.3)
    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, bio.getvalue())


def summary_only(res: dict) -> dict:
    return {k: v for k, v in res.items() if k != "traces"}
