"""The twin's runtime keeps the driver's e-stop contract: latched until ``recover`` (no node restart), reset
refused while latched, targets ignored (holding) while latched, tracking again after recovery on a new target."""
from __future__ import annotations

import numpy as np

from robot_rl.controllers.watchdog import ArmMode
from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig


def _run(rt: TwinRuntime, t0: float, seconds: float, target=None, hz: float = 50.0) -> tuple[float, ArmMode]:
    t, mode = t0, None
    while t < t0 + seconds:
        if target is not None:
            rt.on_target(target[0], target[1], t)
        mode = rt.advance(t)
        t += 1.0 / hz
    return t, mode


def test_estop_latches_until_recover_and_tracking_resumes_only_on_a_new_target():
    rt = TwinRuntime(TwinRuntimeConfig(task="reach", cameras=()))
    try:
        pos0, quat0 = rt.ee_pose()
        goal = (pos0 + np.array([0.05, 0.0, 0.0]), quat0)
        t, mode = _run(rt, 0.0, 0.5, goal)
        assert mode is ArmMode.TRACKING
        rt.estop()
        held, _ = rt.ee_pose()
        t, mode = _run(rt, t, 0.5, (held + np.array([0.0, 0.06, 0.0]), quat0))  # targets keep coming
        assert mode is ArmMode.ESTOP
        assert np.linalg.norm(rt.ee_pose()[0] - held) < 0.01  # it held; it did not follow the new targets
        ok, msg = rt.reset()
        assert not ok and "e-stop" in msg
        ok, msg = rt.recover()
        assert ok and not rt.estopped
        t, mode = _run(rt, t, 0.2)  # no new target yet: still holding
        assert mode is ArmMode.WAITING
        far = rt.ee_pose()[0] + np.array([0.0, -0.05, 0.0])
        t, mode = _run(rt, t, 1.0, (far, quat0))
        assert mode is ArmMode.TRACKING and np.linalg.norm(rt.ee_pose()[0] - far) < 0.02
        assert rt.reset()[0]
    finally:
        rt.close()


def test_recover_without_an_estop_is_a_no_op():
    rt = TwinRuntime(TwinRuntimeConfig(task="reach", cameras=()))
    try:
        ok, msg = rt.recover()
        assert ok and "nothing to recover" in msg
    finally:
        rt.close()
