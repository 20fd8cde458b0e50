"""The quadrotor's ROS 2 contract as a node (rclpy; for the ``*_node.py`` files only, like ``ros_node.py``): the one
translation, messages <-> a quad link, that the Crazyflie node (``drivers/crazyflie_node.py``: the cflib driver) and
the quad twin node (``sim/quad_twin_node.py``: the twin behind the same interface) both run, so the two expose the
same names, types, QoS and services by construction (``tests/test_quad_nodes.py`` checks it from the ROS graph).

Crazyswarm2's contract (:data:`robot_rl.contract.topics.QUAD`, units as its server's): per robot namespace (default
``cf``); ``cmd_vel_legacy`` (roll ``linear.y`` deg, pitch ``-linear.x`` deg, yaw rate ``angular.z`` deg/s, thrust
``linear.z`` clipped to 0..60000 of 65535), ``cmd_position`` (yaw deg), ``cmd_velocity_world`` (yaw rate deg/s),
``cmd_full_state``, ``cmd_hover`` (yaw rate rad/s); ``odom`` and ``pose`` at the link's state rate; services
``emergency``, ``arm``, ``takeoff``, ``land``, ``go_to`` (yaw rad), ``notify_setpoints_stop`` and their ``all/``
variants, resolved next to the robot namespaces (:data:`~robot_rl.contract.topics.QUAD_ALL`). Plus ``estop``
(std_msgs/Bool from any publisher QoS: motors off, latched) and ``driver_status`` (JSON: link, guard, battery; a
lost link and its return are also logged).

A rejected input (a stamped command in another frame, stale or from the future by its stamp; NaN/inf; a rotation
that is not one; a duration that is not positive) is one line per cause per second
(:class:`~robot_rl.contract.rejects.RejectLog`), and the vehicle keeps what it was doing (the guard's watchdog
lands it if nothing valid follows).
"""
from __future__ import annotations

import json
import math
import time

from crazyflie_interfaces.msg import FullState, Hover, Position, VelocityWorld
from crazyflie_interfaces.srv import Arm, GoTo, Land, NotifySetpointsStop, Takeoff
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Empty

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.rejects import RejectLog
from robot_rl.contract.rotations import quat_to_mat

LEGACY_MAX_THRUST = 60000  # Crazyswarm2 clips cmd_vel_legacy's thrust here (of 65535)


def resolve_all(node_namespace: str, name: str) -> str:
    """``all/<service>`` next to the robot namespaces: /cf1 -> /all/<service>, /swarm/cf1 -> /swarm/all/<service>
    (an absolute name is kept)."""
    if name.startswith("/"):
        return name
    parent = node_namespace.rstrip("/").rpartition("/")[0]
    return f"{parent}/{name}"


def duration_s(d) -> float:
    return d.sec + d.nanosec * 1e-9


class QuadContractNode(Node):
    """``make_link(cfg, on_state, on_event)`` builds the link (driver or twin) from the node's config ``cfg_cls``."""

    def __init__(self, name: str, cfg_cls, make_link):
        super().__init__(name, namespace="cf")
        cfg = rn.declare_config(self, cfg_cls)
        self.cfg = cfg
        n = rn.topic_names(self, {**T.QUAD, **T.QUAD_ALL})
        q = lambda key: rn.qos(T.QUAD[key].qos)  # noqa: E731
        self.pub_odom = self.create_publisher(Odometry, n["odom"], q("odom"))
        self.pub_pose = self.create_publisher(PoseStamped, n["pose"], q("pose"))
        self.pub_status = self.create_publisher(String, n["driver_status"], q("driver_status"))
        self.rejects = RejectLog(self.get_logger().warning)
        self._estop_logged = False
        self.link = make_link(cfg, self._on_state, self._on_event)
        self.link.connect()  # the driver: CrazyflieError if the vehicle does not answer (one line, exit 1)
        for key, typ, cb in (("cmd_vel_legacy", Twist, self._on_legacy), ("cmd_position", Position, self._on_position),
                             ("cmd_velocity_world", VelocityWorld, self._on_velocity),
                             ("cmd_full_state", FullState, self._on_full_state), ("cmd_hover", Hover, self._on_hover)):
            self.create_subscription(typ, n[key], cb, q(key))
        rn.subscribe_safety(self, Bool, n["estop"], self._on_estop, T.SAFETY)
        ns = self.get_namespace()
        for key, typ, cb in (("emergency", Empty, self._srv_emergency), ("arm", Arm, self._srv_arm),
                             ("takeoff", Takeoff, self._srv_takeoff), ("land", Land, self._srv_land),
                             ("go_to", GoTo, self._srv_go_to),
                             ("notify_setpoints_stop", NotifySetpointsStop, self._srv_notify)):
            self.create_service(typ, n[key], cb)
            self.create_service(typ, resolve_all(ns, n[f"all_{key}"]), cb)
        self.create_timer(1.0, self._second)
        self.get_logger().info(f"{name} up: ns={ns} status={json.dumps(self.link.status())}")

    # ---- state out ----------------------------------------------------------------------------------------------
    def _on_state(self, s, t_s: float) -> None:
        stamp = self.get_clock().now().to_msg()
        frame = self.cfg.world_frame
        quat = [float(v) for v in s.quat]
        self.pub_pose.publish(rn.pose_msg(stamp, frame, s.pos, quat))
        m = Odometry()
        m.header.stamp, m.header.frame_id, m.child_frame_id = stamp, frame, self.get_namespace().strip("/") or "cf"
        p, o = m.pose.pose.position, m.pose.pose.orientation
        p.x, p.y, p.z = (float(v) for v in s.pos)
        o.w, o.x, o.y, o.z = quat
        lin, ang = m.twist.twist.linear, m.twist.twist.angular
        lin.x, lin.y, lin.z = (float(v) for v in s.linvel)
        ang.x, ang.y, ang.z = (float(v) for v in s.angvel_body)
        self.pub_odom.publish(m)

    def _on_event(self, ev) -> None:
        if ev.kind in ("lost", "failed"):
            self.get_logger().warning(ev.text)
        else:
            self.get_logger().info(ev.text)
        self._publish_status()

    def _publish_status(self) -> None:
        self.pub_status.publish(String(data=json.dumps(self.link.status())))

    def _second(self) -> None:
        self.rejects.flush()
        self._publish_status()

    # ---- commands in ------------------------------------------------------------------------------------------
    def _checked(self, what: str, m, values) -> bool:
        """Header (frame, stamp) and payload (finite) checks; a refusal is said, once per cause per second."""
        if m is not None:
            bad = rn.header_rejection(self, m, self.cfg.world_frame, self.cfg.guard.watchdog.setpoint_timeout_s,
                                      self.cfg.max_future_stamp_s)
            if bad is not None:
                self.rejects.reject(f"{what}: {bad[0]}", bad[1])
                return False
        if not all(math.isfinite(v) for v in values):
            self.rejects.reject(f"{what}: not finite", repr(list(values)))
            return False
        return True

    def _command(self, what: str, m, kind: str, values) -> None:
        if self._checked(what, m, values):
            self.link.command(kind, values)

    def _on_legacy(self, m: Twist) -> None:
        v = [m.linear.y, -m.linear.x, m.angular.z, m.linear.z]
        if self._checked("cmd_vel_legacy", None, v):
            thrust = min(max(v[3], 0.0), LEGACY_MAX_THRUST) / 65535.0 * self.cfg.full_thrust_n
            self.link.command("attitude", [math.radians(v[0]), math.radians(v[1]), math.radians(v[2]), thrust])

    def _on_position(self, m: Position) -> None:
        self._command("cmd_position", m, "position", [m.x, m.y, m.z, math.radians(m.yaw)])

    def _on_velocity(self, m: VelocityWorld) -> None:
        self._command("cmd_velocity_world", m, "velocity", [m.vel.x, m.vel.y, m.vel.z, math.radians(m.yaw_rate)])

    def _on_hover(self, m: Hover) -> None:
        self._command("cmd_hover", m, "hover", [m.vx, m.vy, m.yaw_rate, m.z_distance])

    def _on_full_state(self, m: FullState) -> None:
        p, o, v = m.pose.position, m.pose.orientation, m.twist.linear
        q = [o.w, o.x, o.y, o.z]
        if abs(sum(x * x for x in q) - 1.0) > 1e-3:
            self.rejects.reject("cmd_full_state: orientation is not a rotation", repr(q))
            return
        r = quat_to_mat(q) if all(math.isfinite(x) for x in q) else None
        yaw = math.atan2(r[1, 0], r[0, 0]) if r is not None and all(math.isfinite(x) for x in q) else math.nan
        self._command("cmd_full_state", m, "full_state", [p.x, p.y, p.z, v.x, v.y, v.z, yaw])

    def _on_estop(self, m: Bool) -> None:
        if m.data:
            self._emergency("estop topic")

    def _emergency(self, why: str) -> None:
        self.link.emergency()
        if not self._estop_logged:
            self._estop_logged = True
            self.get_logger().warning(f"EMERGENCY ({why}): motors off, latched")
        self._publish_status()

    # ---- services ---------------------------------------------------------------------------------------------
    def _call(self, what: str, fn, *args) -> None:
        try:
            fn(*args)
        except (RuntimeError, ValueError) as e:  # no link (CrazyflieError), a bad value
            self.rejects.reject(f"{what}: refused", str(e).splitlines()[0])

    def _positive_duration(self, what: str, d) -> float | None:
        t = duration_s(d)
        if not (math.isfinite(t) and t > 0.0):
            self.rejects.reject(f"{what}: duration must be > 0", f"{t!r} s")
            return None
        return t

    def _srv_emergency(self, req, resp):
        self._emergency("emergency service")
        return resp

    def _srv_arm(self, req, resp):
        self._call("arm", self.link.arm, bool(req.arm))
        return resp

    def _srv_takeoff(self, req, resp):
        t = self._positive_duration("takeoff", req.duration)
        if t is not None and self._checked("takeoff", None, [req.height]):
            self._call("takeoff", self.link.takeoff, float(req.height), t, int(req.group_mask))
        return resp

    def _srv_land(self, req, resp):
        t = self._positive_duration("land", req.duration)
        if t is not None and self._checked("land", None, [req.height]):
            self._call("land", self.link.land, float(req.height), t, int(req.group_mask))
        return resp

    def _srv_go_to(self, req, resp):
        t = self._positive_duration("go_to", req.duration)
        g = req.goal
        if t is not None and self._checked("go_to", None, [g.x, g.y, g.z, req.yaw]):
            self._call("go_to", self.link.go_to, g.x, g.y, g.z, float(req.yaw), t, bool(req.relative),
                       int(req.group_mask))
        return resp

    def _srv_notify(self, req, resp):
        self._call("notify_setpoints_stop", self.link.notify_setpoints_stop, int(req.remain_valid_millisecs))
        return resp

    # ---- shutdown ------------------------------------------------------------------------------------------------
    def shut_down(self) -> None:
        """The safe action: a flying vehicle lands (high-level land, waited for), then the link closes."""
        st = self.link.state()
        if st is not None and self.link.flying and not self.link.guard.estopped:
            rn.say_on_exit(self, f"shutting down: landing from z={st[0].pos[2]:.2f} m")
            try:
                self.link.land(0.0, self.cfg.land_duration_s)
                deadline = time.monotonic() + self.cfg.land_duration_s + 1.5
                while time.monotonic() < deadline and self.link.flying:
                    time.sleep(0.05)
            except RuntimeError as e:
                rn.say_on_exit(self, f"shutting down: cannot land ({e}); the vehicle's own failsafe acts")
        else:
            rn.say_on_exit(self, "shutting down: on the ground (or e-stopped), closing the link")
        self.link.close()

