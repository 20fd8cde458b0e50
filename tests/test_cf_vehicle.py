"""The CRTP peer's vehicle (sim/cf_vehicle.py) behaves as the firmware's commanders do where our tests depend on it:
the high-level takeoff tracks its plan (position, velocity and acceleration fed to the controller), and streamed
setpoints outrank the high-level commander only until they stop for the commander's shutdown timeout. And the quad
twin's link, as the driver (tests/test_crazyflie.py), hands a stream that ends back to the high-level commander."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from robot_rl.sim.cf_vehicle import CfVehicle  # noqa: E402


def _fly(v: CfVehicle, seconds: float) -> np.ndarray:
    z = []
    for _ in range(int(round(seconds / v.cfg.dt_s))):
        v.step()
        z.append(v.state().pos[2])
    return np.array(z)


def test_a_high_level_takeoff_overshoots_its_height_by_less_than_a_centimetre():
    v = CfVehicle()
    v.high_level("takeoff", 0, height_m=0.5, duration_s=1.5)
    z = _fly(v, 4.0)
    assert z.max() < 0.51, z.max()  # without the plan's acceleration fed forward: 0.567
    assert abs(z[-1] - 0.5) < 0.005


def test_a_takeoff_after_streaming_stopped_flies_once_the_commander_times_out():
    v = CfVehicle()
    v.on_setpoint("legacy", [0.0, 0.0, 0.0, 0.0])  # what cflib's close_link sends last
    v.high_level("takeoff", 0, height_m=0.5, duration_s=1.0)
    assert _fly(v, 1.5).max() < 0.01  # streaming still outranks the high-level commander
    _fly(v, v.cfg.wdt_shutdown_s)
    v.high_level("takeoff", 0, height_m=0.5, duration_s=1.0)
    assert abs(_fly(v, 2.5)[-1] - 0.5) < 0.02


def test_the_twin_link_hands_an_ended_stream_back_to_the_high_level_commander_in_the_air():
    from robot_rl.controllers.quad_setpoints import NONE, Setpoint
    from robot_rl.sim.cf_twin import CfTwinLink

    link = CfTwinLink()  # its loop not started: the guard's setpoints applied by hand, the vehicle stepped here
    v = link.vehicle
    for _ in range(300):  # streamed at 100 Hz for 3 s: up at 0.5 m
        link._apply(Setpoint("position", (0.0, 0.0, 0.5, 0.0), "track"))
        _fly(v, 0.01)
    assert abs(v.state().pos[2] - 0.5) < 0.02
    link._apply(NONE)  # the guard streams nothing any more (a fence takeover over)
    z = _fly(v, 3.0)  # past the 2 s after which a vehicle left streaming stops its motors
    assert z.min() > 0.45 and v.flying
