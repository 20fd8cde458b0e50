"""The twin and the hardware nodes expose the same contract, read from the ROS graph of running processes: the
Franka node against franky-sim (through pylibfranka) and the twin node have the same topics, types, QoS and
services (except the documented driver-only / twin-only topics); the camera node (a real RealSense recording)
and the twin's cameras publish the same camera topics. E-stop engages on both from a late-joining publisher of
each of the four reliability x durability combinations, stays latched after release, and clears on recover."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("franky_sim")

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from robot_rl.contract import ros_node as rn  # noqa: E402
from robot_rl.contract import topics as T  # noqa: E402
from robot_rl.drivers.franky_sim_peer import FrankySimServer  # noqa: E402
from tests.test_franka import SIM_START_Q, free_loopback_host  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HW, SIM = "/hw", "/sim"
ONLY = {"franka": {T.ARM_DRIVER["status"].name}, "twin": {T.TWIN["task_state"].name, T.TWIN["twin_status"].name}}
REL = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
DUR = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from tests.test_node_signals import _recording

    domain = 100 + (os.getpid() + 7) % 60
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT)
    q = "[" + ",".join(f"{v:.7f}" for v in SIM_START_Q) + "]"
    rec = _recording(tmp_path_factory.mktemp("cam"))
    with FrankySimServer(free_loopback_host(), start_timeout_s=60.0) as server:
        procs = {
            "franka": _start(["robot_rl.drivers.franka_node", "--ros-args", "-p", f"robot_ip:={server.host}",
                              "-p", "realtime:=ignore", "-p", f"reset_q_rad:={q}", "-r", f"__ns:={HW}"], env),
            "twin": _start(["robot_rl.sim.twin_node", "--ros-args", "-p", "cameras:=[front]", "-r", f"__ns:={SIM}"], env),
            "camera": _start(["robot_rl.drivers.camera_node", "--ros-args", "-p", "name:=front",
                              "-p", f"playback_file:={rec}", "-p", "width_px:=320", "-p", "height_px:=240",
                              "-p", "fps:=6", "-p", "depth_enabled:=false", "-r", f"__ns:={HW}"], env),
        }
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain)
        client = rclpy.create_node("parity_test", context=ctx)
        got = {}
        client.create_subscription(String, f"{HW}/{T.ARM_DRIVER['status'].name}",
                                   lambda m: got.__setitem__("franka", json.loads(m.data)["mode"]), QoSProfile(depth=1))
        client.create_subscription(Float64MultiArray, f"{SIM}/{T.TWIN['twin_status'].name}",
                                   lambda m: got.__setitem__("twin", ("waiting", "tracking", "hold", "estop")[int(m.data[0])]),
                                   rn.qos(T.TWIN["twin_status"].qos))
        from robot_rl.contract.ros_node import BackgroundSpin

        ex = BackgroundSpin(client, context=ctx)  # stops its loop before the executor goes
        try:
            deadline = time.monotonic() + 120
            while not ("franka" in got and "twin" in got and _camera_up(client)) and time.monotonic() < deadline:
                dead = [k for k, p in procs.items() if p.poll() is not None]
                assert not dead, {k: procs[k].stdout.read() for k in dead}
                time.sleep(0.2)
            assert "franka" in got and "twin" in got, "nodes did not come up"
            yield client, got, ctx
        finally:
            for p in procs.values():
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGINT)
            for p in procs.values():
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
            ex.shutdown()
            client.destroy_node()
            rclpy.shutdown(context=ctx)


def _camera_up(client) -> bool:
    return bool(client.get_publishers_info_by_topic(f"{HW}/{T.camera('front')['color'].name}"))


def _graph(client, name: str, ns: str, prefix: tuple[str, ...] = ("arm/", "task/")) -> dict:
    """{("pub"|"sub"|"srv", relative name): sorted (type, reliability, durability) of this node's endpoints}."""
    out = {}
    strip = lambda t: t[len(ns) + 1:]  # noqa: E731
    for kind, lookup, infos in (("pub", client.get_publisher_names_and_types_by_node, client.get_publishers_info_by_topic),
                                ("sub", client.get_subscriber_names_and_types_by_node, client.get_subscriptions_info_by_topic)):
        for topic, _types in lookup(name, ns):
            rel = strip(topic)
            if not rel.startswith(prefix):
                continue
            mine = [i for i in infos(topic) if i.node_name == name and i.node_namespace == ns]
            out[(kind, rel)] = sorted((i.topic_type, i.qos_profile.reliability.name, i.qos_profile.durability.name)
                                      for i in mine)
    for srv, types in client.get_service_names_and_types_by_node(name, ns):
        rel = strip(srv)
        if rel.startswith(prefix):
            out[("srv", rel)] = sorted(types)
    return out


def test_twin_and_franka_node_expose_the_same_topics_types_qos_and_services(stack):
    client, _, _ = stack
    hw, sim = _graph(client, "franka", HW), _graph(client, "twin", SIM)
    only_hw = {k for k in hw if k not in sim}
    only_sim = {k for k in sim if k not in hw}
    assert {name for _, name in only_hw} <= ONLY["franka"], only_hw
    assert {name for _, name in only_sim} <= ONLY["twin"], only_sim
    differ = {k: (hw[k], sim[k]) for k in hw.keys() & sim.keys() if hw[k] != sim[k]}
    assert not differ, differ
    assert ("sub", T.ARM["estop"].name) in hw and ("srv", T.ARM["recover"].name) in sim
    assert len(hw) >= len(T.ARM)  # the whole arm contract is there to compare


def test_twin_cameras_and_the_camera_node_publish_the_same_topics(stack):
    client, _, _ = stack
    hw = _graph(client, "camera", HW, prefix=("camera/",))
    sim = _graph(client, "twin", SIM, prefix=("camera/",))
    assert sim and set(sim) <= set(hw), (sim, hw)
    assert all(hw[k] == sim[k] for k in sim), (hw, sim)


def _call(client, ns: str, srv: str) -> Trigger.Response:
    cli = client.create_client(Trigger, f"{ns}/{T.ARM[srv].name}")
    assert cli.wait_for_service(timeout_sec=10.0)
    fut = cli.call_async(Trigger.Request())
    deadline = time.monotonic() + 30
    while not fut.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    client.destroy_client(cli)
    return fut.result()


@pytest.mark.parametrize("durability", list(DUR))
@pytest.mark.parametrize("reliability", list(REL))
@pytest.mark.parametrize("robot,ns", [("franka", HW), ("twin", SIM)])
def test_estop_from_a_late_joining_publisher_of_any_qos_latches_until_recover(stack, robot, ns, reliability,
                                                                                durability):
    client, got, ctx = stack
    qos = QoSProfile(depth=10, reliability=REL[reliability], durability=DUR[durability])
    pub_node = rclpy.create_node(f"estop_{reliability}_{durability}", context=ctx)  # joins after the robot is up
    try:
        pub = pub_node.create_publisher(Bool, f"{ns}/{T.ARM['estop'].name}", qos)
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:  # as `ros2 topic pub` waits
            time.sleep(0.02)
        assert pub.get_subscription_count() > 0, f"no e-stop subscription of {robot} matches {reliability}/{durability}"
        # as an e-stop button does, it keeps saying so (every 50 ms): a volatile message sent the moment the writer
        # has matched can still be dropped before the reader has matched the writer (DDS discovery is two-sided)
        t0, sent = time.monotonic(), 0
        while got[robot] != "estop" and time.monotonic() < t0 + 20:  # discovery of a new writer, on a loaded host
            if time.monotonic() >= t0 + 0.05 * sent:
                pub.publish(Bool(data=True))
                sent += 1
            time.sleep(0.002)
        assert got[robot] == "estop", f"{robot} ignored an e-stop sent {reliability}/{durability} ({sent} times)"
        print(f"{robot} e-stopped {1e3 * (time.monotonic() - t0):.1f} ms after the first of {sent} "
              f"{reliability}/{durability} e-stops")
        assert not _call(client, ns, "reset").success  # refused while latched
        for _ in range(10):  # released (and kept released, as the button is)
            pub.publish(Bool(data=False))
            time.sleep(0.05)
        assert got[robot] == "estop"  # releasing the topic does not release the latch
        r = _call(client, ns, "recover")
        for _ in range(30):  # best effort may have dropped the first releases
            if r.success:
                break
            pub.publish(Bool(data=False))
            time.sleep(0.5)
            r = _call(client, ns, "recover")
        assert r.success, r.message
        deadline = time.monotonic() + 15
        while got[robot] == "estop" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got[robot] != "estop"
    finally:
        pub_node.destroy_node()
