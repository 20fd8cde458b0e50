"""Watchdog logic (controllers/watchdog.py): stale target -> hold / hover-then-land; e-stop latched."""
import math

import numpy as np
import pytest

from robot_rl.controllers.watchdog import (
    ArmMode,
    ArmWatchdog,
    ArmWatchdogConfig,
    QuadMode,
    QuadWatchdog,
    QuadWatchdogConfig,
)

POSE = (np.array([0.5, 0.0, 0.3]), np.eye(3))


def test_arm_tracks_a_fresh_target_and_holds_the_pose_captured_when_it_goes_stale():
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.125))
    wd.on_target(1.0)
    assert wd.update(1.0625, *POSE) == ArmMode.TRACKING
    assert wd.update(1.125, *POSE) == ArmMode.TRACKING  # exactly at the timeout: still fresh
    assert wd.update(1.13, *POSE) == ArmMode.HOLD
    np.testing.assert_array_equal(wd.hold_pos, POSE[0])
    # the arm drifts a little while holding: the held pose does not follow it
    assert wd.update(1.2, POSE[0] + 0.01, POSE[1]) == ArmMode.HOLD
    np.testing.assert_array_equal(wd.hold_pos, POSE[0])
    wd.on_target(1.3)
    assert wd.update(1.3, *POSE) == ArmMode.TRACKING and wd.hold_pos is None


def test_a_target_delivered_late_holds_timeout_after_it_was_sent_not_after_it_arrived():
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.2))
    wd.on_target(1.0, age_s=0.15)  # stamped 150 ms before it arrived (a loaded link)
    assert wd.update(1.04, *POSE) == ArmMode.TRACKING
    assert wd.update(1.06, *POSE) == ArmMode.HOLD  # 0.21 s after the commander sent it
    wd.on_target(1.1, age_s=5.0)  # older than the timeout: counted as the timeout at most, still its own time
    assert wd.update(1.1, *POSE) == ArmMode.TRACKING
    assert wd.update(1.11, *POSE) == ArmMode.HOLD
    wd.on_target(1.2, age_s=0.0)
    wd.on_target(1.25, age_s=0.2)  # a late one does not make the fresher one before it older
    assert wd.update(1.39, *POSE) == ArmMode.TRACKING


def test_arm_without_any_target_waits_holding_its_pose():
    wd = ArmWatchdog()
    assert wd.update(0.0, *POSE) == ArmMode.WAITING
    np.testing.assert_array_equal(wd.hold_pos, POSE[0])


@pytest.mark.parametrize("bad_now", [math.nan, math.inf, 0.5])  # 0.5: time going backwards
def test_arm_treats_an_untrusted_clock_as_stale(bad_now):
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=10.0))
    wd.on_target(1.0)
    assert wd.update(1.0, *POSE) == ArmMode.TRACKING
    assert wd.update(bad_now, *POSE) == ArmMode.HOLD


def test_arm_estop_is_latched_until_explicit_reset():
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.1))
    wd.on_target(0.0)
    wd.estop()
    for t in (0.01, 0.02, 5.0):
        wd.on_target(t)  # fresh targets do not release it
        assert wd.update(t, *POSE) == ArmMode.ESTOP
    wd.reset_estop()
    assert wd.update(5.01, *POSE) == ArmMode.WAITING  # a target older than the reset does not resume
    wd.on_target(5.02)
    assert wd.update(5.02, *POSE) == ArmMode.TRACKING


def test_arm_servo_target_is_the_target_while_fresh_then_the_pose_held_since_it_went_stale():
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.1))
    tp, tr = np.array([0.6, 0.1, 0.2]), np.diag([1.0, -1.0, -1.0])
    mode, p, r = wd.servo_target(0.0, *POSE, None, None)  # nothing received yet: hold the pose at start
    assert mode is ArmMode.WAITING and np.array_equal(p, POSE[0]) and np.array_equal(r, POSE[1])
    wd.on_target(0.01)
    mode, p, r = wd.servo_target(0.05, POSE[0] + 0.02, POSE[1], tp, tr)
    assert mode is ArmMode.TRACKING and p is tp and r is tr
    stale_pose = POSE[0] + 0.03
    mode, p, _ = wd.servo_target(0.2, stale_pose, POSE[1], tp, tr)
    assert mode is ArmMode.HOLD and np.array_equal(p, stale_pose)
    mode, p, _ = wd.servo_target(0.3, stale_pose + 0.01, POSE[1], tp, tr)  # holding does not follow the drift
    assert mode is ArmMode.HOLD and np.array_equal(p, stale_pose)


def test_arm_servo_target_under_estop_holds_the_pose_measured_when_the_estop_came_in():
    wd = ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.1))
    tp, tr = np.array([0.6, 0.1, 0.2]), np.eye(3)
    wd.servo_target(0.0, POSE[0] - 0.05, POSE[1], None, None)  # WAITING: holds an older pose
    wd.on_target(0.5)
    wd.servo_target(0.6, POSE[0] - 0.04, POSE[1], tp, tr)
    mode, p, _ = wd.servo_target(0.9, POSE[0] - 0.03, POSE[1], tp, tr)  # stale: HOLD at POSE - 0.03
    assert mode is ArmMode.HOLD
    wd.estop()
    at_estop = POSE[0] + 0.01
    wd.on_target(0.95)  # a fresh target does not move an e-stopped arm
    mode, p, _ = wd.servo_target(0.95, at_estop, POSE[1], tp, tr)
    assert mode is ArmMode.ESTOP and np.array_equal(p, at_estop)
    wd.estop()  # a repeated e-stop does not re-capture
    mode, p, _ = wd.servo_target(1.0, at_estop + 0.02, POSE[1], tp, tr)
    assert mode is ArmMode.ESTOP and np.array_equal(p, at_estop)


def test_quad_hovers_where_it_was_then_lands_and_stays_landed():
    cfg = QuadWatchdogConfig(setpoint_timeout_s=0.5, hover_s=2.0, land_speed_m_per_s=0.5)
    wd = QuadWatchdog(cfg)
    p = np.array([1.0, 2.0, 1.0])
    wd.on_setpoint(0.0)
    assert wd.update(0.4, p) == (QuadMode.TRACKING, None)
    mode, sp = wd.update(0.6, p)
    assert mode == QuadMode.HOVER and np.array_equal(sp, p)
    mode, sp = wd.update(2.5, p + 0.05)  # still hovering at the captured point
    assert mode == QuadMode.HOVER and np.array_equal(sp, p)
    mode, sp = wd.update(2.6, p)  # hover over: land from the hover point
    assert mode == QuadMode.LAND and sp[2] == pytest.approx(1.0)
    mode, sp = wd.update(3.6, np.array([1.0, 2.0, 0.5]))
    assert mode == QuadMode.LAND and sp[2] == pytest.approx(0.5) and np.array_equal(sp[:2], p[:2])
    wd.on_setpoint(3.7)  # landing is committed: a late setpoint does not resume
    mode, sp = wd.update(3.7, np.array([1.0, 2.0, 0.45]))
    assert mode == QuadMode.LAND
    assert wd.update(4.8, np.array([1.0, 2.0, 0.01])) == (QuadMode.LANDED, None)
    wd.on_setpoint(5.0)
    assert wd.update(5.0, p) == (QuadMode.LANDED, None)
    wd.reset()
    wd.on_setpoint(6.0)
    assert wd.update(6.0, p) == (QuadMode.TRACKING, None)


def test_quad_fresh_setpoint_during_hover_resumes_tracking():
    wd = QuadWatchdog(QuadWatchdogConfig(setpoint_timeout_s=0.5, hover_s=2.0))
    p = np.array([0.0, 0.0, 1.0])
    wd.on_setpoint(0.0)
    assert wd.update(1.0, p)[0] == QuadMode.HOVER
    wd.on_setpoint(1.5)
    assert wd.update(1.5, p) == (QuadMode.TRACKING, None)


def test_quad_estop_is_latched_until_explicit_reset():
    wd = QuadWatchdog()
    wd.on_setpoint(0.0)
    wd.estop()
    wd.on_setpoint(0.1)
    assert wd.update(0.1, np.zeros(3)) == (QuadMode.ESTOP, None)
    wd.reset_estop()
    assert wd.update(0.2, np.zeros(3)) == (QuadMode.WAITING, None)


def test_watchdog_configs_reject_invalid_values():
    with pytest.raises(ValueError):
        ArmWatchdog(ArmWatchdogConfig(target_timeout_s=0.0))
    with pytest.raises(ValueError):
        QuadWatchdog(QuadWatchdogConfig(land_speed_m_per_s=math.nan))
