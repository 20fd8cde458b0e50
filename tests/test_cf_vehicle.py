"""The CRTP peer's vehicle (sim/cf_vehicle.py) behaves as the firmware's commanders do where our tests depend on it:
the high-level takeoff tracks its plan (position, velocity and acceleration fed to the controller), and streamed
setpoints outrank the high-level commander only until they stop for the commander's shutdown timeout."""
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
