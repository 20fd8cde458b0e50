"""Teleop devices -> a 6-DoF command in action units ([-1, 1], end-effector frame) plus buttons
``[takeover, gripper, success, fail]`` (the convention of ``robot_rl/intervention.py``). Plain classes, no ROS;
``drivers/teleop_node.py`` publishes them on ``/teleop/twist`` and ``/teleop/joy``. A missing device or library
raises :class:`DeviceUnavailable` with what to do about it."""
from __future__ import annotations

import os
import select
import sys
from dataclasses import dataclass, field

import numpy as np


class DeviceUnavailable(RuntimeError):
    """The teleop device (or its library, or a terminal) is not there."""


@dataclass
class TeleopCommand:
    twist: np.ndarray = field(default_factory=lambda: np.zeros(6))
    buttons: list[int] = field(default_factory=lambda: [0, 0, 0, 0])


class KeyboardTeleop:
    """Terminal keys: w/s x, a/d y, r/f z, i/k roll, j/l pitch, u/o yaw; space = gripper toggle;
    Enter = success, Backspace = fail. Any motion key holds the takeover for ``hold_s``."""

    KEYS = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "r": (2, 1), "f": (2, -1),
            "i": (3, 1), "k": (3, -1), "j": (4, 1), "l": (4, -1), "u": (5, 1), "o": (5, -1)}

    def __init__(self, stream=None, speed: float = 0.6):
        self.stream = stream or sys.stdin
        if not self.stream.isatty():
            raise DeviceUnavailable("keyboard teleop needs an interactive terminal (stdin is not a TTY); "
                                    "run the teleop node in its own terminal, or use device:=gamepad/spacemouse")
        import termios
        import tty

        self._fd = self.stream.fileno()
        self._old = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self.speed = speed

    def read(self) -> TeleopCommand:
        cmd = TeleopCommand()
        while select.select([self._fd], [], [], 0)[0]:
            ch = os.read(self._fd, 1).decode(errors="ignore")
            if ch in self.KEYS:
                axis, sign = self.KEYS[ch]
                cmd.twist[axis] = sign * self.speed
                cmd.buttons[0] = 1
            elif ch == " ":
                cmd.buttons[1] = 1
            elif ch in ("\n", "\r"):
                cmd.buttons[2] = 1
            elif ch in ("\x7f", "\b"):
                cmd.buttons[3] = 1
        return cmd

    def close(self) -> None:
        import termios

        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._old)


class GamepadTeleop:
    """pygame joystick: left stick x/y, triggers z, right stick roll/pitch; buttons 0..3 = takeover (hold),
    gripper, success, fail."""

    def __init__(self, index: int = 0, deadband: float = 0.1):
        try:
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
            import pygame
        except ImportError:
            raise DeviceUnavailable("gamepad teleop needs pygame: pip install pygame") from None
        pygame.init()
        pygame.joystick.init()
        if pygame.joystick.get_count() <= index:
            raise DeviceUnavailable(f"no gamepad found (pygame sees {pygame.joystick.get_count()} joystick(s))")
        self.pg = pygame
        self.js = pygame.joystick.Joystick(index)
        self.js.init()
        self.deadband = deadband

    def read(self) -> TeleopCommand:
        self.pg.event.pump()
        ax = [self.js.get_axis(i) for i in range(self.js.get_numaxes())] + [0.0] * 6
        v = np.array([-ax[1], -ax[0], ax[2] if self.js.get_numaxes() > 4 else 0.0, ax[3], -ax[4], 0.0])
        v[np.abs(v) < self.deadband] = 0.0
        b = [int(self.js.get_button(i)) if i < self.js.get_numbuttons() else 0 for i in range(4)]
        return TeleopCommand(np.clip(v, -1, 1), b)

    def close(self) -> None:
        self.pg.quit()


class SpaceMouseTeleop:
    """3Dconnexion SpaceMouse via pyspacemouse: 6-DoF directly; left button = gripper, right = success."""

    def __init__(self):
        try:
            import pyspacemouse
        except ImportError:
            raise DeviceUnavailable("SpaceMouse teleop needs pyspacemouse: pip install pyspacemouse "
                                    "(and the hidapi system library)") from None
        try:
            ok = pyspacemouse.open()
        except Exception as e:  # noqa: BLE001  (hidapi raises various errors when no device is present)
            raise DeviceUnavailable(f"no SpaceMouse found ({type(e).__name__}: {e})") from None
        if not ok:
            raise DeviceUnavailable("no SpaceMouse found (pyspacemouse.open() failed; check the USB device and "
                                    "udev permissions)")
        self.sm = pyspacemouse

    def read(self) -> TeleopCommand:
        s = self.sm.read()
        v = np.clip(np.array([s.x, s.y, s.z, s.roll, s.pitch, s.yaw], float), -1, 1)
        b = list(getattr(s, "buttons", [0, 0])) + [0, 0]
        return TeleopCommand(v, [0, int(b[0]), int(b[1]), 0])

    def close(self) -> None:
        self.sm.close()


DEVICES = {"keyboard": KeyboardTeleop, "gamepad": GamepadTeleop, "spacemouse": SpaceMouseTeleop}


def open_device(name: str):
    if name not in DEVICES:
        raise DeviceUnavailable(f"unknown teleop device {name!r}; choose one of {', '.join(DEVICES)}")
    return DEVICES[name]()
