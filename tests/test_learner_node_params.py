"""The ROS learner and actor take the one config tree as ROS parameters (real rclpy, separate processes), and the
actor builds the learner's policy, whatever its algorithm config, from the weights payload alone."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _node(module: str, *params: str):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", ROS_LOCALHOST_ONLY="1",
               ROS_DOMAIN_ID=str(100 + os.getpid() % 100))
    args = [a for p in params for a in ("-p", p)]
    return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("module, param, name", [
    ("robot_rl.runtime.learner_node", "sac.discount:=5.0", "sac.discount"),
    ("robot_rl.runtime.learner_node", "replay.online_fraction:=2", "replay.online_fraction"),
    ("robot_rl.runtime.actor_node", "mode:=bogus", "mode"),
])
def test_a_bad_parameter_is_one_line_and_exit_code_2(module, param, name):
    pytest.importorskip("rclpy")
    p = _node(module, param)
    out, _ = p.communicate(timeout=120)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert p.returncode == 2, out
    assert len(lines) == 1 and f"parameter {name}=" in lines[0], out


def test_learner_node_takes_algorithm_parameters_with_an_int_for_a_float(tmp_path):
    pytest.importorskip("rclpy")
    p = _node("robot_rl.runtime.learner_node", "sac.discount:=1", "sac.num_critics:=3", "sac.hidden_width:=32",
              "sac.discrete_gripper:=true", "sac.critic_lr:=0.001", "num_demos:=0", f"out_dir:={tmp_path}",
              "checkpoint_every_s:=1")  # an int for a float here too
    meta = tmp_path / "checkpoint" / "meta.json"
    deadline = time.monotonic() + 120
    try:
        while not meta.is_file() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    cfg = json.loads(meta.read_text())["config"]
    assert cfg["sac"]["discount"] == 1.0 and isinstance(cfg["sac"]["discount"], float)
    assert (cfg["sac"]["num_critics"], cfg["sac"]["discrete_gripper"], cfg["sac"]["critic_lr"]) == (3, True, 0.001)


def test_actor_builds_only_the_policy_of_a_learner_with_non_default_algorithm_config(tmp_path):
    pytest.importorskip("mujoco")
    from robot_rl.learning.config import EncoderConfig, ReplayConfig, SACConfig
    from robot_rl.runtime.actor_core import WeightsPolicy
    from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore
    from robot_rl.runtime.wire import encode_weights

    cfg = LearnerConfig(task="reach", num_demos=0, cameras=("front",), image_size_px=32, device="cpu",
                        replay=ReplayConfig(capacity_transitions=8),
                        sac=SACConfig(hidden_width=24, num_critics=2, discount=0.9, discrete_gripper=True),
                        encoder=EncoderConfig(channels=8, feature_dim_per_camera=10))
    core = LearnerCore(cfg, tmp_path)
    tensors, meta = core.actor_weights()
    w = WeightsPolicy(encode_weights(tensors, 3, meta))
    p = w.policy
    assert w.version == 3 and p.cfg.sac.discount == 0.9 and p.cfg.encoder.channels == 8
    assert not any("critic_target" in k or k.startswith("critic.") for k in p.state_dict())
    obs = {"state": np.zeros(core.state_dim), "images/front": np.zeros((32, 32, 3), np.uint8)}
    a = w.act(obs, deterministic=True, rng=np.random.default_rng(0))
    assert a.shape == (7,) and a[-1] in (0.0, 1.0, 2.0)  # the hybrid gripper head ships with the policy
    np.testing.assert_array_equal(a, core.agent.act(obs, deterministic=True))
