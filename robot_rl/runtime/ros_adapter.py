"""The one module of ``robot_rl/`` (besides the ``*_node.py`` files) that imports rclpy: message <-> numpy
translation and :class:`RosArmLink`, the :class:`robot_rl.envs.ros_env.ArmLink` over the arm contract. Imported
only by nodes. Topic names come from :mod:`robot_rl.contract.topics` as ``topics.<key>`` parameters of the node
(:func:`robot_rl.contract.ros_node.topic_names`): relative, so a launch namespace moves them."""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
import rclpy.executors
from geometry_msgs.msg import PoseStamped, TwistStamped, WrenchStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import Float64, Float64MultiArray, UInt8MultiArray
from std_srvs.srv import Trigger

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.rejects import RejectLog
from robot_rl.envs.ros_env import ArmSample

# the contract's profiles as rclpy QoS, for the nodes that use them by these names
RELIABLE = rn.qos(T.COMMAND)
STREAM = rn.qos(T.STREAM)  # transitions: reliable and deep, so a burst of resends is not dropped by the history
LATCHED = rn.qos(T.LATCHED)  # weights: reliable + transient local: a late-joining actor gets the last weights
LATCHED1 = rn.qos(T.LATCHED1)
stamp_s = rn.stamp_s

ARM_LINK_KEYS = ("ee_pose", "ee_wrench", "gripper_state", "target_pose", "gripper_command", "reset")


_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def image_problem(m: Image) -> str | None:
    """Why ``m`` cannot be read as an 8-bit image (a fixed cause, for :class:`RejectLog`), or None."""
    ch = _CHANNELS.get(m.encoding)
    if ch is None:
        return "unsupported encoding"
    if m.height == 0 or m.width == 0 or m.step < m.width * ch or len(m.data) != m.height * m.step:
        return "size fields do not match the data"
    return None


def image_to_numpy(m: Image) -> np.ndarray:
    """rgb8 / bgr8 / rgba8 / bgra8 / mono8 -> uint8 HxWx3 RGB (row padding in ``step`` handled); ValueError for
    an image :func:`image_problem` refuses."""
    problem = image_problem(m)
    if problem is not None:
        raise ValueError(f"image {m.encoding!r} {m.width}x{m.height}: {problem}")
    ch = _CHANNELS[m.encoding]
    buf = np.frombuffer(bytes(m.data), dtype=np.uint8).reshape(m.height, m.step)[:, :m.width * ch]
    img = buf.reshape(m.height, m.width, ch)
    if m.encoding.startswith("bgr"):
        img = img[..., [2, 1, 0]]
    elif ch == 4:
        img = img[..., :3]
    elif ch == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


def node_rejects(node: Node) -> RejectLog:
    """The node's :class:`RejectLog` (one per node, flushed every second), made on first use."""
    log = getattr(node, "rejects", None)
    if log is None:
        log = node.rejects = RejectLog(node.get_logger().warning)
        node.create_timer(1.0, log.flush)
    return log


def bytes_msg(data: bytes) -> UInt8MultiArray:
    m = UInt8MultiArray()
    m.data = bytes(data)
    return m


class RosArmLink:
    """Subscribes the arm contract (+ cameras + ``task/state``), publishes targets, calls ``arm/reset``.
    Callbacks may run on any executor thread; :meth:`snapshot` returns a consistent copy."""

    def __init__(self, node: Node, cameras: tuple[str, ...] = (), on_image=None, image_size_px: int | None = None):
        self.node = node
        self._lock = threading.Lock()
        self._s = ArmSample()
        self.on_image = on_image  # optional hook(camera, stamp_s, arrival_t) for latency measurement
        self.image_shape = None if image_size_px is None else (image_size_px, image_size_px, 3)
        self.rejects = node_rejects(node)  # a malformed message never reaches the observation, and is said
        self.max_future_stamp_s = 0.5  # a state stamped further ahead of this node's clock is refused
        eps = {**{k: T.ARM[k] for k in ARM_LINK_KEYS}, "task_state": T.TWIN["task_state"]}
        n = rn.topic_names(node, eps)
        sub = lambda t, k, cb: node.create_subscription(t, n[k], cb, rn.qos(eps[k].qos))  # noqa: E731
        sub(PoseStamped, "ee_pose", self._on_pose)
        sub(WrenchStamped, "ee_wrench", self._on_wrench)
        sub(JointState, "gripper_state", self._on_grip)
        sub(Float64MultiArray, "task_state", self._on_task)
        for cam in cameras:
            color = T.camera(cam)["color"]
            name = rn.topic_names(node, {"color": color}, prefix=f"camera.{cam}.")["color"]
            node.create_subscription(Image, name, lambda m, c=cam: self._on_image(c, m), rn.qos(color.qos))
        self.pub_target = node.create_publisher(PoseStamped, n["target_pose"], rn.qos(eps["target_pose"].qos))
        self.pub_grip = node.create_publisher(Float64, n["gripper_command"], rn.qos(eps["gripper_command"].qos))
        self.reset_client = node.create_client(Trigger, n["reset"])

    def _finite(self, what: str, values) -> bool:
        if np.all(np.isfinite(np.asarray(values, float))):
            return True
        self.rejects.reject(f"{what}: not finite")
        return False

    def _on_pose(self, m: PoseStamped) -> None:
        pos, quat = rn.pose_of(m)
        st = stamp_s(m.header.stamp)
        if not self._finite("ee_pose", pos + quat):
            return
        if abs(np.linalg.norm(quat) - 1.0) > 0.01:
            self.rejects.reject("ee_pose: quaternion not unit", f"norm {np.linalg.norm(quat):.3g}")
            return
        if st - self.node.get_clock().now().nanoseconds * 1e-9 > self.max_future_stamp_s:
            self.rejects.reject("ee_pose: stamp from the future")
            return
        with self._lock:
            s = self._s
            if s.pose_stamp_s > 0.0 and st <= s.pose_stamp_s:  # velocities come from stamp differences
                self.rejects.reject("ee_pose: stamp not after the previous pose's")
                return
            s.prev_pos, s.prev_quat, s.prev_pose_stamp_s = s.pos, s.quat, s.pose_stamp_s
            s.pos, s.quat = np.array(pos), np.array(quat)
            s.pose_stamp_s, s.pose_t = st, time.monotonic()

    def _on_wrench(self, m: WrenchStamped) -> None:
        f, t = m.wrench.force, m.wrench.torque
        w = [f.x, f.y, f.z, t.x, t.y, t.z]
        if self._finite("ee_wrench", w):
            with self._lock:
                self._s.wrench = np.array(w)

    def _on_grip(self, m: JointState) -> None:
        if not m.position:
            self.rejects.reject("gripper_state: no position")
        elif self._finite("gripper_state", m.position[:1]):
            with self._lock:
                self._s.gripper_width = float(m.position[0])

    def _on_task(self, m: Float64MultiArray) -> None:
        task = np.asarray(m.data, float)
        if task.size < 2:
            self.rejects.reject("task_state: fewer than 2 values (reward, success)")
            return
        if not self._finite("task_state", task):
            return
        with self._lock:
            if self._s.task is not None and task.shape != self._s.task.shape:
                self.rejects.reject("task_state: size changed", f"{task.size} values, was {self._s.task.size}")
                return
            self._s.task, self._s.task_t = task, time.monotonic()

    def _on_image(self, cam: str, m: Image) -> None:
        t = time.monotonic()
        problem = image_problem(m)
        if problem is not None:
            self.rejects.reject(f"image {cam}: {problem}", f"{m.encoding!r} {m.width}x{m.height}")
            return
        img = image_to_numpy(m)
        if self.image_shape is not None and img.shape != self.image_shape:
            self.rejects.reject(f"image {cam}: wrong size", f"{img.shape[1]}x{img.shape[0]}, expected "
                                f"{self.image_shape[1]}x{self.image_shape[0]}")
            return
        st = stamp_s(m.header.stamp)
        with self._lock:
            self._s.images[cam] = (img, t, st)
        if self.on_image is not None:
            self.on_image(cam, st, t)

    def snapshot(self) -> ArmSample:
        with self._lock:
            s = self._s
            return ArmSample(s.pos, s.quat, s.pose_t, s.pose_stamp_s, s.prev_pos, s.prev_quat, s.prev_pose_stamp_s,
                             s.wrench, s.gripper_width, s.task, s.task_t, dict(s.images))

    def send_target(self, pos, quat_wxyz, gripper) -> float:
        """Publishes the target (and gripper command); returns this node's clock (ROS time, s) right after the
        target's publish returned -- the moment the action is on the wire, for latency measurement."""
        self.pub_target.publish(rn.pose_msg(self.node.get_clock().now().to_msg(), "base", pos, quat_wxyz))
        sent = self.node.get_clock().now().nanoseconds * 1e-9
        if gripper is not None:
            self.pub_grip.publish(Float64(data=float(gripper)))
        return sent

    def reset(self, timeout_s: float) -> tuple[bool, str]:
        if not self.reset_client.wait_for_service(timeout_sec=timeout_s):
            return False, f"{self.reset_client.srv_name} service not available"
        fut = self.reset_client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not fut.done():  # the node spins on another thread
            if time.monotonic() > deadline:
                return False, f"{self.reset_client.srv_name} timed out"
            time.sleep(0.005)
        r = fut.result()
        return bool(r.success), str(r.message)


class TeleopListener:
    """Feeds ``teleop/twist`` and ``teleop/joy`` (parameters ``topics.twist`` / ``topics.joy``) into an
    :class:`InterventionMux`."""

    def __init__(self, node: Node, mux, lock: threading.Lock):
        self.mux, self.lock = mux, lock
        self.rejects = node_rejects(node)
        n = rn.topic_names(node, T.TELEOP)
        node.create_subscription(TwistStamped, n["twist"], self._on_twist, rn.qos(T.TELEOP["twist"].qos))
        node.create_subscription(Joy, n["joy"], self._on_joy, rn.qos(T.TELEOP["joy"].qos))

    def _on_twist(self, m: TwistStamped) -> None:
        l, a = m.twist.linear, m.twist.angular
        with self.lock:
            cause = self.mux.on_twist([l.x, l.y, l.z, a.x, a.y, a.z], time.monotonic())
        if cause is not None:
            self.rejects.reject(cause)

    def _on_joy(self, m: Joy) -> None:
        with self.lock:
            self.mux.on_joy(list(m.buttons), time.monotonic())


def spin_in_background(node: Node):
    """A single-threaded executor spinning ``node`` on a daemon thread; returns (spinner, thread): stop it with
    ``spinner.shutdown()`` (:class:`~robot_rl.contract.ros_node.BackgroundSpin`: the loop ends before the
    executor is torn down).

    Single-threaded on purpose: rclpy's ``MultiThreadedExecutor`` busy-loops in ``wait_for_ready_callbacks``
    while a ready callback waits for its (mutually exclusive) group, holding the GIL; in the actor that starved
    the policy loop to about 2 actions/s (``bench latency`` p50 0.5 s). The main thread only publishes and reads
    snapshots, so one callback thread is enough."""
    spin = rn.BackgroundSpin(node, context=node.context)
    return spin, spin.thread


def init(args=None) -> None:
    import sys

    rclpy.init(args=sys.argv if args is None else args)


def message_class(ros_type: str):
    """``sensor_msgs/msg/Image`` -> the generated Python class."""
    import importlib

    pkg, kind, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


class EpisodeRecorderHook:
    """Raw (CDR) subscriptions to the arm contract, teleop, task and camera topics; :meth:`start` opens one
    MCAP file per episode (:class:`robot_rl.runtime.recorder.McapEpisodeWriter`), :meth:`stop` closes it.
    Channels carry the resolved names (``/left/arm/ee_pose`` under a namespace)."""

    def __init__(self, node: Node, directory: str, cameras=()):
        from pathlib import Path

        from robot_rl.runtime.recorder import DEFAULT_TOPICS, camera_topics

        self.node = node
        self.dir = Path(directory)
        eps = {**DEFAULT_TOPICS, **camera_topics(cameras)}
        names = rn.topic_names(node, eps)
        self.topics = {}
        self.writer = None
        self.files: list = []
        for key, e in eps.items():
            topic = node.resolve_topic_name(names[key])
            self.topics[topic] = e.type
            node.create_subscription(message_class(e.type), topic, lambda data, t=topic: self._on(t, data),
                                     rn.qos(e.qos), raw=True)

    def _on(self, topic: str, data: bytes) -> None:
        w = self.writer
        if w is not None:
            w.write(topic, data, self.node.get_clock().now().nanoseconds)

    def start(self, episode: int) -> None:
        from robot_rl.runtime.recorder import McapEpisodeWriter

        self.writer = McapEpisodeWriter(self.dir / f"episode_{episode:05d}.mcap", self.topics,
                                        {"episode": str(episode), "node": self.node.get_fully_qualified_name()})

    def stop(self) -> None:
        w, self.writer = self.writer, None
        if w is not None:
            self.files.append(w.close({"messages": str(w.count)}))
