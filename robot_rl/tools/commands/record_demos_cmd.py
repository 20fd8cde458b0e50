"""``robot-rl record-demos``: teleoperated episodes -> one MCAP file each (ROS 2 cdr) plus a prior buffer (npz)
for the learner (``prior_buffer_path``). Drives whatever robot speaks the arm contract (twin node or driver);
the human drives through ``teleop/twist`` + ``teleop/joy`` (teleop node, or the scripted human).

``prior.npz`` is a :class:`~robot_rl.learning.flagged_replay.FlaggedReplayBuffer` file (format 1 of
:mod:`robot_rl.loops.demos`: ``counters``, ``frames/<obs key>``, ``actions``, ``rewards``, ``terminated``,
``obs_frame``, ``next_frame``, ``intervened``, ``takeover_started``); use it as ``robot-rl train --demo-path`` or
the learner node's ``prior_buffer_path``. A plain npz of transitions (``obs``, ``action``, ``reward``,
``next_obs``, ``terminated``, ``truncated``) is accepted there too."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(a) -> int:
    from robot_rl.tools.launch_runner import REPO_ROOT

    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "robot_rl.runtime.actor_node", "--ros-args", "-r", "__node:=demo_recorder",
           "-p", f"task:={a.task}", "-p", "mode:=teleop", "-p", f"max_episodes:={a.episodes}",
           "-p", f"record_dir:={out / 'mcap'}", "-p", f"prior_out:={out / 'prior.npz'}",
           "-p", f"cameras:={a.cameras}", "-p", "actor_id:=demos"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rc = subprocess.call(cmd, env=env)
    files = sorted((out / "mcap").glob("*.mcap"))
    print(f"{len(files)} episode(s) in {out / 'mcap'}; prior buffer {out / 'prior.npz'}")
    return rc


def add_parser(sub) -> None:
    p = sub.add_parser("record-demos", help="record teleoperated episodes to MCAP + a prior buffer")
    p.add_argument("--out", required=True, help="output folder (mcap/episode_*.mcap, prior.npz)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--task", default="reach")
    p.add_argument("--cameras", default="front,wrist", help="comma-separated camera names ('' for none)")
    p.set_defaults(func=_run)
