"""franka_node over real DDS: franky-sim server, the node and this test's client in three processes. The node runs
under a launch namespace (/right): the test drives the arm to a target through /right/arm/target_pose, sees it on
/right/arm/ee_pose, the watchdog hold on /right/arm/status, the gripper through /right/arm/gripper/*,
/right/arm/reset, the latched /right/arm/estop (reset refused after it), and a clean SIGINT shutdown. Names come
from the contract (robot_rl.contract.topics), resolved under the namespace."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("pylibfranka")
pytest.importorskip("franky_sim")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, Float64, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from robot_rl.contract import topics as T  # noqa: E402
from robot_rl.drivers.franky_sim_peer import FrankySimServer  # noqa: E402
from tests.test_franka import SIM_START_Q, free_loopback_host  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "/right"


def _name(key: str, group=T.ARM) -> str:
    return f"{NS}/{group[key].name}"


@pytest.fixture
def domain_id():
    return 100 + os.getpid() % 60  # isolated from other DDS tests running on this machine


def _start_node(server, domain_id: int, *params: str) -> subprocess.Popen:
    """franka_node under NS against ``server``, with ``params`` ("name:=value") after the test's own."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONPATH=ROOT)
    q = "[" + ",".join(f"{v:.7f}" for v in SIM_START_Q) + "]"
    args = ["-p", f"robot_ip:={server.host}", "-p", "realtime:=ignore", "-p", f"reset_q_rad:={q}",
            "-p", "target_timeout_s:=0.2"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen([sys.executable, "-m", "robot_rl.drivers.franka_node", "--ros-args", *args,
                             "-r", f"__ns:={NS}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stop_node(node: subprocess.Popen) -> int | None:
    node.send_signal(signal.SIGINT)
    try:
        return node.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        return None


def test_targets_reach_the_arm_while_the_state_publisher_cannot_keep_up(domain_id):
    """The state timer at 1 kHz is always behind; the actor's 50 Hz target stream must still reach the arm (in
    the timer's callback group the executor served the timer first every time, and the watchdog held the arm)."""
    with FrankySimServer(free_loopback_host(), start_timeout_s=60.0) as server:
        node = _start_node(server, domain_id, "publish_hz:=1000.0", "status_hz:=20.0")
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain_id)
        client = rclpy.create_node("franka_saturation_test", context=ctx)
        ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
        ex.add_node(client)
        got: dict = {}
        client.create_subscription(PoseStamped, _name("ee_pose"), lambda m: got.__setitem__("pose", m),
                                   qos_profile_sensor_data)
        client.create_subscription(String, _name("status", T.ARM_DRIVER),
                                   lambda m: got.__setitem__("status", json.loads(m.data)), QoSProfile(depth=1))
        pub = client.create_publisher(PoseStamped, _name("target_pose"),
                                      QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        try:
            deadline = time.monotonic() + 30.0
            while not ("pose" in got and "status" in got) and time.monotonic() < deadline and node.poll() is None:
                ex.spin_once(timeout_sec=0.05)
            if not ("pose" in got and "status" in got):
                raise AssertionError(f"no arm topics; node output: {node.stdout.read() if node.poll() is not None else ''}")
            hold = PoseStamped()
            hold.header.frame_id = "base"
            hold.pose = got["pose"].pose  # where the arm is: it stays there
            for _ in range(25):  # discovery: the stream is flowing before counting starts
                pub.publish(hold)
                ex.spin_once(timeout_sec=0.02)
            ex.spin_once(timeout_sec=0.1)
            before, sent = got["status"]["targets"], 0
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:  # 50 Hz
                pub.publish(hold)
                sent += 1
                t_next = time.monotonic() + 0.02
                while time.monotonic() < t_next:
                    ex.spin_once(timeout_sec=max(0.0, t_next - time.monotonic()))
            t_settle = time.monotonic() + 1.0
            while time.monotonic() < t_settle:
                ex.spin_once(timeout_sec=0.05)
            received = got["status"]["targets"] - before
            assert received >= 0.8 * sent, f"the arm got {received} of {sent} targets"
        finally:
            rc = _stop_node(node)
            ex.shutdown()
            client.destroy_node()
            rclpy.shutdown(context=ctx)
        assert rc == 0, node.stdout.read()


def test_node_drives_the_arm_over_dds_and_shuts_down_cleanly(domain_id):
    with FrankySimServer(free_loopback_host(), start_timeout_s=60.0) as server:
        node = _start_node(server, domain_id)
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain_id)
        client = rclpy.create_node("franka_node_test", context=ctx)
        ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
        ex.add_node(client)
        got: dict = {}
        client.create_subscription(PoseStamped, _name("ee_pose"), lambda m: got.__setitem__("pose", m),
                                   qos_profile_sensor_data)
        client.create_subscription(JointState, _name("joint_states"), lambda m: got.__setitem__("joints", m),
                                   qos_profile_sensor_data)
        client.create_subscription(JointState, _name("gripper_state"), lambda m: got.__setitem__("gripper", m),
                                   qos_profile_sensor_data)
        client.create_subscription(String, _name("status", T.ARM_DRIVER),
                                   lambda m: got.__setitem__("status", json.loads(m.data)), QoSProfile(depth=1))
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub_target = client.create_publisher(PoseStamped, _name("target_pose"), reliable)
        pub_grip = client.create_publisher(Float64, _name("gripper_command"), reliable)
        pub_estop = client.create_publisher(Bool, _name("estop"), QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        reset = client.create_client(Trigger, _name("reset"))

        def spin_until(pred, timeout_s, what):
            deadline = time.monotonic() + timeout_s
            while True:  # spin at least once: a loaded host may deschedule us past a short deadline
                ex.spin_once(timeout_sec=0.02)
                if pred():
                    return
                if time.monotonic() >= deadline:
                    break
            out = ""
            if node.poll() is not None:
                out = node.stdout.read()
            raise AssertionError(f"timed out waiting for {what}; status={got.get('status')}; node output: {out}")

        def pos():
            p = got["pose"].pose.position
            return np.array([p.x, p.y, p.z])

        def call(cli):
            assert cli.wait_for_service(timeout_sec=10.0)
            fut = cli.call_async(Trigger.Request())
            spin_until(fut.done, 30.0, "service reply")
            return fut.result()

        try:
            spin_until(lambda: "pose" in got and "joints" in got and "status" in got, 30.0, "arm topics")
            assert len(got["joints"].position) == 7 and got["pose"].header.frame_id == "base"
            start = pos()
            target = start + np.array([-0.04, 0.06, -0.05])
            msg = PoseStamped()
            msg.header.frame_id = "base"
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in target)
            o = got["pose"].pose.orientation
            msg.pose.orientation = o
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:  # the actor's 50 Hz target stream
                pub_target.publish(msg)
                spin_until(lambda: True, 0.02, "")
                time.sleep(0.02)
            err_mm = 1000 * np.linalg.norm(pos() - target)
            assert err_mm < 5.0, f"reach error over DDS {err_mm:.2f} mm"
            # targets stop -> the watchdog holds
            spin_until(lambda: got["status"]["mode"] == "hold", 2.0, "watchdog hold")
            # gripper
            pub_grip.publish(Float64(data=1.0))
            spin_until(lambda: "gripper" in got and got["gripper"].position[0] < 0.01, 10.0, "gripper closed")
            # reset service
            r = call(reset)
            assert r.success, r.message
            spin_until(lambda: np.max(np.abs(np.array(got["joints"].position) - SIM_START_Q)) < 0.02, 5.0,
                       "joints at the reset posture")
            assert np.linalg.norm(pos() - start) < 0.01
            # e-stop: latched, reset refused
            pub_estop.publish(Bool(data=True))
            spin_until(lambda: got["status"]["estop"] and got["status"]["mode"] == "estop", 5.0, "e-stop")
            pub_estop.publish(Bool(data=False))  # releasing the topic does not release the latch
            spin_until(lambda: True, 0.5, "")
            assert got["status"]["mode"] == "estop"
            r = call(reset)
            assert not r.success and "e-stop" in r.message
            assert got["status"]["fault"] is None
            # the whole arm contract (and the driver's status) under the namespace: the twin's test checks the same
            from tests.test_multi_arm_launch import contract_endpoints_missing

            assert not contract_endpoints_missing(client, NS, "franka", {**T.ARM, **T.ARM_DRIVER})
        finally:
            rc = _stop_node(node)
            ex.shutdown()
            client.destroy_node()
            rclpy.shutdown(context=ctx)
        out = node.stdout.read()
        assert rc == 0, out


def test_bad_parameter_is_one_line_and_exit_code_2_before_connecting(domain_id):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "robot_rl.drivers.franka_node", "--ros-args", "-p", "publish_hz:=0",
                        "-p", "robot_ip:=127.0.0.1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "franka_node: franka: parameter publish_hz=0 is invalid: expected a finite number > 0 and <= 1000"]
    r = subprocess.run([sys.executable, "-m", "robot_rl.drivers.franka_node", "--ros-args", "-p",
                        "reset_q_rad:=[0.0, 1.0]"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "reset_q_rad=[0.0, 1.0] is invalid: expected 7 values" in r.stderr
