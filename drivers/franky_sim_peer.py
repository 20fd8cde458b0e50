"""Run franky-sim (a MuJoCo server speaking the libfranka network protocol) as a subprocess: the protocol peer
the Franka driver is tested and benchmarked against, without hardware.

    with FrankySimServer("127.0.0.1") as server:
        arm = FrankaArm(FrankaArmConfig(robot_ip=server.host, realtime="ignore"))

The server runs in its own process group; leaving the context kills the group (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

READY_LINE = "Connect to the server using"


class FrankySimError(RuntimeError):
    pass


@dataclass
class FrankySimServer:
    host: str = "127.0.0.1"
    start_timeout_s: float = 30.0

    def __post_init__(self):
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []
        self._ready = threading.Event()

    def start(self) -> "FrankySimServer":
        try:
            import franky_sim  # noqa: F401
        except ImportError as e:
            raise FrankySimError(f"franky-sim is not installed ({e}); pip install franky-sim") from None
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # -s mujoco: the server's "auto" choice raises when the optional genesis backend is absent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "franky_sim.run_server", "-s", "mujoco", "--hostname", self.host],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True, env=env)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = "".join(self.output[-30:])
                self.stop()
                raise FrankySimError(f"franky-sim did not come up on {self.host} within {self.start_timeout_s:g} s "
                                     f"(is port 1337 taken?):\n{out}")
        return self

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            if READY_LINE in line:
                self._ready.set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(timeout_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "FrankySimServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
