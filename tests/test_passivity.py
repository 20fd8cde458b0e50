"""The energy tank (controllers/passivity.py): invariants under random and adversarial action sequences."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.controllers.passivity import EnergyTank, EnergyTankConfig

DT = 0.002
CFG = EnergyTankConfig(initial_energy_j=0.5, min_energy_j=0.05, max_energy_j=1.0)
EPS = 1e-9

finite_power = st.floats(-1e4, 1e4, allow_nan=False)
powers = st.lists(finite_power, min_size=1, max_size=200)
any_power = st.one_of(finite_power, st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e300]))


def _check_invariants(tank: EnergyTank) -> None:
    c = tank.cfg
    assert c.min_energy_j <= tank.energy_j <= c.max_energy_j
    assert 0.0 <= tank.alpha <= 1.0
    assert tank.debt_j >= 0.0
    # bookkeeping identity: E - debt = E0 - W + H - spilled
    lhs = tank.energy_j - tank.debt_j
    rhs = c.initial_energy_j - tank.injected_j + tank.harvested_j - tank.spilled_j
    assert lhs == pytest.approx(rhs, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(any_power, st.floats(0.0, 1e3, allow_nan=False)), min_size=1, max_size=200))
def test_tank_energy_never_below_min_under_adversarial_actions(seq):
    tank = EnergyTank(CFG)
    for p, harvest in seq:
        alpha = tank.step(p, DT, harvest)
        assert 0.0 <= alpha <= 1.0
        _check_invariants(tank)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite_power, st.floats(0.0, 500.0, allow_nan=False)), min_size=1, max_size=300))
def test_energy_injected_never_exceeds_initial_minus_min_plus_harvested(seq):
    tank = EnergyTank(CFG)
    for p, harvest in seq:
        tank.step(p, DT, harvest)
        tank.observe(tank.predicted_j)  # the port delivered exactly what was predicted
        assert tank.debt_j == 0.0
        assert tank.injected_j <= CFG.initial_energy_j - CFG.min_energy_j + tank.harvested_j + EPS


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-200.0, 200.0, allow_nan=False), min_size=10, max_size=300),
       st.floats(0.5, 5.0), st.floats(0.0, 20.0))
def test_observer_charges_realised_energy_on_a_mass_plant_pushed_adversarially(forces, mass_kg, damping):
    """A 1-D mass with damping, pushed along its velocity (the worst case for the tank) plus arbitrary forces.
    The tank is charged with the realised work (next tick's velocity); the bound holds up to the unpaid debt,
    and no energy is let out while the debt is outstanding."""
    tank = EnergyTank(CFG)
    v = 0.1
    for f in forces:
        u = f + 50.0 * math.copysign(1.0, v)  # adversary: always push along the motion
        in_debt = tank.debt_j > 0.0
        alpha = tank.step(u * v, DT, damping * v * v)
        if in_debt and u * v > 0.0:
            assert alpha == 0.0
        applied = alpha * u
        v_next = v + DT / mass_kg * (applied - damping * v)
        tank.observe(applied * 0.5 * (v + v_next) * DT)
        v = v_next
        _check_invariants(tank)
        assert tank.injected_j <= CFG.initial_energy_j - CFG.min_energy_j + tank.harvested_j + tank.debt_j + EPS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=3, max_size=3), st.lists(st.floats(-10, 10), min_size=3, max_size=3),
       st.floats(0.05, 1.0))
def test_action_untouched_when_requested_power_is_not_positive(u, v, energy):
    u, v = np.array(u), np.array(v)
    if float(u @ v) > 0.0:
        v = -v
    tank = EnergyTank(EnergyTankConfig(initial_energy_j=energy, min_energy_j=0.05, max_energy_j=1.0))
    out = tank.filter(u, v, DT)
    assert np.array_equal(out, u)
    assert tank.alpha == 1.0
    assert tank.energy_j >= energy - 1e-12  # energy flowing back can only refill


def test_no_nan_at_zero_velocity_even_with_an_empty_tank():
    tank = EnergyTank(EnergyTankConfig(initial_energy_j=0.05, min_energy_j=0.05, max_energy_j=1.0))
    u = np.array([1e6, -3.0, 0.0])
    out = tank.filter(u, np.zeros(3), DT)
    assert np.array_equal(out, u) and tank.alpha == 1.0
    assert all(math.isfinite(x) for x in tank.telemetry().values())


def test_action_is_scaled_so_that_the_tank_stops_exactly_at_its_minimum():
    tank = EnergyTank(CFG)
    p = 10.0 * (CFG.initial_energy_j - CFG.min_energy_j) / DT  # ten times what is left
    alpha = tank.step(p, DT)
    assert alpha == pytest.approx(0.1)
    assert tank.energy_j == pytest.approx(CFG.min_energy_j)
    assert tank.step(p, DT) == 0.0  # empty: nothing more goes out
    assert tank.limited_ticks == 2


def test_harvested_dissipation_refills_but_never_above_max():
    tank = EnergyTank(CFG)
    for _ in range(1000):
        tank.step(0.0, DT, dissipated_power_w=100.0)
    assert tank.energy_j == CFG.max_energy_j
    assert tank.spilled_j == pytest.approx(1000 * DT * 100.0 - (CFG.max_energy_j - CFG.initial_energy_j))


def test_harvest_efficiency_zero_disables_refill():
    tank = EnergyTank(EnergyTankConfig(initial_energy_j=0.5, min_energy_j=0.05, max_energy_j=1.0,
                                       harvest_efficiency=0.0))
    tank.step(0.0, DT, dissipated_power_w=100.0)
    assert tank.energy_j == 0.5 and tank.harvested_j == 0.0


@pytest.mark.parametrize("p", [math.nan, math.inf, -math.inf])
def test_non_finite_power_is_rejected_with_alpha_zero_and_no_energy_moved(p):
    tank = EnergyTank(CFG)
    assert tank.step(p, DT) == 0.0
    assert tank.energy_j == CFG.initial_energy_j and tank.injected_j == 0.0 and tank.rejected_ticks == 1


def test_observer_overdraw_becomes_debt_that_blocks_output_until_repaid():
    tank = EnergyTank(CFG)
    tank.step(1.0, DT)  # predicted 2 mJ
    tank.observe(CFG.initial_energy_j)  # the port really delivered the whole tank, its E_min reserve included
    assert tank.energy_j == CFG.min_energy_j
    debt = tank.debt_j
    assert debt == pytest.approx(CFG.min_energy_j)  # E0 - realised = 0, i.e. E_min below the floor
    assert tank.step(1.0, DT) == 0.0  # in debt: no energy out
    tank.observe(0.0)
    tank.step(-debt / DT, DT)  # energy flowing back repays the debt first
    assert tank.debt_j == pytest.approx(0.0, abs=1e-12) and tank.energy_j == pytest.approx(CFG.min_energy_j)
    _check_invariants(tank)


def test_observer_can_be_disabled():
    tank = EnergyTank(EnergyTankConfig(initial_energy_j=0.5, min_energy_j=0.05, max_energy_j=1.0,
                                       observer_enabled=False))
    tank.step(1.0, DT)
    tank.observe(10.0)
    assert tank.debt_j == 0.0 and tank.injected_j == pytest.approx(DT)


@pytest.mark.parametrize("kw", [
    {"min_energy_j": 0.0}, {"min_energy_j": 2.0, "max_energy_j": 1.0}, {"initial_energy_j": 5.0},
    {"initial_energy_j": 0.01}, {"harvest_efficiency": 1.5}, {"max_energy_j": math.inf},
])
def test_tank_config_rejects_invalid_values(kw):
    base = {"initial_energy_j": 0.5, "min_energy_j": 0.05, "max_energy_j": 1.0}
    with pytest.raises(ValueError):
        EnergyTank(EnergyTankConfig(**{**base, **kw}))
