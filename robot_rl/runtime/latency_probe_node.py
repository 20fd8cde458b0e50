"""Latency probe node for ``robot-rl bench latency``: stands in for the learner's weights output and records the
actor's per-action latency reports.

Publishes the weights file ``weights_path`` (safetensors, as the learner exports them) on ``rl/weights``
(latched, chunked, like the learner node), subscribes ``rl/latency`` (the actor's ``[sent, weights version,
source frame stamps...]`` per action) and, once ``duration_s`` of samples computed by the loaded policy have
been collected (or ``timeout_s`` has passed), writes them to ``out`` as JSON and exits. Names are relative
``topics.weights`` / ``topics.latency`` parameters. Translation only."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import rclpy
import rclpy.node
from std_msgs.msg import Float64MultiArray, UInt8MultiArray

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.params import ParameterError, param
from robot_rl.io import atomic_write_bytes
from robot_rl.runtime import ros_adapter as ra
from robot_rl.runtime.wire import WireError, chunk_payload, decode_weights


@dataclass(frozen=True)
class LatencyProbeParams:
    out: str = param("latency.json", doc="where the samples are written (JSON)")
    duration_s: float = param(30.0, gt=0, doc="seconds of samples from the loaded policy")
    timeout_s: float = param(120.0, gt=0, doc="give up (timed_out: true) after this")
    weights_path: str = param("", doc="safetensors weights file, as the learner exports it")


class LatencyProbeNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("latency_probe")
        p = rn.declare_config(self, LatencyProbeParams)
        self.out = Path(p.out)
        self.duration_s = p.duration_s
        self.timeout_s = p.timeout_s
        try:
            payload = Path(p.weights_path).read_bytes()
            _, self.version, _ = decode_weights(payload)
        except (OSError, WireError, ValueError) as e:
            raise ParameterError(f"{self.get_name()}: parameter weights_path={p.weights_path!r} is invalid: "
                                 f"expected a weights file ({e})") from None
        self.samples: list[list[float]] = []
        self.other: int = 0  # reports from actions not computed by these weights (before they were loaded)
        self.first_s: float | None = None
        self.t_start = time.monotonic()
        self.done = False
        eps = {k: T.RL[k] for k in ("weights", "latency")}
        n = rn.topic_names(self, eps)
        self.pub_w = self.create_publisher(UInt8MultiArray, n["weights"], rn.qos(eps["weights"].qos))
        for frame in chunk_payload(payload):
            self.pub_w.publish(ra.bytes_msg(frame))
        self.create_subscription(Float64MultiArray, n["latency"], self._on_report, rn.qos(eps["latency"].qos))
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


def _spin_until_done(node, stop) -> None:
    while rclpy.ok() and not node.done and not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)


def main(args=None) -> int:
    return rn.run_node(LatencyProbeNode, "latency_probe_node", args, spin=_spin_until_done)


if __name__ == "__main__":
    sys.exit(main())
