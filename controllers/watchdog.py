"""Watchdogs for the drivers' fast loops: pure logic, the time is passed in (no clock is read here).

* :class:`ArmWatchdog`: a target older than ``target_timeout_s`` -> hold the pose measured when the target went
  stale (a new target resumes tracking); e-stop latched until :meth:`ArmWatchdog.reset_estop`, holding the pose
  measured when it came in. :meth:`ArmWatchdog.servo_target` is the one target/hold/e-stop choice every arm loop
  makes each tick (the twin's ``TwinRuntime.advance`` and the Franka driver's 1 kHz loop).
* :class:`QuadWatchdog`: a setpoint older than ``setpoint_timeout_s`` -> hover where the vehicle was, for
  ``hover_s``; a fresh setpoint during the hover resumes. Then land: the height setpoint descends at
  ``land_speed_m_per_s`` to the ground; motors off once the measured height is within ``landed_height_m`` of it. Landing is committed: setpoints are ignored until
  :meth:`QuadWatchdog.reset` (after an explicit decision that the link is back). E-stop (motors off) latched
  until :meth:`QuadWatchdog.reset_estop`.

Times are seconds on any monotonic clock the caller uses. A non-finite time, or one that goes backwards, is
treated as stale (the safe side). The caller stamps targets with their *arrival* time on its own clock.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np


class ArmMode(enum.Enum):
    WAITING = "waiting"  # no target received yet: hold
    TRACKING = "tracking"
    HOLD = "hold"  # target stale: hold the pose captured when it went stale
    ESTOP = "estop"  # latched: the driver sends its safe hold torque


class QuadMode(enum.Enum):
    WAITING = "waiting"  # on the ground, no setpoint yet
    TRACKING = "tracking"
    HOVER = "hover"
    LAND = "land"
    LANDED = "landed"  # motors off; needs reset()
    ESTOP = "estop"


@dataclass(frozen=True)
class ArmWatchdogConfig:
    target_timeout_s: float = 0.2

    def validate(self) -> None:
        if not (math.isfinite(self.target_timeout_s) and self.target_timeout_s > 0.0):
            raise ValueError(f"target_timeout_s must be finite and > 0, got {self.target_timeout_s!r}")


@dataclass(frozen=True)
class QuadWatchdogConfig:
    setpoint_timeout_s: float = 0.5
    hover_s: float = 2.0
    land_speed_m_per_s: float = 0.3
    ground_height_m: float = 0.0
    landed_height_m: float = 0.03  # below ground + this: landed, motors off

    def validate(self) -> None:
        for name in ("setpoint_timeout_s", "land_speed_m_per_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"QuadWatchdogConfig.{name} must be finite and > 0, got {v!r}")
        for name in ("hover_s", "landed_height_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"QuadWatchdogConfig.{name} must be finite and >= 0, got {v!r}")
        if not math.isfinite(self.ground_height_m):
            raise ValueError("QuadWatchdogConfig.ground_height_m must be finite")


class _Clock:
    """Last fresh-input time and the latest time seen; stale when non-finite or going backwards."""

    def __init__(self):
        self.last_input_s: float | None = None
        self.latest_s = -math.inf

    def see(self, now_s: float) -> bool:
        """Record ``now_s``; False if it cannot be trusted (non-finite or earlier than a time already seen)."""
        if not math.isfinite(now_s) or now_s < self.latest_s:
            return False
        self.latest_s = now_s
        return True

    def age(self, now_s: float) -> float:
        if self.last_input_s is None:
            return math.inf
        return now_s - self.last_input_s


class ArmWatchdog:
    def __init__(self, cfg: ArmWatchdogConfig = ArmWatchdogConfig()):
        cfg.validate()
        self.cfg = cfg
        self._clock = _Clock()
        self.mode = ArmMode.WAITING
        self.estop_latched = False
        self.hold_pos: np.ndarray | None = None
        self.hold_rot: np.ndarray | None = None

    def on_target(self, now_s: float, age_s: float = 0.0) -> None:
        """A target arrived at ``now_s`` (its arrival time on the caller's clock), already ``age_s`` old (from its
        stamp: the time in transit counts against the timeout, so the hold comes at most ``target_timeout_s``
        after the commander's last command, however late it was delivered)."""
        if self._clock.see(now_s):
            sent = now_s - min(max(0.0, age_s), self.cfg.target_timeout_s) if math.isfinite(age_s) else now_s
            last = self._clock.last_input_s
            self._clock.last_input_s = sent if last is None else max(last, sent)

    def estop(self) -> None:
        """Engage the e-stop (latched: a later 'release' message does nothing; only reset_estop clears it). The
        next :meth:`update` captures the pose to hold: the one measured when the e-stop came in."""
        if not self.estop_latched:
            self.hold_pos = self.hold_rot = None
        self.estop_latched = True
        self.mode = ArmMode.ESTOP

    def reset_estop(self) -> None:
        """Explicit reset: clears the latch; tracking resumes only with a target newer than the reset."""
        self.estop_latched = False
        self._clock.last_input_s = None
        self.mode = ArmMode.WAITING
        self.hold_pos = self.hold_rot = None

    def update(self, now_s: float, pos, rot) -> ArmMode:
        """Mode at ``now_s`` given the measured pose; in HOLD/WAITING/ESTOP the pose to hold is
        ``hold_pos``/``hold_rot``."""
        if self.estop_latched:
            self._capture(pos, rot)
            self.mode = ArmMode.ESTOP
            return self.mode
        trusted = self._clock.see(now_s)
        fresh = trusted and self._clock.age(now_s) <= self.cfg.target_timeout_s
        if fresh:
            self.mode = ArmMode.TRACKING
            self.hold_pos = self.hold_rot = None
        else:
            self._capture(pos, rot)
            self.mode = ArmMode.WAITING if self._clock.last_input_s is None else ArmMode.HOLD
        return self.mode

    def servo_target(self, now_s: float, pos, rot, target_pos, target_rot) -> tuple[ArmMode, np.ndarray, np.ndarray]:
        """(mode, position, rotation) the arm servos to at ``now_s``, given the measured pose and the latest
        received target (None before any): the target while TRACKING; otherwise the held pose -- captured
        when the target went stale (HOLD), at start (WAITING) or when the e-stop came in (ESTOP)."""
        mode = self.update(now_s, pos, rot)
        if mode is ArmMode.TRACKING and target_pos is not None:
            return mode, target_pos, target_rot
        self._capture(pos, rot)
        return mode, self.hold_pos, self.hold_rot

    def _capture(self, pos, rot) -> None:
        if self.hold_pos is None:  # capture once, when holding starts: holding never drifts
            self.hold_pos = np.array(pos, dtype=float)
            self.hold_rot = np.array(rot, dtype=float)


class QuadWatchdog:
    def __init__(self, cfg: QuadWatchdogConfig = QuadWatchdogConfig()):
        cfg.validate()
        self.cfg = cfg
        self.reset()
        self.estop_latched = False

    def reset(self) -> None:
        """Forget the last setpoint and any landing (the operator decided the link is back)."""
        self._clock = _Clock()
        self.mode = QuadMode.WAITING
        self.hover_pos: np.ndarray | None = None
        self._stale_since_s: float | None = None
        self._land_height_m: float | None = None
        self._land_t_s: float | None = None

    def on_setpoint(self, now_s: float) -> None:
        if self._clock.see(now_s):
            self._clock.last_input_s = now_s

    def estop(self) -> None:
        self.estop_latched = True
        self.mode = QuadMode.ESTOP

    def reset_estop(self) -> None:
        self.estop_latched = False
        self.reset()

    def update(self, now_s: float, pos) -> tuple[QuadMode, np.ndarray | None]:
        """Mode at ``now_s`` and, in HOVER/LAND, the position setpoint to fly (None otherwise: in TRACKING fly
        the received setpoint; in WAITING, LANDED and ESTOP the motors stay off)."""
        if self.estop_latched:
            self.mode = QuadMode.ESTOP
            return self.mode, None
        if self.mode == QuadMode.LANDED:
            return self.mode, None
        trusted = self._clock.see(now_s)
        t = now_s if trusted else self._clock.latest_s
        if self.mode == QuadMode.LAND:
            return self._land(t, pos)
        fresh = trusted and self._clock.age(now_s) <= self.cfg.setpoint_timeout_s
        if fresh:
            self.mode = QuadMode.TRACKING
            self.hover_pos = None
            self._stale_since_s = None
            return self.mode, None
        if self._clock.last_input_s is None:  # never flown: stay on the ground
            self.mode = QuadMode.WAITING
            return self.mode, None
        if self.hover_pos is None:
            self.hover_pos = np.array(pos, dtype=float)
            self._stale_since_s = t
        if t - self._stale_since_s < self.cfg.hover_s:
            self.mode = QuadMode.HOVER
            return self.mode, self.hover_pos.copy()
        self.mode = QuadMode.LAND
        self._land_height_m = float(self.hover_pos[2])
        self._land_t_s = t
        return self._land(t, pos)

    def _land(self, t: float, pos) -> tuple[QuadMode, np.ndarray | None]:
        """Height setpoint ramps down to the ground; landed (motors off) once the measured height is within
        ``landed_height_m`` of the ground."""
        c = self.cfg
        if float(pos[2]) <= c.ground_height_m + c.landed_height_m:
            self.mode = QuadMode.LANDED
            return self.mode, None
        z = max(c.ground_height_m, self._land_height_m - c.land_speed_m_per_s * max(0.0, t - self._land_t_s))
        sp = self.hover_pos.copy()
        sp[2] = z
        return self.mode, sp
