"""Live calibration views from a camera node's topic (``camera/<name>/color/image_raw``, sensor QoS): a small
rclpy node that hands the images to the intrinsics calibrator as they arrive, so the coverage feedback is live.
Translation only: the calibration is :mod:`robot_rl.calibration.intrinsics`.

Publish the camera at full size for calibration (camera node: ``crop_xywh_px`` = the whole frame and
``output_width_px`` / ``output_height_px`` = its size); the resulting file then serves any crop and resize.

    robot-rl calibrate intrinsics --topic wrist --views 30 --out wrist.yaml
"""
from __future__ import annotations

import collections
import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T

ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "mono8": (1, False)}


def image_of(m: Image) -> np.ndarray:
    """RGB (or grey) uint8 array of a sensor_msgs/Image (rgb8, bgr8, mono8); no cv_bridge."""
    if m.encoding not in ENCODINGS:
        raise ValueError(f"image encoding {m.encoding!r} is not one of {', '.join(ENCODINGS)}")
    ch, bgr = ENCODINGS[m.encoding]
    rows = np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.step)[:, :m.width * ch]
    img = rows.reshape(m.height, m.width, ch) if ch == 3 else rows.reshape(m.height, m.width)
    return np.ascontiguousarray(img[:, :, ::-1] if bgr else img)


class CaptureNode(Node):
    def __init__(self, camera: str, context=None):
        super().__init__("calibration_capture", context=context)
        ep = T.camera(camera)["color"]
        name = rn.topic_names(self, {"color": ep})["color"]
        self.frames: collections.deque = collections.deque(maxlen=4)  # the newest few: a slow fit drops, not lags
        self.received = 0
        self.create_subscription(Image, name, self._on_image, rn.qos(ep.qos))
        self.topic = name

    def _on_image(self, m: Image) -> None:
        self.received += 1
        self.frames.append((f"{self.topic} #{self.received} @{rn.stamp_s(m.header.stamp):.3f}", image_of(m)))


def capture_views(camera: str, max_views: int, timeout_s: float, idle_s: float = 5.0, domain_id: int | None = None):
    """Yield (name, image) from the camera's topic as they arrive: ``max_views`` images, or until ``timeout_s``
    passes, or ``idle_s`` after the last image once images came (the camera stopped)."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx, **({} if domain_id is None else {"domain_id": domain_id}))
    node = CaptureNode(camera, context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    n, t0 = 0, time.monotonic()
    last = None
    try:
        while n < max_views and time.monotonic() - t0 < timeout_s and (last is None or time.monotonic() - last < idle_s):
            ex.spin_once(timeout_sec=0.05)
            while node.frames and n < max_views:
                last = time.monotonic()
                n += 1
                yield node.frames.popleft()
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
