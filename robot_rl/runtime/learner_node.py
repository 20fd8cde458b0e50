"""Learner node: :class:`robot_rl.runtime.learner_core.LearnerCore` over ROS. ``/rl/transitions`` in (chunked
safetensors, from any number of actors), ``/rl/weights`` out (latched: reliable + transient local, chunked),
``/rl/acks`` out (received / persisted per actor, 2 Hz). Trains between messages; checkpoints every
``checkpoint_every_s`` and on shutdown. Restarted on the same ``out_dir`` it resumes from the checkpoint."""
from __future__ import annotations

import sys
import time

import rclpy
import rclpy.node
from std_msgs.msg import UInt8MultiArray

from robot_rl import ros_adapter as ra
from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore
from robot_rl.runtime.wire import Reassembler, WireError, chunk_payload, decode_transitions, encode_ack, encode_weights


class LearnerNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("learner")
        p = lambda n, d: self.declare_parameter(n, d).value  # noqa: E731
        cams = tuple(c for c in p("cameras", "").split(",") if c)
        cfg = LearnerConfig(task=p("task", "reach"), seed=p("seed", 0), cameras=cams, num_demos=p("num_demos", 10),
                            prior_buffer_path=p("prior_buffer_path", ""), batch_size=p("batch_size", 256),
                            utd_ratio=p("utd_ratio", 2), start_training_after=p("start_training_after", 100),
                            hidden_width=p("hidden_width", 256), num_critics=p("num_critics", 10),
                            device=p("device", "auto"))
        self.out_dir = p("out_dir", "runs/learner")
        self.checkpoint_every_s = p("checkpoint_every_s", 5.0)
        self.weights_every_updates = p("weights_every_updates", 50)
        self.updates_per_tick = p("updates_per_tick", 4)
        threads = p("torch_threads", 1)
        import torch

        torch.set_num_threads(threads)
        self.core = LearnerCore(cfg, self.out_dir)
        self.learner_id = f"{self.get_name()}-{time.time_ns()}"
        self.reasm = Reassembler()
        self.pub_w = self.create_publisher(UInt8MultiArray, "/rl/weights", ra.LATCHED)
        self.pub_ack = self.create_publisher(UInt8MultiArray, "/rl/acks", ra.RELIABLE)
        self.create_subscription(UInt8MultiArray, "/rl/transitions", self._on_transition, ra.STREAM)
        self.create_timer(0.02, self._train)
        self.create_timer(0.5, self._ack)
        self.create_timer(self.checkpoint_every_s, self._checkpoint)
        self._last_weights_at = -1
        self._publish_weights()
        self.get_logger().info(f"learner up: resumed={self.core.resumed} received={self.core.inbox.received} "
                               f"prior={len(self.core.prior)} out={self.out_dir}")

    def _on_transition(self, m) -> None:
        try:
            payload = self.reasm.add(bytes(m.data), time.monotonic())
            if payload is not None:
                self.core.ingest(decode_transitions(payload))
        except WireError as e:
            self.get_logger().warn(f"dropped a transitions message: {e}")

    def _train(self) -> None:
        self.core.train(self.updates_per_tick)
        if self.core.updates - self._last_weights_at >= self.weights_every_updates:
            self._publish_weights()

    def _publish_weights(self) -> None:
        tensors, arch = self.core.actor_weights()
        payload = encode_weights(tensors, self.core.updates, arch)
        for frame in chunk_payload(payload):
            self.pub_w.publish(ra.bytes_msg(frame))
        self._last_weights_at = self.core.updates

    def _ack(self) -> None:
        self.pub_ack.publish(ra.bytes_msg(encode_ack(self.core.acks(), self.learner_id)))

    def _checkpoint(self) -> None:
        self.core.checkpoint()
        self._ack()


def main(args=None) -> int:
    ra.init(args)
    node = LearnerNode()
    return ra.spin_until_shutdown(node, on_exit=node.core.checkpoint)


if __name__ == "__main__":
    sys.exit(main())
