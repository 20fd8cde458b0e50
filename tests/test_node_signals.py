"""Ctrl-C (SIGINT) and SIGTERM on every node: the safe action first (said in one line), exit 0, no traceback.

Each node runs in its own process on its own ROS domain; it is signalled once it is in the ROS graph. The robot
side says what it did: the twin and the Franka driver hold, the teleop node releases its takeover (a last zero
command), the actor stops commanding (the driver's watchdog holds) with its spool closed, the learner writes a
last checkpoint."""
import os
import pty
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _recording(tmp_path):
    import numpy as np

    from robot_rl.drivers.camera_common import Intrinsics
    from robot_rl.drivers.realsense import write_recording

    path = tmp_path / "cam.db3"
    write_recording(str(path), [np.full((240, 320, 3), 9 * k, np.uint8) for k in range(6)],
                    Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0), 6)
    return str(path)


# node -> (module, its ROS name, extra args (a function of tmp_path), the safe-action line it must print)
NODES = {
    "twin": ("robot_rl.sim.twin_node", "twin", lambda d: ["-p", "cameras:=[]"], "shutting down: holding"),
    "actor": ("robot_rl.runtime.actor_node", "actor", lambda d: ["-p", f"spool_dir:={d / 'spool'}"],
              "shutting down: no more targets"),
    "learner": ("robot_rl.runtime.learner_node", "learner",
                lambda d: ["-p", "num_demos:=0", "-p", f"out_dir:={d / 'learner'}"], "shutting down: checkpoint"),
    "scripted_human": ("robot_rl.runtime.scripted_human_node", "scripted_human", lambda d: [], None),
    "latency_probe": ("robot_rl.runtime.latency_probe_node", "latency_probe", lambda d: [], None),
    "camera": ("robot_rl.drivers.camera_node", "camera",
               lambda d: ["-p", f"playback_file:={_recording(d)}", "-p", "width_px:=320", "-p", "height_px:=240",
                          "-p", "fps:=6", "-p", "depth_enabled:=false"], None),
    "teleop": ("robot_rl.drivers.teleop_node", "teleop", lambda d: ["-p", "device:=keyboard"],
               "shutting down: takeover released"),
}


def _in_graph(client, name: str) -> bool:
    return any(n == name for n, _ in client.get_node_names_and_namespaces())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
@pytest.mark.parametrize("node", list(NODES))
def test_every_node_stops_safely_and_exits_0_on_sigint_and_sigterm(node, sig, tmp_path):
    module, ros_name, extra, safe_line = NODES[node]
    domain = 10 + (os.getpid() + hash(node) + int(sig)) % 90
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    master, slave = pty.openpty()  # the keyboard teleop needs a terminal; the others ignore it
    p = subprocess.Popen([sys.executable, "-m", module, "--ros-args", *extra(tmp_path)], cwd=ROOT, env=env,
                         stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    os.close(slave)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    client = rclpy.create_node("signal_test", context=ctx)
    try:
        deadline = time.monotonic() + 180
        while not _in_graph(client, ros_name) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()[0]
        assert _in_graph(client, ros_name), f"{node} never joined the ROS graph"
        time.sleep(2.0)  # spinning, timers running
        os.killpg(p.pid, sig)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        os.close(master)
        client.destroy_node()
        rclpy.shutdown(context=ctx)
    assert p.returncode == 0, out
    assert "Traceback" not in out and "RCLError" not in out, out
    if safe_line:
        assert safe_line in out, out
