"""The fault campaign's own node (``robot-rl bench faults``): watches the robot side over DDS and sends malformed
messages on every topic the stack subscribes to. Translation only; the campaign is :mod:`robot_rl.tools.faults`.

Watches ``arm/twin_status`` (mode, with arrival times), ``arm/ee_pose``, and ``rl/transitions`` + ``rl/acks``
(every transition the actors put on the wire, reassembled, and the learner's acknowledgements: the campaign counts
transitions lost and duplicated from them). :data:`MALFORMED` lists, per topic, the bad messages it sends: wrong
sizes, NaN / inf, huge values, a wrong frame_id, stamps from the past and the future, empty or wrongly encoded
images, garbage bytes and well-framed payloads that do not fit.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import Bool, Float64, Float64MultiArray, UInt8MultiArray
from std_srvs.srv import Trigger

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.runtime.wire import (Reassembler, Transition, WireError, chunk_payload, decode_ack, decode_transitions,
                                   encode_transitions)


def _pose(node, frame="base", pos=(0.4, 0.0, 0.3), quat=(1.0, 0.0, 0.0, 0.0), age_s=0.0):
    stamp = node.get_clock().now().nanoseconds * 1e-9 - age_s
    m = PoseStamped()
    m.header.frame_id = frame
    m.header.stamp.sec, m.header.stamp.nanosec = int(stamp // 1), int((stamp % 1) * 1e9)
    (m.pose.position.x, m.pose.position.y, m.pose.position.z) = (float(v) for v in pos)
    (m.pose.orientation.w, m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z) = (float(v) for v in quat)
    return m


def _twist(v):
    m = TwistStamped()
    (m.twist.linear.x, m.twist.linear.y, m.twist.linear.z, m.twist.angular.x, m.twist.angular.y,
     m.twist.angular.z) = (float(x) for x in v)
    return m


def _image(encoding, w, h, data_len=None):
    m = Image()
    m.encoding, m.width, m.height, m.step = encoding, w, h, w * 3
    m.data = bytes(data_len if data_len is not None else w * h * 3)
    return m


def _bytes(b: bytes):
    m = UInt8MultiArray()
    m.data = b
    return m


def _bad_transitions(actor_id: str) -> list[bytes]:
    """Well-framed transitions payloads a learner must refuse: wrong state size, NaN, an action far outside."""
    def tr(state, action, reward=0.0):
        obs = {"state": np.asarray(state, np.float32)}
        return Transition(obs, np.asarray(action, np.float32), reward, obs, False, False, actor_id=actor_id, seq=1)

    out = []
    for t in (tr(np.zeros(3), np.zeros(7)), tr(np.full(40, np.nan), np.zeros(7)), tr(np.zeros(40), np.full(7, 1e9)),
              tr(np.zeros(40), np.zeros(7), float("inf"))):
        out += chunk_payload(encode_transitions([t]))
    return out


# topic key -> (message type, QoS, list of makers(node) -> message)
MALFORMED = {
    "target_pose": (PoseStamped, T.ARM["target_pose"].qos, [
        lambda n: _pose(n, pos=(np.nan, 0.0, 0.3)),
        lambda n: _pose(n, quat=(0.0, 0.0, 0.0, 0.0)),
        lambda n: _pose(n, quat=(np.inf, 0.0, 0.0, 0.0)),
        lambda n: _pose(n, frame="world"),
        lambda n: _pose(n, age_s=30.0),
        lambda n: _pose(n, age_s=-30.0),
        lambda n: _pose(n, pos=(1e9, -1e9, 1e9)),  # finite but huge: clipped into the workspace box, not rejected
    ]),
    "gripper_command": (Float64, T.ARM["gripper_command"].qos, [
        lambda n: Float64(data=float("nan")), lambda n: Float64(data=7.0), lambda n: Float64(data=-1e12)]),
    "ee_pose": (PoseStamped, T.ARM["ee_pose"].qos, [
        lambda n: _pose(n, pos=(np.nan, 0.0, 0.0)), lambda n: _pose(n, quat=(2.0, 0.0, 0.0, 0.0)),
        lambda n: _pose(n, age_s=5.0), lambda n: _pose(n, age_s=-30.0)]),
    "gripper_state": (JointState, T.ARM["gripper_state"].qos, [
        lambda n: JointState(), lambda n: JointState(name=["gripper_width"], position=[float("nan")])]),
    "task_state": (Float64MultiArray, T.TWIN["task_state"].qos, [
        lambda n: Float64MultiArray(data=[float("nan")] * 4), lambda n: Float64MultiArray(data=[1.0]),
        lambda n: Float64MultiArray(data=[0.0] * 99)]),
    "twist": (TwistStamped, T.TELEOP["twist"].qos, [
        lambda n: _twist([np.nan] * 6), lambda n: _twist([np.inf, 0, 0, 0, 0, 0]), lambda n: _twist([1e9] * 6)]),
    "joy": (Joy, T.TELEOP["joy"].qos, [lambda n: Joy(), lambda n: Joy(axes=[np.nan] * 6)]),
    "image": (Image, T.camera("front")["color"].qos, [
        lambda n: _image("rgb8", 128, 128, data_len=0), lambda n: _image("yuv422", 128, 128),
        lambda n: _image("rgb8", 64, 64), lambda n: _image("rgb8", 0, 0)]),
    "transitions": (UInt8MultiArray, T.RL["transitions"].qos, [
        lambda n: _bytes(b"\x00garbage" * 50), lambda n: _bytes(b""),
        *[lambda n, f=f: _bytes(f) for f in _bad_transitions("actor0")]]),
    "weights": (UInt8MultiArray, T.RL["weights"].qos, [
        lambda n: _bytes(b"\xffnot weights" * 10), *[lambda n, f=f: _bytes(f) for f in chunk_payload(b"\x01" * 300)]]),
    "acks": (UInt8MultiArray, T.RL["acks"].qos, [lambda n: _bytes(b"{not json"), lambda n: _bytes(b"\x00" * 9)]),
}
NAMES = {**{k: T.ARM[k].name for k in ("target_pose", "gripper_command", "ee_pose", "gripper_state")},
         "task_state": T.TWIN["task_state"].name, "twist": T.TELEOP["twist"].name, "joy": T.TELEOP["joy"].name,
         "image": T.camera("front")["color"].name,
         **{k: T.RL[k].name for k in ("transitions", "weights", "acks")}}


class FaultProbe(Node):
    def __init__(self):
        super().__init__("fault_probe")
        self.lock = threading.Lock()
        self.status: list[tuple[float, int, float]] = []  # (arrival, mode index, mode since: twin's ROS time)
        self.poses: list[tuple[float, np.ndarray]] = []
        self.wire_seqs: dict[str, set[int]] = {}  # actor -> every seq seen on rl/transitions
        self.acked: dict[str, tuple[int, int]] = {}
        self._reasm = Reassembler()
        q = lambda key, eps=T.ARM: rn.qos(eps[key].qos)  # noqa: E731
        self.create_subscription(Float64MultiArray, T.TWIN["twin_status"].name, self._on_status, q("twin_status", T.TWIN))
        self.create_subscription(PoseStamped, T.ARM["ee_pose"].name, self._on_pose, q("ee_pose"))
        self.create_subscription(UInt8MultiArray, T.RL["transitions"].name, self._on_transitions, q("transitions", T.RL))
        self.create_subscription(UInt8MultiArray, T.RL["acks"].name, self._on_acks, q("acks", T.RL))
        self.estop_pub = self.create_publisher(Bool, T.ARM["estop"].name, 10)  # rclpy's default QoS
        self.recover_client = self.create_client(Trigger, T.ARM["recover"].name)
        self._pubs = {}

    def _on_status(self, m) -> None:
        with self.lock:
            self.status.append((time.monotonic(), int(m.data[0]), float(m.data[3]) if len(m.data) > 3 else 0.0))

    def _on_pose(self, m) -> None:
        p = m.pose.position
        with self.lock:
            self.poses.append((time.monotonic(), np.array([p.x, p.y, p.z])))

    def _on_transitions(self, m) -> None:
        try:
            payload = self._reasm.add(bytes(m.data), time.monotonic())
            if payload is not None:
                for t in decode_transitions(payload):
                    with self.lock:
                        self.wire_seqs.setdefault(t.actor_id, set()).add(t.seq)
        except WireError:
            pass  # our own flood, or another prober's

    def _on_acks(self, m) -> None:
        try:
            _, acks = decode_ack(bytes(m.data))
        except WireError:
            return
        with self.lock:
            self.acked.update(acks)

    def flood(self, key: str, duration_s: float, hz: float = 200.0, min_messages: int = 100) -> int:
        """Send :data:`MALFORMED`'s messages for ``key`` round-robin at up to ``hz`` for ``duration_s``, and at
        least ``min_messages`` of them (a starved process sent 17 in 1.5 s); returns how many."""
        typ, qos, makers = MALFORMED[key]
        if key not in self._pubs:
            self._pubs[key] = self.create_publisher(typ, NAMES[key], rn.qos(qos))
        pub, n, end = self._pubs[key], 0, time.monotonic() + duration_s
        while time.monotonic() < end or n < min_messages:
            pub.publish(makers[n % len(makers)](self))
            n += 1
            time.sleep(1.0 / hz)
        return n

    def recover(self, timeout_s: float = 5.0) -> bool:
        if not self.recover_client.wait_for_service(timeout_sec=timeout_s):
            return False
        fut = self.recover_client.call_async(Trigger.Request())
        end = time.monotonic() + timeout_s
        while not fut.done() and time.monotonic() < end:
            time.sleep(0.01)
        return fut.done() and bool(fut.result().success)


def start_probe():
    """rclpy up in this process and a :class:`FaultProbe` spinning on a background thread; returns
    ``(probe, stop)``."""
    import rclpy

    from robot_rl.runtime.ros_adapter import spin_in_background

    rclpy.init()
    probe = FaultProbe()
    executor, thread = spin_in_background(probe)

    def stop() -> None:
        # the spin thread must be out of rclpy's wait before the node goes and the interpreter exits (else the
        # process dies with SIGSEGV at exit, as the actor node's comment says)
        executor.shutdown(timeout_sec=5.0)
        thread.join(timeout=5.0)
        probe.destroy_node()
        rclpy.shutdown()

    return probe, stop
