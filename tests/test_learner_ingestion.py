"""The learner keeps up with its actors: a train tick first takes every queued transitions message (rclpy's executor
takes one per wait cycle, so a backlog used to drain at one message per train tick and never caught up under load).
Real rclpy + DDS on loopback, in this process, with no executor spinning: only the train tick can take a message."""
import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mujoco")

from std_msgs.msg import UInt8MultiArray  # noqa: E402

from robot_rl.contract import ros_node as rn  # noqa: E402
from robot_rl.contract.topics import RL  # noqa: E402
from robot_rl.runtime.ros_adapter import bytes_msg  # noqa: E402
from robot_rl.runtime.wire import Transition, chunk_payload, encode_transitions  # noqa: E402


@pytest.fixture()
def ros(tmp_path):
    domain = 160 + (os.getpid() + 7) % 60
    rclpy.init(args=["--ros-args", "-p", "task:=reach", "-p", "num_demos:=0", "-p", f"out_dir:={tmp_path}",
                     "-p", "sac.num_critics:=2", "-p", "sac.hidden_width:=32", "-p", "start_training_after_steps:=10"],
               domain_id=domain)
    yield
    rclpy.shutdown()


def _frames(dim: int, action_dim: int, n: int) -> list[bytes]:
    out = []
    for s in range(1, n + 1):
        obs = {"state": np.full(dim, 0.001 * s, np.float32)}
        t = Transition(obs, np.zeros(action_dim, np.float32), 0.0, obs, False, False, actor_id="a0", seq=s)
        out += chunk_payload(encode_transitions([t]))
    return out


def _wait(pred, timeout_s: float) -> bool:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_drain_subscription_takes_what_is_queued_up_to_its_bound(ros):
    node = rclpy.create_node("drain_probe")
    got = []
    q = rn.qos(RL["transitions"].qos)
    sub = node.create_subscription(UInt8MultiArray, "probe", got.append, q)
    pub = node.create_publisher(UInt8MultiArray, "probe", q)
    assert _wait(lambda: pub.get_subscription_count() == 1, 10.0)
    for i in range(50):
        pub.publish(bytes_msg(bytes([i])))
    taken = []
    assert _wait(lambda: taken.append(rn.drain_subscription(sub, got.append, 20, 1.0)) or len(got) >= 20, 10.0)
    assert max(taken) <= 20 and len(got) == sum(taken)  # never more than `most` in one call
    assert _wait(lambda: rn.drain_subscription(sub, got.append, 1000, 1.0) is not None and len(got) == 50, 10.0)
    assert [bytes(m.data)[0] for m in got] == list(range(50))  # in order, each once
    assert rn.drain_subscription(sub, got.append, 1000, 1.0) == 0  # an empty queue: nothing, at once
    node.destroy_node()


def test_a_train_tick_ingests_the_whole_backlog_before_it_trains(ros):
    from robot_rl.runtime.learner_node import LearnerNode

    node = LearnerNode()
    sender = rclpy.create_node("backlog_sender")
    pub = sender.create_publisher(UInt8MultiArray, "rl/transitions", rn.qos(RL["transitions"].qos))
    assert _wait(lambda: pub.get_subscription_count() == 1, 10.0)
    n = 300  # a learner restarted behind a 10 Hz actor: 30 s of transitions, one message each
    for f in _frames(node.core.state_dim, node.core.action_dim, n):
        pub.publish(bytes_msg(f))
    ticks = 0

    def tick():
        nonlocal ticks
        node._trained_at = -float("inf")  # as if the train gap had passed
        node._train()
        ticks += 1
        return node.core.inbox.received.get("a0", 0) == n

    assert _wait(tick, 20.0), node.core.inbox.received
    assert node.core.inbox.duplicates == 0 and node.core.inbox.gaps == 0
    assert node.drained == n  # every message came through the train tick: no executor ran
    assert node.core.updates > 0  # and it trained on them
    sender.destroy_node()
    node.destroy_node()
