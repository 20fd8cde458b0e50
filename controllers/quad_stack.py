"""The quadrotor's fast loop, one call per control tick (plain numpy, no I/O, time passed in): the twins run it
and the Crazyflie driver will, so the same command meets the same limits in simulation and on hardware.

Per tick, in order:

1. a non-finite measured state -> every rotor at the hover command (nothing else can be computed);
2. the watchdog (:class:`robot_rl.controllers.watchdog.QuadWatchdog`): e-stop, landed or no command yet -> motors
   off; a stale command -> hover where the vehicle was, then land;
3. the latest command: a NaN/inf entry -> hover at the position where it arrived (it does not refresh the
   watchdog: a stream of NaNs ends in a landing); ``attitude`` / ``position`` -> the safety filter on the
   acceleration it asks for (fence speed barrier, speed limit; outside the fence: back in or land), then the
   cascade (:class:`robot_rl.controllers.quad_control.QuadController`, tilt / rate / thrust limits); ``rotors``
   -> passed through while the state is safe, else the cascade holds the vehicle;
4. the rotor commands, normalised in [-1, 1]: anything non-finite becomes the hover command.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.contract.quad import QuadParams, QuadState, hover_command
from robot_rl.controllers.quad_control import QuadControlConfig, QuadController, tilt_of
from robot_rl.controllers.quad_safety import QuadSafetyConfig, QuadSafetyFilter
from robot_rl.controllers.watchdog import QuadMode, QuadWatchdog, QuadWatchdogConfig

COMMAND_KINDS = ("attitude", "position", "rotors")  # attitude: roll, pitch, yaw rate, thrust N; position: x, y, z, yaw
MOTORS_OFF = np.full(4, -1.0)


@dataclass(frozen=True)
class QuadStackConfig:
    control: QuadControlConfig = field(default_factory=QuadControlConfig)
    safety: QuadSafetyConfig = field(default_factory=QuadSafetyConfig)
    watchdog: QuadWatchdogConfig = field(default_factory=QuadWatchdogConfig)
    safety_enabled: bool = True  # off: commands reach the cascade / the rotors unfiltered (research only)


class QuadFlightStack:
    def __init__(self, p: QuadParams, cfg: QuadStackConfig = QuadStackConfig()):
        self.p, self.cfg = p, cfg
        self.controller = QuadController(p, cfg.control)
        self.safety = QuadSafetyFilter(cfg.safety, p.gravity_m_per_s2)
        self.watchdog = QuadWatchdog(cfg.watchdog)
        self._hover_cmd = np.full(4, hover_command(p))
        self.reset()

    def reset(self) -> None:
        self.watchdog.reset()
        self.safety.reset()
        self.kind: str | None = None
        self.values: np.ndarray | None = None
        self._nan_hover_pos: np.ndarray | None = None
        self.last_reason = "off"  # what the last tick flew: track | filtered | hover_nan | fence | watchdog | off ...

    def estop(self) -> None:
        """Motors off, latched until :meth:`reset_estop`."""
        self.watchdog.estop()

    def reset_estop(self) -> None:
        self.watchdog.reset_estop()

    def set_command(self, now_s: float, kind: str, values) -> None:
        """The latest command, arrived at ``now_s``; a finite one refreshes the watchdog."""
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown quad command kind {kind!r}; known: {', '.join(COMMAND_KINDS)}")
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.shape != (4,):
            raise ValueError(f"a {kind} command has 4 numbers, got {v.shape}")
        self.kind, self.values = kind, v
        if np.isfinite(v).all():
            self.watchdog.on_setpoint(now_s)

    def tick(self, now_s: float, s: QuadState) -> np.ndarray:
        """Normalised rotor commands (4,) for this tick; always finite, always in [-1, 1]."""
        u = self._tick(now_s, s)
        u = np.where(np.isfinite(u), u, self._hover_cmd)
        return np.clip(u, -1.0, 1.0)

    def _tick(self, now_s: float, s: QuadState) -> np.ndarray:
        if not s.finite():
            self.last_reason = "bad_state"
            return self._hover_cmd.copy()
        mode, sp = self.watchdog.update(now_s, s.pos)
        if mode in (QuadMode.ESTOP, QuadMode.LANDED, QuadMode.WAITING) or self.values is None:
            self.last_reason = "estop" if mode is QuadMode.ESTOP else "off"
            return MOTORS_OFF.copy()
        if sp is not None:  # HOVER / LAND
            self.last_reason = "watchdog"
            return self._fly_to(s, sp, floor=mode is not QuadMode.LAND)
        v = self.values
        if not np.isfinite(v).all():
            if self._nan_hover_pos is None:
                self._nan_hover_pos = s.pos.copy()
            self.last_reason = "hover_nan"
            return self._fly_to(s, self._nan_hover_pos)
        self._nan_hover_pos = None
        ctl = self.controller
        if self.kind == "rotors":
            if self.cfg.safety_enabled and self.safety.rotors_need_override(s, tilt_of(s.rot)):
                self.last_reason = "rotors_override"
                return self._fly_to(s, s.pos)
            self.last_reason = "track"
            return v.copy()
        if self.cfg.safety_enabled and not self.safety.inside(s.pos):
            self.last_reason = "fence"
            return self._fly_to(s, s.pos)  # _fly_to flies the fence's way out
        if self.kind == "position":
            self.last_reason = "track"
            return self._fly_accel(s, ctl.accel_for(s, v[:3]), float(v[3]))
        roll, pitch, yaw_rate, thrust = (float(x) for x in v)
        if self.cfg.safety_enabled:
            a_safe, changed = self.safety.filter_accel(s, ctl.implied_accel(s, roll, pitch, thrust),
                                                       tilt_cmd_rad=self.cfg.control.max_tilt_cmd_rad)
            if changed:
                self.last_reason = "filtered"
                return ctl.from_accel(s, a_safe)
        self.last_reason = "track"
        return ctl.attitude(s, roll, pitch, yaw_rate, thrust)

    def _fly_to(self, s: QuadState, pos_sp, yaw_sp=None, floor: bool = True) -> np.ndarray:
        """Fly to ``pos_sp``; outside the fence (safety on) the fence's way out instead."""
        vel_sp = None
        if self.cfg.safety_enabled and not self.safety.inside(s.pos, floor):
            if self.safety.landed(s):
                return MOTORS_OFF.copy()
            pos_sp, vel_sp = self.safety.outside_setpoint(s)
            floor = floor and vel_sp is None  # landing outside: the floor does not hold it up
        return self._fly_accel(s, self.controller.accel_for(s, pos_sp, vel_sp), yaw_sp, floor)

    def _fly_accel(self, s: QuadState, accel, yaw_sp, floor: bool = True) -> np.ndarray:
        if self.cfg.safety_enabled:
            accel = self.safety.filter_accel(s, accel, floor, self.cfg.control.max_tilt_cmd_rad)[0]
        return self.controller.from_accel(s, accel, yaw_sp)
