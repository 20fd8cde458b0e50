"""Quadrotor teleop node: a gamepad's ``joy`` (sensor_msgs/Joy, from the ROS joy driver) -> the vehicle and the
actor (:mod:`robot_rl.drivers.quad_teleop`). ``mode:=actor`` (default, ``real_quad.yaml``): ``teleop/twist``
(normalised velocity) and ``teleop/joy`` (``[takeover, 0, success, fail]``) for the actor, whose takeover flies and
records it as the policy's action. ``mode:=direct`` (no actor): while takeover is held, ``cmd_velocity_world``
(``max_speed_m_per_s`` at full stick) straight to the vehicle, and on release ``notify_setpoints_stop`` (its
high-level commander holds). Either mode: takeoff / land call the vehicle's ``takeoff`` / ``land`` services
(``notify_setpoints_stop`` first, so a stream does not override them; a streaming actor still does: land the
vehicle from a takeover, or stop the actor, or press emergency); emergency publishes ``estop`` (latched in the
vehicle node) and calls ``emergency``. Names are relative (``-r __ns:=/cf1``) and ``topics.<key>`` parameters."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import rclpy.node
from crazyflie_interfaces.msg import VelocityWorld
from crazyflie_interfaces.srv import Land, NotifySetpointsStop, Takeoff
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool
from std_srvs.srv import Empty

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.params import param
from robot_rl.drivers.quad_teleop import QuadTeleop, QuadTeleopConfig

KEYS = ("cmd_velocity_world", "estop", "emergency", "takeoff", "land", "notify_setpoints_stop")


@dataclass(frozen=True)
class QuadTeleopNodeParams:
    mode: str = param("actor", choices=("actor", "direct"), doc="takeover through the actor, or to the vehicle")
    max_speed_m_per_s: float = param(0.5, gt=0.0, le=2.0, doc="direct mode: full stick velocity")
    max_yaw_rate_deg_per_s: float = param(90.0, gt=0.0, doc="direct mode: full stick yaw rate")
    takeoff_height_m: float = param(0.5, gt=0.0)
    takeoff_duration_s: float = param(2.0, gt=0.0)
    land_duration_s: float = param(2.0, gt=0.0)


class QuadTeleopNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("quad_teleop")
        self.p = rn.declare_config(self, QuadTeleopNodeParams)
        self.teleop = QuadTeleop(rn.declare_config(self, QuadTeleopConfig))
        eps = {**T.GAMEPAD, **T.TELEOP, **{k: T.QUAD[k] for k in KEYS}}
        n = rn.topic_names(self, eps)
        qos = lambda k: rn.qos(T.SAFETY[1] if k == "estop" else eps[k].qos)  # noqa: E731  (estop: latched)
        pub = lambda typ, k: self.create_publisher(typ, n[k], qos(k))  # noqa: E731
        self.pub_twist, self.pub_joy = pub(TwistStamped, "twist"), pub(Joy, "joy")
        self.pub_vel, self.pub_estop = pub(VelocityWorld, "cmd_velocity_world"), pub(Bool, "estop")
        self.cli = {k: self.create_client(t, n[k]) for k, t in (("emergency", Empty), ("takeoff", Takeoff),
                                                                ("land", Land), ("notify_setpoints_stop",
                                                                                 NotifySetpointsStop))}
        self.create_subscription(Joy, n["gamepad"], self._on_joy, rn.qos(eps["gamepad"].qos))
        self._was_takeover = False
        self.get_logger().info(f"quad teleop: mode={self.p.mode}, gamepad on {self.resolve_topic_name(n['gamepad'])}")

    def _on_joy(self, m: Joy) -> None:
        c = self.teleop.update(list(m.axes), list(m.buttons))
        for name in c.pressed:
            getattr(self, f"_{name}", lambda: None)()
        stamp = self.get_clock().now().to_msg()
        if self.p.mode == "actor":
            j = Joy()
            j.header.stamp = stamp
            j.buttons = [int(c.takeover), 0, int("success" in c.pressed), int("fail" in c.pressed)]
            self.pub_twist.publish(rn.twist_msg(stamp, c.twist if c.takeover else [0.0] * 6))
            self.pub_joy.publish(j)
        elif c.takeover:
            v = VelocityWorld()
            v.header.stamp, v.header.frame_id = stamp, "world"
            v.vel.x, v.vel.y, v.vel.z = (float(x) * self.p.max_speed_m_per_s for x in c.twist[:3])
            v.yaw_rate = float(c.twist[5]) * self.p.max_yaw_rate_deg_per_s
            self.pub_vel.publish(v)
        elif self._was_takeover:
            self._request("notify_setpoints_stop", NotifySetpointsStop.Request(remain_valid_millisecs=100))
        self._was_takeover = c.takeover

    def _request(self, key: str, req) -> None:
        cli = self.cli[key]
        if not cli.service_is_ready():
            self.get_logger().warning(f"{cli.srv_name}: service not available (is the vehicle node up?)")
            return
        cli.call_async(req)

    def _duration(self, t_s: float):
        from builtin_interfaces.msg import Duration

        return Duration(sec=int(t_s), nanosec=int(round((t_s - math.floor(t_s)) * 1e9)) % 1_000_000_000)

    def _takeoff(self) -> None:
        self._request("notify_setpoints_stop", NotifySetpointsStop.Request(remain_valid_millisecs=100))
        self._request("takeoff", Takeoff.Request(height=self.p.takeoff_height_m,
                                                 duration=self._duration(self.p.takeoff_duration_s)))
        self.get_logger().info("takeoff")

    def _land(self) -> None:
        self._request("notify_setpoints_stop", NotifySetpointsStop.Request(remain_valid_millisecs=100))
        self._request("land", Land.Request(height=0.0, duration=self._duration(self.p.land_duration_s)))
        self.get_logger().info("land")

    def _emergency(self) -> None:
        self.pub_estop.publish(Bool(data=True))
        self._request("emergency", Empty.Request())
        self.get_logger().warning("EMERGENCY pressed: estop published, emergency called")

    def shut_down(self) -> None:
        """Takeover released: a zero command with every button up, so the actor ends a takeover now."""
        j = Joy()
        j.buttons = [0, 0, 0, 0]
        self.pub_twist.publish(rn.twist_msg(self.get_clock().now().to_msg(), [0.0] * 6))
        self.pub_joy.publish(j)
        rn.say_on_exit(self, "shutting down: takeover released (zero command, buttons up)")


def main(args=None) -> int:
    return rn.run_node(QuadTeleopNode, "quad_teleop_node", args, on_exit=QuadTeleopNode.shut_down)


if __name__ == "__main__":
    sys.exit(main())
