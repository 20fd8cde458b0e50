"""The quadrotor's rclpy link (imported by nodes only, like ``ros_adapter.py``): :class:`RosQuadLink`, the
:class:`robot_rl.envs.ros_quad_env.QuadLink` over the quadrotor contract (Crazyswarm2's names, per robot
namespace): ``odom`` in; ``cmd_vel_legacy`` out (roll ``linear.y`` deg, pitch ``-linear.x`` deg, yaw rate
``angular.z`` deg/s, thrust ``linear.z`` in 0..60000 of 65535 = ``legacy_full_thrust_n``); the ``takeoff``,
``go_to`` and ``notify_setpoints_stop`` services. Topic names are ``topics.<key>`` parameters (relative: a launch
namespace moves them). A malformed odom (non-finite, a quaternion that is not unit) never reaches the observation
and is said once per cause per second."""
from __future__ import annotations

import math
import threading
import time

import numpy as np
from builtin_interfaces.msg import Duration
from crazyflie_interfaces.srv import GoTo, NotifySetpointsStop, Takeoff
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.quad import CF2X
from robot_rl.envs.ros_quad_env import QuadSample
from robot_rl.runtime.ros_adapter import node_rejects

QUAD_LINK_KEYS = ("odom", "cmd_vel_legacy", "takeoff", "go_to", "notify_setpoints_stop")
LEGACY_MAX_THRUST = 60000  # Crazyswarm2 clips cmd_vel_legacy's thrust here (of 65535)
DEFAULT_FULL_THRUST_N = 4 * CF2X.max_thrust_per_rotor_n  # the nodes' full_thrust_n default


def duration_msg(t_s: float) -> Duration:
    sec = int(math.floor(t_s))
    return Duration(sec=sec, nanosec=int(round((t_s - sec) * 1e9)) % 1_000_000_000)


def legacy_msg(roll_rad: float, pitch_rad: float, yaw_rate_rad_per_s: float, thrust_n: float,
               full_thrust_n: float) -> Twist:
    """An attitude set point as Crazyswarm2's ``cmd_vel_legacy`` Twist."""
    m = Twist()
    m.linear.y = math.degrees(roll_rad)
    m.linear.x = -math.degrees(pitch_rad)
    m.angular.z = math.degrees(yaw_rate_rad_per_s)
    m.linear.z = float(min(max(thrust_n / full_thrust_n * 65535.0, 0.0), LEGACY_MAX_THRUST)) \
        if math.isfinite(thrust_n) else thrust_n
    return m


class RosQuadLink:
    def __init__(self, node: Node, legacy_full_thrust_n: float = DEFAULT_FULL_THRUST_N):
        self.node = node
        self.full_thrust_n = legacy_full_thrust_n
        self._lock = threading.Lock()
        self._s = QuadSample()
        self.rejects = node_rejects(node)
        eps = {k: T.QUAD[k] for k in QUAD_LINK_KEYS}
        n = rn.topic_names(node, eps)
        node.create_subscription(Odometry, n["odom"], self._on_odom, rn.qos(eps["odom"].qos))
        self.pub_legacy = node.create_publisher(Twist, n["cmd_vel_legacy"], rn.qos(eps["cmd_vel_legacy"].qos))
        self.cli_takeoff = node.create_client(Takeoff, n["takeoff"])
        self.cli_go_to = node.create_client(GoTo, n["go_to"])
        self.cli_notify = node.create_client(NotifySetpointsStop, n["notify_setpoints_stop"])
        self.service_timeout_s = 5.0

    def _on_odom(self, m: Odometry) -> None:
        p, o = m.pose.pose.position, m.pose.pose.orientation
        lin, ang = m.twist.twist.linear, m.twist.twist.angular
        pos, quat = [p.x, p.y, p.z], [o.w, o.x, o.y, o.z]
        v, w = [lin.x, lin.y, lin.z], [ang.x, ang.y, ang.z]
        if not all(math.isfinite(x) for x in pos + quat + v + w):
            self.rejects.reject("odom: not finite")
            return
        if abs(math.sqrt(sum(x * x for x in quat)) - 1.0) > 0.01:
            self.rejects.reject("odom: quaternion not unit")
            return
        with self._lock:
            s = self._s
            self._s = QuadSample(np.array(pos), np.array(quat), np.array(v), np.array(w), time.monotonic(),
                                 s.count + 1)

    def snapshot(self) -> QuadSample:
        with self._lock:
            return self._s

    def send_attitude(self, roll_rad, pitch_rad, yaw_rate_rad_per_s, thrust_n) -> None:
        self.pub_legacy.publish(legacy_msg(roll_rad, pitch_rad, yaw_rate_rad_per_s, thrust_n, self.full_thrust_n))

    def _call(self, client, req) -> tuple[bool, str]:
        """Waits for the answer (the node spins on another thread); the contract's services answer empty."""
        if not client.wait_for_service(timeout_sec=self.service_timeout_s):
            return False, f"{client.srv_name} service not available"
        fut = client.call_async(req)
        deadline = time.monotonic() + self.service_timeout_s
        while not fut.done():
            if time.monotonic() > deadline:
                return False, f"{client.srv_name} timed out"
            time.sleep(0.005)
        return True, ""

    def takeoff(self, height_m: float, duration_s: float) -> tuple[bool, str]:
        r = Takeoff.Request()
        r.height, r.duration, r.group_mask = float(height_m), duration_msg(duration_s), 0
        return self._call(self.cli_takeoff, r)

    def go_to(self, xyz, yaw_rad: float, duration_s: float) -> tuple[bool, str]:
        r = GoTo.Request()
        r.goal.x, r.goal.y, r.goal.z = (float(v) for v in xyz)
        r.yaw, r.duration, r.relative, r.group_mask = float(yaw_rad), duration_msg(duration_s), False, 0
        return self._call(self.cli_go_to, r)

    def notify_setpoints_stop(self) -> tuple[bool, str]:
        r = NotifySetpointsStop.Request()
        r.remain_valid_millisecs, r.group_mask = 100, 0
        return self._call(self.cli_notify, r)
