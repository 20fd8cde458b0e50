"""The vehicle behind the CRTP protocol peer (``sim/cf_peer.py``): the quadrotor twin's physics
(:class:`~robot_rl.sim.quad_twin.QuadTwin`, MuJoCo) flown by our cascaded controller standing in for the
Crazyflie's onboard one, with the onboard behaviours a client can observe over CRTP modelled after the firmware's
documented behaviour. It is **not** the Crazyflie firmware (no firmware code runs here): the estimator is perfect,
the controller is ours, and the limits below are simplifications.

Modelled (firmware behaviour, per the CRTP commander / high-level commander / supervisor docs):

* streamed setpoints (position, velocity world, hover, full state, legacy roll / pitch / yaw rate / thrust) take
  priority over the high-level commander until a *notify setpoints stop* hands control back (the high-level
  commander then holds the current position);
* the commander watchdog: no streamed setpoint for ``wdt_stabilize_s`` (0.5 s) -> level attitude at the last
  thrust; for ``wdt_shutdown_s`` (2 s) -> motors off (the vehicle's own link-loss failsafe);
* the legacy setpoint's thrust lock: legacy setpoints are ignored until one with thrust 0 arrives;
* high-level takeoff / land / go_to as smooth (minimum-jerk) position trajectories; after a land the motors stop
  once on the ground; a *stop* cuts the motors; group masks (0 = every vehicle);
* the supervisor: arming (auto-armed unless ``require_arming``), emergency stop (motors off, locked until the
  vehicle restarts), the state bit field;
* a ground plane at z = 0 (the MuJoCo body has no contacts), a battery that discharges while the motors run, and
  a settable external force (wind), a peer-only knob for tests (the ``sim`` parameter group).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.quad import CF2X, QuadParams, QuadState
from robot_rl.controllers.quad_control import QuadController, yaw_of
from robot_rl.sim.quad_twin import QuadTwin

BITS = {"can_be_armed": 0, "is_armed": 1, "auto_armed": 2, "can_fly": 3, "is_flying": 4, "tumbled": 5,
        "locked": 6, "crashed": 7, "hl_active": 8, "hl_finished": 9, "hl_disabled": 10}


@dataclass(frozen=True)
class CfVehicleConfig:
    dt_s: float = 0.005  # physics and controller step: 200 Hz, as the quad env's fast loop (the firmware runs 500 Hz)
    wdt_stabilize_s: float = 0.5  # firmware COMMANDER_WDT_TIMEOUT_STABILIZE
    wdt_shutdown_s: float = 2.0  # firmware COMMANDER_WDT_TIMEOUT_SHUTDOWN
    require_arming: bool = False  # a brushed Crazyflie 2.x auto-arms; a brushless one must be armed
    full_thrust_n: float = 4 * CF2X.max_thrust_per_rotor_n  # legacy thrust 65535 = all rotors at max
    battery_full_v: float = 4.2
    battery_empty_v: float = 3.0
    battery_drain_v_per_s: float = 1.0 / 420.0  # ~7 minutes of flight
    landed_height_m: float = 0.03  # below this after a land trajectory: motors off


class CfVehicle:
    def __init__(self, cfg: CfVehicleConfig = CfVehicleConfig(), p: QuadParams = CF2X):
        self.cfg, self.p = cfg, p
        self.twin = QuadTwin("mujoco", p, cfg.dt_s)
        self.ctl = QuadController(p)
        self.twin.reset((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), rpm=np.zeros(4))
        self.t_s = 0.0
        self.wind_n = np.zeros(3)
        self.group_mask = 0
        self.armed = not cfg.require_arming
        self.locked = False  # emergency stop: until restart
        self.battery_v = cfg.battery_full_v
        self.rotor_cmd = np.full(4, -1.0)
        self.high_level_enabled = True
        self._stream: tuple[str, np.ndarray] | None = None  # the last streamed setpoint
        self._stream_t = -math.inf
        self._thrust_locked = True
        self._hl: tuple | None = None  # (t0, duration, p0, p1, yaw, landing) of a trajectory, or hold
        self._hl_finished = False
        self._yaw_sp = 0.0
        self.target_pos = np.zeros(3)  # the position set point flown last (firmware log group ctrltarget)

    # ---- inputs (from CRTP) -------------------------------------------------------------------------------------
    def on_setpoint(self, kind: str, values) -> None:
        """A streamed setpoint (SI units, radians): position (x y z yaw), velocity (vx vy vz yawrate, world),
        hover (vx vy body, yawrate, z), full_state (x y z vx vy vz yaw), legacy (roll pitch yawrate thrust N), stop."""
        v = np.asarray(values, dtype=float)
        if not np.isfinite(v).all():
            return
        if kind == "legacy":
            if self._thrust_locked:
                if v[3] > 0.0:
                    return
                self._thrust_locked = False
        self._stream, self._stream_t = (kind, v), self.t_s
        self._hl = None  # streamed setpoints override the high-level commander

    def notify_setpoints_stop(self) -> None:
        """Hand control back to the high-level commander, which holds the current position."""
        self._stream = None
        if self.flying and self._hl is None:  # a high-level trajectory in flight goes on
            s = self.state()
            self._hl = (self.t_s, 0.0, s.pos.copy(), s.pos.copy(), yaw_of(s.rot), False)

    def high_level(self, cmd: str, group_mask: int, **kw) -> None:
        """``takeoff`` / ``land`` (height_m, yaw, use_current_yaw, duration_s), ``go_to`` (x, y, z, yaw, duration_s,
        relative), ``stop``; ignored for another group, while streamed setpoints have priority, or disabled."""
        if group_mask and not (group_mask & self.group_mask):
            return
        if cmd == "stop":
            self._hl, self._stream = None, ("stop", np.zeros(0))
            return
        # streamed setpoints outrank it until they stop for the commander's shutdown timeout (firmware commander.c
        # drops the priority then: cflib's close_link ends on a zero legacy setpoint, and a later takeoff must fly)
        streaming = self._stream is not None and self._stream[0] != "stop" and \
            self.t_s - self._stream_t <= self.cfg.wdt_shutdown_s
        if not self.high_level_enabled or streaming:
            return
        if not self.armed or self.locked:
            return
        s = self.state()
        yaw = yaw_of(s.rot) if kw.get("use_current_yaw") else float(kw.get("yaw", 0.0))
        if cmd in ("takeoff", "land"):
            target = np.array([s.pos[0], s.pos[1], kw["height_m"]])
        else:
            target = np.array([kw["x"], kw["y"], kw["z"]], dtype=float)
            if kw.get("relative"):
                target, yaw = target + s.pos, yaw + yaw_of(s.rot)
        self._stream = None
        self._hl = (self.t_s, max(float(kw["duration_s"]), 1e-3), s.pos.copy(), target, yaw, cmd == "land")
        self._hl_finished = False

    def arm(self, do_arm: bool) -> bool:
        if self.locked:
            return False
        self.armed = bool(do_arm)
        return True

    def emergency_stop(self) -> None:
        self.locked = True
        self._hl, self._stream = None, None

    # ---- simulation ---------------------------------------------------------------------------------------------
    @property
    def flying(self) -> bool:
        return bool((self.rotor_cmd > -1.0).any())

    def state(self) -> QuadState:
        return self.twin.state()

    def step(self) -> None:
        s = self.state()
        u = self._rotors(s)
        self.rotor_cmd = u
        self.twin.step(u, self.wind_n if self.flying or s.pos[2] > 0.0 else None)
        self.t_s += self.cfg.dt_s
        if self.flying:
            self.battery_v = max(self.cfg.battery_empty_v, self.battery_v - self.cfg.battery_drain_v_per_s * self.cfg.dt_s)
        s = self.state()
        if s.pos[2] < 0.0:  # the ground: stop there, level, at the current heading
            yaw = yaw_of(s.rot)
            self.twin.body.reset(np.array([s.pos[0], s.pos[1], 0.0]), np.array([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]),
                                 np.zeros(3), np.zeros(3))

    def _rotors(self, s: QuadState) -> np.ndarray:
        off = np.full(4, -1.0)
        if self.locked or not self.armed:
            return off
        if self._stream is not None:
            return self._fly_stream(s)
        if self._hl is not None:
            return self._fly_high_level(s)
        return off

    def _fly_stream(self, s: QuadState) -> np.ndarray:
        kind, v = self._stream
        age = self.t_s - self._stream_t
        if kind == "stop" or age > self.cfg.wdt_shutdown_s:
            return np.full(4, -1.0)
        if age > self.cfg.wdt_stabilize_s:  # level at the last thrust (firmware: stabilize mode)
            thrust = v[3] if kind == "legacy" else self.p.weight_n
            return self.ctl.attitude(s, 0.0, 0.0, 0.0, thrust)
        yaw = yaw_of(s.rot)
        if kind == "legacy":
            if v[3] <= 0.0:
                return np.full(4, -1.0)
            return self.ctl.attitude(s, v[0], v[1], v[2], v[3])
        if kind == "position":
            self.target_pos = v[:3].copy()
            return self.ctl.position(s, v[:3], None, v[3])
        if kind == "full_state":
            self.target_pos = v[:3].copy()
            return self.ctl.position(s, v[:3], v[3:6], v[6])
        if kind == "hover":  # body-frame velocity, height
            c, si = math.cos(yaw), math.sin(yaw)
            vel = np.array([c * v[0] - si * v[1], si * v[0] + c * v[1], 0.0])
            pos = np.array([s.pos[0], s.pos[1], v[3]])
            self._yaw_sp = yaw + v[2] / self.ctl.cfg.yaw_gain_per_s  # the yaw set point that gives this yaw rate
            return self.ctl.position(s, pos, vel, self._yaw_sp)
        # velocity (world)
        self._yaw_sp = yaw + v[3] / self.ctl.cfg.yaw_gain_per_s
        return self.ctl.position(s, s.pos, v[:3], self._yaw_sp)

    def _fly_high_level(self, s: QuadState) -> np.ndarray:
        t0, dur, p0, p1, yaw, landing = self._hl
        tau = min(1.0, (self.t_s - t0) / dur) if dur > 0 else 1.0
        blend = tau ** 3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)  # minimum jerk
        rate = 30.0 * tau ** 2 * (1.0 - tau) ** 2 / dur if tau < 1.0 else 0.0
        curv = 60.0 * tau * (1.0 - tau) * (1.0 - 2.0 * tau) / dur ** 2 if tau < 1.0 else 0.0
        pos, vel, acc = p0 + (p1 - p0) * blend, (p1 - p0) * rate, (p1 - p0) * curv
        self.target_pos = pos
        if tau >= 1.0:
            self._hl_finished = True
            if landing and s.pos[2] <= self.cfg.landed_height_m:
                self._hl = None
                return np.full(4, -1.0)
        return self.ctl.position(s, pos, vel, yaw, acc_sp=acc)  # the plan's acceleration fed forward, as the firmware

    # ---- what the logs and the supervisor report ----------------------------------------------------------------
    def bitfield(self) -> int:
        on = {"can_be_armed": not self.locked, "is_armed": self.armed, "auto_armed": not self.cfg.require_arming,
              "can_fly": self.armed and not self.locked, "is_flying": self.flying, "locked": self.locked,
              "hl_active": self._hl is not None, "hl_finished": self._hl_finished,
              "hl_disabled": self._stream is not None}
        return sum(1 << BITS[k] for k, v in on.items() if v)
