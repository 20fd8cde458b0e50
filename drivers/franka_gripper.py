"""The Franka gripper worker: ``pylibfranka.Gripper``'s blocking moves on a thread (latest command wins)."""
from __future__ import annotations

import logging
import threading
import time

from robot_rl.drivers.franka_config import GripperConfig

log = logging.getLogger("robot_rl.drivers.franka")


class GripperWorker:
    """Runs the gripper's blocking moves on a thread (latest command wins) and polls its width."""

    def __init__(self, gripper, cfg: GripperConfig):
        self.gripper = gripper
        self.cfg = cfg
        st = gripper.read_once()
        self.max_width_m = float(st.max_width) if st.max_width > 0 else 0.08
        self.width_m = float(st.width)
        self.is_grasped = bool(st.is_grasped)
        self._pending: float | None = None
        self._last_sent_width: float | None = None
        self._cv = threading.Condition()
        self._closed = False
        self.error: str | None = None
        self._cmd_thread = threading.Thread(target=self._commands, name="franka-gripper-cmd", daemon=True)
        self._state_thread = threading.Thread(target=self._poll, name="franka-gripper-state", daemon=True)
        self._cmd_thread.start()
        self._state_thread.start()

    def command(self, closedness: float) -> None:
        with self._cv:
            self._pending = closedness
            self._cv.notify()

    def halt(self) -> None:
        with self._cv:
            self._pending = None
        try:
            self.gripper.stop()
        except Exception as e:  # noqa: BLE001 - best effort; logged
            log.warning("gripper stop failed: %s", e)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._cmd_thread.join(1.0)
        self._state_thread.join(1.0)

    def _commands(self) -> None:
        cfg = self.cfg
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait(0.1)
                if self._closed:
                    return
                c, self._pending = self._pending, None
            width = (1.0 - c) * self.max_width_m
            grasp = c >= cfg.grasp_threshold
            if (not grasp and self._last_sent_width is not None
                    and abs(width - self._last_sent_width) < cfg.command_deadband_m):
                continue
            try:
                if grasp:
                    ok = self.gripper.grasp(width, cfg.speed_m_per_s, cfg.grasp_force_n, cfg.grasp_epsilon_m,
                                            cfg.grasp_epsilon_m)
                else:
                    ok = self.gripper.move(width, cfg.speed_m_per_s)
                self._last_sent_width = None if grasp else width
                if not ok:
                    log.warning("gripper %s to %.3f m reported failure", "grasp" if grasp else "move", width)
            except Exception as e:  # noqa: BLE001 - the gripper's failure must not take down the arm
                self.error = f"{type(e).__name__}: {e}"
                log.error("gripper command failed: %s", self.error)

    def _poll(self) -> None:
        while not self._closed:
            try:
                st = self.gripper.read_once()
                self.width_m = float(st.width)
                self.is_grasped = bool(st.is_grasped)
            except Exception as e:  # noqa: BLE001
                self.error = f"{type(e).__name__}: {e}"
                log.error("gripper state read failed: %s", self.error)
                return
            time.sleep(self.cfg.state_poll_s)
