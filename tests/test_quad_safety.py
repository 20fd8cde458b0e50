"""The quadrotor's fast loop (controllers/quad_stack.py): safety filter, watchdog, e-stop, cascade, on the MuJoCo
twin. Property tests drive it with adversarial commands (hypothesis)."""
import math

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from robot_rl.contract.quad import CF2X, QuadState, hover_command
from robot_rl.controllers.quad_control import QuadController, tilt_of
from robot_rl.controllers.quad_safety import QuadSafetyConfig, QuadSafetyFilter
from robot_rl.controllers.quad_stack import MOTORS_OFF, QuadFlightStack, QuadStackConfig
from robot_rl.controllers.watchdog import QuadWatchdogConfig
from robot_rl.sim.quad_twin import QuadTwin

DT = 0.005
SAFETY = QuadSafetyConfig(fence_min_m=(-1.0, -1.0, 0.05), fence_max_m=(1.0, 1.0, 2.0))
LO, HI = np.asarray(SAFETY.fence_min_m), np.asarray(SAFETY.fence_max_m)
W = CF2X.weight_n
# closed-loop examples are slow: no shrinking (a failure still prints its unshrunk example)
CLOSED_LOOP = dict(deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))

finite_cmd = st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(-3.0, 3.0), st.floats(0.0, 2.5 * W))
bad = st.sampled_from([math.nan, math.inf, -math.inf])
maybe_bad_cmd = st.one_of(finite_cmd, st.tuples(bad, st.floats(-1, 1), st.floats(-1, 1), st.floats(0, W)),
                          st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), bad))


def _fly(commands, kind="attitude", start=(0.0, 0.0, 1.0), hold_ticks=40, cfg=None, linvel=(0.0, 0.0, 0.0)):
    """Fly each command for ``hold_ticks`` ticks; returns (positions, tilts, rotor commands, reasons)."""
    stack = QuadFlightStack(CF2X, cfg or QuadStackConfig(safety=SAFETY))
    twin = QuadTwin("mujoco", CF2X, DT)
    twin.reset(start, (1.0, 0.0, 0.0, 0.0), linvel)
    t, pos, tilt, motors, reasons = 0.0, [], [], [], []
    for c in commands:
        stack.set_command(t, kind, c)
        for _ in range(hold_ticks):
            s = twin.state()
            u = stack.tick(t, s)
            motors.append(u)
            reasons.append(stack.last_reason)
            twin.step(u)
            t += DT
            s = twin.state()
            pos.append(s.pos)
            tilt.append(tilt_of(s.rot))
    return np.array(pos), np.array(tilt), np.array(motors), reasons


@settings(max_examples=25, **CLOSED_LOOP)
@given(st.lists(finite_cmd, min_size=5, max_size=15),
       st.tuples(st.floats(-0.8, 0.8), st.floats(-0.8, 0.8), st.floats(0.3, 1.8)))
def test_fence_and_tilt_never_exceeded_under_adversarial_attitude_commands(commands, start):
    pos, tilt, motors, _ = _fly(commands, start=start)
    assert np.all(pos >= LO) and np.all(pos <= HI), (pos.min(axis=0), pos.max(axis=0))
    assert tilt.max() <= CF2X.max_tilt_rad
    assert np.all(np.isfinite(motors))


@settings(max_examples=15, **CLOSED_LOOP)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-1, 4), st.floats(-3, 3)), min_size=3,
                max_size=8))
def test_fence_never_exceeded_under_adversarial_position_set_points(targets):
    pos, tilt, _, _ = _fly(targets, kind="position", hold_ticks=80)
    assert np.all(pos >= LO) and np.all(pos <= HI), (pos.min(axis=0), pos.max(axis=0))
    assert tilt.max() <= CF2X.max_tilt_rad


@settings(max_examples=200, deadline=None)
@given(maybe_bad_cmd, st.sampled_from(["attitude", "position", "rotors"]),
       st.lists(st.one_of(st.floats(-5, 5), bad), min_size=13, max_size=13))
def test_nan_never_reaches_a_motor(cmd, kind, raw_state):
    stack = QuadFlightStack(CF2X, QuadStackConfig(safety=SAFETY))
    r = np.asarray(raw_state, float)
    s = QuadState(r[:3], r[3:7] if np.any(r[3:7] != 0) else np.array([1.0, 0, 0, 0]), r[7:10], r[10:13])
    stack.set_command(0.0, kind, cmd)
    u = stack.tick(0.001, s)
    assert u.shape == (4,) and np.all(np.isfinite(u)) and np.all(np.abs(u) <= 1.0)


def test_nan_command_hovers_where_it_arrived_and_does_not_feed_the_watchdog():
    wd = QuadWatchdogConfig(setpoint_timeout_s=0.5, hover_s=1.0)
    pos, _, _, reasons = _fly([(0.0, 0.0, 0.0, W)] + [(math.nan, 0.0, 0.0, W)] * 10, hold_ticks=20,
                              cfg=QuadStackConfig(safety=SAFETY, watchdog=wd))
    nan_from = 20
    assert reasons[nan_from] == "hover_nan"
    assert np.max(np.linalg.norm(pos[nan_from:nan_from + 60] - pos[nan_from], axis=1)) < 0.05
    assert "watchdog" in reasons  # the NaN stream went stale: hover, then the landing


def test_stale_command_hovers_in_place_then_lands_and_motors_stop():
    wd = QuadWatchdogConfig(setpoint_timeout_s=0.3, hover_s=1.0, land_speed_m_per_s=0.5)
    stack = QuadFlightStack(CF2X, QuadStackConfig(safety=SAFETY, watchdog=wd))
    twin = QuadTwin("mujoco", CF2X, DT)
    twin.reset((0.2, -0.1, 1.0), (1.0, 0.0, 0.0, 0.0), (0.3, 0.0, 0.0))
    stack.set_command(0.0, "attitude", (0.0, 0.0, 0.0, W))  # one command, then silence
    t, log = 0.0, []
    for _ in range(int(6.0 / DT)):
        u = stack.tick(t, twin.state())
        twin.step(u)
        t += DT
        log.append((t, twin.state().pos.copy(), stack.watchdog.mode.value, u))
    hover = [p for tt, p, m, _ in log if m == "hover"]
    assert hover and np.max(np.linalg.norm(np.array(hover) - stack.watchdog.hover_pos, axis=1)) < 0.1
    modes = [m for _, _, m, _ in log]
    assert modes.index("land") > modes.index("hover") and modes[-1] == "landed"
    assert np.array_equal(log[-1][3], MOTORS_OFF)
    assert log[-1][1][2] < 0.05


def test_estop_turns_motors_off_and_stays_latched_until_reset():
    stack = QuadFlightStack(CF2X, QuadStackConfig(safety=SAFETY))
    s = QuadState(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
    stack.set_command(0.0, "attitude", (0.0, 0.0, 0.0, W))
    assert np.all(stack.tick(0.01, s) > -1.0)
    stack.estop()
    for t in (0.02, 0.03):
        stack.set_command(t, "attitude", (0.0, 0.0, 0.0, W))  # fresh commands do not clear it
        assert np.array_equal(stack.tick(t, s), MOTORS_OFF)
    stack.reset_estop()
    stack.set_command(0.05, "attitude", (0.0, 0.0, 0.0, W))
    assert np.all(stack.tick(0.06, s) > -1.0)


@pytest.mark.parametrize("outside", ["return", "land"])
def test_outside_the_fence_the_vehicle_flies_back_in_or_lands(outside):
    cfg = QuadStackConfig(safety=QuadSafetyConfig(fence_min_m=SAFETY.fence_min_m, fence_max_m=SAFETY.fence_max_m,
                                                  outside=outside))
    # pushed out: starts 0.3 m beyond +x, commanded to keep flying +x
    pos, _, _, reasons = _fly([(0.0, -0.4, 0.0, W)] * 10, start=(1.3, 0.0, 1.0), cfg=cfg)
    assert reasons[0] == "fence"
    if outside == "return":
        assert pos[-1, 0] <= HI[0] and pos.max(axis=0)[0] < 1.35
    else:
        assert pos[-1, 2] < 0.5 and abs(pos[-1, 0] - 1.3) < 0.15


def test_speed_toward_the_fence_is_bounded_near_it():
    f = QuadSafetyFilter(SAFETY)
    s = QuadState(np.array([0.9, 0.0, 1.0]), np.array([1.0, 0, 0, 0]), np.array([1.5, 0.0, 0.0]), np.zeros(3))
    a, changed = f.filter_accel(s, np.array([3.0, 0.0, 0.0]))  # 0.1 m from the face at 1.5 m/s, accelerating
    assert changed and a[0] < -3.0  # braking instead
    s_far = QuadState(np.array([0.0, 0.0, 1.0]), s.quat, np.array([0.5, 0.0, 0.0]), np.zeros(3))
    a, changed = f.filter_accel(s_far, np.array([1.0, 0.5, 0.0]))
    assert not changed and np.array_equal(a, [1.0, 0.5, 0.0])


def test_rotor_commands_pass_when_safe_and_are_overridden_when_tilted():
    stack = QuadFlightStack(CF2X, QuadStackConfig(safety=SAFETY))
    level = QuadState(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
    u = np.array([0.1, 0.2, 0.3, 0.4])
    stack.set_command(0.0, "rotors", u)
    assert np.array_equal(stack.tick(0.001, level), u)
    tilted = QuadState(level.pos, np.array([math.cos(0.4), math.sin(0.4), 0.0, 0.0]), np.zeros(3), np.zeros(3))
    assert tilt_of(tilted.rot) > CF2X.max_tilt_rad
    assert not np.array_equal(stack.tick(0.002, tilted), u) and stack.last_reason == "rotors_override"


def test_cascade_levels_a_vehicle_started_upside_down_to_its_side():
    ctl = QuadController(CF2X)
    twin = QuadTwin("mujoco", CF2X, DT)
    twin.reset((0.0, 0.0, 1.5), (math.cos(0.75), math.sin(0.75), 0.0, 0.0), angvel_body=(1.0, -1.0, 1.0))  # 86 deg
    for _ in range(int(3.0 / DT)):
        twin.step(ctl.position(twin.state(), (0.0, 0.0, 1.5), yaw_sp_rad=0.0))
    s = twin.state()
    assert tilt_of(s.rot) < 0.05 and np.linalg.norm(s.pos - (0.0, 0.0, 1.5)) < 0.05
    assert hover_command(CF2X) > -1.0
