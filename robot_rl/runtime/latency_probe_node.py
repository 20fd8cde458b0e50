"""Latency probe node for ``robot-rl bench latency``: stands in for the learner's weights output and records the
actor's per-action latency reports.

Publishes the weights file ``weights_path`` (safetensors, as the learner exports them) on ``/rl/weights``
(latched, chunked, like the learner node), subscribes ``/rl/latency`` (the actor's ``[sent, weights version,
source frame stamps...]`` per action) and, once ``duration_s`` of samples computed by the loaded policy have
been collected (or ``timeout_s`` has passed), writes them to ``out`` as JSON and exits. Translation only."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import rclpy
import rclpy.executors
import rclpy.node
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from robot_rl import ros_adapter as ra
from robot_rl.io import atomic_write_bytes
from robot_rl.runtime.wire import chunk_payload, decode_weights


class LatencyProbeNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("latency_probe")
        p = lambda n, d: self.declare_parameter(n, d).value  # noqa: E731
        self.out = Path(p("out", "latency.json"))
        self.duration_s = p("duration_s", 30.0)
        self.timeout_s = p("timeout_s", 120.0)
        payload = Path(p("weights_path", "")).read_bytes()
        _, self.version, _ = decode_weights(payload)
        self.samples: list[list[float]] = []
        self.other: int = 0  # reports from actions not computed by these weights (before they were loaded)
        self.first_s: float | None = None
        self.t_start = time.monotonic()
        self.done = False
        self.pub_w = self.create_publisher(UInt8MultiArray, "/rl/weights", ra.LATCHED)
        for frame in chunk_payload(payload):
            self.pub_w.publish(ra.bytes_msg(frame))
        self.create_subscription(Float64MultiArray, "/rl/latency", self._on_report, ra.RELIABLE)
        self.create_timer(0.2, self._check)

    def _on_report(self, m) -> None:
        d = list(m.data)
        if len(d) < 3 or int(d[1]) != self.version:
            self.other += 1
            return
        if self.first_s is None:
            self.first_s = time.monotonic()
        self.samples.append(d)

    def _check(self) -> None:
        now = time.monotonic()
        enough = self.first_s is not None and now - self.first_s >= self.duration_s
        if (enough or now - self.t_start > self.timeout_s) and not self.done:
            atomic_write_bytes(self.out, json.dumps({"samples": self.samples, "other_reports": self.other,
                                                     "weights_version": self.version,
                                                     "timed_out": not enough}).encode())
            self.done = True


def main(args=None) -> int:
    ra.init(args)
    node = LatencyProbeNode()
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
