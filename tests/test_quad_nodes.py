"""The quadrotor's ROS 2 contract end to end, real DDS between processes: the Crazyflie node (cflib over UDP to the
CRTP protocol peer, a third process) under /hw and the quad twin node under /sim expose the same names, types, QoS
and services (Crazyswarm2's); odom at >= 100 Hz; /all/takeoff reaches both; takeoff holds within 5 cm; a position
outside the fence is clipped; a stale command hovers then lands; link loss is reported and the link comes back; an
e-stop from a best-effort publisher cuts the motors, latched."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("cflib")
pytest.importorskip("crazyflie_interfaces", reason="crazyflie_interfaces not built (scripts/build_interfaces.sh)")

from builtin_interfaces.msg import Duration  # noqa: E402
from crazyflie_interfaces.msg import Position  # noqa: E402
from crazyflie_interfaces.srv import Land, Takeoff  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Bool, String  # noqa: E402

from robot_rl.contract import topics as T  # noqa: E402
from tests.cf_peer_util import ROOT, PeerProcess, serves, skip_if_overloaded, wait_for  # noqa: E402

HW, SIM = "/hw", "/sim"


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


class Client:
    def __init__(self, domain: int):
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("quad_test", context=self.ctx)
        self.odom = {HW: [], SIM: []}
        self.status = {HW: [], SIM: []}
        for ns in (HW, SIM):
            self.node.create_subscription(Odometry, f"{ns}/odom", self.odom[ns].append, 50)
            self.node.create_subscription(String, f"{ns}/driver_status",
                                          lambda m, ns=ns: self.status[ns].append(json.loads(m.data)),
                                          QoSProfile(depth=1, durability=1))
        self.pub_pos = self.node.create_publisher(Position, f"{HW}/cmd_position", 10)
        from robot_rl.contract.ros_node import BackgroundSpin

        self.ex = BackgroundSpin(self.node, context=self.ctx)  # stops its loop before the executor goes

    def z(self, ns: str) -> float:
        return self.odom[ns][-1].pose.pose.position.z

    def x(self, ns: str) -> float:
        return self.odom[ns][-1].pose.pose.position.x

    def call(self, typ, name: str, settle_s: float = 0.0, **fields):
        cli = self.node.create_client(typ, name)
        assert cli.wait_for_service(timeout_sec=10.0), name
        time.sleep(settle_s)  # a broadcast (all/) reaches the servers this new client has matched by then
        req = typ.Request(**fields)
        fut = cli.call_async(req)
        assert wait_for(fut.done, 10.0), f"{name}: no response"
        self.node.destroy_client(cli)

    def close(self):
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


@pytest.fixture(scope="module")
def quads():
    domain = 100 + (os.getpid() + 23) % 60
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT)
    peer = PeerProcess()
    procs = {"hw": _start(["robot_rl.drivers.crazyflie_node", "--ros-args", "-p", f"uri:={peer.uri}",
                           "-r", f"__ns:={HW}"], env),
             "sim": _start(["robot_rl.sim.quad_twin_node", "--ros-args", "-r", f"__ns:={SIM}"], env)}
    c = Client(domain)
    try:
        up = wait_for(lambda: all(c.odom[ns] for ns in (HW, SIM)) or any(p.poll() is not None for p in procs.values()),
                      60.0)
        dead = {k: p.stdout.read() for k, p in procs.items() if p.poll() is not None}
        assert up and not dead, dead
        yield c, peer, procs
    finally:
        c.close()
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        peer.close()


def _graph(node, ns: str):
    pubs, subs = {}, {}
    for key, e in {**T.QUAD}.items():
        if e.is_service:
            continue
        full = f"{ns}/{e.name}"
        for info in node.get_publishers_info_by_topic(full):
            if info.node_namespace == ns:
                pubs[e.name] = (info.topic_type, info.qos_profile.reliability, info.qos_profile.durability,
                                info.qos_profile.depth)
        for info in node.get_subscriptions_info_by_topic(full):
            if info.node_namespace == ns:
                subs.setdefault(e.name, set()).add((info.topic_type, info.qos_profile.reliability,
                                                    info.qos_profile.durability))
    services = {}
    for name, types in node.get_service_names_and_types():
        if name.startswith(f"{ns}/") and not name.rsplit("/", 1)[1].startswith(("describe_", "get_param", "set_param",
                                                                                 "list_param", "get_type")):
            services[name[len(ns) + 1:]] = tuple(types)
    return pubs, subs, services


def test_crazyflie_node_and_quad_twin_node_expose_the_same_contract(quads):
    c, _, _ = quads
    time.sleep(1.0)  # discovery of every endpoint
    hw, sim = _graph(c.node, HW), _graph(c.node, SIM)
    assert hw == sim
    pubs, subs, services = hw
    assert set(pubs) == {"odom", "pose", "driver_status"}
    assert set(subs) == {"cmd_vel_legacy", "cmd_position", "cmd_velocity_world", "cmd_full_state", "cmd_hover", "estop"}
    assert {k: v[0] for k, v in services.items()} == {e.name: e.type.replace("/srv/", "/srv/")
                                                      for e in T.QUAD.values() if e.is_service}
    all_services = {n for n, _ in c.node.get_service_names_and_types() if n.startswith("/all/")}
    assert all_services == {f"/{e.name}" for e in T.QUAD_ALL.values()}


def test_odom_from_the_crazyflie_node_is_at_least_100_hz(quads):
    c, _, _ = quads
    skip_if_overloaded()
    n0 = len(c.odom[HW])
    time.sleep(1.5)
    msgs = c.odom[HW][n0:]
    t = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in msgs]
    assert (len(t) - 1) / (t[-1] - t[0]) >= 95.0, f"{len(t)} odom in {t[-1] - t[0]:.2f} s"


def test_all_takeoff_reaches_both_and_each_holds_half_a_metre_within_5_cm(quads):
    c, _, _ = quads
    # one request reaches every server of /all/takeoff that the client has matched: wait until both nodes serve it
    assert wait_for(lambda: all(serves(c.node, "/all/takeoff", name, ns)
                                for name, ns in (("crazyflie", HW), ("quad_twin", SIM))), 20.0)
    c.call(Takeoff, "/all/takeoff", settle_s=2.0, group_mask=0, height=0.5, duration=Duration(sec=1, nanosec=500_000_000))
    assert wait_for(lambda: abs(c.z(HW) - 0.5) < 0.02 and abs(c.z(SIM) - 0.5) < 0.02, 6.0), (c.z(HW), c.z(SIM))
    worst = 0.0
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        worst = max(worst, abs(c.z(HW) - 0.5), abs(c.z(SIM) - 0.5))
        time.sleep(0.02)
    assert worst < 0.05
    c.call(Land, f"{SIM}/land", group_mask=0, height=0.0, duration=Duration(sec=1))
    assert wait_for(lambda: c.z(SIM) < 0.03, 5.0)
    assert abs(c.z(HW) - 0.5) < 0.05  # a per-robot land reaches that robot only


def test_cmd_position_outside_the_fence_is_clipped_then_stale_hovers_and_lands(quads):
    c, _, _ = quads
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        c.pub_pos.publish(Position(x=3.0, y=0.0, z=0.5, yaw=0.0))  # the fence ends at x = 1 m
        time.sleep(0.05)
    assert 0.8 < c.x(HW) < 0.95
    assert wait_for(lambda: c.status[HW] and c.status[HW][-1]["watchdog"] == "hover", 3.0)
    assert wait_for(lambda: c.z(HW) < 0.05, 8.0)
    assert wait_for(lambda: c.status[HW][-1]["watchdog"] == "landed", 3.0), c.status[HW][-1]


def test_link_loss_is_reported_and_the_link_comes_back(quads):
    c, peer, _ = quads
    peer.pause()
    try:
        assert wait_for(lambda: any(s["link"] == "lost" for s in c.status[HW]), 3.0)
    finally:
        time.sleep(0.3)
        peer.resume()
    assert wait_for(lambda: c.status[HW][-1]["link"] == "connected", 15.0), c.status[HW][-1]
    n = len(c.odom[HW])
    assert wait_for(lambda: len(c.odom[HW]) > n + 50, 6.0), (len(c.odom[HW]) - n, c.status[HW][-3:])


def test_estop_from_a_best_effort_publisher_cuts_the_motors_latched(quads):
    c, _, _ = quads
    c.call(Takeoff, f"{HW}/takeoff", group_mask=0, height=0.5, duration=Duration(sec=1))
    assert wait_for(lambda: abs(c.z(HW) - 0.5) < 0.05, 6.0)
    pub = c.node.create_publisher(Bool, f"{HW}/estop", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    assert wait_for(lambda: pub.get_subscription_count() > 0, 5.0)
    # best effort may drop a sample: the button keeps publishing, as an e-stop device does
    assert wait_for(lambda: (pub.publish(Bool(data=True)), c.status[HW][-1]["estop"])[1], 3.0, 0.1), c.status[HW][-1]
    assert wait_for(lambda: not c.status[HW][-1]["flying"], 3.0), c.status[HW][-1]
    assert wait_for(lambda: c.z(HW) <= 0.0, 3.0)
    c.call(Takeoff, f"{HW}/takeoff", group_mask=0, height=0.5, duration=Duration(sec=1))
    time.sleep(1.0)
    assert c.z(HW) <= 0.0  # latched: the vehicle stays down
