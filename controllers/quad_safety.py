"""The quadrotor's safety filter (plain numpy, no I/O): what any command must pass before it reaches the mixer.

* Geofence box: near a face, the velocity toward it is bounded so that the vehicle can always stop
  ``fence_margin_m`` before the face (after ``response_time_s`` of lag, braking at ``brake_accel_m_per_s2``); the filter enforces it as a barrier on
  the commanded acceleration: ``a_toward <= barrier_gain * (v_allowed - v_toward)``. Outside the box (pushed out
  by wind, or started there): fly back to the nearest point inside (``outside="return"``) or land where it is
  (``outside="land"``: descend at ``land_speed_m_per_s``, motors off at the fence's floor).
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

from robot_rl.contract.quad import CF2X, QuadState


@dataclass(frozen=True)
class QuadSafetyConfig:
    fence_min_m: tuple[float, ...] = (-1.0, -1.0, 0.05)
    fence_max_m: tuple[float, ...] = (1.0, 1.0, 2.0)
    brake_accel_m_per_s2: float = 2.0  # the deceleration the fence speed bound assumes (below the tilt limit's 5 m/s^2)
    response_time_s: float = 0.25  # attitude + motor lag before braking acts: travelled at full speed first
    fence_margin_m: float = 0.05  # the speed bound plans to stop this far inside the fence
    barrier_gain_per_s: float = 8.0
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
        if not (self.response_time_s >= 0.0 and self.fence_margin_m >= 0.0):
            raise ValueError("QuadSafetyConfig.response_time_s and fence_margin_m must be >= 0")
        for name in ("brake_accel_m_per_s2", "barrier_gain_per_s", "max_speed_m_per_s", "max_tilt_rad",
                     "recover_tilt_rad", "land_speed_m_per_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"QuadSafetyConfig.{name} must be finite and > 0, got {v!r}")
        if self.outside not in ("return", "land"):
            raise ValueError(f"QuadSafetyConfig.outside must be 'return' or 'land', got {self.outside!r}")


class QuadSafetyFilter:
    def __init__(self, cfg: QuadSafetyConfig = QuadSafetyConfig(), gravity_m_per_s2: float = CF2X.gravity_m_per_s2):
        cfg.validate()
        self.cfg = cfg
        self.g = gravity_m_per_s2
        self.lo = np.asarray(cfg.fence_min_m, dtype=float)
        self.hi = np.asarray(cfg.fence_max_m, dtype=float)
        self._recovering = False

    def reset(self) -> None:
        self._recovering = False

    def inside(self, pos, floor: bool = True) -> bool:
        """Inside the fence box (``floor=False``: its lower face does not count, as while landing)."""
        return bool((pos[:2] >= self.lo[:2]).all() and (pos <= self.hi).all() and (not floor or pos[2] >= self.lo[2]))

    def allowed_speed_toward(self, distance_m) -> np.ndarray:
        """The largest speed toward a face ``distance_m`` away from which the vehicle still stops
        ``fence_margin_m`` before it: travelling ``response_time_s`` at that speed, then braking at
        ``brake_accel_m_per_s2`` (v tau + v^2 / 2b = d - margin)."""
        c = self.cfg
        b, tau = c.brake_accel_m_per_s2, c.response_time_s
        d = np.maximum(np.asarray(distance_m, dtype=float) - c.fence_margin_m, 0.0)
        return b * (np.sqrt(tau * tau + 2.0 * d / b) - tau)

    def filter_accel(self, s: QuadState, accel, floor: bool = True,
                     tilt_cmd_rad: float | None = None) -> tuple[np.ndarray, bool]:
        """(safe acceleration, whether it was changed) for a desired world acceleration at state ``s``;
        ``floor=False`` while landing (the fence's lower face must not hold a landing vehicle up). With
        ``tilt_cmd_rad`` (the controller's tilt limit), a changed horizontal part gets the vertical acceleration
        that lets the tilt cone hold it, as far as the upper face allows: braking at the fence needs thrust."""
        c = self.cfg
        a = np.array(accel, dtype=float)
        k = c.barrier_gain_per_s
        v = s.linvel
        upper = k * (self.allowed_speed_toward(self.hi - s.pos) - v)  # a_i <= upper_i
        lower = -k * (self.allowed_speed_toward(s.pos - self.lo) + v)  # a_i >= lower_i
        if not floor:
            lower[2] = -np.inf
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
        if changed and tilt_cmd_rad is not None:
            need_z = math.hypot(a_box[0], a_box[1]) / math.tan(tilt_cmd_rad) - self.g
            if need_z > a_box[2]:
                a_box[2] = max(a_box[2], min(need_z, upper[2]))
        return a_box, changed

    def outside_setpoint(self, s: QuadState) -> tuple[np.ndarray, np.ndarray | None]:
        """Outside the fence: (position set point, velocity feed-forward) -- the nearest point inside
        (``return``), or straight down from where it is at ``land_speed_m_per_s`` (``land``)."""
        c = self.cfg
        if c.outside == "return":
            return np.clip(s.pos, self.lo + c.return_margin_m, self.hi - c.return_margin_m), None
        return s.pos.copy(), np.array([0.0, 0.0, -c.land_speed_m_per_s])

    def landed(self, s: QuadState) -> bool:
        """Landing outside the fence is over (motors off) once at the fence's floor."""
        return self.cfg.outside == "land" and float(s.pos[2]) <= self.lo[2]

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
