"""The quadrotor's safety filter (plain numpy, no I/O): what any command must pass before it reaches the mixer.

* Geofence box: near a face, the velocity toward it is bounded by ``sqrt(2 * brake_accel * distance)`` (so the
  vehicle can always stop before the face with ``brake_accel_m_per_s2``); the filter enforces it as a barrier on
  the commanded acceleration: ``a_toward <= barrier_gain * (v_allowed - v_toward)``. Outside the box (pushed out
  by wind, or started there): fly back to the nearest point inside (``outside="return"``) or land where it is
  (``outside="land"``).
* Speed: the acceleration along the velocity is bounded the same way so ``|v|`` stays below ``max_speed_m_per_s``.
* Tilt: the controller's attitude stage limits the commanded tilt (``QuadControlConfig.max_tilt_cmd_rad``); for
  direct rotor commands the filter takes over (level, hold) when the measured tilt exceeds ``max_tilt_rad``.
* NaN / inf anywhere in a command: hover where the vehicle is (:class:`robot_rl.controllers.quad_stack`).

All checks take the measured state; the filter keeps no state but the hover / landing point it latched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import QuadState


@dataclass(frozen=True)
class QuadSafetyConfig:
    fence_min_m: tuple[float, ...] = (-1.0, -1.0, 0.05)
    fence_max_m: tuple[float, ...] = (1.0, 1.0, 2.0)
    brake_accel_m_per_s2: float = 2.0  # the deceleration the fence speed bound assumes (below the tilt limit's 5 m/s^2)
    barrier_gain_per_s: float = 6.0
    max_speed_m_per_s: float = 2.0
    max_tilt_rad: float = 0.6  # direct rotor commands: above this the filter levels the vehicle
    recover_tilt_rad: float = 0.35  # ... and hands back below this
    outside: str = "return"  # outside the fence: "return" (fly back in) or "land" (descend where it is)
    return_margin_m: float = 0.1  # "return" flies to the nearest point this far inside
    land_speed_m_per_s: float = 0.4

    def validate(self) -> None:
        lo, hi = np.asarray(self.fence_min_m, float), np.asarray(self.fence_max_m, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(hi - lo > 2 * self.return_margin_m):
            raise ValueError(f"QuadSafetyConfig: fence_min_m {self.fence_min_m} must be below fence_max_m "
                             f"{self.fence_max_m} by more than 2 * return_margin_m on every axis")
        for name in ("brake_accel_m_per_s2", "barrier_gain_per_s", "max_speed_m_per_s", "max_tilt_rad",
                     "recover_tilt_rad", "land_speed_m_per_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"QuadSafetyConfig.{name} must be finite and > 0, got {v!r}")
        if self.outside not in ("return", "land"):
            raise ValueError(f"QuadSafetyConfig.outside must be 'return' or 'land', got {self.outside!r}")


class QuadSafetyFilter:
    def __init__(self, cfg: QuadSafetyConfig = QuadSafetyConfig()):
        cfg.validate()
        self.cfg = cfg
        self.lo = np.asarray(cfg.fence_min_m, dtype=float)
        self.hi = np.asarray(cfg.fence_max_m, dtype=float)
        self._recovering = False

    def reset(self) -> None:
        self._recovering = False

    def inside(self, pos) -> bool:
        return bool((pos >= self.lo).all() and (pos <= self.hi).all())

    def allowed_speed_toward(self, distance_m) -> np.ndarray:
        """The largest speed toward a face ``distance_m`` away from which the vehicle still stops before it."""
        return np.sqrt(2.0 * self.cfg.brake_accel_m_per_s2 * np.maximum(distance_m, 0.0))

    def filter_accel(self, s: QuadState, accel) -> tuple[np.ndarray, bool]:
        """(safe acceleration, whether it was changed) for a desired world acceleration at state ``s``."""
        c = self.cfg
        a = np.array(accel, dtype=float)
        k = c.barrier_gain_per_s
        v = s.linvel
        upper = k * (self.allowed_speed_toward(self.hi - s.pos) - v)  # a_i <= upper_i
        lower = -k * (self.allowed_speed_toward(s.pos - self.lo) + v)  # a_i >= lower_i
        a_box = np.minimum(np.maximum(a, lower), upper)
        changed = bool((a_box != a).any())
        speed = float(np.linalg.norm(v))
        if speed > 1e-6:
            u = v / speed
            bound = k * (c.max_speed_m_per_s - speed)
            along = float(a_box @ u)
            if along > bound:
                a_box = a_box - (along - bound) * u
                changed = True
        return a_box, changed

    def outside_setpoint(self, s: QuadState) -> np.ndarray:
        """Outside the fence: the position to fly to (the nearest point inside, or straight down to land)."""
        c = self.cfg
        if c.outside == "return":
            return np.clip(s.pos, self.lo + c.return_margin_m, self.hi - c.return_margin_m)
        target = s.pos.copy()
        target[:2] = np.clip(target[:2], self.lo[:2], self.hi[:2])
        target[2] = self.lo[2] - 1.0  # below the floor: descend (the velocity limit of the controller paces it)
        return target

    def rotors_need_override(self, s: QuadState, tilt_rad: float) -> bool:
        """Direct rotor commands pass only while the state is inside the fence, within the fence speed bound, below
        ``max_speed_m_per_s`` and below ``max_tilt_rad`` (hysteresis: handed back below ``recover_tilt_rad``)."""
        c = self.cfg
        v = s.linvel
        fence_speed = bool(np.any(v > self.allowed_speed_toward(self.hi - s.pos)) or
                           np.any(-v > self.allowed_speed_toward(s.pos - self.lo)))
        too_fast = float(np.linalg.norm(v)) > c.max_speed_m_per_s
        if tilt_rad > c.max_tilt_rad:
            self._recovering = True
        elif tilt_rad < c.recover_tilt_rad and not fence_speed and not too_fast and self.inside(s.pos):
            self._recovering = False
        return self._recovering or fence_speed or too_fast or not self.inside(s.pos)
