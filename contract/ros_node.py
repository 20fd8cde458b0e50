"""The rclpy side of the contract, for ``*_node.py`` files only (the rest of the contract is numpy only).

- :func:`qos` builds an rclpy profile from a :class:`~robot_rl.contract.topics.Qos`;
- :func:`declare_config` declares a node's parameters from its typed config dataclass and returns the checked
  config (one-line :class:`~robot_rl.contract.params.ParameterError` otherwise; an integer is accepted where a
  float is expected);
- :func:`topic_names` declares ``topics.<key>`` parameters defaulting to the contract's relative names;
- :func:`subscribe_safety` subscribes a safety input (e-stop) so that every publisher's QoS matches;
- :func:`pose_msg` / :func:`pose_of` / :func:`wrench_msg` / :func:`twist_msg` / :func:`joint_state_msg` /
  :func:`image_msg` / :func:`camera_info_msg` / :func:`stamp_s` translate messages;
- :func:`run_node` is a node's ``main``: a bad parameter, or one the node never declared (:func:`check_overrides`),
  is one line and exit 2; Ctrl-C exits 0.
"""
from __future__ import annotations

import signal
import sys
import threading
import time

import rclpy
import rclpy.executors
import rclpy.logging
import rclpy.impl.implementation_singleton
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidHandle, InvalidServiceNameException, InvalidTopicNameException
from rclpy.signals import SignalHandlerOptions
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_topic_name import validate_topic_name

from robot_rl.contract import params as P
from robot_rl.contract.topics import Endpoint, Qos

_REL = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
_DUR = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}


def qos(q: Qos) -> QoSProfile:
    return QoSProfile(depth=q.depth, reliability=_REL[q.reliability], durability=_DUR[q.durability],
                      history=HistoryPolicy.KEEP_LAST)


def _ros_default(f: P.FlatField):
    d = f.default
    if d is None:
        return ""
    if f.kind == "str_tuple" or d == ():
        # a string: an empty list has no ROS type; "a,b" and [a, b] are both accepted
        return ",".join(str(x) for x in d)
    if isinstance(d, tuple):
        return list(d)
    return d


def declare_config(node, cls, base=None, prefix: str = "", skip: tuple[str, ...] = ()):
    """Declare every field of ``cls`` (dotted names for nested configs) as a parameter of ``node`` (dynamic
    typing, described with its valid range) and return the checked config. Raises ``ParameterError``."""
    values = {}
    defaults = P.to_flat(base) if base is not None else None
    for f in P.flat_fields(cls):
        if f.name in skip:
            continue
        default = defaults[f.name] if defaults is not None else f.default
        desc = ParameterDescriptor(description=f"{f.doc} [{f.valid_range()}]".strip(), dynamic_typing=True)
        v = node.declare_parameter(prefix + f.name, _ros_default(P.FlatField(f.name, f.kind, default, f.optional,
                                                                            f.meta)), desc).value
        if v is None and f.kind.endswith("_tuple"):
            v = ()  # an empty YAML list (`cameras: []`) arrives as "not set"
        values[f.name] = v
    return P.build(cls, values, base=base, where=f"{node.get_name()}: ")


def topic_names(node, endpoints: dict[str, Endpoint], prefix: str = "") -> dict[str, str]:
    """``{key: name}``: a ``topics.<prefix><key>`` parameter per endpoint, default the contract's relative name
    (so a launch namespace moves it; an absolute value, e.g. ``/rl/transitions``, is shared across namespaces)."""
    out = {}
    for key, e in endpoints.items():
        pname = f"topics.{prefix}{key}"
        if node.has_parameter(pname):  # two parts of one node (e.g. the arm link and the recorder) share a name
            name = node.get_parameter(pname).value
        else:
            name = node.declare_parameter(pname, e.name, ParameterDescriptor(description=f"{e.type}: {e.doc}")).value
        try:
            if not isinstance(name, str) or not name:
                raise InvalidTopicNameException(str(name), "empty", 0)
            (validate_full_topic_name if name.startswith("/") else validate_topic_name)(name, is_service=e.is_service)
        except (InvalidTopicNameException, InvalidServiceNameException):
            raise P.ParameterError(f"{node.get_name()}: parameter {pname}={name!r} is invalid: expected a "
                                   "ROS name (relative, or absolute with a leading /)") from None
        out[key] = name
    return out


def subscribe_safety(node, msg_type, name: str, callback, profiles: tuple[Qos, ...], callback_group=None):
    """One subscription per profile, so that a publisher of any reliability and durability is heard. On a
    multi-threaded executor give them their own ``callback_group``: in the node's default group a busy timer
    (a 200 Hz state publisher) can starve them."""
    return [node.create_subscription(msg_type, name, callback, qos(q), callback_group=callback_group)
            for q in profiles]


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def pose_msg(stamp, frame_id: str, pos, quat_wxyz):
    from geometry_msgs.msg import PoseStamped

    m = PoseStamped()
    m.header.stamp, m.header.frame_id = stamp, frame_id
    m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in pos)
    o = m.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in quat_wxyz)
    return m


def pose_of(m) -> tuple[list[float], list[float]]:
    """(position, quaternion w, x, y, z) of a PoseStamped."""
    p, o = m.pose.position, m.pose.orientation
    return [p.x, p.y, p.z], [o.w, o.x, o.y, o.z]


def header_rejection(node, m, expected_frame: str, max_age_s: float, max_future_s: float):
    """``(cause, detail)`` if a stamped command's header refuses it (frame, stamp against ``node``'s clock: see
    :func:`robot_rl.contract.rejects.check_stamped_input`), else None."""
    from robot_rl.contract.rejects import check_stamped_input

    return check_stamped_input(m.header.frame_id, stamp_s(m.header.stamp), node.get_clock().now().nanoseconds * 1e-9,
                               expected_frame, max_age_s, max_future_s)


def age_s(node, m) -> float:
    """How old a stamped message is on ``node``'s clock (0 for an unstamped one, never negative)."""
    st = stamp_s(m.header.stamp)
    return 0.0 if st == 0.0 else max(0.0, node.get_clock().now().nanoseconds * 1e-9 - st)


def wrench_msg(stamp, frame_id: str, wrench6):
    from geometry_msgs.msg import WrenchStamped

    m = WrenchStamped()
    m.header.stamp, m.header.frame_id = stamp, frame_id
    f = [float(v) for v in wrench6]
    m.wrench.force.x, m.wrench.force.y, m.wrench.force.z = f[:3]
    m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z = f[3:]
    return m


def twist_msg(stamp, twist6):
    """A TwistStamped from ``[vx, vy, vz, wx, wy, wz]``."""
    from geometry_msgs.msg import TwistStamped

    m = TwistStamped()
    m.header.stamp = stamp
    v = [float(x) for x in twist6]
    m.twist.linear.x, m.twist.linear.y, m.twist.linear.z = v[:3]
    m.twist.angular.x, m.twist.angular.y, m.twist.angular.z = v[3:]
    return m


def joint_state_msg(stamp, names, position, velocity=(), effort=()):
    from sensor_msgs.msg import JointState

    m = JointState()
    m.header.stamp = stamp
    m.name = list(names)
    m.position = [float(v) for v in position]
    m.velocity = [float(v) for v in velocity]
    m.effort = [float(v) for v in effort]
    return m


def image_msg(stamp, frame_id: str, arr, encoding: str = "rgb8"):
    """A sensor_msgs/Image from a numpy array (HxWx3 uint8 ``rgb8``, HxW uint16 ``16UC1``); no cv_bridge."""
    import numpy as np
    from sensor_msgs.msg import Image

    arr = np.ascontiguousarray(arr)
    m = Image()
    m.header.stamp, m.header.frame_id = stamp, frame_id
    m.height, m.width = int(arr.shape[0]), int(arr.shape[1])
    m.encoding, m.is_bigendian = encoding, 0
    m.step = int(arr.strides[0])
    m.data = arr.tobytes()
    return m


def camera_info_msg(stamp, frame_id: str, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                    coeffs=(0.0, 0.0, 0.0, 0.0, 0.0), model: str = "plumb_bob"):
    """A monocular pinhole sensor_msgs/CameraInfo (k, r = identity, p without translation)."""
    from sensor_msgs.msg import CameraInfo

    m = CameraInfo()
    m.header.stamp, m.header.frame_id = stamp, frame_id
    m.width, m.height = int(width), int(height)
    m.distortion_model = model
    m.d = [float(c) for c in coeffs]
    fx, fy, cx, cy = float(fx), float(fy), float(cx), float(cy)
    m.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    m.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    m.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return m


def drain_subscription(sub, callback, most: int, budget_s: float) -> int:
    """Take up to ``most`` queued messages of ``sub`` (for at most ``budget_s``) and hand each to ``callback``, as
    the executor would; returns how many. The executor takes one message per subscription per wait cycle, so a
    node with slow timers drains a backlog at one message per timer tick: a timer that calls this first takes the
    whole queue. Call it only from the executor's thread (a callback of the same node)."""
    n, t_end = 0, time.monotonic() + budget_s
    while n < most and time.monotonic() < t_end:
        try:
            with sub.handle:
                got = sub.handle.take_message(sub.msg_type, sub.raw)
        except InvalidHandle:  # destroyed (the node shutting down): nothing more to take, as the executor does
            break
        if got is None:
            break
        callback(got[0])
        n += 1
    return n


def say_on_exit(node, message: str) -> None:
    """Log a node's last words (its safe action at shutdown) to the console: after Ctrl-C / SIGTERM the context is
    shut down and the node's own logger would also try, and fail, to publish to ``/rosout``."""
    rclpy.logging.get_logger(f"{node.get_name()}.exit").info(message)


def check_overrides(node) -> None:
    """A parameter given to the node (``-p``, a params file entry that matches it) that the node never declared
    is a typo or a stale name and would be ignored silently: refuse it (one line). rclpy has no public accessor
    for the overrides; without the attribute nothing is checked."""
    given = set(getattr(node, "_parameter_overrides", {}) or {})
    unknown = sorted(n for n in given if not node.has_parameter(n))
    if unknown:
        known = ", ".join(sorted(node._parameters)) if hasattr(node, "_parameters") else "?"
        raise P.ParameterError(f"{node.get_name()}: unknown parameter {unknown[0]!r} (known: {known})")


class StopRequest:
    """Ctrl-C / SIGTERM as a flag, not an exception: the node finishes what it is doing, takes its safe action
    (``on_exit``: it may still publish, the context is valid) and only then is the context shut down. rclpy's own
    handler shuts the context down inside the signal, so a publishing thread or the executor died with "context is
    invalid" tracebacks. A signal before the node spins (while it connects to hardware), or a second one while
    stopping, raises KeyboardInterrupt (a hard stop)."""

    def __init__(self):
        self.event = threading.Event()
        self.spinning = False  # before the node spins (connecting to hardware...), a signal aborts at once
        self._old = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)

    def _on_signal(self, signum, frame) -> None:
        was_set = self.event.is_set()
        self.event.set()
        if was_set or not self.spinning:
            raise KeyboardInterrupt

    def is_set(self) -> bool:
        return self.event.is_set()


def _spin_while(ex, keep_going) -> None:
    """``ex.spin_once`` in this thread while ``keep_going()``: back in Python every 0.1 s, so a flag (or a signal
    handler, in the main thread) is seen without a wake-up timer."""
    while keep_going():
        try:
            ex.spin_once(timeout_sec=0.1)
        except rclpy.executors.ExternalShutdownException:
            return


def close_executor(ex, timeout_s: float = 5.0) -> None:
    """Shut ``ex`` down once no thread spins it any more. rclpy's ``Executor.shutdown`` destroys its guard
    condition without waiting for callbacks (its wait is skipped once its own shutdown flag is set, rclpy as
    installed), and a callback that finished later in a ``MultiThreadedExecutor``'s pool raised ``InvalidHandle``
    from ``gc.trigger()`` -- out of a concurrent ``spin()``, the franka node's exit 1 on CI. So: wait (up to
    ``timeout_s``) for the pool's outstanding callbacks, then shut down."""
    deadline = time.monotonic() + timeout_s
    for task in list(getattr(ex, "_futures", ())):  # MultiThreadedExecutor's submitted callbacks (private)
        while not task.done() and time.monotonic() < deadline:
            time.sleep(0.005)
    ex.shutdown(timeout_sec=0)


class BackgroundSpin:
    """A single-threaded executor spinning ``nodes`` on a daemon thread until :meth:`shutdown`, which stops the
    loop, joins the thread and only then shuts the executor down: shutting an executor down from another thread
    while it spins races rclpy's teardown (see :func:`close_executor`)."""

    def __init__(self, *nodes, context=None):
        self.executor = rclpy.executors.SingleThreadedExecutor(context=context)
        for n in nodes:
            self.executor.add_node(n)
        self._running = threading.Event()
        self._running.set()
        self.thread = threading.Thread(target=_spin_while, name="ros-spin", daemon=True,
                                       args=(self.executor, lambda: self._running.is_set()
                                             and self.executor.context.ok()))
        self.thread.start()

    def shutdown(self, timeout_sec: float = 5.0) -> bool:
        """Stop spinning; ``False`` (executor left alone) if a callback kept the thread past ``timeout_sec``."""
        self._running.clear()
        self.thread.join(timeout=timeout_sec)
        if self.thread.is_alive():
            return False
        close_executor(self.executor)
        return True


def spin_until_stopped(node, stop: threading.Event, executor=None) -> None:
    """Spin ``node`` (on ``executor``, default single-threaded) in this (the main) thread until ``stop`` is set or
    the node's context is shut down (a node may end itself that way), then shut the executor down from this same
    thread (:func:`close_executor`)."""
    ex = executor or rclpy.executors.SingleThreadedExecutor(context=node.context)
    ex.add_node(node)
    try:
        _spin_while(ex, lambda: not stop.is_set() and node.context.ok())
    finally:
        close_executor(ex)


def run_node(make, label: str, args=None, spin=None, on_exit=None, errors=()) -> int:
    """A node's ``main``: ``make()`` builds the node (a bad parameter -> one line on stderr, exit 2), ``spin(node,
    stop)`` (default :func:`spin_until_stopped`) runs it until ``stop`` (a :class:`threading.Event`: Ctrl-C or
    SIGTERM) is set or the node shuts its context down; then ``on_exit(node)`` (the safe action, a last checkpoint:
    the context is still valid), the node is destroyed, the context shut down, exit 0. ``errors``: more exception
    types that mean "cannot start" (exit 2), or ``{type: exit code}``. A node may set ``exit_code`` (e.g. a camera
    that froze) to be returned."""
    codes = dict(errors) if isinstance(errors, dict) else {e: 2 for e in errors}
    codes.setdefault(P.ParameterError, 2)
    stop = StopRequest()
    stop.install()
    try:
        rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    except rclpy.impl.implementation_singleton.rclpy_implementation.RCLError as e:  # unparsable --ros-args (e.g. "-p rate:=" with no value)
        reason = str(e).split(", at ")[0].removeprefix("failed to initialize rcl: ")
        print(f"{label}: bad command-line arguments: {reason}", file=sys.stderr)
        stop.restore()
        return 2
    node = None
    try:
        try:
            node = make()
            check_overrides(node)
        except tuple(codes) as e:
            print(f"{label}: {e}", file=sys.stderr)
            return next(c for t, c in codes.items() if isinstance(e, t))
        stop.spinning = True
        node.get_logger().info("spinning (Ctrl-C / SIGTERM: safe stop)")
        (spin or spin_until_stopped)(node, stop.event)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        try:
            if node is not None:
                if on_exit is not None:
                    on_exit(node)
                node.destroy_node()
        finally:
            if rclpy.ok():
                rclpy.shutdown()
            stop.restore()
    return int(getattr(node, "exit_code", 0) or 0)
