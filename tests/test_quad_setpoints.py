"""The setpoint-level guard the Crazyflie driver and the quad twin node run before anything is sent: fence, speed,
tilt and thrust limits under adversarial commands, NaN, the watchdog's hover -> land -> stop, e-stop."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.contract.quad import CF2X, QuadState
from robot_rl.contract.rotations import euler_zyx_to_mat, mat_to_quat
from robot_rl.controllers.quad_setpoints import QuadGuardConfig, QuadSetpointGuard

CFG = QuadGuardConfig()
LO, HI = np.array(CFG.safety.fence_min_m), np.array(CFG.safety.fence_max_m)
num = st.floats(-1e3, 1e3, allow_nan=False)
inside_pos = st.tuples(st.floats(-0.95, 0.95), st.floats(-0.95, 0.95), st.floats(0.1, 1.9))


def state(pos, vel=(0.0, 0.0, 0.0), roll=0.0, pitch=0.0):
    return QuadState(np.array(pos, float), mat_to_quat(euler_zyx_to_mat(roll, pitch, 0.3)), np.array(vel, float),
                     np.zeros(3))


@settings(max_examples=150, deadline=None)
@given(pos=inside_pos, vel=st.tuples(*[st.floats(-2, 2)] * 3), cmd=st.tuples(num, num, num, num))
def test_velocity_setpoints_never_exceed_the_fence_speed_bound_or_max_speed(pos, vel, cmd):
    g = QuadSetpointGuard(CF2X, CFG)
    s = state(pos, vel)
    g.set_command(0.0, "velocity", cmd)
    sp = g.tick(0.0, s)
    v = np.array(sp.values[:3])
    assert np.linalg.norm(v) <= CFG.safety.max_speed_m_per_s + 1e-9
    assert (v <= g.safety.allowed_speed_toward(HI - s.pos) + 1e-9).all()
    assert (-v <= g.safety.allowed_speed_toward(s.pos - LO) + 1e-9).all()


@settings(max_examples=150, deadline=None)
@given(pos=inside_pos, cmd=st.tuples(num, num, num, num))
def test_position_setpoints_stay_inside_the_fence_by_the_return_margin(pos, cmd):
    g = QuadSetpointGuard(CF2X, CFG)
    g.set_command(0.0, "position", cmd)
    sp = g.tick(0.0, state(pos))
    p = np.array(sp.values[:3])
    m = CFG.safety.return_margin_m
    assert sp.kind == "position" and (p >= LO + m - 1e-9).all() and (p <= HI - m + 1e-9).all()


@settings(max_examples=150, deadline=None)
@given(pos=inside_pos, roll=st.floats(-3, 3), pitch=st.floats(-3, 3), rate=num, thrust=st.floats(-10, 10))
def test_attitude_setpoints_keep_the_tilt_and_thrust_limits(pos, roll, pitch, rate, thrust):
    g = QuadSetpointGuard(CF2X, CFG)
    g.set_command(0.0, "attitude", [roll, pitch, rate, thrust])
    sp = g.tick(0.0, state(pos))
    r, p, _, t = sp.values
    assert math.acos(math.cos(r) * math.cos(p)) <= CFG.control.max_tilt_cmd_rad + 1e-6
    assert CFG.control.min_thrust_fraction_of_weight * CF2X.weight_n - 1e-9 <= t <= 4 * CF2X.max_thrust_per_rotor_n + 1e-9


def test_nan_command_hovers_where_it_arrived_and_does_not_feed_the_watchdog():
    g = QuadSetpointGuard(CF2X, CFG)
    g.set_command(0.0, "position", [0.0, 0.0, 1.0, 0.0])
    g.tick(0.0, state((0.2, 0.1, 0.8)))
    g.set_command(0.1, "velocity", [math.nan, 0.0, 0.0, 0.0])
    sp = g.tick(0.1, state((0.2, 0.1, 0.8)))
    assert (sp.kind, sp.reason) == ("position", "hover_nan") and sp.values[:3] == (0.2, 0.1, 0.8)
    assert g.tick(0.1 + CFG.watchdog.setpoint_timeout_s + 0.01, state((0.2, 0.1, 0.8))).reason == "watchdog"


def test_stale_command_hovers_then_lands_then_stops_the_motors():
    g = QuadSetpointGuard(CF2X, CFG)
    g.set_command(0.0, "position", [0.0, 0.0, 1.0, 0.0])
    t = CFG.watchdog.setpoint_timeout_s + 0.1
    sp = g.tick(t, state((0.1, 0.0, 1.0)))
    assert (sp.kind, sp.reason, sp.values[2]) == ("position", "watchdog", 1.0)
    g.tick(t + CFG.watchdog.hover_s + 0.5, state((0.1, 0.0, 1.0)))
    sp = g.tick(t + CFG.watchdog.hover_s + 1.0, state((0.1, 0.0, 1.0)))
    assert sp.reason == "watchdog" and sp.values[2] < 1.0  # the landing ramp
    assert g.tick(t + 10.0, state((0.1, 0.0, 0.01))).kind == "stop"
    g.set_command(t + 10.0, "position", [0.0, 0.0, 1.0, 0.0])  # landing is committed until reset
    assert g.tick(t + 10.0, state((0.1, 0.0, 0.01))).kind == "stop"


def test_outside_the_fence_returns_inside_or_lands_by_config():
    g = QuadSetpointGuard(CF2X, CFG)
    g.set_command(0.0, "velocity", [0.5, 0.0, 0.0, 0.0])
    sp = g.tick(0.0, state((1.3, 0.0, 1.0)))
    assert (sp.kind, sp.reason) == ("position", "fence") and sp.values[0] == pytest.approx(HI[0] - 0.1)
    import dataclasses

    land = QuadSetpointGuard(CF2X, dataclasses.replace(CFG, safety=dataclasses.replace(CFG.safety, outside="land")))
    sp = land.tick(0.0, state((1.3, 0.0, 1.0)))
    assert (sp.kind, sp.reason) == ("velocity", "fence") and sp.values[2] < 0


def test_a_measured_tilt_beyond_the_limit_hovers_level_and_idle_sends_nothing():
    g = QuadSetpointGuard(CF2X, CFG)
    assert g.tick(0.0, state((0.0, 0.0, 1.0))).kind == "none"  # no command (idle or high-level flight)
    g.set_command(0.0, "attitude", [0.3, 0.0, 0.0, CF2X.weight_n])
    assert g.tick(0.0, state((0.0, 0.0, 1.0), roll=0.9)).reason == "tilt"


def test_estop_sends_only_stop_and_wrong_sizes_are_refused():
    g = QuadSetpointGuard(CF2X, CFG)
    g.estop()
    g.set_command(0.0, "position", [0.0, 0.0, 1.0, 0.0])
    assert g.tick(0.0, state((0.0, 0.0, 1.0))).kind == "stop"
    with pytest.raises(ValueError, match="4 numbers"):
        g.set_command(0.0, "position", [0.0, 1.0])
    with pytest.raises(ValueError, match="unknown setpoint kind"):
        g.set_command(0.0, "rotors", [0.0] * 4)
