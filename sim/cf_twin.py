"""The quad twin as a link: the same interface as the Crazyflie driver (:class:`robot_rl.drivers.crazyflie.Crazyflie`:
``connect``, ``command``, ``takeoff`` / ``land`` / ``go_to``, ``notify_setpoints_stop``, ``emergency``, ``arm``,
``state``, ``status``, ``on_state`` / ``on_event``), with the vehicle of the CRTP protocol peer
(:class:`~robot_rl.sim.cf_vehicle.CfVehicle`: our physics and onboard model, not the firmware) in-process instead
of behind cflib, and the same setpoint guard in front of it. The quad twin node serves the Crazyflie node's
contract over it, so an actor cannot tell the two apart.

One thread runs the vehicle in real time (``dt_s`` physics steps), the guard every ``1 / command_hz`` s and the
state callback every ``1 / state_hz`` s.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from robot_rl.contract.params import param
from robot_rl.contract.quad import CF2X, QuadParams, QuadState, QuadTaskIO, attitude_from_action, checked_action
from robot_rl.controllers.quad_setpoints import LinkEvent, QuadLinkConfig, QuadSetpointGuard, Setpoint
from robot_rl.sim.cf_vehicle import CfVehicle, CfVehicleConfig

KINDS = {"position": "position", "velocity": "velocity", "full_state": "full_state", "hover": "hover",
         "attitude": "legacy", "stop": "stop"}  # guard setpoint -> the vehicle's streamed setpoint


@dataclass(frozen=True)
class CfTwinConfig(QuadLinkConfig):
    state_hz: float = param(100.0, gt=0.0, le=500.0, doc="odom / pose rate")
    require_arming: bool = param(False, doc="motors stay off until armed (a brushless Crazyflie)")


class CfTwinLink:
    def __init__(self, cfg: CfTwinConfig = CfTwinConfig(), params: QuadParams = CF2X,
                 on_state: Callable[[QuadState, float], None] | None = None,
                 on_event: Callable[[LinkEvent], None] | None = None):
        self.cfg, self.p = cfg, params
        self.vehicle = CfVehicle(CfVehicleConfig(require_arming=cfg.require_arming, full_thrust_n=cfg.full_thrust_n),
                                 params)
        self.vehicle.group_mask = cfg.group_mask
        self.guard = QuadSetpointGuard(params, cfg.guard)
        self.on_state, self.on_event = on_state, on_event
        self.link = "disconnected"
        self.state_count = 0
        self._lock = threading.RLock()
        self._state: tuple[QuadState, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._streaming = False  # the guard's last setpoint was a streamed one (not none / stop)

    def connect(self) -> None:
        self._state = (self.vehicle.state(), time.monotonic())
        self._thread = threading.Thread(target=self._loop, name="quad-twin", daemon=True)
        self._thread.start()
        self.link = "connected"
        if self.on_event is not None:
            self.on_event(LinkEvent(time.monotonic(), "connected", "quad twin running"))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.link = "disconnected"

    def _loop(self) -> None:
        dt = self.vehicle.cfg.dt_s
        every_cmd = max(1, int(round(1.0 / (self.cfg.command_hz * dt))))
        every_state = max(1, int(round(1.0 / (self.cfg.state_hz * dt))))
        k, next_t = 0, time.monotonic()
        while not self._stop.is_set():
            next_t += dt
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:  # fell behind (a loaded machine): run on from now
                next_t = time.monotonic()
            now = time.monotonic()
            with self._lock:
                if k % every_cmd == 0:
                    self._apply(self.guard.tick(now, self.vehicle.state()))
                self.vehicle.step()
                s = self.vehicle.state()
                self._state = (s, now)
            k += 1
            if k % every_state == 0:
                self.state_count += 1
                if self.on_state is not None:
                    self.on_state(s, now)

    def _apply(self, sp: Setpoint) -> None:
        if sp.kind == "none":
            if self._streaming:  # as the driver: a stream that ends hands over to the high-level commander (holds)
                self.vehicle.notify_setpoints_stop()
                self._streaming = False
            return
        self._streaming = sp.kind != "stop"
        if sp.kind == "attitude" and self.vehicle._thrust_locked:  # as the driver: release the thrust lock first
            self.vehicle.on_setpoint("legacy", [0.0, 0.0, 0.0, 0.0])
        self.vehicle.on_setpoint(KINDS[sp.kind], sp.values)

    # ---- the driver's interface -----------------------------------------------------------------------------
    def state(self) -> tuple[QuadState, float] | None:
        return self._state

    def command(self, kind: str, values) -> None:
        self.guard.set_command(time.monotonic(), kind, values)

    def act(self, action, io: QuadTaskIO) -> None:
        self.command("attitude", attitude_from_action(checked_action(action), io, self.p))

    def takeoff(self, height_m=None, duration_s=None, group_mask=None) -> float:
        h = self.guard.clip_target((0.0, 0.0, self.cfg.takeoff_height_m if height_m is None else height_m))[2]
        self._high_level("takeoff", group_mask, height_m=h, use_current_yaw=True,
                         duration_s=self.cfg.takeoff_duration_s if duration_s is None else duration_s)
        return h

    def land(self, height_m: float = 0.0, duration_s=None, group_mask=None) -> None:
        self._high_level("land", group_mask, height_m=height_m, use_current_yaw=True,
                         duration_s=self.cfg.land_duration_s if duration_s is None else duration_s)

    def go_to(self, x, y, z, yaw_rad, duration_s, relative=False, group_mask=None):
        if relative:
            x, y, z = np.asarray([x, y, z], float) + self.vehicle.state().pos
        target = self.guard.clip_target((x, y, z))
        self._high_level("go_to", group_mask, x=target[0], y=target[1], z=target[2], yaw=yaw_rad,
                         duration_s=duration_s)
        return target

    def _high_level(self, cmd: str, group_mask, **kw) -> None:
        with self._lock:
            self.guard.reset()
            self.vehicle.notify_setpoints_stop()  # as the driver: hand the high-level commander control first
            self._streaming = False
            self.vehicle.high_level(cmd, self.cfg.group_mask if group_mask is None else int(group_mask), **kw)

    def notify_setpoints_stop(self, remain_valid_ms: int = 0) -> None:
        with self._lock:
            self.guard.reset()
            self.vehicle.notify_setpoints_stop()
            self._streaming = False

    def emergency(self) -> None:
        with self._lock:
            self.guard.estop()
            self.vehicle.emergency_stop()

    def arm(self, do_arm: bool = True) -> None:
        with self._lock:
            self.vehicle.arm(do_arm)

    @property
    def flying(self) -> bool:
        return self.vehicle.flying

    def status(self) -> dict:
        last = self.guard.last
        return {"link": self.link, "uri": "twin", "battery_v": self.vehicle.battery_v,
                "supervisor_info": self.vehicle.bitfield(), "estop": self.guard.estopped,
                "watchdog": self.guard.watchdog.mode.value, "setpoint": last.kind, "reason": last.reason,
                "state_age_s": 0.0, "states": self.state_count, "flying": self.flying}
