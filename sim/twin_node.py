"""Twin node: the MuJoCo twin behind the arm driver's topic contract (DESIGN.md), so the actor cannot tell it
from the hardware driver. Translation only; the logic is in :mod:`robot_rl.sim.twin_runtime`.

Publishes ``joint_states``, ``ee_pose``, ``ee_wrench``, ``gripper/state`` at ``state_hz`` (sensor-data QoS),
``/camera/<name>/color/image_raw`` + ``camera_info`` at ``camera_hz`` (rgb8, numpy, no cv_bridge), and the
twin-only ``/task/state`` (Float64MultiArray ``[reward, success, task features...]``). Subscribes
``target_pose`` and ``gripper/command`` (reliable) and ``/arm/estop`` (reliable, transient local: a latched
e-stop reaches late joiners). Serves ``/arm/reset`` (std_srvs/Trigger).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
import rclpy.executors
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from std_srvs.srv import Trigger

from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_of(t_s: float):
    from builtin_interfaces.msg import Time

    sec = int(t_s)
    return Time(sec=sec, nanosec=int((t_s - sec) * 1e9))


def image_msg(img: np.ndarray, stamp, frame_id: str) -> Image:
    m = Image()
    m.header.stamp = stamp
    m.header.frame_id = frame_id
    m.height, m.width = int(img.shape[0]), int(img.shape[1])
    m.encoding = "rgb8"
    m.step = m.width * 3
    m.data = np.ascontiguousarray(img, dtype=np.uint8).tobytes()
    return m


class TwinNode(Node):
    def __init__(self):
        super().__init__("twin")
        p = self.declare_parameter
        cfg = TwinRuntimeConfig(
            task=p("task", "reach").value,
            cameras=tuple(p("cameras", ["front", "wrist"]).value),
            image_size_px=p("image_size_px", 128).value,
            state_hz=p("state_hz", 100.0).value,
            camera_hz=p("camera_hz", 10.0).value,
            target_timeout_s=p("target_timeout_s", 0.2).value,
            seed=p("seed", 0).value,
            reward=p("reward", "sparse").value,
        )
        self.base_frame = p("base_frame", "base").value
        self.rt = TwinRuntime(cfg)
        self.cfg = cfg
        self.pub_js = self.create_publisher(JointState, "/arm/joint_states", qos_profile_sensor_data)
        self.pub_pose = self.create_publisher(PoseStamped, "/arm/ee_pose", qos_profile_sensor_data)
        self.pub_wrench = self.create_publisher(WrenchStamped, "/arm/ee_wrench", qos_profile_sensor_data)
        self.pub_grip = self.create_publisher(JointState, "/arm/gripper/state", qos_profile_sensor_data)
        self.pub_task = self.create_publisher(Float64MultiArray, "/task/state", qos_profile_sensor_data)
        self.pub_mode = self.create_publisher(Float64MultiArray, "/arm/twin_status", qos_profile_sensor_data)
        self.cams = {}
        for cam in cfg.cameras:
            self.cams[cam] = (
                self.create_publisher(Image, f"/camera/{cam}/color/image_raw", qos_profile_sensor_data),
                self.create_publisher(CameraInfo, f"/camera/{cam}/color/camera_info", qos_profile_sensor_data),
            )
        self.create_subscription(PoseStamped, "/arm/target_pose", self._on_target, RELIABLE)
        self.create_subscription(Float64, "/arm/gripper/command", self._on_gripper, RELIABLE)
        self.create_subscription(Bool, "/arm/estop", self._on_estop, LATCHED)
        self.create_service(Trigger, "/arm/reset", self._on_reset)
        self.create_timer(1.0 / cfg.state_hz, self._tick)
        if self.cams:
            self.create_timer(1.0 / cfg.camera_hz, self._cameras)
        self.get_logger().info(f"twin up: task={cfg.task} cameras={list(cfg.cameras)} "
                               f"watchdog={cfg.target_timeout_s}s")

    def _on_target(self, m: PoseStamped) -> None:
        o, q = m.pose.position, m.pose.orientation
        self.rt.on_target([o.x, o.y, o.z], [q.w, q.x, q.y, q.z], time.monotonic())

    def _on_gripper(self, m: Float64) -> None:
        self.rt.on_gripper(float(m.data))

    def _on_estop(self, m: Bool) -> None:
        if m.data:
            self.rt.estop()
            self.get_logger().warn("E-STOP engaged (latched): holding")

    def _on_reset(self, req, resp):
        resp.success, resp.message = self.rt.reset()
        return resp

    def _tick(self) -> None:
        mode = self.rt.advance(time.monotonic())
        stamp = self.get_clock().now().to_msg()
        names, q, dq, tau = self.rt.joint_state()
        js = JointState()
        js.header.stamp = stamp
        js.name, js.position, js.velocity, js.effort = names, q.tolist(), dq.tolist(), tau.tolist()
        self.pub_js.publish(js)
        pos, quat = self.rt.ee_pose()
        ps = PoseStamped()
        ps.header.stamp, ps.header.frame_id = stamp, self.base_frame
        ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = (float(v) for v in pos)
        o = ps.pose.orientation
        o.w, o.x, o.y, o.z = (float(v) for v in quat)
        self.pub_pose.publish(ps)
        w = self.rt.ee_wrench()
        ws = WrenchStamped()
        ws.header.stamp, ws.header.frame_id = stamp, self.base_frame
        ws.wrench.force.x, ws.wrench.force.y, ws.wrench.force.z = (float(v) for v in w[:3])
        ws.wrench.torque.x, ws.wrench.torque.y, ws.wrench.torque.z = (float(v) for v in w[3:])
        self.pub_wrench.publish(ws)
        gs = JointState()
        gs.header.stamp = stamp
        gs.name, gs.position = ["gripper_width"], [float(self.rt.gripper_width())]
        self.pub_grip.publish(gs)
        ts = Float64MultiArray()
        ts.data = self.rt.task_state().tolist()
        self.pub_task.publish(ts)
        st = Float64MultiArray()  # [mode index, episode, ticks] for tests and dashboards
        st.data = [float(["waiting", "tracking", "hold", "estop"].index(mode.value)), float(self.rt.episode),
                   float(self.rt.ticks)]
        self.pub_mode.publish(st)

    def _cameras(self) -> None:
        # every camera images the same physics state: render them all, then stamp the set once, when it is
        # complete (like a camera driver stamping a finished frame; synchronised cameras share the stamp)
        imgs = {cam: self.rt.render(cam) for cam in self.cams}
        stamp = self.get_clock().now().to_msg()
        for cam, (pub_img, pub_info) in self.cams.items():
            pub_img.publish(image_msg(imgs[cam], stamp, f"{cam}_color_optical_frame"))
            w, h, fx, fy, cx, cy = self.rt.camera_intrinsics(cam)
            info = CameraInfo()
            info.header.stamp, info.header.frame_id = stamp, f"{cam}_color_optical_frame"
            info.width, info.height = w, h
            info.distortion_model = "plumb_bob"
            info.d = [0.0] * 5
            info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
            info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
            pub_info.publish(info)


def main(args=None) -> int:
    rclpy.init(args=sys.argv if args is None else args)
    try:
        node = TwinNode()
    except (ValueError, KeyError) as e:  # a bad parameter (task, reward, ...): one clear line, no traceback
        print(f"twin_node: {e}", file=sys.stderr)
        rclpy.shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.rt.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
