"""Twin node: the MuJoCo twin behind the arm driver's topic contract (``robot_rl.contract.topics``), so the actor
cannot tell it from the hardware driver. Translation only; the logic is in :mod:`robot_rl.sim.twin_runtime`.

Every name is relative (a launch namespace ``/left`` gives ``/left/arm/ee_pose``) and a parameter
``topics.<key>`` (``topics.camera.<name>.color`` for cameras). Publishes ``arm/joint_states``, ``arm/ee_pose``,
``arm/ee_wrench``, ``arm/gripper/state`` at ``state_hz`` (sensor QoS), ``camera/<name>/color/image_raw`` +
``camera_info`` at ``camera_hz`` (rgb8, numpy, no cv_bridge; a camera is rendered only while someone
subscribes), and the twin-only ``task/state`` (``[reward, success, task features...]``) and ``arm/twin_status``. Subscribes ``arm/target_pose`` and
``arm/gripper/command`` (reliable) and ``arm/estop`` (every publisher QoS matches; a latched e-stop reaches a late
joiner). Serves ``arm/reset`` and ``arm/recover`` (std_srvs/Trigger; recover clears a latched e-stop once the
e-stop topic is released, as the driver's). A rejected input (a target in another frame, stale or from the
future by its stamp, NaN, a quaternion that is no rotation; a gripper command outside [0, 1]) is logged, one
line per cause per second (:class:`~robot_rl.contract.rejects.RejectLog`), and the arm keeps its last target. Parameters: :class:`TwinRuntimeConfig` (ranges checked; a bad
one is one line on stderr and exit code 2).
"""
from __future__ import annotations

import sys
import time

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from std_srvs.srv import Trigger
from geometry_msgs.msg import PoseStamped, WrenchStamped

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.rejects import RejectLog
from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig

MODES = ("waiting", "tracking", "hold", "estop")


class TwinNode(Node):
    def __init__(self):
        super().__init__("twin")
        cfg = rn.declare_config(self, TwinRuntimeConfig)
        n = rn.topic_names(self, {**T.ARM, **T.TWIN})  # the driver's arm contract, plus the twin-only topics
        self.rt = TwinRuntime(cfg)  # an unknown camera -> ValueError (one line, exit 2)
        self.cfg = cfg
        pub = lambda t, key, eps=T.ARM: self.create_publisher(t, n[key], rn.qos(eps[key].qos))  # noqa: E731
        self.pub_js = pub(JointState, "joint_states")
        self.pub_pose = pub(PoseStamped, "ee_pose")
        self.pub_wrench = pub(WrenchStamped, "ee_wrench")
        self.pub_grip = pub(JointState, "gripper_state")
        self.pub_task = pub(Float64MultiArray, "task_state", T.TWIN)
        self.pub_mode = pub(Float64MultiArray, "twin_status", T.TWIN)
        self.cams = {}
        for cam in cfg.cameras:
            ct = T.camera(cam)
            cn = rn.topic_names(self, {k: ct[k] for k in ("color", "color_info")}, prefix=f"camera.{cam}.")
            self.cams[cam] = (self.create_publisher(Image, cn["color"], rn.qos(ct["color"].qos)),
                              self.create_publisher(CameraInfo, cn["color_info"], rn.qos(ct["color_info"].qos)))
        self.create_subscription(PoseStamped, n["target_pose"], self._on_target, rn.qos(T.ARM["target_pose"].qos))
        self.create_subscription(Float64, n["gripper_command"], self._on_gripper, rn.qos(T.ARM["gripper_command"].qos))
        rn.subscribe_safety(self, Bool, n["estop"], self._on_estop, T.SAFETY)
        self.create_service(Trigger, n["reset"], self._on_reset)
        self.create_service(Trigger, n["recover"], self._on_recover)
        self._estop_asserted = False
        self._mode, self._mode_since_s = None, 0.0
        self.rejects = RejectLog(self.get_logger().warning)  # one line per cause per second, never silent
        self.create_timer(1.0, self.rejects.flush)
        self.create_timer(1.0 / cfg.state_hz, self._tick)
        if self.cams:
            self.create_timer(1.0 / cfg.camera_hz, self._cameras)
        self.get_logger().info(f"twin up: task={cfg.task} cameras={list(cfg.cameras)} "
                               f"watchdog={cfg.target_timeout_s}s ns={self.get_namespace()}")

    def shut_down(self) -> None:
        self.rt.estop()  # as the driver: no target is followed from here on, the arm holds where it is
        pos = [round(float(v), 3) for v in self.rt.ee_pose()[0]]
        rn.say_on_exit(self, f"shutting down: holding at {pos} m")
        self.rt.close()

    def _on_target(self, m: PoseStamped) -> None:
        bad = rn.header_rejection(self, m, self.cfg.base_frame, self.cfg.target_timeout_s, self.cfg.max_future_stamp_s)
        if bad is not None:
            self.rejects.reject(f"target: {bad[0]}", bad[1])
            return
        pos, quat = rn.pose_of(m)
        cause = self.rt.on_target(pos, quat, time.monotonic(), rn.age_s(self, m))
        if cause is not None:
            self.rejects.reject(cause)

    def _on_gripper(self, m: Float64) -> None:
        cause = self.rt.on_gripper(float(m.data))
        if cause is not None:
            self.rejects.reject(cause, f"{m.data!r}")

    def _on_estop(self, m: Bool) -> None:
        self._estop_asserted = bool(m.data)
        if m.data and not self.rt.estopped:
            self.rt.estop()
            self.get_logger().warning("E-STOP engaged (latched): holding")

    def _on_recover(self, req, resp):
        if self._estop_asserted:  # as the Franka driver: the e-stop topic must be released first
            resp.success, resp.message = False, "e-stop is still asserted on the e-stop topic; release it first"
        else:
            resp.success, resp.message = self.rt.recover()
        return resp

    def _on_reset(self, req, resp):
        resp.success, resp.message = self.rt.reset()
        return resp

    def _tick(self) -> None:
        mode = self.rt.advance(time.monotonic())
        stamp = self.get_clock().now().to_msg()
        names, q, dq, tau = self.rt.joint_state()
        self.pub_js.publish(rn.joint_state_msg(stamp, names, q, dq, tau))
        pos, quat = self.rt.ee_pose()
        self.pub_pose.publish(rn.pose_msg(stamp, self.cfg.base_frame, pos, quat))
        self.pub_wrench.publish(rn.wrench_msg(stamp, self.cfg.base_frame, self.rt.ee_wrench()))
        self.pub_grip.publish(rn.joint_state_msg(stamp, ["gripper_width"], [self.rt.gripper_width()]))
        self.pub_task.publish(Float64MultiArray(data=self.rt.task_state().tolist()))
        # [mode index, episode, ticks, since when (ROS time, s: this tick decided it)] for tests and dashboards
        if mode != self._mode:
            self._mode, self._mode_since_s = mode, self.get_clock().now().nanoseconds * 1e-9
        self.pub_mode.publish(Float64MultiArray(data=[float(MODES.index(mode.value)), float(self.rt.episode),
                                                      float(self.rt.ticks), self._mode_since_s]))

    def _cameras(self) -> None:
        # lazily, as image_transport's publishers: a camera nobody subscribes to is not rendered (rendering on a
        # CPU costs tens of ms of the executor that also runs the watchdog tick and the e-stop)
        live = {cam: pubs for cam, pubs in self.cams.items() if any(p.get_subscription_count() for p in pubs)}
        if not live:
            return
        # every camera images the same physics state: render them all, then stamp the set once, when it is
        # complete (like a camera driver stamping a finished frame; synchronised cameras share the stamp)
        imgs = {cam: self.rt.render(cam) for cam in live}
        stamp = self.get_clock().now().to_msg()
        for cam, (pub_img, pub_info) in live.items():
            frame = f"{cam}_color_optical_frame"
            pub_img.publish(rn.image_msg(stamp, frame, imgs[cam], "rgb8"))
            pub_info.publish(rn.camera_info_msg(stamp, frame, *self.rt.camera_intrinsics(cam)))


def main(args=None) -> int:
    # ValueError / KeyError: a camera the scene does not have (one clear line, exit 2)
    return rn.run_node(TwinNode, "twin_node", args, on_exit=TwinNode.shut_down, errors=(ValueError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
