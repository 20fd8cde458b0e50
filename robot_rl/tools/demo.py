"""The scripted expert in the twin: success figure, an image strip and a short video (the pre-learner main job)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robot_rl.io import atomic_write_bytes, write_image_strip, write_video


def run_demo(task: str = "pick_cube", episodes: int = 20, seed: int = 0, out_dir: str | Path = "runs/demo",
             camera: str = "front", video: bool = True) -> dict:
    from robot_rl.sim.arm_env import TwinArmEnv
    from robot_rl.sim.experts import make_expert, run_episode

    if episodes < 1:
        raise ValueError("episodes must be >= 1")
    out = Path(out_dir) / task
    out.mkdir(parents=True, exist_ok=True)
    env = TwinArmEnv(task, cameras=())
    expert = make_expert(env)
    results, frames = [], []
    t0 = time.perf_counter()
    for i in tqdm(range(episodes), desc=f"expert {task}", unit="ep"):
        # record camera frames for the first episode only (rendering is the slow part)
        results.append(run_episode(env, expert, seed=seed + i, frames=frames if (i == 0 and video) else None,
                                   camera=camera))
    wall = time.perf_counter() - t0
    env.close()
    n_ok = sum(r["success"] for r in results)
    summary = {
        "task": task,
        "episodes": episodes,
        "successes": n_ok,
        "success_rate": n_ok / episodes,
        "mean_episode_steps": float(np.mean([r["steps"] for r in results])),
        "wall_s": wall,
        "env_steps_per_s": sum(r["steps"] for r in results) / wall,
    }
    if frames:
        summary["strip"] = str(write_image_strip(out / "strip.png", frames, n=8))
        summary["video"] = str(write_video(out / "episode.gif", frames, fps=10))
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
