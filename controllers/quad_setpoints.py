"""The quadrotor's safety at the setpoint level (plain numpy, no I/O, time passed in): what a ground station (the
Crazyflie driver, or the twin node standing in for it) runs before any setpoint leaves for the vehicle, whose own
controller then flies it. The same limits as the twins' fast loop (:mod:`robot_rl.controllers.quad_stack`), applied
to setpoints instead of rotor commands:

1. e-stop latched -> ``stop`` (motors off);
2. a non-finite measured state -> hover at the last finite position (nothing else can be checked);
3. the watchdog (:class:`~robot_rl.controllers.watchdog.QuadWatchdog`): a command older than
   ``setpoint_timeout_s`` -> hover where the vehicle was, then land; landed -> ``stop``; no command (idle, or the
   vehicle's high-level commander flying a takeoff / land / go_to) -> ``none`` (nothing is streamed), unless the
   vehicle is outside the fence: then the guard takes over (streaming a setpoint overrides the high-level commander
   on a Crazyflie);
4. the latest command: NaN/inf -> hover where it arrived; a measured tilt above ``max_tilt_rad`` -> hover (level);
   outside the fence -> back to the nearest point inside (``outside="return"``) or straight down (``"land"``);
   a position inside the fence shrunk by ``return_margin_m``; a velocity within the fence speed bound and
   ``max_speed_m_per_s``; an attitude within ``max_tilt_cmd_rad`` and the thrust range, and its implied
   acceleration through :meth:`QuadSafetyFilter.filter_accel` (a changed one is flown as the attitude that gives
   the filtered acceleration).

Setpoint kinds (SI units, radians): ``position`` (x, y, z, yaw), ``velocity`` (vx, vy, vz world, yaw rate),
``full_state`` (x, y, z, vx, vy, vz, yaw), ``attitude`` (roll, pitch, yaw rate, collective thrust N), ``hover``
(vx, vy in the body's heading frame, yaw rate, height), ``stop``, ``none``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from robot_rl.contract.params import param
from robot_rl.contract.quad import CF2X, QuadParams, QuadState
from robot_rl.contract.rotations import mat_to_euler_zyx
from robot_rl.controllers.quad_control import QuadControlConfig, QuadController, tilt_of, yaw_of
from robot_rl.controllers.quad_safety import QuadSafetyConfig, QuadSafetyFilter
from robot_rl.controllers.watchdog import QuadMode, QuadWatchdog, QuadWatchdogConfig

COMMAND_SIZES = {"position": 4, "velocity": 4, "full_state": 7, "attitude": 4, "hover": 4}


@dataclass(frozen=True)
class Setpoint:
    kind: str  # position | velocity | full_state | attitude | stop | none
    values: tuple[float, ...] = ()
    reason: str = ""  # track | clipped | filtered | fence | tilt | hover_nan | watchdog | estop | landed | idle


NONE = Setpoint("none", (), "idle")


@dataclass(frozen=True)
class QuadGuardConfig:
    control: QuadControlConfig = field(default_factory=QuadControlConfig)  # max_tilt_cmd_rad, thrust floor
    safety: QuadSafetyConfig = field(default_factory=QuadSafetyConfig)
    watchdog: QuadWatchdogConfig = field(default_factory=QuadWatchdogConfig)


def _tilt(roll: float, pitch: float) -> float:
    return math.acos(max(-1.0, min(1.0, math.cos(roll) * math.cos(pitch))))


@dataclass(frozen=True)
class QuadLinkConfig:
    """What a quadrotor link (the Crazyflie driver, the twin standing in for it) and its ROS node share."""

    command_hz: float = param(100.0, gt=0.0, le=500.0, doc="guard + setpoint rate")
    full_thrust_n: float = param(4 * CF2X.max_thrust_per_rotor_n, gt=0.0,
                                 doc="collective thrust of a legacy thrust command of 65535")
    takeoff_height_m: float = param(0.5, gt=0.0, doc="default takeoff height")
    takeoff_duration_s: float = param(2.0, gt=0.0)
    land_duration_s: float = param(2.0, gt=0.0)
    group_mask: int = param(0, ge=0, le=255, doc="high-level commander group (0: none; commands for group 0 reach all)")
    world_frame: str = param("world", doc="frame of odom / pose and of stamped commands (empty accepted)")
    max_future_stamp_s: float = param(0.5, gt=0.0, doc="a command stamped further ahead is refused")
    guard: QuadGuardConfig = field(default_factory=QuadGuardConfig)


@dataclass
class LinkEvent:
    t_s: float
    kind: str  # connected | lost | reconnected | failed
    text: str


class QuadSetpointGuard:
    def __init__(self, p: QuadParams, cfg: QuadGuardConfig = QuadGuardConfig()):
        self.p, self.cfg = p, cfg
        self.ctl = QuadController(p, cfg.control)
        self.safety = QuadSafetyFilter(cfg.safety, p.gravity_m_per_s2)
        self.watchdog = QuadWatchdog(cfg.watchdog)
        self.reset()

    def reset(self) -> None:
        """Forget the command and any landing (a new takeoff: the operator's decision)."""
        self.watchdog.reset()
        self.kind: str | None = None
        self.values: np.ndarray | None = None
        self._hold: np.ndarray | None = None  # where a NaN command, a tilt or a bad state hovers
        self._last_pos: np.ndarray | None = None
        self.last = NONE

    def estop(self) -> None:
        self.watchdog.estop()

    @property
    def estopped(self) -> bool:
        return self.watchdog.estop_latched

    def set_command(self, now_s: float, kind: str, values) -> None:
        """The latest streamed command, arrived at ``now_s`` (a finite one refreshes the watchdog). ValueError for an
        unknown kind or a wrong size."""
        if kind not in COMMAND_SIZES:
            raise ValueError(f"unknown setpoint kind {kind!r}; known: {', '.join(COMMAND_SIZES)}")
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.shape != (COMMAND_SIZES[kind],):
            raise ValueError(f"a {kind} setpoint has {COMMAND_SIZES[kind]} numbers, got {v.shape[0]}")
        self.kind, self.values = kind, v
        if np.isfinite(v).all():
            self.watchdog.on_setpoint(now_s)

    def tick(self, now_s: float, s: QuadState | None) -> Setpoint:
        self.last = self._tick(now_s, s)
        return self.last

    # ---- the decision -----------------------------------------------------------------------------------------
    def _tick(self, now_s: float, s: QuadState | None) -> Setpoint:
        if self.watchdog.estop_latched:
            return Setpoint("stop", (), "estop")
        if s is None or not s.finite():
            if self._last_pos is None:
                return Setpoint("stop", (), "bad_state")
            return self._position(self._last_pos, None, "bad_state")
        self._last_pos = s.pos.copy()
        mode, sp = self.watchdog.update(now_s, s.pos)
        if mode is QuadMode.LANDED:
            return Setpoint("stop", (), "landed")
        # the fence's floor counts only while streaming (on the ground, taking off or landing it does not)
        outside = not self.safety.inside(s.pos, floor=mode in (QuadMode.TRACKING, QuadMode.HOVER))
        if outside:
            return self._fence(s)
        if mode is QuadMode.WAITING or self.values is None:
            return NONE
        if sp is not None:  # HOVER / LAND
            return self._position(sp, yaw_of(s.rot), "watchdog")
        v = self.values
        finite = all(math.isfinite(x) for x in v)
        if not finite or tilt_of(s.rot) > self.cfg.safety.max_tilt_rad:
            reason = "hover_nan" if not finite else "tilt"
            if self._hold is None:
                self._hold = s.pos.copy()
            return self._position(self._hold, yaw_of(s.rot), reason)
        self._hold = None
        if self.kind == "position":
            return self._position(v[:3], float(v[3]), "track")
        if self.kind == "full_state":
            sp = self._position(v[:3], float(v[6]), "track")
            vel = self._velocity(s, v[3:6])
            reason = "clipped" if sp.reason == "clipped" or not np.allclose(vel, v[3:6]) else "track"
            return Setpoint("full_state", sp.values[:3] + tuple(vel) + sp.values[3:], reason)
        if self.kind == "hover":  # heading-frame velocity: bounded in the world frame, rotated back
            yaw = yaw_of(s.rot)
            c, si = math.cos(yaw), math.sin(yaw)
            want = np.array([c * v[0] - si * v[1], si * v[0] + c * v[1], 0.0])
            vel = self._velocity(s, want)
            z = self._position((s.pos[0], s.pos[1], v[3]), None, "track")
            reason = "track" if np.allclose(vel, want) and z.reason == "track" else "clipped"
            return Setpoint("hover", (c * vel[0] + si * vel[1], -si * vel[0] + c * vel[1], float(v[2]), z.values[2]),
                            reason)
        if self.kind == "velocity":
            vel = self._velocity(s, v[:3])
            same = all(abs(a - b) <= 1e-9 for a, b in zip(vel, v[:3]))
            return Setpoint("velocity", tuple(float(x) for x in vel) + (float(v[3]),), "track" if same else "clipped")
        return self._attitude(s, *(float(x) for x in v))

    def clip_target(self, xyz) -> tuple[float, float, float]:
        """A high-level target (takeoff height, go_to goal) inside the fence by the return margin (the floor: 0)."""
        m = self.cfg.safety.return_margin_m
        lo, hi = self.safety.lo + m, self.safety.hi - m
        return tuple(float(v) for v in np.clip(np.asarray(xyz, float), [lo[0], lo[1], 0.0], hi))

    def _position(self, pos, yaw, reason: str) -> Setpoint:
        m = self.cfg.safety.return_margin_m
        # plain floats: three numbers, and this runs on every command (numpy's per-call cost dominated it)
        clipped = [min(max(float(p), float(lo) + m), float(hi) - m) for p, lo, hi in zip(pos, self.safety.lo,
                                                                                       self.safety.hi)]
        if reason == "watchdog":  # the landing ramp goes below the fence floor
            clipped[2] = min(float(pos[2]), float(self.safety.hi[2]) - m)
        elif any(c != float(p) for c, p in zip(clipped, pos)):
            reason = "clipped"
        return Setpoint("position", (*clipped, 0.0 if yaw is None else float(yaw)), reason)

    def _velocity(self, s: QuadState, vel) -> np.ndarray:
        """Each axis's speed toward a face within the fence speed bound, then the norm within max_speed. The vehicle
        tracks a velocity setpoint with a lag: the distance counts from where it will be ``response_time_s`` ahead at
        its measured speed."""
        v = np.asarray(vel, dtype=float).copy()
        ahead = s.linvel * self.cfg.safety.response_time_s
        up = self.safety.allowed_speed_toward(self.safety.hi - s.pos - np.maximum(ahead, 0.0))
        down = self.safety.allowed_speed_toward(s.pos - self.safety.lo + np.minimum(ahead, 0.0))
        v = np.minimum(np.maximum(v, -down), up)
        n = float(np.linalg.norm(v))
        vmax = self.cfg.safety.max_speed_m_per_s
        return v * (vmax / n) if n > vmax else v

    def _attitude(self, s: QuadState, roll, pitch, yaw_rate, thrust) -> Setpoint:
        c, p = self.cfg.control, self.p
        lo_t, hi_t = c.min_thrust_fraction_of_weight * p.weight_n, 4.0 * p.max_thrust_per_rotor_n
        t = min(max(thrust, lo_t), hi_t)
        r, pi = roll, pitch
        if _tilt(roll, pitch) > c.max_tilt_cmd_rad:  # scale roll and pitch together onto the tilt limit (bisection)
            lo, hi = 0.0, 1.0
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if _tilt(roll * mid, pitch * mid) <= c.max_tilt_cmd_rad else (lo, mid)
            r, pi = roll * lo, pitch * lo
        reason = "track" if (t, r, pi) == (thrust, roll, pitch) else "clipped"
        a_safe, changed = self.safety.filter_accel(s, self.ctl.implied_accel(s, r, pi, t),
                                                   tilt_cmd_rad=c.max_tilt_cmd_rad)
        if changed:
            t, rot = self.ctl.thrust_attitude_for(a_safe, yaw_of(s.rot))
            r, pi, _ = mat_to_euler_zyx(rot)
            t, reason = min(max(t, lo_t), hi_t), "filtered"
        return Setpoint("attitude", (float(r), float(pi), float(yaw_rate), float(t)), reason)

    def _fence(self, s: QuadState) -> Setpoint:
        """Outside the fence: back in (position setpoint) or down where it is (velocity setpoint), then motors off
        at the floor (landing outside)."""
        if self.safety.landed(s):
            return Setpoint("stop", (), "landed")
        pos, vel = self.safety.outside_setpoint(s)
        if vel is None:
            return Setpoint("position", tuple(float(x) for x in pos) + (yaw_of(s.rot),), "fence")
        return Setpoint("velocity", tuple(float(x) for x in vel) + (0.0,), "fence")
