"""The robot's onboard computer runs the actor without MuJoCo: an actor node whose process cannot import
``mujoco`` (nor the twin package) runs a whole episode against a twin node in another process, over real DDS. It is
started before the twin: a reset service that is not there yet is waited for, not a crash."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
import time

import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

BLOCKING_RUNNER = textwrap.dedent("""
    import importlib.abc, runpy, sys
    BLOCKED = ("mujoco", "robot_rl.sim")
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"{name} is unimportable in the actor's process (test)")
    sys.meta_path.insert(0, Block())
    sys.argv[0] = "actor_node"
    runpy.run_module("robot_rl.runtime.actor_node", run_name="__main__")
""")


def test_actor_process_runs_an_episode_with_mujoco_unimportable(tmp_path):
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.Random().randint(100, 200)), "PYTHONUNBUFFERED": "1"}
    # the actor starts first: the arm's reset service is not there yet, it waits and retries instead of crashing
    actor_proc = subprocess.Popen([sys.executable, "-c", BLOCKING_RUNNER, "--ros-args", "-p", "task:=reach",
                                   "-p", "max_episodes:=1", "-p", "obs_timeout_s:=5.0", "-p", "actor_id:=onboard",
                                   "-p", "reset_timeout_s:=1.0"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(actor_proc.stdout.readline, "")), daemon=True)
    reader.start()
    t_end = time.monotonic() + 120.0  # the twin starts once the actor has found no robot (a loaded host: slow start)
    while time.monotonic() < t_end and actor_proc.poll() is None and not any("reset refused" in x for x in lines):
        time.sleep(0.2)
    twin = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.twin_node", "--ros-args", "-p", "task:=reach",
                             "-p", "cameras:=\"\"", "-p", "seed:=3"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        actor_proc.wait(timeout=240)
        reader.join(timeout=10)
        log = "".join(lines)
    finally:
        if actor_proc.poll() is None:
            actor_proc.kill()
        twin.terminate()
        twin_out = twin.communicate(timeout=30)[0]
    assert actor_proc.returncode == 0, log[-3000:] + "\n--- twin ---\n" + twin_out[-2000:]
    assert "reset refused by the robot" in log and "retrying" in log, log[-3000:]
    assert "unimportable" not in log, log[-3000:]
    # one finished episode of the task's length, on the random exploration policy (no learner)
    assert "episode {" in log and "'steps': 100" in log, log[-3000:]
