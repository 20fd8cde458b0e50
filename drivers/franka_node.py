"""ROS 2 node for the Franka arm driver: translates the arm contract (``robot_rl.contract.topics.ARM``) to
:class:`robot_rl.drivers.franka.FrankaArm`.

    python -m robot_rl.drivers.franka_node --ros-args -p robot_ip:=172.16.0.2

Every name is relative (a launch namespace moves it) and a parameter ``topics.<key>``. Publishes (sensor QoS:
best effort, shallow) ``arm/joint_states``, ``arm/ee_pose``, ``arm/ee_wrench``, ``arm/gripper/state`` at
``publish_hz``; ``arm/status`` (std_msgs/String, JSON, latched) at ``status_hz``. Subscribes (reliable)
``arm/target_pose``, ``arm/gripper/command``, and ``arm/estop`` (every publisher QoS is heard, a latched e-stop
too; ``True`` engages, ``False`` releases nothing). Services (std_srvs/Trigger): ``arm/reset`` (move to the reset
posture; refused while a fault or the e-stop is latched) and ``arm/recover`` (explicit error recovery: clears a
reflex/fault and the e-stop latch; refused while the last ``arm/estop`` message is still ``True``). Parameters:
:class:`FrankaNodeParams` (ranges checked). Exit code 2 with a one-line error on a bad parameter or when no robot
answers.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import Trigger

from robot_rl.contract import ros_node as rn
from robot_rl.contract.rejects import RejectLog
from robot_rl.contract.rotations import mat_to_quat
from robot_rl.contract import topics as T
from robot_rl.contract.params import ParameterError, param
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
)

_d = FrankaArmConfig()
_s = SafetyConfig()
_c = CollisionBehaviorConfig()
_g = GripperConfig()
_r = ResetMotionConfig()


@dataclass(frozen=True)
class FrankaNodeParams:
    """The node's ROS parameters; defaults from the driver's configs. Bounds: Franka's datasheet (max Cartesian
    speed 1.7 m/s; Franka Hand continuous force 70 N, 140 N peak) and libfranka's torque rate limit (1000 Nm/s,
    ``rate_limiting.h``)."""

    robot_ip: str = param(_d.robot_ip, doc="FCI address")
    realtime: str = param(_d.realtime, choices=("enforce", "ignore"), doc="ignore for simulators")
    connect_timeout_s: float = param(_d.connect_timeout_s, gt=0, le=120)
    frame_id: str = param("base", doc="frame of poses and wrenches; a target in another frame is rejected")
    max_future_stamp_s: float = param(0.5, ge=0, le=60,
                                      doc="a target stamped further ahead of this node's clock is rejected [s]")
    publish_hz: float = param(200.0, gt=0, le=1000, doc="state topics rate")
    status_hz: float = param(10.0, gt=0, le=100, doc="arm/status rate")
    target_timeout_s: float = param(ArmWatchdogConfig().target_timeout_s, gt=0, le=10,
                                    doc="watchdog: a target older than this -> hold")
    workspace_min_m: tuple[float, ...] = param(_s.workspace_min_m, doc="target box, base frame (x, y, z)")
    workspace_max_m: tuple[float, ...] = param(_s.workspace_max_m, doc="target box, base frame (x, y, z)")
    max_ee_speed_m_per_s: float = param(_s.max_ee_speed_m_per_s, gt=0, le=1.7)
    torque_rate_limit_nm_per_s: float = param(_s.torque_rate_limit_nm_per_s, gt=0, le=1000)
    filters_enabled: bool = param(True, doc="safety + passivity filters on the commanded torque")
    lower_torque_thresholds_nm: tuple[float, ...] = param(_c.lower_torque_thresholds_nm, ge=0)
    upper_torque_thresholds_nm: tuple[float, ...] = param(_c.upper_torque_thresholds_nm, ge=0)
    lower_force_thresholds_n_nm: tuple[float, ...] = param(_c.lower_force_thresholds_n_nm, ge=0)
    upper_force_thresholds_n_nm: tuple[float, ...] = param(_c.upper_force_thresholds_n_nm, ge=0)
    gripper_enabled: bool = param(_g.enabled)
    gripper_speed_m_per_s: float = param(_g.speed_m_per_s, gt=0, le=0.2)
    gripper_grasp_force_n: float = param(_g.grasp_force_n, gt=0, le=140)
    reset_q_rad: tuple[float, ...] = param(_r.q_rad, doc="reset posture, 7 joints")
    joint_names: tuple[str, ...] = param(JOINT_NAMES, doc="7 names for arm/joint_states")


_LENGTHS = {"workspace_min_m": 3, "workspace_max_m": 3, "lower_torque_thresholds_nm": 7,
            "upper_torque_thresholds_nm": 7, "lower_force_thresholds_n_nm": 6, "upper_force_thresholds_n_nm": 6,
            "reset_q_rad": 7, "joint_names": 7}


def arm_config(p: FrankaNodeParams) -> FrankaArmConfig:
    safety = SafetyConfig(workspace_min_m=p.workspace_min_m, workspace_max_m=p.workspace_max_m,
                          max_ee_speed_m_per_s=p.max_ee_speed_m_per_s,
                          torque_rate_limit_nm_per_s=p.torque_rate_limit_nm_per_s)
    return FrankaArmConfig(
        robot_ip=p.robot_ip, realtime=p.realtime, connect_timeout_s=p.connect_timeout_s,
        filters=FiltersConfig(enabled=p.filters_enabled, safety=safety),
        watchdog=ArmWatchdogConfig(target_timeout_s=p.target_timeout_s),
        collision=CollisionBehaviorConfig(p.lower_torque_thresholds_nm, p.upper_torque_thresholds_nm,
                                          p.lower_force_thresholds_n_nm, p.upper_force_thresholds_n_nm),
        gripper=GripperConfig(enabled=p.gripper_enabled, speed_m_per_s=p.gripper_speed_m_per_s,
                              grasp_force_n=p.gripper_grasp_force_n),
        reset=ResetMotionConfig(q_rad=p.reset_q_rad),
    )


class FrankaNode(Node):
    def __init__(self, arm: FrankaArm | None = None):
        super().__init__("franka")
        self.params = p = rn.declare_config(self, FrankaNodeParams)
        for name, n in _LENGTHS.items():
            if len(getattr(p, name)) != n:
                raise ParameterError(f"{self.get_name()}: parameter {name}={list(getattr(p, name))!r} is invalid: "
                                     f"expected {n} values")
        names = rn.topic_names(self, {**T.ARM, **T.ARM_DRIVER})
        self.frame_id = p.frame_id
        self.joint_names = list(p.joint_names)
        self.arm = arm if arm is not None else FrankaArm(arm_config(p))
        self.arm.start()
        self._estop_asserted = False
        self.rejects = RejectLog(self.get_logger().warning)  # one line per cause per second, never silent

        pub = lambda t, k, eps=T.ARM: self.create_publisher(t, names[k], rn.qos(eps[k].qos))  # noqa: E731
        self.pub_joints = pub(JointState, "joint_states")
        self.pub_pose = pub(PoseStamped, "ee_pose")
        self.pub_wrench = pub(WrenchStamped, "ee_wrench")
        self.pub_gripper = pub(JointState, "gripper_state")
        self.pub_status = pub(String, "status", T.ARM_DRIVER)
        # Each input its own group (the state timers keep the default one): the executor offers a ready timer
        # before a ready subscription, so a state timer that is always behind (200 Hz under load) starved every
        # input sharing its group: targets (the watchdog then held the arm) and e-stops went unheard.
        commands = MutuallyExclusiveCallbackGroup()
        self.create_subscription(PoseStamped, names["target_pose"], self._on_target, rn.qos(T.ARM["target_pose"].qos),
                                 callback_group=commands)
        self.create_subscription(Float64, names["gripper_command"], self._on_gripper,
                                 rn.qos(T.ARM["gripper_command"].qos), callback_group=commands)
        rn.subscribe_safety(self, Bool, names["estop"], self._on_estop, T.SAFETY, MutuallyExclusiveCallbackGroup())
        slow = MutuallyExclusiveCallbackGroup()  # blocking service calls must not stall the publishers
        self.create_service(Trigger, names["reset"], self._on_reset, callback_group=slow)
        self.create_service(Trigger, names["recover"], self._on_recover, callback_group=slow)
        self.create_timer(1.0 / p.publish_hz, self._publish_state)
        self.create_timer(1.0 / p.status_hz, self._publish_status)
        self.create_timer(1.0, self.rejects.flush)
        self._last_tick = -1

    # ---- inputs ------------------------------------------------------------------------------------------
    def _on_target(self, msg: PoseStamped) -> None:
        p = self.params
        bad = rn.header_rejection(self, msg, self.frame_id, p.target_timeout_s, p.max_future_stamp_s)
        if bad is not None:
            self.rejects.reject(f"target: {bad[0]}", bad[1])
            return
        pos, (w, x, y, z) = rn.pose_of(msg)
        try:
            self.arm.set_target_quat(pos, (x, y, z, w), rn.age_s(self, msg))
        except ValueError as e:
            self.rejects.reject("target: invalid", str(e))

    def _on_gripper(self, msg: Float64) -> None:
        try:
            self.arm.command_gripper(msg.data)
        except (ValueError, FrankaError) as e:
            self.rejects.reject("gripper command: invalid", str(e))

    def _on_estop(self, msg: Bool) -> None:
        # subscribe_safety: a reliable publisher's message may arrive once per subscription (idempotent here)
        was, self._estop_asserted = self._estop_asserted, bool(msg.data)
        if msg.data:
            if not was:
                self.get_logger().error("e-stop received: holding position (latched; the recover service clears it)")
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
            self.get_logger().warning("explicit recovery done: fault and e-stop latch cleared")
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
        js = rn.joint_state_msg(stamp, self.joint_names, s.q, s.dq, s.tau_measured_nm)
        js.header.frame_id = self.frame_id
        self.pub_joints.publish(js)
        self.pub_pose.publish(rn.pose_msg(stamp, self.frame_id, s.ee_pos, mat_to_quat(s.ee_rot)))
        self.pub_wrench.publish(rn.wrench_msg(stamp, self.frame_id, s.ee_wrench))
        width = self.arm.gripper_width_m()
        if width is not None:
            self.pub_gripper.publish(rn.joint_state_msg(stamp, ["gripper_width"], [width]))

    def _publish_status(self) -> None:
        self.pub_status.publish(String(data=json.dumps(self.arm.telemetry())))

    def destroy_node(self) -> None:
        self.arm.close()  # finishes the torque motion: the robot holds with its own controller
        rn.say_on_exit(self, f"shutting down: torque control stopped, the robot holds (mode {self.arm.mode.value})")
        super().destroy_node()


def _spin(node, stop) -> None:
    # a thread per callback group (state timers, commands, e-stop, blocking services): a reset that blocks its
    # thread for seconds leaves the e-stop and the state topics theirs
    rn.spin_until_stopped(node, stop, MultiThreadedExecutor(num_threads=4))


def main(args=None) -> int:
    return rn.run_node(FrankaNode, "franka_node", args, spin=_spin, errors=(FrankaError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
