"""Learner node: :class:`robot_rl.runtime.learner_core.LearnerCore` over ROS. ``rl/transitions`` in (chunked
safetensors, from any number of actors), ``rl/weights`` out (latched: reliable + transient local, chunked: the
policy's payload, see :meth:`robot_rl.learning.policy.Policy.payload`), ``rl/acks`` out (received / persisted per
actor, 2 Hz). Trains between messages; checkpoints every ``checkpoint_every_s`` and on shutdown. Restarted on the
same ``out_dir`` it resumes from the checkpoint.

Parameters: every field of :class:`LearnerConfig` (the algorithm config, dotted: ``sac.discount``,
``replay.online_fraction``, ``encoder.channels`` ...; same defaults as ``robot-rl train``) and of
:class:`LearnerNodeParams`; topic names are ``topics.<key>`` parameters (relative, from the contract)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import rclpy.node
from std_msgs.msg import UInt8MultiArray

from robot_rl.contract import ros_node as rn
from robot_rl.contract.params import param
from robot_rl.contract.topics import RL
from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore
from robot_rl.runtime.ros_adapter import bytes_msg, node_rejects
from robot_rl.runtime.wire import Reassembler, WireError, chunk_payload, decode_transitions, encode_ack, encode_weights


@dataclass(frozen=True)
class LearnerNodeParams:
    out_dir: str = param("runs/learner", doc="checkpoint + stats folder (resumed when it holds a checkpoint)")
    checkpoint_every_s: float = param(5.0, gt=0.0, doc="checkpoint period [s]")
    weights_every_updates: int = param(50, ge=1, doc="publish weights after this many updates")
    updates_per_tick: int = param(4, ge=1, doc="most gradient updates per 20 ms tick")
    # The executor takes one transitions message per wait cycle and the train tick is in every cycle: without a
    # gap a backlog (a restarted learner, a loaded CPU) drains at one message per train tick and never catches up.
    train_gap_s: float = param(0.02, ge=0.0, doc="at least this long between train ticks for messages and acks [s]")
    torch_threads: int = param(1, ge=1, doc="torch CPU threads")
    # Each train tick first takes every queued transitions message (the executor alone takes one per wait cycle:
    # under CPU load a 10 Hz actor's stream then outruns a learner whose ticks take tens of ms, seen as a backlog of
    # ~450 messages in `bench faults`); ingesting is ~1 ms a message, an update block tens of ms.
    drain_budget_s: float = param(0.5, gt=0.0, doc="most time a train tick spends ingesting queued transitions [s]")


class LearnerNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("learner")
        cfg = rn.declare_config(self, LearnerConfig)
        self.params = rn.declare_config(self, LearnerNodeParams)
        names = rn.topic_names(self, {k: RL[k] for k in ("transitions", "weights", "acks")})
        import torch

        torch.set_num_threads(self.params.torch_threads)
        self.out_dir = self.params.out_dir
        self.core = LearnerCore(cfg, self.out_dir)
        self.learner_id = f"{self.get_name()}-{time.time_ns()}"
        self.reasm = Reassembler()
        self.rejects = node_rejects(self)
        self.pub_w = self.create_publisher(UInt8MultiArray, names["weights"], rn.qos(RL["weights"].qos))
        self.pub_ack = self.create_publisher(UInt8MultiArray, names["acks"], rn.qos(RL["acks"].qos))
        self.sub_t = self.create_subscription(UInt8MultiArray, names["transitions"], self._on_transition,
                                              rn.qos(RL["transitions"].qos))
        self.create_timer(0.02, self._train)
        self.create_timer(0.5, self._ack)
        self.create_timer(self.params.checkpoint_every_s, self._checkpoint)
        self._last_weights_at = -1
        self._trained_at = -float("inf")
        self.drained = 0  # transitions messages taken by the train tick (not by the executor)
        self._publish_weights()
        for reason in self.core.skipped_checkpoints:
            self.get_logger().warning(f"damaged checkpoint passed over: {reason}")
        came_from = f" from {self.core.resumed_from}" if self.core.resumed else ""
        self.get_logger().info(f"learner up: resumed={self.core.resumed}{came_from} received={self.core.inbox.received} "
                               f"prior={len(self.core.prior)} out={self.out_dir}")

    def _on_transition(self, m) -> None:
        try:
            payload = self.reasm.add(bytes(m.data), time.monotonic())
            if payload is not None:
                self.core.ingest(decode_transitions(payload), on_reject=self.rejects.reject)
        except WireError as e:
            self.rejects.reject("transitions: malformed", str(e))

    def _train(self) -> None:
        if time.monotonic() - self._trained_at < self.params.train_gap_s:
            return  # the executor serves the acks first
        self.drained += rn.drain_subscription(self.sub_t, self._on_transition, RL["transitions"].qos.depth,
                                              self.params.drain_budget_s)
        self.core.train(self.params.updates_per_tick)
        self._trained_at = time.monotonic()
        if self.core.updates - self._last_weights_at >= self.params.weights_every_updates:
            self._publish_weights()

    def _publish_weights(self) -> None:
        tensors, meta = self.core.actor_weights()
        payload = encode_weights(tensors, self.core.updates, meta)
        for frame in chunk_payload(payload):
            self.pub_w.publish(bytes_msg(frame))
        self._last_weights_at = self.core.updates

    def _ack(self) -> None:
        self.pub_ack.publish(bytes_msg(encode_ack(self.core.acks(), self.learner_id)))

    def last_checkpoint(self) -> None:
        self.core.checkpoint()
        rn.say_on_exit(self, f"shutting down: checkpoint written (received {self.core.inbox.received}, "
                        f"{self.core.updates} updates)")

    def _checkpoint(self) -> None:
        self.core.checkpoint()
        self._ack()


def main(args=None) -> int:
    from robot_rl.envs.sources import EnvSourceError
    from robot_rl.learning.checkpoint import CheckpointError
    from robot_rl.loops.demos import DemoError

    return rn.run_node(LearnerNode, "learner_node", args, on_exit=LearnerNode.last_checkpoint,
                       errors=(CheckpointError, EnvSourceError, DemoError))


if __name__ == "__main__":
    sys.exit(main())
