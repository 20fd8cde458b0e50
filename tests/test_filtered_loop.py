"""The filters in the twin's fast loop (controllers/filtered_loop.py via sim/arm_twin.py) and the env's energy cost."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.controllers.filtered_loop import FiltersConfig
from robot_rl.controllers.impedance import CartesianImpedanceConfig
from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv
from robot_rl.sim.arm_twin import ArmTwin, TwinConfig

ROOT = Path(__file__).resolve().parents[1]


def _drive(twin: ArmTwin, targets) -> np.ndarray:
    qs = []
    for p, r in targets:
        twin.set_target(p, r)
        twin.step(25)
        qs.append(twin.q.copy())
    return np.array(qs)


def _targets(twin: ArmTwin):
    p0, r0 = twin.ee_pose()
    return [(p0 + d, r0) for d in ([0.03, 0.0, 0.0], [0.0, -0.04, 0.02], [-0.02, 0.02, -0.05], [0.0, 0.0, 0.0])]


def test_filters_are_on_by_default_and_switch_off_in_the_twin_config():
    assert ArmTwin().filters is not None
    assert ArmTwin(cfg=TwinConfig(filters=FiltersConfig(enabled=False))).filters is None


def test_monitor_only_filters_leave_the_impedance_torque_bit_for_bit_unchanged():
    bare = ArmTwin(cfg=TwinConfig(filters=FiltersConfig(enabled=False)))
    monitor = ArmTwin(cfg=TwinConfig(filters=FiltersConfig(safety_enabled=False, passivity_enabled=False)))
    targets = _targets(bare)
    np.testing.assert_array_equal(_drive(bare, targets), _drive(monitor, targets))
    assert monitor.filters.tank.injected_j > 0.0  # and the monitor measured the energy the spring injected


def test_filtered_twin_still_tracks_targets():
    twin = ArmTwin()
    p0, r0 = twin.ee_pose()
    goal = p0 + np.array([0.05, -0.03, -0.04])
    twin.set_target(goal, r0)
    twin.step(twin.ticks_for(2.0))
    assert np.linalg.norm(twin.ee_pose()[0] - goal) < 5e-3


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_target_in_the_twin_is_rejected_and_the_arm_holds_its_pose(bad):
    twin = ArmTwin()
    p0, r0 = twin.ee_pose()
    twin.target_pos[1] = bad  # a corrupted target written straight into the fast loop's input
    twin.step(twin.ticks_for(0.5))
    assert np.all(np.isfinite(twin.data.qpos)) and np.all(np.isfinite(twin.last_tau))
    assert np.linalg.norm(twin.ee_pose()[0] - p0) < 2e-3
    assert twin.filters.safety.target_rejections > 0


def test_twin_refuses_filters_with_a_reference_clip_above_the_safety_bound():
    imp = CartesianImpedanceConfig(translational_clip_m=(0.05, 0.05, 0.05))
    with pytest.raises(ValueError, match="reference clipping"):
        ArmTwin(cfg=TwinConfig(impedance=imp))


def test_env_reports_a_per_step_energy_cost_and_penalises_the_reward_by_its_weight():
    rng_actions = np.random.default_rng(0).uniform(-1, 1, (15, 7)).astype(np.float32)
    runs = {}
    for w in (0.0, 2.0):
        env = TwinArmEnv("reach", reward="dense", energy_penalty_weight=w)
        env.reset(seed=3)
        runs[w] = [env.step(a)[1:] for a in rng_actions]
    for (r0, *_, i0), (r2, *_, i2) in zip(runs[0.0], runs[2.0]):
        assert i0["energy_cost"] >= 0.0
        assert i0["energy_cost"] == pytest.approx(i2["energy_cost"])
        assert r2 == pytest.approx(r0 - 2.0 * i0["energy_cost"])
    assert sum(i["energy_cost"] for *_, i in runs[0.0]) > 0.0  # random motion draws on the tank


def test_energy_cost_is_higher_for_an_aggressive_policy_than_for_a_still_one():
    env = TwinArmEnv("reach")
    env.reset(seed=1)
    still = sum(env.step(np.zeros(7, np.float32))[4]["energy_cost"] for _ in range(10))
    env.reset(seed=1)
    wild = sum(env.step(np.array([1, -1, 1, 1, -1, 1, 0], np.float32) * (-1) ** k)[4]["energy_cost"]
               for k in range(10))
    assert wild > 10 * still + 0.1


def test_energy_cost_is_zero_without_filters():
    env = TwinArmEnv("reach", EnvConfig(twin=TwinConfig(filters=FiltersConfig(enabled=False))))
    env.reset(seed=0)
    assert env.step(np.ones(7, np.float32))[4]["energy_cost"] == 0.0


def test_env_rejects_a_negative_energy_penalty_weight():
    with pytest.raises(ValueError, match="energy_penalty_weight"):
        TwinArmEnv("reach", energy_penalty_weight=-1.0)


def test_bench_control_loop_prints_one_json_object_with_median_us():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", "bench", "control-loop", "--json", "--episodes", "1",
                        "--repeats", "1"], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["bench"] == "control-loop" and out["ticks_recorded"] > 0
    assert out["median_us"] > 0.0 and out["impedance_only_median_us"] > 0.0 and out["machine"]["cpus"] >= 1
