"""The twin experiment behind ``robot-rl bench safety-experiment``: bounds, not timing."""
import dataclasses

import pytest

from robot_rl.tools.bench.safety_experiment import AdversaryConfig, adversarial_run, expert_success
from robot_rl.sim.tasks import TASKS

ADVERSARY = dataclasses.replace(AdversaryConfig(), steps=30)


@pytest.fixture(scope="module")
def runs():
    return {f: adversarial_run(f, ADVERSARY) for f in (False, True)}


def test_adversary_with_filters_stays_within_every_bound(runs):
    r = runs[True]
    assert r["bounds"] == {k: True for k in r["bounds"]}, r["bounds"]
    assert r["within_bounds"]
    assert r["tank_min_energy_j"] >= 0.05 - 1e-12
    assert r["injected_energy_j"] <= r["energy_bound_j"] + 1e-9
    assert r["peak_torque_rate_nm_per_s"] <= 1000.0 * (1 + 1e-9)
    assert r["peak_active_torque_fraction_of_limit"] <= 1.0 + 1e-12
    assert r["target_outside_box_ticks"] == 0
    assert r["peak_target_speed_m_per_s"] <= 0.5 * (1 + 1e-9)


def test_adversary_without_filters_breaks_the_limits_the_filters_keep(runs):
    bare, filtered = runs[False], runs[True]
    assert bare["target_outside_box_ticks"] > 0
    assert bare["peak_torque_rate_nm_per_s"] > 1000.0
    assert bare["peak_target_speed_m_per_s"] > 0.5
    assert bare["injected_energy_j"] > filtered["injected_energy_j"]
    assert filtered["injected_minus_damping_dissipation_j"] <= 2.0 - 0.05 + 1e-9  # E0 - E_min (no debt here)
    # without the tank, the adversary gets more energy past the controller's damping than the tank's whole budget
    assert bare["injected_minus_damping_dissipation_j"] > 2.0 - 0.05
    assert bare["mean_contact_force_n"] > filtered["mean_contact_force_n"]


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_success_with_filters_is_within_5_points_of_without(task):
    episodes = 20
    on = expert_success(task, episodes, True, seed=100)
    off = expert_success(task, episodes, False, seed=100)
    assert abs(on - off) <= 0.05 + 1e-12, (task, on, off)
    assert on >= 0.9
