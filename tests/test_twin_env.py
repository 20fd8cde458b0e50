"""The twin env: spaces, action convention, determinism, rendering, randomisation, external MJCF."""
import gymnasium as gym
import numpy as np
import pytest

import robot_rl.sim
from robot_rl.sim.arm_env import PROPRIO_DIM, TwinArmEnv
from robot_rl.sim.randomization import DomainRandomizationConfig
from robot_rl.sim.tasks import TASKS


@pytest.mark.parametrize("task", sorted(TASKS))
def test_registered_gym_ids_make_envs_with_the_documented_spaces(task):
    env = gym.make(f"robot_rl/{task}-v0")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"state"}
    assert obs["state"].dtype == np.float32 and obs["state"].shape[0] > PROPRIO_DIM
    assert env.action_space.shape == (7,) and env.action_space.dtype == np.float32
    assert env.unwrapped.tcfg.episode_steps == 100 and env.unwrapped.tcfg.policy_hz == 10.0
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and "success" in info
    env.close()


def test_reset_with_the_same_seed_is_deterministic_and_different_seeds_differ():
    env = TwinArmEnv("pick_cube")
    a = env.reset(seed=7)[0]["state"]
    b = env.reset(seed=7)[0]["state"]
    c = env.reset(seed=8)[0]["state"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[-6:-3], c[-6:-3])  # the cube moved


def test_actions_move_the_tcp_in_the_end_effector_frame():
    env = TwinArmEnv("reach")
    env.reset(seed=0)
    p0, r0 = env.twin.ee_pose()
    for _ in range(3):
        env.step(np.array([0, 0, 1.0, 0, 0, 0, -1], dtype=np.float32))  # +z of the TCP frame: down, at the table
    p1, _ = env.twin.ee_pose()
    d = p1 - p0
    ee_z_in_base = r0[:, 2]
    assert d @ ee_z_in_base > 0.03 and np.linalg.norm(d - (d @ ee_z_in_base) * ee_z_in_base) < 0.01


def test_target_stays_inside_the_workspace_box():
    env = TwinArmEnv("reach")
    env.reset(seed=0)
    for _ in range(30):
        env.step(np.array([0, 0, 1.0, 0, 0, 0, -1], dtype=np.float32))
        assert env.twin.target_pos[2] >= env.tcfg.workspace_min_m[2] - 1e-12
    assert env.twin.ee_pose()[0][2] > 0.0


@pytest.mark.parametrize("bad", [np.full(7, np.nan), np.array([0, 0, np.inf, 0, 0, 0, 0]), np.zeros(6)])
def test_bad_actions_raise_and_leave_the_target_unchanged(bad):
    env = TwinArmEnv("reach")
    env.reset(seed=0)
    before = env.twin.target_pos.copy(), env.twin.target_rot.copy()
    with pytest.raises(ValueError):
        env.step(bad)
    np.testing.assert_array_equal(env.twin.target_pos, before[0])
    np.testing.assert_array_equal(env.twin.target_rot, before[1])


def test_camera_images_are_non_blank_128px_uint8_and_distinct():
    env = TwinArmEnv("pick_cube", cameras=("front", "wrist"))
    obs, _ = env.reset(seed=0)
    front, wrist = obs["images/front"], obs["images/wrist"]
    for img in (front, wrist):
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert img.std() > 10.0 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    assert np.abs(front.astype(int) - wrist.astype(int)).mean() > 10.0
    assert env.observation_space.contains(obs)
    env.close()


def test_unknown_camera_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown camera"):
        TwinArmEnv("reach", cameras=("side",))


def test_dense_reward_increases_when_the_tcp_approaches_the_goal():
    env = TwinArmEnv("reach", reward="dense", terminate_on_success=False)
    env.reset(seed=3)
    goal = env.task.goal(env.model)
    rewards = []
    for _ in range(8):
        p, r = env.twin.ee_pose()
        a = np.zeros(7, dtype=np.float32)
        a[:3] = np.clip(r.T @ (goal - p) / env.tcfg.action_step_m, -1, 1)
        rewards.append(env.step(a)[1])
    assert rewards[-1] > rewards[0]


def test_domain_randomisation_is_off_by_default_and_resamples_from_nominal_when_on():
    env = TwinArmEnv("pick_cube")
    f0 = env.model.geom_friction[:, 0].copy()
    m0 = env.model.body_mass.copy()
    env.reset(seed=0)
    np.testing.assert_array_equal(env.model.geom_friction[:, 0], f0)
    dr = DomainRandomizationConfig(friction_scale_range=(0.5, 1.5), object_mass_scale_range=(0.5, 2.0),
                                   joint_damping_scale_range=(0.8, 1.2), camera_pos_jitter_m=0.02)
    env_r = TwinArmEnv("pick_cube", randomization=dr)
    cube = env_r.task.cube_body
    masses = []
    for seed in range(20):
        env_r.reset(seed=seed)
        ratio = env_r.model.geom_friction[:, 0] / f0
        assert np.all((ratio >= 0.5 - 1e-9) & (ratio <= 1.5 + 1e-9))
        masses.append(env_r.model.body_mass[cube] / m0[cube])
    assert 0.5 <= min(masses) < max(masses) <= 2.0 and np.std(masses) > 0.1


def test_invalid_randomisation_range_is_rejected():
    with pytest.raises(ValueError, match="friction_scale_range"):
        TwinArmEnv("reach", randomization=DomainRandomizationConfig(friction_scale_range=(1.5, 0.5)))


def test_external_mjcf_by_path_runs_the_same_impedance_law(tmp_path):
    franky_sim = pytest.importorskip("franky_sim", reason="franky-sim ships fr3.xml (installed by scripts/install.sh)")
    from pathlib import Path

    from robot_rl.sim.arm_twin import ArmTwin, ExternalArmSpec, TwinConfig

    from robot_rl.controllers.filtered_loop import FiltersConfig
    from robot_rl.controllers.impedance import CartesianImpedanceConfig

    fr3 = Path(franky_sim.__file__).parent / "assets" / "fr3.xml"
    # fr3.xml models joint friction (frictionloss ~1 Nm); a larger clip than the default lets the spring beat it
    # (above the safety filter's spring-force bound, so the bare law runs here)
    imp = CartesianImpedanceConfig(translational_clip_m=(0.05, 0.05, 0.05))
    twin = ArmTwin(cfg=TwinConfig(external=ExternalArmSpec(str(fr3), meshdir="meshes"), impedance=imp,
                                  filters=FiltersConfig(enabled=False)))
    p0, r0 = twin.ee_pose()
    target = p0 + np.array([0.05, 0.05, -0.1])
    twin.set_target(target, r0)
    twin.step(twin.ticks_for(3.0))
    assert np.linalg.norm(twin.ee_pose()[0] - target) < 5e-3


def test_missing_external_mjcf_is_a_clear_error():
    from robot_rl.sim.arm_twin import ArmTwin, ExternalArmSpec, TwinConfig

    with pytest.raises(FileNotFoundError, match="external MJCF not found"):
        ArmTwin(cfg=TwinConfig(external=ExternalArmSpec("/nonexistent/fr3.xml")))


def test_control_rate_must_divide_the_physics_rate():
    from robot_rl.sim.arm_twin import ArmTwin, TwinConfig

    with pytest.raises(ValueError, match="control_hz"):
        ArmTwin(cfg=TwinConfig(control_hz=700.0))


def test_reset_pose_does_not_depend_on_the_previous_episode():
    """A twin with history resets bit-for-bit like a fresh one (resumed training relies on it): the reset IK must
    not start from the live joint state, whose finger positions change the Jacobian's roundoff."""
    used, fresh = TwinArmEnv("reach"), TwinArmEnv("reach")
    used.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        used.step(rng.uniform(-1.0, 1.0, 7).astype(np.float32))
    a, _ = used.reset(seed=11)
    b, _ = fresh.reset(seed=11)
    assert np.array_equal(used.data.qpos, fresh.data.qpos) and np.array_equal(a["state"], b["state"])
    used.close(), fresh.close()
