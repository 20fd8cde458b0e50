"""Two Crazyflies under two namespaces from launch/real_quads.yaml (through the project's launch runner), each a
CRTP protocol peer process: /all/takeoff lifts both, /all/land brings both down; sim_quads.yaml resolves."""
from __future__ import annotations

import os
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("cflib")
pytest.importorskip("crazyflie_interfaces", reason="crazyflie_interfaces not built (scripts/build_interfaces.sh)")

from builtin_interfaces.msg import Duration  # noqa: E402
from crazyflie_interfaces.srv import Land, Takeoff  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402

from robot_rl.tools.launch_runner import REPO_ROOT, LaunchRunner, LineBuffer, parse_launch  # noqa: E402
from tests.cf_peer_util import PeerProcess, serves, wait_for  # noqa: E402


def test_real_quads_launch_flies_two_crazyflies_under_two_namespaces_from_all_services():
    peers = [PeerProcess(), PeerProcess()]
    nodes, _ = parse_launch(REPO_ROOT / "launch" / "real_quads.yaml",
                            {"cf1_uri": peers[0].uri, "cf2_uri": peers[1].uri})
    assert sorted(n.namespace for n in nodes) == ["cf1", "cf2"]
    domain = 100 + (os.getpid() + 41) % 60
    runner = LaunchRunner(nodes, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), out=LineBuffer())
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("quad_launch_test", context=ctx)
    z = {}
    for ns in ("cf1", "cf2"):
        node.create_subscription(Odometry, f"/{ns}/odom", lambda m, ns=ns: z.__setitem__(ns, m.pose.pose.position.z), 10)
    from robot_rl.contract.ros_node import BackgroundSpin

    ex = BackgroundSpin(node, context=ctx)  # stops its loop before the executor goes
    runner.start()
    try:
        assert wait_for(lambda: len(z) == 2, 60.0), "".join(runner.out.lines)[-3000:]

        def call(typ, name, **kw):
            cli = node.create_client(typ, name)
            assert cli.wait_for_service(timeout_sec=10.0), name
            time.sleep(2.0)  # a broadcast reaches the servers this new client has matched by then
            assert wait_for(cli.call_async(typ.Request(**kw)).done, 10.0), name

        # one request reaches every server of /all/takeoff the client has matched: both nodes must serve it
        assert wait_for(lambda: all(serves(node, "/all/takeoff", "crazyflie", f"/{ns}") for ns in ("cf1", "cf2")), 20.0)
        call(Takeoff, "/all/takeoff", group_mask=0, height=0.5, duration=Duration(sec=1))
        assert wait_for(lambda: abs(z["cf1"] - 0.5) < 0.05 and abs(z["cf2"] - 0.5) < 0.05, 6.0), z
        call(Land, "/all/land", group_mask=0, height=0.0, duration=Duration(sec=1))
        assert wait_for(lambda: z["cf1"] < 0.03 and z["cf2"] < 0.03, 6.0), z
    finally:
        codes = runner.shutdown()
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        for p in peers:
            p.close()
    assert all(c == 0 for c in codes.values()), codes
