"""Several actors feed one learner, over real DDS: launch/multi_arm.yaml run by the project's launch runner (each
node its own process). Two twin arms under /left and /right, an actor beside each (relative arm topics, so each
drives its own arm), one learner at the root that both actors reach through shared absolute ``topics.*``
parameters. Transitions from both actors arrive exactly once, both actors load the learner's weights, and each
twin moved under its own namespace."""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

from robot_rl.contract import topics as T
from robot_rl.tools.launch_runner import REPO_ROOT, LaunchRunner, LineBuffer, parse_launch

rclpy = pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

ARMS = ("left", "right")


class Lines(LineBuffer):
    def episodes(self, arm: str) -> list[dict]:
        """The actor's episode-end log lines (``episode {...}``, a dict literal) of one namespace."""
        with self.lock:
            eps = [l for l in self.lines if l.startswith(f"[{arm}/actor]") and "episode {" in l]
        return [eval(l[l.index("{"):].strip(), {}) for l in eps]  # noqa: S307 (our own log line)


def _wait(pred, timeout_s: float, what: str, lines: Lines, runners=()):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.5)
    with lines.lock:
        learner = "".join(l for l in lines.lines if l.startswith("[learner]"))[-4000:]
        tail = "".join(lines.lines[-10:])
    codes = {k: p.poll() for r in runners for k, p in r.procs.items()}
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; exit codes {codes}; learner output:\n"
                         f"{learner}\nlast output:\n{tail}")


def _stats(d: Path):
    try:
        return json.loads((d / "stats.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class PoseWatch:
    """This test's own node: every arm's ee pose under its namespace (contract names, resolved by hand)."""

    def __init__(self, domain_id: int):
        from geometry_msgs.msg import PoseStamped

        from robot_rl.contract.ros_node import pose_of, qos

        self.ctx = rclpy.context.Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node("multi_arm_watch", context=self.ctx)
        self.poses: dict[str, list[np.ndarray]] = {a: [] for a in ARMS}
        for arm in ARMS:
            self.node.create_subscription(PoseStamped, f"/{arm}/{T.ARM['ee_pose'].name}",
                                          lambda m, a=arm: self.poses[a].append(np.array(pose_of(m)[0])),
                                          qos(T.ARM["ee_pose"].qos))
        from robot_rl.contract.ros_node import BackgroundSpin

        self.ex = BackgroundSpin(self.node, context=self.ctx)  # stops its loop before the executor goes
        self.thread = self.ex.thread

    def travel_m(self, arm: str) -> float:
        p = list(self.poses[arm])
        return float(np.max(np.linalg.norm(np.array(p) - p[0], axis=1))) if p else 0.0

    def close(self) -> None:
        self.ex.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def test_two_arms_two_actors_one_learner_over_dds_exactly_once_and_weights_reach_both(tmp_path):
    out = tmp_path / "learner"
    nodes, _ = parse_launch(REPO_ROOT / "launch" / "multi_arm.yaml", {"out_dir": str(out)})
    # the scripted humans are optional (human:=false by default): leave them out to spare this machine's cores
    nodes = [n for n in nodes if n.executable != "scripted_human_node"]
    assert sorted(n.label for n in nodes) == ["learner", "left/actor", "left/twin", "right/actor", "right/twin"]
    domain = random.Random().randint(100, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    lines = Lines()
    # the learner first: an actor's transitions sent before the learner subscribes would arrive as a gap
    learner = LaunchRunner([n for n in nodes if n.label == "learner"], env=env, out=lines, shutdown_timeout_s=10.0)
    arms = LaunchRunner([n for n in nodes if n.label != "learner"], env=env, out=lines, shutdown_timeout_s=10.0)
    watch = None
    try:
        learner.start()
        _wait(lambda: _stats(out) is not None or any("learner up" in l for l in lines.lines), 120, "the learner",
              lines)
        watch = PoseWatch(domain)
        arms.start()
        # both actors' transitions reach the one learner; both actors load its weights
        s = _wait(lambda: (st := _stats(out)) and all(st["received"].get(a, 0) >= 60 for a in ARMS) and st,
                  180, "60 transitions from each actor at the learner", lines, (learner, arms))
        for arm in ARMS:  # trained weights (version > 0: after learner updates) reach both actors
            _wait(lambda a=arm: any(e["weights_version"] > 0 for e in lines.episodes(a)), 120,
                  f"the {arm} actor acting on trained weights", lines, (learner, arms))
        sent = {}
        for arm in ARMS:
            ep = lines.episodes(arm)[-1]
            assert ep["actor"] == arm
            assert ep["weight_loads"] > 0, ep  # the learner's latched weights reached this actor
            sent[arm] = ep["sent"]
        # none lost: everything each actor had sent at its episode end reaches the learner
        s = _wait(lambda: (st := _stats(out)) and all(st["received"].get(a, 0) >= sent[a] for a in ARMS) and st,
                  60, f"the learner to catch up with {sent}", lines, (learner, arms))
        # exactly once: each actor's stream is accepted in order (received = a contiguous prefix) and stored once
        assert s["online_transitions"] == sum(s["received"].values())
        assert set(s["received"]) == set(ARMS)
        # nothing arrived twice (no resends: the learner acknowledged promptly). Gaps (an actor's first messages
        # sent before DDS matched it with the learner) are recovered by the actor's rewind, so only reported.
        assert s["duplicates"] == 0, s["duplicates"]
        # each twin moved under its own namespace (driven by its own actor's targets)
        for arm in ARMS:
            assert len(watch.poses[arm]) > 50, f"/{arm}/arm/ee_pose is silent"
            assert watch.travel_m(arm) > 0.01, f"the {arm} arm did not move"
        print("received per actor:", s["received"], "updates:", s["updates"], "gaps:", s["gaps"],
              "weight loads:", {a: lines.episodes(a)[-1]["weight_loads"] for a in ARMS},
              "travel [m]:", {a: round(watch.travel_m(a), 3) for a in ARMS})
    finally:
        arms.shutdown()
        learner.shutdown()
        if watch is not None:
            watch.close()


def contract_endpoints_missing(node, ns: str, node_name: str, endpoints) -> list[str]:
    """The contract endpoints (topics published or subscribed, services served, with their types) that the node
    ``ns/node_name`` does not have, according to the ROS graph. A node's name reaches the graph on its own
    discovery message, which may trail its endpoints: wait up to 10 s for it first."""
    deadline = time.monotonic() + 10.0
    while (node_name, ns) not in node.get_node_names_and_namespaces() and time.monotonic() < deadline:
        time.sleep(0.05)
    if (node_name, ns) not in node.get_node_names_and_namespaces():
        return [f"the node {ns}/{node_name} itself (not in the ROS graph)"]
    services = dict(node.get_service_names_and_types_by_node(node_name, ns))
    missing = []
    for e in endpoints.values():
        name = f"{ns}/{e.name}"
        if e.is_service:
            ok = e.type in services.get(name, [])
        else:
            infos = node.get_publishers_info_by_topic(name) + node.get_subscriptions_info_by_topic(name)
            ok = any(i.node_name == node_name and i.node_namespace == ns and i.topic_type == e.type for i in infos)
        if not ok:
            missing.append(f"{name} ({e.type})")
    return missing


def test_twin_in_a_namespace_hears_a_default_qos_estop_and_refuses_reset(tmp_path):
    """An e-stop sent like ``ros2 topic pub /left/arm/estop std_msgs/Bool '{data: true}'`` (default QoS: reliable,
    volatile) reaches the twin under /left (subscribe_safety); the twin holds (mode estop) and refuses reset until
    the topic is released and arm/recover called. The twin exposes the whole arm contract under /left (the Franka
    driver's test checks the same for the driver: parity through the contract)."""
    import signal
    import subprocess
    import sys

    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import Trigger

    from robot_rl.contract.ros_node import qos

    domain = random.Random().randint(100, 200)
    twin = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.twin_node", "--ros-args", "-r", "__ns:=/left",
                             "-p", "cameras:=[]", "-p", "state_hz:=50"], cwd=str(REPO_ROOT),
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("estop_sender", context=ctx)
    modes = []
    node.create_subscription(Float64MultiArray, "/left/" + T.TWIN["twin_status"].name,
                             lambda m: modes.append(int(m.data[0])), qos(T.TWIN["twin_status"].qos))
    pub = node.create_publisher(Bool, "/left/" + T.ARM["estop"].name, 10)  # rclpy's default profile
    reset = node.create_client(Trigger, "/left/" + T.ARM["reset"].name)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    try:
        deadline = time.monotonic() + 60
        while not modes and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.1)
        assert modes, "no /left/arm/twin_status"
        assert 3 not in modes
        deadline = time.monotonic() + 20
        while (not modes or modes[-1] != 3) and time.monotonic() < deadline:
            pub.publish(Bool(data=True))
            ex.spin_once(timeout_sec=0.1)
        assert modes[-1] == 3, f"the twin did not engage the e-stop (modes {sorted(set(modes))})"
        assert reset.wait_for_service(timeout_sec=10)
        fut = reset.call_async(Trigger.Request())
        ex.spin_until_future_complete(fut, timeout_sec=10)
        assert fut.result() is not None and not fut.result().success and "e-stop" in fut.result().message
        recover = node.create_client(Trigger, "/left/" + T.ARM["recover"].name)
        assert recover.wait_for_service(timeout_sec=10)
        for data, ok in ((True, False), (False, True)):  # refused while the topic still asserts the e-stop
            for _ in range(5):
                pub.publish(Bool(data=data))
                ex.spin_once(timeout_sec=0.1)
            fut = recover.call_async(Trigger.Request())
            ex.spin_until_future_complete(fut, timeout_sec=10)
            assert fut.result().success is ok, fut.result().message
        fut = reset.call_async(Trigger.Request())
        ex.spin_until_future_complete(fut, timeout_sec=10)
        assert fut.result().success, fut.result().message
        assert not contract_endpoints_missing(node, "/left", "twin", {**T.ARM, **T.TWIN})
    finally:
        twin.send_signal(signal.SIGINT)
        try:
            rc = twin.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(twin.pid, signal.SIGKILL)
            rc = None
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    assert rc == 0, twin.stdout.read()
