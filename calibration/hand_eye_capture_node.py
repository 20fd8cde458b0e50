"""The guided hand-eye capture over ROS 2: a client of the arm contract that streams ``arm/target_pose`` (10 Hz,
bounded steps, as the actor does; the driver or twin node clips it into its safety box and its watchdog holds
the arm if the stream stops), reads the measured ``arm/ee_pose``, and grabs the camera's next image once the arm
has settled at each planned pose. Translation only: planning and the capture loop are
:mod:`robot_rl.calibration.guided`, the calibration :mod:`robot_rl.calibration.hand_eye`.
"""
from __future__ import annotations

import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image

from robot_rl.calibration.capture_node import image_of
from robot_rl.calibration.guided import MoveConfig, guided_capture, target_stream
from robot_rl.calibration.twin_board import pose
from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.rotations import mat_to_quat, quat_to_mat


class RosArm(Node):
    """``move_to`` / ``grab`` for :func:`~robot_rl.calibration.guided.guided_capture` over the topic contract."""

    def __init__(self, camera: str, context=None, cfg: MoveConfig = MoveConfig(), base_frame: str = "base",
                 wait_s: float = 30.0):
        super().__init__("hand_eye_capture", context=context)
        eps = {k: T.ARM[k] for k in ("target_pose", "ee_pose")}
        eps["color"] = T.camera(camera)["color"]
        n = rn.topic_names(self, eps)
        self.pub = self.create_publisher(PoseStamped, n["target_pose"], rn.qos(eps["target_pose"].qos))
        # the 10 Hz images first: an executor serves ready subscriptions in creation order, the pose comes at 100 Hz
        self.create_subscription(Image, n["color"], self._on_image, rn.qos(eps["color"].qos))
        self.create_subscription(PoseStamped, n["ee_pose"], self._on_pose, rn.qos(eps["ee_pose"].qos))
        self.cfg, self.base_frame, self.wait_s = cfg, base_frame, wait_s
        self.ex = rclpy.executors.SingleThreadedExecutor(context=context)
        self.ex.add_node(self)
        self.measured: np.ndarray | None = None
        self.image: tuple[float, np.ndarray] | None = None  # (receive time, image)

    def _on_pose(self, m: PoseStamped) -> None:
        p, q = rn.pose_of(m)
        self.measured = pose(quat_to_mat(q), p)

    def _on_image(self, m: Image) -> None:
        self.image = (time.monotonic(), image_of(m))

    def _spin_until(self, deadline: float, send: np.ndarray | None = None, done=lambda: False) -> None:
        """Spin until ``deadline`` (or ``done()``), re-sending ``send`` at the target rate (the watchdog's feed)."""
        period, next_send = 1.0 / self.cfg.target_hz, 0.0
        while time.monotonic() < deadline and not done():
            if send is not None and time.monotonic() >= next_send:
                self.pub.publish(rn.pose_msg(self.get_clock().now().to_msg(), self.base_frame, send[:3, 3],
                                             mat_to_quat(send[:3, :3])))
                next_send = time.monotonic() + period
            self.ex.spin_once(timeout_sec=min(period, 0.02))

    def move_to(self, target: np.ndarray) -> np.ndarray:
        self._spin_until(time.monotonic() + self.wait_s, done=lambda: self.measured is not None)
        if self.measured is None:
            raise TimeoutError(f"no {T.ARM['ee_pose'].name} within {self.wait_s:g} s: is the arm (or twin) up?")
        for t in target_stream(self.measured, target, self.cfg):
            self._spin_until(time.monotonic() + 1.0 / self.cfg.target_hz, send=t)
        c = self.cfg
        end = time.monotonic() + c.settle_timeout_s
        self._spin_until(time.monotonic() + c.settle_s, send=target)
        while time.monotonic() < end:
            before = self.measured[:3, 3].copy()
            self._spin_until(time.monotonic() + 0.2, send=target)
            if np.linalg.norm(self.measured[:3, 3] - before) < c.settled_m:
                break
        return self.measured.copy()

    def grab(self) -> np.ndarray:
        """The first image received after now (the arm settled), holding the pose meanwhile."""
        since, hold = time.monotonic(), self.measured
        self._spin_until(since + self.wait_s, send=hold, done=lambda: self.image is not None and self.image[0] > since)
        if self.image is None or self.image[0] <= since:
            raise TimeoutError(f"no camera image within {self.wait_s:g} s")
        return self.image[1]


def ros_guided_capture(camera: str, targets, domain_id: int | None = None, cfg: MoveConfig = MoveConfig(),
                       progress=None):
    """Run the guided capture over ROS (own context): a :class:`~robot_rl.calibration.guided.Capture`."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx, **({} if domain_id is None else {"domain_id": domain_id}))
    arm = RosArm(camera, context=ctx, cfg=cfg)
    try:
        return guided_capture(arm, None, camera, targets, progress=progress, grab=arm.grab)
    finally:
        arm.ex.shutdown()
        arm.destroy_node()
        rclpy.shutdown(context=ctx)
