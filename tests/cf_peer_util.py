"""Shared by the Crazyflie tests: the CRTP protocol peer (``robot_rl.sim.cf_peer``) as a separate process on a free
loopback UDP port, and a wait helper."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerProcess:
    def __init__(self, *args: str, port: int | None = None):
        self.port = port or free_udp_port()
        self.uri = f"udp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.cf_peer", "--port", str(self.port), *args],
                                     cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "cf_peer ready" not in line:
            self.proc.kill()
            raise RuntimeError(f"cf_peer did not start: {line}{self.proc.stdout.read()}")

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(pred, timeout_s: float, period_s: float = 0.02):
    """Poll ``pred`` until it returns something truthy (returned) or ``timeout_s`` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(period_s)
    return None


def serves(node, service: str, node_name: str, node_namespace: str) -> bool:
    """Whether the ROS graph as ``node`` sees it has ``node_namespace/node_name`` serving ``service``.

    A remote node's name reaches the graph on its own discovery message, which can come after its topics have
    (its odometry may already be flowing): until then rclpy raises NodeNameNonExistentError, which here means
    "not yet", not an error."""
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

    NodeNameNonExistentError = _rclpy.NodeNameNonExistentError

    try:
        services = node.get_service_names_and_types_by_node(node_name, node_namespace)
    except NodeNameNonExistentError:
        return False
    return any(n == service for n, _ in services)


def skip_if_overloaded(max_load_per_core: float = 2.0) -> None:
    """A rate check (>= 100 Hz across processes) says nothing on a host whose run queue is several times its cores:
    skip it there, saying the load (it runs, and can fail, everywhere else)."""
    import pytest

    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load / cores > max_load_per_core:
        pytest.skip(f"host overloaded (load {load:.1f} on {cores} cores): a 100 Hz rate is not measurable here")
