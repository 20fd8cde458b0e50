"""A Crazyflie over ``cflib``, the official client: connect by URI (``radio://0/80/2M/E7E7E7E7E7`` on hardware,
``udp://127.0.0.1:<port>`` against the CRTP protocol peer ``robot_rl.sim.cf_peer`` in tests).

* State from log blocks (``stateEstimate.x/y/z/vx/vy/vz``; ``stateEstimate.qx/qy/qz/qw`` + ``gyro.x/y/z`` fetched as
  FP16; every ``log_period_ms``, 10 ms = 100 Hz) as a :class:`~robot_rl.contract.quad.QuadState`; battery and the
  supervisor's bit field from a slower block.
* Commands (:meth:`Crazyflie.command`): ``position``, ``velocity``, ``full_state``, ``attitude`` (SI units and
  radians, see :mod:`robot_rl.controllers.quad_setpoints`), or a policy action in the quad's ``attitude`` convention
  (:meth:`Crazyflie.act`, :func:`robot_rl.contract.quad.attitude_from_action`). Nothing reaches the vehicle but
  through :class:`~robot_rl.controllers.quad_setpoints.QuadSetpointGuard` (geofence, speed, tilt, thrust range,
  NaN, watchdog: a stale command -> hover, then land), run every ``1 / command_hz`` s on the latest state.
* Takeoff, land, go_to through the high-level commander (targets clipped into the fence); notify setpoints stop;
  emergency stop through the supervisor (latched here too: the guard then sends only stop setpoints); arming.
* Link loss: no log packet for ``link_timeout_s`` -> reported (:attr:`Crazyflie.events`, ``on_event``), the link
  is closed and re-opened every ``reconnect_period_s``. Meanwhile the vehicle's own failsafe acts (the firmware's
  commander watchdog: no setpoint for 0.5 s -> level attitude, for 2 s -> motors off; a high-level trajectory
  runs on). After a reconnect the guard's watchdog decides (a stale command: hover, then land).
"""
from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from robot_rl.contract.params import param
from robot_rl.contract.quad import CF2X, QuadParams, QuadState, QuadTaskIO, attitude_from_action, checked_action
from robot_rl.controllers.quad_setpoints import LinkEvent, QuadLinkConfig, QuadSetpointGuard, Setpoint

POSE_VARS = ("stateEstimate.x", "stateEstimate.y", "stateEstimate.z",
             "stateEstimate.vx", "stateEstimate.vy", "stateEstimate.vz")
ATT_VARS = ("stateEstimate.qx", "stateEstimate.qy", "stateEstimate.qz", "stateEstimate.qw")
RATE_VARS = ("gyro.x", "gyro.y", "gyro.z")  # deg/s, fetched as FP16 so that one block holds attitude and rates
BAT_VARS = (("pm.vbat", "float"), ("pm.state", "int8_t"), ("supervisor.info", "uint16_t"))


class CrazyflieError(RuntimeError):
    pass


@dataclass(frozen=True)
class CrazyflieConfig(QuadLinkConfig):
    uri: str = param("radio://0/80/2M/E7E7E7E7E7", doc="cflib link URI (udp://127.0.0.1:<port> for the peer)")
    log_period_ms: int = param(10, ge=10, le=2550, doc="state log blocks' period (10 ms = 100 Hz)")
    battery_period_ms: int = param(100, ge=10, le=2550, doc="battery / supervisor log block period")
    connect_timeout_s: float = param(10.0, gt=0.0, doc="link setup (TOCs, parameters) must finish within this")
    link_timeout_s: float = param(0.5, gt=0.0, doc="no log packet for this long: the link is lost")
    reconnect_period_s: float = param(0.5, gt=0.0, doc="pause between reconnection attempts")
    arm_on_connect: bool = param(True, doc="send the supervisor's arming request once connected")


class Crazyflie:
    def __init__(self, cfg: CrazyflieConfig = CrazyflieConfig(), params: QuadParams = CF2X,
                 on_state: Callable[[QuadState, float], None] | None = None,
                 on_event: Callable[[LinkEvent], None] | None = None):
        import cflib.crtp

        cflib.crtp.init_drivers()
        self.cfg, self.p = cfg, params
        self.guard = QuadSetpointGuard(params, cfg.guard)
        self.on_state, self.on_event = on_state, on_event
        self.events: collections.deque[LinkEvent] = collections.deque(maxlen=100)
        self._lock = threading.RLock()
        self._guard_lock = threading.Lock()  # the guard loop and command() both tick the guard and send
        self._last_send_t = -math.inf
        self._cf = None
        self.link = "disconnected"
        self._state: QuadState | None = None
        self._state_t = -math.inf
        self._att = (np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3))
        self.state_count = 0
        self.log_ts: collections.deque[int] = collections.deque(maxlen=1000)  # pose blocks' vehicle time stamps [ms]
        self.battery_v, self.supervisor_info = math.nan, 0
        self.sent = collections.Counter()  # setpoints sent, by kind
        self._unlocked = False  # the legacy thrust lock is released once per connection
        self._streaming = False  # the last setpoint sent was a streamed one (not stop): its end must be notified
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_at: float | None = None

    # ---- link ---------------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the link (CrazyflieError if it cannot within ``connect_timeout_s``) and start the guard loop."""
        self._open()
        self._say("connected", f"connected to {self.cfg.uri}")
        self._thread = threading.Thread(target=self._loop, name="crazyflie-guard", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        from cflib.crazyflie import Crazyflie as CflibCrazyflie
        from cflib.crazyflie.log import LogConfig

        cf = CflibCrazyflie(rw_cache=None)
        done, failed = threading.Event(), []
        cf.fully_connected.add_callback(lambda uri: done.set())
        cf.connection_failed.add_callback(lambda uri, msg: (failed.append(msg), done.set()))
        cf.connection_lost.add_callback(lambda uri, msg: self._lost(f"cflib: {msg.splitlines()[0]}"))
        cf.open_link(self.cfg.uri)
        if not done.wait(self.cfg.connect_timeout_s) or failed:
            cf.close_link()
            raise CrazyflieError(f"cannot connect to {self.cfg.uri}: "
                                 f"{failed[0].splitlines()[0] if failed else 'no answer within the timeout'}")
        blocks = []
        for name, period, variables, cb in (
                ("pose", self.cfg.log_period_ms, [(v, "float") for v in POSE_VARS], self._on_pose),
                ("att", self.cfg.log_period_ms, [(v, "float") for v in ATT_VARS] + [(v, "FP16") for v in RATE_VARS],
                 self._on_att),
                ("battery", self.cfg.battery_period_ms, list(BAT_VARS), self._on_battery)):
            lc = LogConfig(name, period)
            for v, t in variables:
                lc.add_variable(v, t)
            cf.log.add_config(lc)
            lc.data_received_cb.add_callback(cb)
            blocks.append(lc)
        with self._lock:
            self._cf, self.link, self._unlocked, self._streaming = cf, "connected", False, False
            self._state_t = time.monotonic()  # the link timeout counts from here
        for lc in blocks:
            lc.start()
        if self.cfg.arm_on_connect:
            cf.supervisor.send_arming_request(True)
        if self.guard.estopped:  # latched across a reconnect
            cf.supervisor.send_emergency_stop()

    def _close_cf(self) -> None:
        with self._lock:
            cf, self._cf = self._cf, None
        if cf is None:
            return
        # close the link driver first: cflib's close_link would send a zero setpoint, which a vehicle in the air
        # obeys as "motors off" (on a lost link it may arrive late, on shutdown the node lands first)
        link, cf.link = cf.link, None
        try:
            if link is not None:
                link.close()
            cf.close_link()
        except Exception:  # noqa: BLE001 -- a dead link may fail to close; it is gone either way
            pass

    def _lost(self, why: str) -> None:
        with self._lock:
            if self.link != "connected":
                return
            self.link = "lost"
            self._lost_at = time.monotonic()
        self._say("lost", f"link lost ({why}); the vehicle's own failsafe acts (commander watchdog: level after "
                          "0.5 s, motors off after 2 s); reconnecting")

    def _say(self, kind: str, text: str) -> None:
        ev = LinkEvent(time.monotonic(), kind, text)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def close(self) -> None:
        """Stop the guard loop and close the link (no last setpoint: land first if the vehicle is flying)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_cf()
        self.link = "disconnected"

    # ---- state ----------------------------------------------------------------------------------------------
    def _on_pose(self, ts, d, lc) -> None:
        q, w = self._att
        s = QuadState(np.array([d[v] for v in POSE_VARS[:3]], float), q, np.array([d[v] for v in POSE_VARS[3:]], float), w)
        now = time.monotonic()
        with self._lock:
            self._state, self._state_t = s, now
            self.state_count += 1
            self.log_ts.append(ts)
        if self.on_state is not None:
            self.on_state(s, now)

    def _on_att(self, ts, d, lc) -> None:
        qx, qy, qz, qw = (d[v] for v in ATT_VARS)
        q = np.array([qw, qx, qy, qz], float)
        n = float(np.linalg.norm(q))
        self._att = (q / n if n > 0 else q, np.radians([d[v] for v in RATE_VARS]))

    def _on_battery(self, ts, d, lc) -> None:
        self.battery_v, self.supervisor_info = float(d["pm.vbat"]), int(d["supervisor.info"])

    def state(self) -> tuple[QuadState, float] | None:
        """(latest state, its arrival time on time.monotonic) or None before the first."""
        with self._lock:
            return None if self._state is None else (self._state, self._state_t)

    # ---- commands -------------------------------------------------------------------------------------------
    def command(self, kind: str, values) -> None:
        """Stream a setpoint: through the guard and sent at once (ValueError for an unknown kind or size); the guard
        loop repeats it every ``1 / command_hz`` s and acts when commands stop."""
        now = time.monotonic()
        with self._guard_lock:
            self.guard.set_command(now, kind, values)
            if self.link == "connected" and self._state is not None:
                self._send(self.guard.tick(now, self._state))

    def act(self, action, io: QuadTaskIO) -> None:
        """A policy action in the quad's ``attitude`` convention."""
        self.command("attitude", attitude_from_action(checked_action(action), io, self.p))

    def takeoff(self, height_m: float | None = None, duration_s: float | None = None, group_mask=None) -> float:
        """High-level takeoff (the height clipped into the fence); forgets any streamed command and landing."""
        h = self.guard.clip_target((0.0, 0.0, self.cfg.takeoff_height_m if height_m is None else height_m))[2]
        with self._guard_lock:  # not between the guard loop's tick and its send
            self.guard.reset()
        self._hl("takeoff", h, None, True, self.cfg.takeoff_duration_s if duration_s is None else duration_s,
                 group_mask=group_mask)
        return h

    def land(self, height_m: float = 0.0, duration_s: float | None = None, group_mask=None) -> None:
        with self._guard_lock:  # not between the guard loop's tick and its send
            self.guard.reset()
        self._hl("land", height_m, None, True, self.cfg.land_duration_s if duration_s is None else duration_s,
                 group_mask=group_mask)

    def go_to(self, x, y, z, yaw_rad, duration_s: float, relative: bool = False, group_mask=None):
        """High-level go_to; the (absolute) target is clipped into the fence. Returns the target flown to."""
        if relative:
            st = self.state()
            if st is None:
                raise CrazyflieError("go_to relative: no state yet")
            x, y, z = np.asarray([x, y, z], float) + st[0].pos
        target = self.guard.clip_target((x, y, z))
        with self._guard_lock:  # not between the guard loop's tick and its send
            self.guard.reset()
        cf = self._cflib()
        cf.commander.send_notify_setpoint_stop(0)  # as _hl: the high-level commander must have control
        self._streaming = False
        cf.high_level_commander.go_to(*target, float(yaw_rad), float(duration_s), relative=False,
                                      group_mask=self._mask(group_mask))
        return target

    def _hl(self, what, height, yaw, use_current, duration_s, group_mask=None) -> None:
        cf = self._cflib()
        # streamed setpoints outrank the high-level commander until they stop for 2 s (firmware commander; cflib's
        # close_link itself streams a last zero setpoint): hand control over first, or the takeoff / land is ignored
        cf.commander.send_notify_setpoint_stop(0)
        self._streaming = False
        hl = cf.high_level_commander
        getattr(hl, what)(float(height), float(duration_s), group_mask=self._mask(group_mask),
                          yaw=None if use_current else yaw)

    def _mask(self, group_mask) -> int:
        return self.cfg.group_mask if group_mask is None else int(group_mask)

    def notify_setpoints_stop(self, remain_valid_ms: int = 0) -> None:
        """Stop streaming and hand control to the high-level commander (which holds the current position)."""
        with self._guard_lock:  # not between the guard loop's tick and its send
            self.guard.reset()
        self._cflib().commander.send_notify_setpoint_stop(int(remain_valid_ms))
        self._streaming = False

    def emergency(self) -> None:
        """Motors off now (supervisor emergency stop, then stop setpoints), latched until this object is remade."""
        self.guard.estop()
        cf = self._cf
        if cf is not None:
            cf.supervisor.send_emergency_stop()
            cf.commander.send_stop_setpoint()

    def arm(self, do_arm: bool = True) -> None:
        self._cflib().supervisor.send_arming_request(bool(do_arm))

    def _cflib(self):
        cf = self._cf
        if cf is None:
            raise CrazyflieError(f"no link to {self.cfg.uri} ({self.link})")
        return cf

    @property
    def flying(self) -> bool:
        """The supervisor's "is flying" bit (from the battery / supervisor log block)."""
        return bool(self.supervisor_info & (1 << 4))

    def status(self) -> dict:
        st = self.state()
        last = self.guard.last
        return {"link": self.link, "uri": self.cfg.uri, "battery_v": self.battery_v,
                "supervisor_info": self.supervisor_info, "estop": self.guard.estopped,
                "watchdog": self.guard.watchdog.mode.value, "setpoint": last.kind, "reason": last.reason,
                "state_age_s": None if st is None else time.monotonic() - st[1], "states": self.state_count,
                "flying": self.flying}

    # ---- the guard loop ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        period = 1.0 / self.cfg.command_hz
        next_t = time.monotonic()
        while not self._stop.is_set():
            next_t += period
            self._stop.wait(max(0.0, next_t - time.monotonic()))
            now = time.monotonic()
            if self.link == "connected":
                with self._lock:
                    s, t = self._state, self._state_t
                if now - t > self.cfg.link_timeout_s:
                    self._lost(f"no state for {now - t:.2f} s")
                    continue
                with self._guard_lock:
                    if now - self._last_send_t >= 0.9 * period:  # a command sent it just now: no repeat yet
                        self._send(self.guard.tick(now, s))
            elif self.link == "lost":
                self._reconnect()
                next_t = time.monotonic()

    def _reconnect(self) -> None:
        self._close_cf()
        try:
            self._open()
        except CrazyflieError as e:
            self._say("failed", f"reconnect failed: {e}")
            self._stop.wait(self.cfg.reconnect_period_s)
            with self._lock:
                self.link = "lost"
            return
        down = time.monotonic() - (self._lost_at or time.monotonic())
        self._say("reconnected", f"link back after {down:.1f} s")

    def _send(self, sp: Setpoint) -> None:
        cf = self._cf
        if cf is None:
            return
        if sp.kind == "none":
            # a stream that ends (the guard's fence takeover over, say) hands over to the high-level commander,
            # which holds: left alone, the firmware's watchdog levels the vehicle after 0.5 s and stops the motors
            # after 2 s, in the air
            if self._streaming:
                cf.commander.send_notify_setpoint_stop(0)
                self._streaming = False
            return
        self._streaming = sp.kind != "stop"
        c, v = cf.commander, sp.values
        if sp.kind == "stop":
            c.send_stop_setpoint()
        elif sp.kind == "position":
            c.send_position_setpoint(v[0], v[1], v[2], math.degrees(v[3]))
        elif sp.kind == "velocity":
            c.send_velocity_world_setpoint(v[0], v[1], v[2], math.degrees(v[3]))
        elif sp.kind == "full_state":
            half = 0.5 * v[6]
            c.send_full_state_setpoint(v[:3], v[3:6], (0.0, 0.0, 0.0), (0.0, 0.0, math.sin(half), math.cos(half)),
                                       0.0, 0.0, 0.0)
        elif sp.kind == "hover":  # the firmware's hover yaw rate is clockwise-positive (Crazyswarm2 negates it too)
            c.send_hover_setpoint(v[0], v[1], -math.degrees(v[2]), v[3])
        elif sp.kind == "attitude":
            if not self._unlocked:  # the firmware ignores legacy setpoints until one with zero thrust
                c.send_setpoint(0.0, 0.0, 0.0, 0)
                self._unlocked = True
            thrust = int(round(min(max(v[3] / self.cfg.full_thrust_n, 0.0), 1.0) * 65535))
            c.send_setpoint(math.degrees(v[0]), math.degrees(v[1]), math.degrees(v[2]), thrust)
        self.sent[sp.kind] += 1
        self._last_send_t = time.monotonic()
