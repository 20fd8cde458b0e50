"""contract/arm.py: the arm's I/O layout, shared by the twin env and the ROS env, and usable without MuJoCo."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from robot_rl.contract.arm import (
    ARM_TASK_CONFIG_FIELDS,
    ARM_TASKS,
    PROPRIO_DIM,
    STATE_LAYOUT,
    STATE_SLICES,
    ArmTaskIO,
    action_to_target,
    checked_action,
    state_dim_for,
)
from robot_rl.contract.rotations import quat_to_mat, rotvec_to_mat

ROOT = Path(__file__).resolve().parents[1]
DOWN = np.diag([1.0, -1.0, -1.0])


def test_state_layout_slices_tile_the_proprio_part_in_the_documented_order():
    assert [n for n, _ in STATE_LAYOUT] == ["tcp_pos", "tcp_quat", "tcp_linvel", "tcp_angvel", "gripper_width",
                                            "wrench"]
    assert PROPRIO_DIM == 20
    covered = np.concatenate([np.arange(PROPRIO_DIM)[STATE_SLICES[n]] for n, _ in STATE_LAYOUT])
    np.testing.assert_array_equal(covered, np.arange(PROPRIO_DIM))


def test_action_to_target_moves_in_the_ee_frame_clips_to_the_workspace_and_maps_the_gripper():
    io = ArmTaskIO(n_task_features=0)
    pos = np.array([0.5, 0.0, 0.2])
    p, r, g = action_to_target(np.r_[0, 0, 1.0, 0, 0, 1.0, -1.0], pos, DOWN, io)
    np.testing.assert_allclose(p, pos + [0, 0, -io.action_step_m])  # +z of a TCP pointing down: base -z
    np.testing.assert_allclose(r, DOWN @ rotvec_to_mat([0, 0, io.action_step_rad]), atol=1e-12)
    assert g == 0.0
    assert action_to_target(np.r_[0, 0, 0, 0, 0, 0, 1.0], pos, DOWN, io)[2] == 1.0
    p, _, _ = action_to_target(np.r_[1.0, 0, 0, 0, 0, 0, 0], np.array([0.749, 0.0, 0.2]), np.eye(3), io)
    assert p[0] == pytest.approx(io.workspace_max_m[0])
    locked = ArmTaskIO(n_task_features=0, gripper_locked_closedness=0.75)
    assert action_to_target(np.zeros(7), pos, DOWN, locked)[2] is None


@pytest.mark.parametrize("bad", [np.zeros(6), np.r_[np.nan, np.zeros(6)], np.r_[np.inf, np.zeros(6)]])
def test_checked_action_refuses_a_wrong_shape_or_non_finite_entries(bad):
    with pytest.raises(ValueError, match="7 finite numbers"):
        checked_action(bad)


def test_checked_action_clips_into_the_unit_box():
    np.testing.assert_array_equal(checked_action(np.r_[3.0, -2.0, 0, 0, 0, 0, 0.5]), [1, -1, 0, 0, 0, 0, 0.5])


@pytest.mark.parametrize("task", sorted(ARM_TASKS))
def test_twin_task_config_agrees_with_the_contract_and_state_size_matches_the_twin(task):
    from robot_rl.sim.arm_env import TwinArmEnv
    from robot_rl.sim.tasks import TASKS

    assert set(TASKS) == set(ARM_TASKS)
    cfg = TASKS[task].config
    for name in ARM_TASK_CONFIG_FIELDS:
        assert getattr(cfg, name) == getattr(ARM_TASKS[task], name), name
    assert type(cfg)() == cfg  # the config class's own defaults agree too (direct construction)
    env = TwinArmEnv(task)
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space["state"].shape == (state_dim_for(task),) == obs["state"].shape
        assert state_dim_for(task) == PROPRIO_DIM + ARM_TASKS[task].n_task_features
    finally:
        env.close()


@pytest.mark.parametrize("task", ["pick_cube", "peg_insert"])
def test_twin_and_ros_env_compute_the_same_target_and_state_from_the_same_pose(task):
    from robot_rl.contract.rotations import mat_to_quat
    from robot_rl.envs.ros_env import ArmSample, RosArmEnv, RosEnvConfig
    from robot_rl.sim.arm_env import TwinArmEnv

    env = TwinArmEnv(task)
    try:
        obs, _ = env.reset(seed=1)
        pos, rot = env.twin.ee_pose()
        a = np.r_[0.3, -0.5, 1.0, 0.2, -0.1, 0.4, 0.6]
        env.apply_action(a)
        ros = RosArmEnv(link=None, cfg=RosEnvConfig(task=task))
        sample = ArmSample(pos=pos.copy(), quat=mat_to_quat(rot), task=np.r_[0.0, 0.0, obs["state"][PROPRIO_DIM:]],
                           gripper_width=float(obs["state"][STATE_SLICES["gripper_width"]][0]),
                           wrench=obs["state"][STATE_SLICES["wrench"]].astype(float))
        tp, tq, grip = ros.target_for(a, sample)
        np.testing.assert_allclose(tp, env.twin.target_pos, atol=1e-12)
        np.testing.assert_allclose(quat_to_mat(tq), env.twin.target_rot, atol=1e-9)
        assert (grip is None) == (ARM_TASKS[task].gripper_locked_closedness is not None)
        from robot_rl.envs.ros_env import state_vector

        ros_state = state_vector(sample)  # no previous pose: zero velocities
        twin_state = obs["state"].copy()
        for name in ("tcp_linvel", "tcp_angvel"):
            twin_state[STATE_SLICES[name]] = 0.0
        np.testing.assert_allclose(ros_state, twin_state, atol=1e-6)
    finally:
        env.close()


def test_ros_env_runs_with_mujoco_and_robot_rl_sim_unimportable():
    """The actor's env on a robot computer without MuJoCo: state size from the contract, reset and a step."""
    code = textwrap.dedent("""
        import importlib.abc, sys
        import numpy as np
        BLOCKED = ("mujoco", "robot_rl.sim")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"{name} is unimportable in this test")
        sys.meta_path.insert(0, Block())
        from robot_rl.contract.arm import state_dim_for
        from robot_rl.envs.ros_env import ArmSample, RosArmEnv, RosEnvConfig

        class Link:
            def __init__(self):
                self.t, self.sent = 0.0, []
                self.s = ArmSample(pos=np.array([0.45, 0.0, 0.25]), quat=np.array([0.0, 1.0, 0.0, 0.0]),
                                   task=np.zeros(2 + 6))
            def clock(self):
                return self.t
            def sleep(self, dt):
                self.t += dt
                self.s.pose_t = self.s.task_t = self.t
            def snapshot(self):
                return self.s
            def send_target(self, pos, quat, grip):
                self.sent.append((np.array(pos), grip))
            def reset(self, timeout_s):
                return True, "ok"

        link = Link()
        env = RosArmEnv(link, RosEnvConfig(task="pick_cube"), clock=link.clock, sleep=link.sleep)
        obs, _ = env.reset()
        obs, *_ = env.step(np.r_[1.0, 0, 0, 0, 0, 0, 1.0])
        assert obs["state"].shape == (state_dim_for("pick_cube"),) == (26,), obs["state"].shape
        assert link.sent and link.sent[0][1] == 1.0
        assert "mujoco" not in sys.modules and not any(m.startswith("robot_rl.sim") for m in sys.modules)
        print("ok", state_dim_for("reach"), state_dim_for("peg_insert"))
    """)
    env = {**os.environ, "PYTHONPATH": ""}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == "ok 26 26", r.stdout[-500:] + r.stderr[-2000:]


def test_the_state_quaternion_is_continuous_through_tool_down_where_w_changes_sign():
    from robot_rl.contract.arm import STATE_SLICES, state_vector
    from robot_rl.contract.rotations import mat_to_quat, rotvec_to_mat

    down = np.diag([1.0, -1.0, -1.0])
    quats = []
    for tilt in np.linspace(-0.01, 0.01, 21):  # rad about base x, through tool-down: w crosses 0
        q = mat_to_quat(rotvec_to_mat([tilt, 0.0, 0.0]) @ down)
        s = state_vector(np.zeros(3), q, np.zeros(3), np.zeros(3), 0.0, np.zeros(6), [])
        quats.append(s[STATE_SLICES["tcp_quat"]])
    quats = np.array(quats)
    assert np.max(np.linalg.norm(np.diff(quats, axis=0), axis=1)) < 0.01  # no jump to -q
    assert np.all(quats[:, 1] > 0.99)  # qx stays +1 around tool-down
