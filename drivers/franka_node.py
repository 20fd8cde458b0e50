"""ROS 2 node for the Franka arm driver: translates the DESIGN.md arm topics to :class:`robot_rl.drivers.franka.FrankaArm`.

    python -m robot_rl.drivers.franka_node --ros-args -p robot_ip:=172.16.0.2

Publishes (sensor-data QoS: best effort, shallow) ``/arm/joint_states``, ``/arm/ee_pose``, ``/arm/ee_wrench``,
``/arm/gripper/state`` at ``publish_hz``; ``/arm/driver_status`` (std_msgs/String, JSON, reliable) at
``status_hz``. Subscribes (reliable) ``/arm/target_pose``, ``/arm/gripper/command``, and ``/arm/estop``
(reliable + transient local: latched; ``True`` engages, ``False`` releases nothing). Services (std_srvs/Trigger):
``/arm/reset`` (move to the reset posture; refused while a fault or the e-stop is latched) and ``/arm/recover``
(explicit error recovery: clears a reflex/fault and the e-stop latch; refused while the last ``/arm/estop``
message is still ``True``). Every name is a parameter. Exit code 2 with a one-line error when no robot answers.
"""
from __future__ import annotations

import json
import sys

import rclpy
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import Trigger

from robot_rl.controllers.filtered_loop import FiltersConfig
from robot_rl.controllers.safety import SafetyConfig
from robot_rl.controllers.watchdog import ArmWatchdogConfig
from robot_rl.drivers.franka import (
    JOINT_NAMES,
    CollisionBehaviorConfig,
    FrankaArm,
    FrankaArmConfig,
    FrankaError,
    GripperConfig,
    ResetMotionConfig,
    rot_to_quat_xyzw,
)

COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

_d = FrankaArmConfig()
_s = SafetyConfig()
_c = CollisionBehaviorConfig()
_g = GripperConfig()
_r = ResetMotionConfig()


class FrankaNode(Node):
    def __init__(self, arm: FrankaArm | None = None):
        super().__init__("franka")
        p = self.declare_parameter
        p("robot_ip", _d.robot_ip)
        p("realtime", _d.realtime)  # "enforce" | "ignore" (simulators)
        p("connect_timeout_s", _d.connect_timeout_s)
        p("frame_id", "base")
        p("publish_hz", 200.0)
        p("status_hz", 10.0)
        p("target_timeout_s", ArmWatchdogConfig().target_timeout_s)
        p("workspace_min_m", list(_s.workspace_min_m))
        p("workspace_max_m", list(_s.workspace_max_m))
        p("max_ee_speed_m_per_s", _s.max_ee_speed_m_per_s)
        p("torque_rate_limit_nm_per_s", _s.torque_rate_limit_nm_per_s)
        p("filters_enabled", True)
        p("lower_torque_thresholds_nm", list(_c.lower_torque_thresholds_nm))
        p("upper_torque_thresholds_nm", list(_c.upper_torque_thresholds_nm))
        p("lower_force_thresholds_n_nm", list(_c.lower_force_thresholds_n_nm))
        p("upper_force_thresholds_n_nm", list(_c.upper_force_thresholds_n_nm))
        p("gripper_enabled", _g.enabled)
        p("gripper_speed_m_per_s", _g.speed_m_per_s)
        p("gripper_grasp_force_n", _g.grasp_force_n)
        p("reset_q_rad", list(_r.q_rad))
        p("joint_names", list(JOINT_NAMES))
        for name, default in (("joint_states_topic", "/arm/joint_states"), ("ee_pose_topic", "/arm/ee_pose"),
                              ("ee_wrench_topic", "/arm/ee_wrench"), ("target_pose_topic", "/arm/target_pose"),
                              ("gripper_command_topic", "/arm/gripper/command"),
                              ("gripper_state_topic", "/arm/gripper/state"), ("estop_topic", "/arm/estop"),
                              ("status_topic", "/arm/driver_status"), ("reset_service", "/arm/reset"),
                              ("recover_service", "/arm/recover")):
            p(name, default)
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        self.frame_id = g("frame_id")
        self.joint_names = list(g("joint_names"))
        if len(self.joint_names) != 7:
            raise ValueError(f"joint_names must name 7 joints, got {self.joint_names!r}")
        if arm is None:
            safety = SafetyConfig(workspace_min_m=tuple(g("workspace_min_m")), workspace_max_m=tuple(g("workspace_max_m")),
                                  max_ee_speed_m_per_s=float(g("max_ee_speed_m_per_s")),
                                  torque_rate_limit_nm_per_s=float(g("torque_rate_limit_nm_per_s")))
            cfg = FrankaArmConfig(
                robot_ip=g("robot_ip"), realtime=g("realtime"), connect_timeout_s=float(g("connect_timeout_s")),
                filters=FiltersConfig(enabled=bool(g("filters_enabled")), safety=safety),
                watchdog=ArmWatchdogConfig(target_timeout_s=float(g("target_timeout_s"))),
                collision=CollisionBehaviorConfig(
                    tuple(g("lower_torque_thresholds_nm")), tuple(g("upper_torque_thresholds_nm")),
                    tuple(g("lower_force_thresholds_n_nm")), tuple(g("upper_force_thresholds_n_nm"))),
                gripper=GripperConfig(enabled=bool(g("gripper_enabled")), speed_m_per_s=float(g("gripper_speed_m_per_s")),
                                      grasp_force_n=float(g("gripper_grasp_force_n"))),
                reset=ResetMotionConfig(q_rad=tuple(g("reset_q_rad"))),
            )
            arm = FrankaArm(cfg)
        self.arm = arm
        self.arm.start()
        self._estop_asserted = False

        self.pub_joints = self.create_publisher(JointState, g("joint_states_topic"), qos_profile_sensor_data)
        self.pub_pose = self.create_publisher(PoseStamped, g("ee_pose_topic"), qos_profile_sensor_data)
        self.pub_wrench = self.create_publisher(WrenchStamped, g("ee_wrench_topic"), qos_profile_sensor_data)
        self.pub_gripper = self.create_publisher(JointState, g("gripper_state_topic"), qos_profile_sensor_data)
        self.pub_status = self.create_publisher(String, g("status_topic"), QoSProfile(depth=1))
        self.create_subscription(PoseStamped, g("target_pose_topic"), self._on_target, COMMAND_QOS)
        self.create_subscription(Float64, g("gripper_command_topic"), self._on_gripper, COMMAND_QOS)
        self.create_subscription(Bool, g("estop_topic"), self._on_estop, LATCHED_QOS)
        slow = MutuallyExclusiveCallbackGroup()  # blocking service calls must not stall the publishers
        self.create_service(Trigger, g("reset_service"), self._on_reset, callback_group=slow)
        self.create_service(Trigger, g("recover_service"), self._on_recover, callback_group=slow)
        self.create_timer(1.0 / float(g("publish_hz")), self._publish_state)
        self.create_timer(1.0 / float(g("status_hz")), self._publish_status)
        self._last_tick = -1

    # ---- inputs ------------------------------------------------------------------------------------------
    def _on_target(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in ("", self.frame_id):
            self.get_logger().warn(f"target in frame {msg.header.frame_id!r} ignored: expected {self.frame_id!r}",
                                   throttle_duration_sec=1.0)
            return
        p, o = msg.pose.position, msg.pose.orientation
        try:
            self.arm.set_target_quat((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))
        except ValueError as e:
            self.get_logger().warn(f"target ignored: {e}", throttle_duration_sec=1.0)

    def _on_gripper(self, msg: Float64) -> None:
        try:
            self.arm.command_gripper(msg.data)
        except (ValueError, FrankaError) as e:
            self.get_logger().warn(f"gripper command ignored: {e}", throttle_duration_sec=1.0)

    def _on_estop(self, msg: Bool) -> None:
        self._estop_asserted = bool(msg.data)
        if msg.data:
            self.get_logger().error("e-stop received: holding position (latched; /arm/recover to clear)")
            self.arm.estop()

    def _on_reset(self, _req, res):
        try:
            self.arm.move_to_reset()
            res.success, res.message = True, "at the reset posture"
        except FrankaError as e:
            res.success, res.message = False, str(e)
        return res

    def _on_recover(self, _req, res):
        if self._estop_asserted:
            res.success, res.message = False, "e-stop is still asserted on the e-stop topic; release it first"
            return res
        try:
            self.arm.recover()
            self.get_logger().warn("explicit recovery done: fault and e-stop latch cleared")
            res.success, res.message = True, "recovered"
        except FrankaError as e:
            res.success, res.message = False, str(e)
        return res

    # ---- outputs -----------------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        s = self.arm.snapshot()
        if s is None or s.ticks == self._last_tick:
            return
        self._last_tick = s.ticks
        stamp = self.get_clock().now().to_msg()
        js = JointState()
        js.header.stamp = stamp
        js.header.frame_id = self.frame_id
        js.name = self.joint_names
        js.position, js.velocity, js.effort = s.q.tolist(), s.dq.tolist(), s.tau_measured_nm.tolist()
        self.pub_joints.publish(js)
        ps = PoseStamped()
        ps.header.stamp = stamp
        ps.header.frame_id = self.frame_id
        ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = (float(v) for v in s.ee_pos)
        qx, qy, qz, qw = (float(v) for v in rot_to_quat_xyzw(s.ee_rot))
        ps.pose.orientation.x, ps.pose.orientation.y, ps.pose.orientation.z, ps.pose.orientation.w = qx, qy, qz, qw
        self.pub_pose.publish(ps)
        w = WrenchStamped()
        w.header.stamp = stamp
        w.header.frame_id = self.frame_id
        f = [float(v) for v in s.ee_wrench]
        w.wrench.force.x, w.wrench.force.y, w.wrench.force.z = f[:3]
        w.wrench.torque.x, w.wrench.torque.y, w.wrench.torque.z = f[3:]
        self.pub_wrench.publish(w)
        width = self.arm.gripper_width_m()
        if width is not None:
            gs = JointState()
            gs.header.stamp = stamp
            gs.name = ["gripper_width"]
            gs.position = [float(width)]
            self.pub_gripper.publish(gs)

    def _publish_status(self) -> None:
        self.pub_status.publish(String(data=json.dumps(self.arm.telemetry())))

    def destroy_node(self) -> None:
        self.arm.close()
        super().destroy_node()


def main(args=None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = FrankaNode()
        ex = MultiThreadedExecutor(num_threads=2)
        ex.add_node(node)
        ex.spin()
    except (FrankaError, ValueError, InvalidParameterTypeException) as e:
        print(f"franka_node: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
