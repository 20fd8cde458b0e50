"""Franka driver core, end to end against franky-sim (the libfranka protocol peer, started here) through the
real pylibfranka client: reach, filters (workspace box, torque-rate limit seen by the robot), watchdog hold,
latched e-stop and faults, gripper, reset move, clean shutdown; config validation; absent robot."""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from robot_rl.controllers.filtered_loop import FiltersConfig
from robot_rl.controllers.safety import SafetyConfig
from robot_rl.controllers.watchdog import ArmWatchdogConfig
from robot_rl.drivers.franka import (
    CollisionBehaviorConfig,
    DriverMode,
    FrankaArm,
    FrankaArmConfig,
    FrankaConnectionError,
    FrankaError,
    ResetMotionConfig,
    quat_xyzw_to_rot,
    rot_to_quat_xyzw,
)

pytest.importorskip("pylibfranka")
pytest.importorskip("franky_sim")
from robot_rl.drivers.franky_sim_peer import FrankySimServer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_START_Q = (0.0, 0.0, 0.0, -1.5707963, 0.0, 1.5707963, 0.785398)  # franky-sim's initial posture


def free_loopback_host() -> str:
    """A 127.x.y.z address with nothing on the Franka ports (tests running in parallel don't collide)."""
    rng = np.random.default_rng()
    for _ in range(50):
        host = f"127.{rng.integers(1, 250)}.{rng.integers(1, 250)}.{rng.integers(2, 250)}"
        try:
            for port in (1337, 1338):
                with socket.socket() as s:
                    s.bind((host, port))
            return host
        except OSError:
            continue
    raise RuntimeError("no free loopback address")


def sim_cfg(host: str, **kw) -> FrankaArmConfig:
    # the reset's timeout is wall-clock, sized for the robot: franky-sim runs at a fraction of real time on a loaded
    # host (a 1.8 rad reset timed out at 20 s there)
    base = FrankaArmConfig(robot_ip=host, realtime="ignore",
                           reset=ResetMotionConfig(q_rad=SIM_START_Q, timeout_s=90.0))
    return replace(base, **kw)


@pytest.fixture(scope="module")
def server():
    with FrankySimServer(free_loopback_host(), start_timeout_s=60.0) as srv:
        yield srv


@pytest.fixture
def arm_factory(server):
    arms = []

    def make(**kw) -> FrankaArm:
        arm = FrankaArm(sim_cfg(server.host, **kw))
        arm.start()
        arms.append(arm)
        _LAST_ARMS.append(arm)
        wait_for(lambda: arm.snapshot() is not None, 5.0, "first control tick")
        if not np.allclose(arm.snapshot().q, SIM_START_Q, atol=0.02):  # start every test from the same posture
            arm.move_to_reset()
        return arm

    yield make
    for a in arms:
        a.close()


_LAST_ARMS: list = []


def arm_state() -> str:
    return "; ".join(str(a.telemetry()) for a in _LAST_ARMS[-1:])


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (driver: {arm_state()})")


def stream(arm: FrankaArm, pos, rot, duration_s: float, hz: float = 50.0):
    t_end = time.monotonic() + duration_s
    while time.monotonic() < t_end:
        arm.set_target(pos, rot)
        time.sleep(1.0 / hz)


# ---- no robot needed ----------------------------------------------------------------------------------------
def test_quaternion_round_trip_in_libfrankas_xyzw_order():
    h = math.sqrt(0.5)
    np.testing.assert_allclose(quat_xyzw_to_rot([0.0, 0.0, h, h]), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(rot_to_quat_xyzw(np.diag([1.0, -1.0, -1.0])), [1, 0, 0, 0], atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        r = quat_xyzw_to_rot(q)
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
        q2 = rot_to_quat_xyzw(r)
        assert np.allclose(q2, q) or np.allclose(q2, -q)


@pytest.mark.parametrize("bad", [
    dict(collision=CollisionBehaviorConfig(lower_torque_thresholds_nm=(30.0,) * 7)),  # lower > upper
    dict(collision=CollisionBehaviorConfig(upper_force_thresholds_n_nm=(20.0, 20.0, -1.0, 25.0, 25.0, 25.0))),
    dict(realtime="sometimes"),
    dict(robot_ip=""),
    dict(reset=ResetMotionConfig(q_rad=(0.0,) * 6)),
    dict(connect_timeout_s=float("nan")),
])
def test_bad_config_is_refused_before_connecting(bad):
    with pytest.raises(ValueError):
        FrankaArm(replace(FrankaArmConfig(), **bad))


def test_absent_robot_is_a_clear_error_not_a_hang():
    host = free_loopback_host()
    t0 = time.monotonic()
    with pytest.raises(FrankaConnectionError, match="no Franka at"):
        FrankaArm(sim_cfg(host, connect_timeout_s=1.0)).start()
    assert time.monotonic() - t0 < 10.0


def test_silent_peer_is_a_clear_error_not_a_hang():
    """Something accepts TCP on the Franka port but never answers: libfranka alone would block for minutes."""
    host = free_loopback_host()
    with socket.socket() as s:
        s.bind((host, 1337))
        s.listen(1)
        with pytest.raises(FrankaConnectionError, match="did not answer"):
            FrankaArm(sim_cfg(host, connect_timeout_s=1.0)).connect()


def test_node_exits_nonzero_with_a_clear_error_when_no_robot():
    host = free_loopback_host()
    r = subprocess.run([sys.executable, "-m", "robot_rl.drivers.franka_node", "--ros-args", "-p", f"robot_ip:={host}",
                        "-p", "realtime:=ignore", "-p", "connect_timeout_s:=1.0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ROS_DOMAIN_ID="77", PYTHONPATH=ROOT))
    assert r.returncode == 2, r.stderr
    assert f"no Franka at {host}:1337" in r.stderr


# ---- against franky-sim -------------------------------------------------------------------------------------
def test_reaches_a_target_pose_with_filters_on(arm_factory):
    arm = arm_factory()
    s0 = arm.snapshot()
    target = s0.ee_pos + np.array([-0.05, 0.08, -0.06])
    stream(arm, target, s0.ee_rot, 3.0)
    s = arm.snapshot()
    assert s.mode is DriverMode.TRACKING
    err_mm = 1000 * np.linalg.norm(s.ee_pos - target)
    assert err_mm < 3.0, f"reach error {err_mm:.2f} mm"
    tel = arm.telemetry()
    assert tel["fault"] is None and tel["slew_limited_ticks"] > 0  # the target filter ran
    assert np.all(np.isfinite(s.ee_wrench)) and s.ee_wrench.shape == (6,)


def test_workspace_box_clips_a_target_outside_it(arm_factory):
    first = arm_factory()
    zmax = float(first.snapshot().ee_pos[2]) + 0.04
    first.close()  # the robot takes one client at a time
    safety = SafetyConfig(workspace_max_m=(0.85, 0.5, zmax))
    arm = arm_factory(filters=FiltersConfig(safety=safety))
    s0 = arm.snapshot()
    outside = s0.ee_pos + np.array([0.0, 0.0, 0.25])  # 21 cm above the box's top face
    stream(arm, outside, s0.ee_rot, 2.5)
    z = float(arm.snapshot().ee_pos[2])
    assert abs(z - zmax) < 0.004, f"settled at z={z:.4f}, box top {zmax:.4f}"
    assert arm.telemetry()["box_clamps"] > 0


def test_torque_rate_limit_holds_at_the_robot(arm_factory):
    """A target jump with a tight torque-rate limit: the tick-to-tick change of the torque sent to the robot
    (Coriolis included) stays within rate * dt, and the robot still gets there; without the filters the same
    jump breaks that bound."""
    rate = 200.0  # Nm/s -> 0.2 Nm per 1 ms tick
    arm = arm_factory(filters=FiltersConfig(safety=SafetyConfig(torque_rate_limit_nm_per_s=rate)))
    s0 = arm.snapshot()
    arm.max_sent_torque_step_nm = 0.0
    target = s0.ee_pos + np.array([0.0, 0.1, 0.0])
    stream(arm, target, s0.ee_rot, 1.5)
    assert arm.telemetry()["rate_limited_ticks"] > 0
    assert arm.max_sent_torque_step_nm <= rate * 1e-3 + 1e-3
    assert np.linalg.norm(arm.snapshot().ee_pos - target) < 0.01
    arm.close()

    bare = arm_factory(filters=FiltersConfig(enabled=False))
    s0 = bare.snapshot()
    bare.max_sent_torque_step_nm = 0.0
    stream(bare, s0.ee_pos + np.array([0.0, 0.1, 0.0]), s0.ee_rot, 0.3)
    assert bare.max_sent_torque_step_nm > 5 * rate * 1e-3


def test_watchdog_holds_when_targets_stop(arm_factory):
    arm = arm_factory(watchdog=ArmWatchdogConfig(target_timeout_s=0.1))
    s0 = arm.snapshot()
    far = s0.ee_pos + np.array([0.0, 0.2, 0.0])
    arm.set_target(far, s0.ee_rot)  # one target, then silence
    wait_for(lambda: arm.mode is DriverMode.HOLD, 2.0, "HOLD")
    time.sleep(0.5)
    p1 = arm.snapshot().ee_pos.copy()
    time.sleep(1.0)
    s2 = arm.snapshot()
    assert s2.mode is DriverMode.HOLD
    assert np.linalg.norm(s2.ee_pos - p1) < 0.003  # holding still
    assert np.linalg.norm(s2.ee_pos - far) > 0.12  # nowhere near the stale target
    stream(arm, far, s0.ee_rot, 2.0)  # a fresh target resumes tracking
    assert arm.mode is DriverMode.TRACKING
    assert np.linalg.norm(arm.snapshot().ee_pos - far) < 0.01


def test_estop_is_latched_until_explicit_recover(arm_factory):
    arm = arm_factory()
    s0 = arm.snapshot()
    arm.estop()
    wait_for(lambda: arm.mode is DriverMode.ESTOP, 1.0, "ESTOP")
    stream(arm, s0.ee_pos + np.array([0.0, 0.1, 0.0]), s0.ee_rot, 1.0)  # ignored
    s = arm.snapshot()
    assert s.mode is DriverMode.ESTOP
    assert np.linalg.norm(s.ee_pos - s0.ee_pos) < 0.005
    with pytest.raises(FrankaError, match="e-stop"):
        arm.move_to_reset()
    arm.recover()
    wait_for(lambda: arm.mode is DriverMode.WAITING, 2.0, "WAITING after recover")
    assert not arm.estopped


def test_reflex_fault_is_logged_latched_and_never_cleared_silently(arm_factory, caplog):
    """A control exception from libfranka (the motion preempted by the robot) stops the loop; the fault stays
    latched (no automatic recovery), resets are refused, and only recover() restarts control."""
    arm = arm_factory()
    s0 = arm.snapshot()
    arm.robot.stop()  # the robot side ends the torque motion: libfranka raises ControlException in the loop
    wait_for(lambda: arm.mode is DriverMode.FAULT, 2.0, "FAULT")
    assert "ControlException" in arm.fault
    assert any("explicit recover" in r.getMessage() for r in caplog.records)
    time.sleep(0.5)
    arm.set_target(s0.ee_pos, s0.ee_rot)
    assert arm.mode is DriverMode.FAULT and not arm.running
    with pytest.raises(FrankaError, match="fault latched"):
        arm.move_to_reset()
    with pytest.raises(FrankaError, match="fault latched"):
        arm.start()
    arm.recover()
    assert arm.fault is None and arm.running
    wait_for(lambda: arm.mode is DriverMode.WAITING, 2.0, "WAITING after recover")


def test_gripper_closes_and_opens(arm_factory):
    arm = arm_factory()
    arm.command_gripper(1.0)
    wait_for(lambda: arm.gripper_width_m() < 0.01, 5.0, "gripper closed")
    arm.command_gripper(0.0)
    wait_for(lambda: arm.gripper_width_m() > 0.07, 5.0, "gripper open")
    with pytest.raises(ValueError):
        arm.command_gripper(float("nan"))


def test_reset_move_reaches_the_reset_posture_and_stops_cleanly(arm_factory):
    arm = arm_factory()
    s0 = arm.snapshot()
    stream(arm, s0.ee_pos + np.array([0.0, -0.08, -0.05]), s0.ee_rot, 1.5)
    assert np.max(np.abs(arm.snapshot().q - SIM_START_Q)) > 0.05
    arm.move_to_reset()
    s = arm.snapshot()
    assert np.max(np.abs(s.q - SIM_START_Q)) < 0.01
    assert arm.mode is DriverMode.WAITING  # holds there until a new target
    arm.close()
    assert not arm.running and arm.mode is DriverMode.STOPPED and arm.fault is None


def test_reset_move_to_a_given_posture_reaches_it_with_a_full_energy_tank(arm_factory):
    arm = arm_factory()
    goal = np.array(SIM_START_Q) + np.array([0.15, 0.2, 0.0, -0.2, 0.0, 0.2, 0.0])
    with pytest.raises(ValueError, match="7 finite joint angles"):
        arm.move_to_reset(q_rad=goal[:6])
    s0 = arm.snapshot()
    stream(arm, s0.ee_pos + np.array([0.0, -0.1, -0.1]), s0.ee_rot, 1.5)  # the spring's work drains the tank
    drained = arm.telemetry()["energy_j"]
    assert drained < arm.cfg.filters.tank.initial_energy_j - 0.1
    arm.move_to_reset(q_rad=goal)
    assert np.max(np.abs(arm.snapshot().q - goal)) < 0.01
    assert arm.telemetry()["energy_j"] == pytest.approx(arm.cfg.filters.tank.initial_energy_j, abs=1e-6)
    arm.move_to_reset()  # the configured posture again, when none is given
    assert np.max(np.abs(arm.snapshot().q - SIM_START_Q)) < 0.01
