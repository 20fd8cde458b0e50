"""The quadrotor nodes under bad input and at shutdown: a bad parameter or an unreachable vehicle is one line and an
exit code; NaN and stale-stamped commands are refused in one line per cause and the vehicle keeps hovering; Ctrl-C
lands a flying vehicle first (said in one line) and exits 0."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("cflib")
pytest.importorskip("crazyflie_interfaces", reason="crazyflie_interfaces not built (scripts/build_interfaces.sh)")

from builtin_interfaces.msg import Duration, Time  # noqa: E402
from crazyflie_interfaces.msg import Position  # noqa: E402
from crazyflie_interfaces.srv import Takeoff  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402

from tests.cf_peer_util import ROOT, PeerProcess, free_udp_port, wait_for  # noqa: E402


def _run(args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env():
    domain = 100 + (os.getpid() + 53) % 60
    return dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT), domain


def test_bad_parameter_is_one_line_and_exit_2(env):
    r = _run(["robot_rl.sim.quad_twin_node", "--ros-args", "-p", "command_hz:=-5.0"], env[0])
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "command_hz" in lines[0] and "-5" in lines[0], r.stderr


def test_unreachable_crazyflie_is_one_line_and_exit_1(env):
    r = _run(["robot_rl.drivers.crazyflie_node", "--ros-args", "-p", f"uri:=udp://127.0.0.1:{free_udp_port()}",
              "-p", "connect_timeout_s:=2.0"], env[0])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1].startswith("crazyflie_node: cannot connect to udp://127.0.0.1:"), r.stderr


def test_bad_commands_are_refused_in_one_line_each_and_ctrl_c_lands_first(env):
    envd, domain = env
    peer = PeerProcess()
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.drivers.crazyflie_node", "--ros-args", "-p",
                             f"uri:={peer.uri}", "-r", "__ns:=/cf7"], cwd=ROOT, env=envd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("quad_fault_test", context=ctx)
    z = []
    node.create_subscription(Odometry, "/cf7/odom", lambda m: z.append(m.pose.pose.position.z), 10)
    pub = node.create_publisher(Position, "/cf7/cmd_position", 10)
    from robot_rl.contract.ros_node import BackgroundSpin

    ex = BackgroundSpin(node, context=ctx)  # stops its loop before the executor goes
    try:
        assert wait_for(lambda: z, 60.0), "".join(out)
        cli = node.create_client(Takeoff, "/cf7/takeoff")
        assert cli.wait_for_service(timeout_sec=10.0)
        assert wait_for(cli.call_async(Takeoff.Request(height=0.5, duration=Duration(sec=1))).done, 10.0)
        assert wait_for(lambda: abs(z[-1] - 0.5) < 0.03, 6.0)
        stale = Time(sec=int(time.time()) - 10)
        for _ in range(30):  # floods of two bad kinds
            pub.publish(Position(x=math.nan, y=0.0, z=0.5))
            m = Position(x=0.5, y=0.0, z=0.5)
            m.header.stamp = stale
            pub.publish(m)
            time.sleep(0.01)
        time.sleep(1.5)
        text = "".join(out)
        assert 1 <= text.count("rejected cmd_position: not finite") <= 3, text[-2000:]
        assert 1 <= text.count("rejected cmd_position: stale stamp") <= 3, text[-2000:]
        assert abs(z[-1] - 0.5) < 0.05  # still hovering where the takeoff left it
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(15) == 0, "".join(out)[-2000:]
        assert "shutting down: landing from z=0.5" in "".join(out)
        assert z[-1] < 0.05 or wait_for(lambda: z[-1] < 0.05, 1.0), z[-5:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        peer.close()
