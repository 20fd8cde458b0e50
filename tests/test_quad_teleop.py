"""Quadrotor teleop end to end, real DDS between processes: the quad twin node and the quad teleop node under /cf1, a
test client publishing the gamepad's /cf1/joy. Pins: the takeoff button lifts the vehicle, a held takeover
publishes the stick as a normalised velocity on teleop/twist with the takeover button on teleop/joy (actor mode),
direct mode flies the stick as cmd_velocity_world, and the emergency button cuts the motors, latched. The core
mapping (axes, deadband, rising edges) is checked without ROS."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from robot_rl.drivers.quad_teleop import QuadTeleop, QuadTeleopConfig

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("crazyflie_interfaces", reason="crazyflie_interfaces not built (scripts/build_interfaces.sh)")

from geometry_msgs.msg import TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from sensor_msgs.msg import Joy  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from tests.cf_peer_util import ROOT, wait_for  # noqa: E402

C = QuadTeleopConfig()


def test_sticks_map_to_a_normalised_velocity_with_deadband_and_buttons_count_on_the_rising_edge():
    t = QuadTeleop(C)
    axes = [0.0] * 6
    axes[C.axis_vx], axes[C.axis_vy], axes[C.axis_vz], axes[C.axis_yaw] = 0.8, 0.05, -1.5, float("nan")
    buttons = [0] * 8
    buttons[C.button_takeoff] = buttons[C.button_takeover] = 1
    c = t.update(axes, buttons)
    np.testing.assert_allclose(c.twist, [0.8, 0.0, -1.0, 0.0, 0.0, 0.0])  # deadband, clip, NaN -> 0
    assert c.takeover and c.pressed == ("takeoff",)
    assert t.update(axes, buttons).pressed == ()  # still held: no second press
    assert t.update([], []).twist.tolist() == [0.0] * 6  # a short message: released, zero


def _button(i: int) -> list[int]:
    b = [0] * 8
    b[i] = 1
    return b


class Rig:
    def __init__(self, mode: str):
        self.domain = 100 + (os.getpid() + 53 + len(mode)) % 60
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain))
        self.procs = [subprocess.Popen([sys.executable, "-m", *args, "--ros-args", "-r", "__ns:=/cf1", *extra],
                                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                       start_new_session=True)
                      for args, extra in ((["robot_rl.sim.quad_twin_node"], []),
                                          (["robot_rl.drivers.quad_teleop_node"], ["-p", f"mode:={mode}"]))]
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=self.domain)
        self.node = rclpy.create_node("quad_teleop_test", context=self.ctx)
        self.odom, self.twist, self.joy, self.status = [], [], [], []
        self.node.create_subscription(Odometry, "/cf1/odom", self.odom.append, 50)
        self.node.create_subscription(TwistStamped, "/cf1/teleop/twist", self.twist.append, 50)
        self.node.create_subscription(Joy, "/cf1/teleop/joy", self.joy.append, 50)
        self.node.create_subscription(String, "/cf1/driver_status", lambda m: self.status.append(json.loads(m.data)),
                                      QoSProfile(depth=1, durability=1))
        self.pub = self.node.create_publisher(Joy, "/cf1/joy", 10)
        from robot_rl.contract.ros_node import BackgroundSpin

        self.ex = BackgroundSpin(self.node, context=self.ctx)  # stops its loop before the executor goes
        assert wait_for(lambda: self.odom and self.pub.get_subscription_count() > 0, 60.0), "nodes not up"

    def pos(self):
        p = self.odom[-1].pose.pose.position
        return np.array([p.x, p.y, p.z])

    def send(self, buttons, axes=(), for_s: float = 0.0, hz: float = 20.0):
        end = time.monotonic() + for_s
        while True:
            self.pub.publish(Joy(axes=[float(a) for a in axes] or [0.0] * 6, buttons=list(buttons)))
            if time.monotonic() >= end:
                return
            time.sleep(1.0 / hz)

    def takeoff(self):
        for _ in range(5):  # until the teleop node's service clients have matched the twin's servers (it says so)
            self.send(_button(C.button_takeoff))
            self.send([0] * 8)
            if wait_for(lambda: self.pos()[2] > 0.05, 2.0):
                break
        assert wait_for(lambda: abs(self.pos()[2] - 0.5) < 0.05, 10.0), self.pos()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def test_actor_mode_takeoff_button_lifts_and_a_held_takeover_streams_the_stick_for_the_actor():
    rig = Rig("actor")
    try:
        rig.takeoff()
        axes = [0.0] * 6
        axes[C.axis_vx] = 0.6
        b = _button(C.button_takeover)
        n = len(rig.twist)
        rig.send(b, axes, for_s=0.5)
        assert wait_for(lambda: len(rig.twist) > n and rig.twist[-1].twist.linear.x == pytest.approx(0.6), 5.0)
        assert rig.joy[-1].buttons[0] == 1  # takeover held, for the actor's mux
        rig.send([0] * 8, axes)  # released: a zero command, whatever the stick says
        assert wait_for(lambda: rig.twist[-1].twist.linear.x == 0.0 and rig.joy[-1].buttons[0] == 0, 5.0)
        rig.send(_button(C.button_emergency))
        assert wait_for(lambda: rig.status and rig.status[-1]["estop"], 5.0), rig.status[-1:]
        assert wait_for(lambda: rig.pos()[2] < 0.03, 5.0), rig.pos()  # motors off: it falls
    finally:
        rig.close()


def test_direct_mode_flies_the_held_stick_as_a_world_velocity():
    rig = Rig("direct")
    try:
        rig.takeoff()
        x0 = rig.pos()[0]
        axes = [0.0] * 6
        axes[C.axis_vx] = 1.0  # 0.5 m/s (max_speed_m_per_s)
        n0 = len(rig.odom)
        rig.send(_button(C.button_takeover), axes, for_s=2.0)
        assert rig.pos()[0] - x0 > 0.3, rig.pos()
        # the stick's speed is reached, then the fence's speed bound slows it near x = 1 m (it started near 0)
        vs = [m.twist.twist.linear for m in rig.odom[n0:]]
        assert max(v.x for v in vs) == pytest.approx(0.5, abs=0.1) and max(abs(v.y) for v in vs) < 0.1
        rig.send([0] * 8)  # released: notify_setpoints_stop, the high-level commander holds where it is
        time.sleep(1.5)
        held = rig.pos()
        time.sleep(1.0)
        assert np.linalg.norm(rig.pos() - held) < 0.05 and held[2] > 0.3
    finally:
        rig.close()
