"""Quadrotor teleop from a gamepad (``sensor_msgs/Joy`` as the ROS joy driver publishes it): sticks -> a velocity
command, buttons -> takeover (held), takeoff, land, emergency, success, fail. Plain class, no ROS;
``drivers/quad_teleop_node.py`` publishes what it decides.

The velocity command is normalised ([-1, 1] per axis: world vx, vy, vz and yaw rate), the ``teleop/twist``
convention of the quadrotor's takeover (:class:`robot_rl.runtime.intervention.QuadInterventionMux`: the actor flies
it as the policy's own attitude action, so it is recorded as an intervention). Button presses count on the rising
edge only (a held button is one press)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from robot_rl.contract.params import param

PRESSES = ("takeoff", "land", "emergency", "success", "fail")


@dataclass(frozen=True)
class QuadTeleopConfig:
    """Axis and button indices (defaults: an Xbox-style pad under the ROS joy driver: left stick up = axis 1 +,
    left = axis 0 +; right stick up = axis 4 +, left = axis 3 +)."""

    axis_vx: int = param(1, ge=0, doc="stick axis -> world vx (+ forward)")
    axis_vy: int = param(0, ge=0, doc="stick axis -> world vy (+ left)")
    axis_vz: int = param(4, ge=0, doc="stick axis -> world vz (+ up)")
    axis_yaw: int = param(3, ge=0, doc="stick axis -> yaw rate (+ counter-clockwise)")
    deadband: float = param(0.1, ge=0.0, lt=1.0, doc="stick values below this are zero")
    button_takeover: int = param(4, ge=0, doc="held: the human flies (LB)")
    button_takeoff: int = param(0, ge=0, doc="takeoff (A)")
    button_land: int = param(1, ge=0, doc="land (B)")
    button_emergency: int = param(2, ge=0, doc="emergency: motors off, latched (X)")
    button_success: int = param(3, ge=0, doc="label the episode a success (Y)")
    button_fail: int = param(5, ge=0, doc="label the episode a failure (RB)")


@dataclass
class QuadTeleopCommand:
    twist: np.ndarray = field(default_factory=lambda: np.zeros(6))  # [vx, vy, vz, 0, 0, yaw rate], normalised
    takeover: bool = False
    pressed: tuple[str, ...] = ()  # of PRESSES, rising edges of this message


class QuadTeleop:
    def __init__(self, cfg: QuadTeleopConfig = QuadTeleopConfig()):
        self.cfg = cfg
        self._prev: dict[str, bool] = {}

    def update(self, axes, buttons) -> QuadTeleopCommand:
        """One Joy message. Missing or non-finite axes read as 0, missing buttons as released."""
        c = self.cfg

        def axis(i: int) -> float:
            v = float(axes[i]) if i < len(axes) else 0.0
            v = v if math.isfinite(v) else 0.0
            return 0.0 if abs(v) < c.deadband else max(-1.0, min(1.0, v))

        def held(i: int) -> bool:
            return i < len(buttons) and bool(buttons[i])

        twist = np.array([axis(c.axis_vx), axis(c.axis_vy), axis(c.axis_vz), 0.0, 0.0, axis(c.axis_yaw)])
        now = {name: held(getattr(c, f"button_{name}")) for name in PRESSES}
        pressed = tuple(n for n in PRESSES if now[n] and not self._prev.get(n, False))
        self._prev = now
        return QuadTeleopCommand(twist, held(c.button_takeover), pressed)
