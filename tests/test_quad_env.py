"""The quadrotor tasks as env sources (robot_rl/envs/quad_source.py, sim/quad_env.py): layout, conventions,
initial states, randomisation, the scripted expert in both engines, and a smoke training run."""
import math

import numpy as np
import pytest

from robot_rl.contract.quad import ACTION_DIM, CF2X, PROPRIO_DIM, STATE_SLICES, quad_task_io
from robot_rl.contract.rotations import quat_to_mat
from robot_rl.controllers.quad_control import tilt_of
from robot_rl.envs.sources import EnvSourceError, get_source, open_env
from robot_rl.sim.quad_env import QuadEnv
from robot_rl.sim.quad_expert import QuadExpert
from robot_rl.sim.quad_tasks import QuadRandomizationConfig, quad_task


def _expert_success(task: str, engine: str, seeds, mode: str = "attitude") -> float:
    env = QuadEnv(task, engine=engine, action_mode=mode)
    ex = QuadExpert(env)
    wins = 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        while True:
            obs, _, term, trunc, info = env.step(ex.act(obs))
            if term or trunc:
                break
        wins += info["success"]
    env.close()
    return wins / len(seeds)


def test_quad_sources_are_registered_with_an_expert_and_open_for_the_learner():
    for name in ("quad_hover", "quad_waypoints", "quad_hover_pybullet", "quad_hover_rotors"):
        src = get_source(name)
        assert src is not None and src.make_expert is not None, name
    env = open_env("quad_hover")
    obs, _ = env.reset(seed=0)
    assert obs["state"].shape == (quad_task_io("quad_hover").state_dim(),)
    assert env.action_space.shape == (ACTION_DIM,)
    with pytest.raises(EnvSourceError, match="no cameras"):
        open_env("quad_hover", cameras=("front",))


def test_state_vector_follows_the_contract_layout():
    env = QuadEnv("quad_waypoints")
    obs, _ = env.reset(seed=3)
    s = env.state
    assert np.allclose(obs[STATE_SLICES["pos_error"]], s.pos - env.target, atol=1e-6)
    assert np.allclose(obs[STATE_SLICES["rot"]].reshape(3, 3), quat_to_mat(s.quat), atol=1e-6)
    assert np.allclose(obs[STATE_SLICES["linvel"]], s.linvel, atol=1e-6)
    assert np.allclose(obs[STATE_SLICES["angvel"]], s.angvel_body, atol=1e-6)
    a = np.array([0.1, -0.2, 0.3, 0.05], np.float32)
    obs, *_ = env.step(a)
    hist = obs[PROPRIO_DIM:PROPRIO_DIM + 2 * ACTION_DIM].reshape(2, ACTION_DIM)
    assert np.allclose(hist[-1], a)  # the last action is the newest entry of the history
    assert np.allclose(obs[-3:], env.gates[1] - env.state.pos, atol=1e-6)  # the gate after the current one


def test_initial_states_span_learning_to_flys_distribution():
    t = quad_task("quad_hover")
    rng = np.random.default_rng(0)
    starts = [t.sample_initial_state(rng) for _ in range(400)]
    tilts = [tilt_of(quat_to_mat(s["quat"])) for s in starts]
    off = np.array([s["pos"] - t.target_m for s in starts])
    assert max(tilts) > 1.2 and max(tilts) <= math.pi / 2 + 1e-9  # up to 90 deg
    assert np.abs(off).max() <= 0.2 + 1e-12 and np.abs(off).max() > 0.18
    assert np.abs([s["linvel"] for s in starts]).max() <= 1.0
    assert np.abs([s["angvel_body"] for s in starts]).max() <= 1.0


def test_same_seed_same_episode_in_both_engines():
    a = QuadEnv("quad_hover", engine="mujoco").reset(seed=7)[0]
    b = QuadEnv("quad_hover", engine="pybullet").reset(seed=7)[0]
    assert np.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("engine", ["mujoco", "pybullet"])
def test_scripted_controller_flies_the_gates_in_both_engines(engine):
    assert _expert_success("quad_waypoints", engine, range(100, 105)) == 1.0


@pytest.mark.parametrize("mode", ["attitude", "rotors"])
def test_scripted_controller_hovers_in_both_action_conventions(mode):
    assert _expert_success("quad_hover", "mujoco", range(4), mode) == 1.0


def test_nan_action_hovers_instead_of_reaching_the_motors():
    env = QuadEnv("quad_hover")
    env.reset(seed=1)
    for _ in range(20):
        env.step(np.zeros(4))
    p = env.state.pos.copy()
    _, _, term, _, info = env.step(np.array([np.nan, 0.0, 0.0, 0.0]))
    assert not term and info["safety"] == "hover_nan"
    assert np.linalg.norm(env.state.pos - p) < 0.1 and np.all(np.isfinite(env.twin.rpm))


def test_randomisation_is_off_by_default_and_changes_the_physics_when_on():
    env = QuadEnv("quad_hover")
    env.reset(seed=0)
    assert env.twin.params is CF2X and env.latency_ticks == 0 and not env.wind_n.any()
    dr = QuadRandomizationConfig(mass_scale_range=(1.2, 1.3), thrust_coeff_scale_range=(0.8, 0.9),
                                 motor_time_constant_range_s=(0.1, 0.15), latency_ticks_max=3, wind_force_max_n=0.02)
    env = QuadEnv("quad_hover", randomization=dr)
    seen = set()
    for seed in range(6):
        env.reset(seed=seed)
        p = env.twin.params
        assert 1.2 * CF2X.mass_kg <= p.mass_kg <= 1.3 * CF2X.mass_kg
        assert p.thrust_coeff_n_per_rpm2 < CF2X.thrust_coeff_n_per_rpm2 and p.motor_time_constant_s >= 0.1
        assert 0.0 < np.linalg.norm(env.wind_n) <= 0.02
        seen.add(env.latency_ticks)
    assert len(seen) > 1
    # the controllers keep the nominal parameters: the randomised vehicle is what they have to cope with
    assert env.stack.p is CF2X


def test_crash_ends_the_episode_without_reward_and_counts_as_failure():
    env = QuadEnv("quad_hover", safety_enabled=False, action_mode="rotors")
    env.reset(seed=0)
    for _ in range(200):
        _, r, term, trunc, info = env.step(-np.ones(4))  # motors off: it falls
        if term or trunc:
            break
    assert term and info["crashed"] and not info["success"] and r == 0.0


def test_dense_reward_peaks_at_the_target_and_sparse_reward_is_success_radius():
    from robot_rl.contract.quad_tasks import step_reward

    t, z3, z4 = quad_task("quad_hover"), np.zeros(3), np.zeros(4)
    near = step_reward(t, "dense", 0.0, z3, z3, z4, z4)
    far = step_reward(t, "dense", 0.5, z3, z3, z4, z4)
    assert near == pytest.approx(1.0) and 0.0 < far < near
    assert step_reward(t, "sparse", 0.05, z3, z3, z4, z4) == 1.0 and step_reward(t, "sparse", 0.2, z3, z3, z4, z4) == 0.0


def test_training_smoke_run_on_quad_hover_writes_curve_and_summary(tmp_path):
    from robot_rl.learning.config import TrainConfig, preset
    from robot_rl.loops.trainer import Trainer

    cfg = preset(TrainConfig, "quad_hover", {"total_env_steps": 300, "random_action_steps": 100,
                                             "start_training_after_steps": 100, "eval_every_env_steps": 150,
                                             "eval_episodes": 2, "device": "cpu"})
    s = Trainer(cfg, tmp_path, progress=False).run()
    assert s["env_steps"] == 300 and s["updates"] == 201 and s["final_eval_success_rate"] is not None
    assert (tmp_path / "learning_curve.png").exists() and (tmp_path / "summary.json").exists()
