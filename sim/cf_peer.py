"""A CRTP protocol peer for tests: a process that answers a Crazyflie client (cflib, unmodified) over cflib's UDP link
(``udp://127.0.0.1:<port>``: one CRTP packet per datagram, byte 0 the header ``port << 4 | 0b1100 | channel``, then
up to 30 payload bytes), with the quadrotor twin's physics behind it (:mod:`robot_rl.sim.cf_vehicle`).

**It is a protocol peer, not firmware SITL**: no Crazyflie firmware runs here. It implements enough of CRTP, byte
for byte as cflib 0.1.34 and the firmware's protocol docs lay the packets out, for cflib's own connection setup to
complete and for a driver to fly:

* link control (port 15): the ``Bitcraze Crazyflie`` source answer, echo (cflib's link statistics ping), null
  packets (scan); platform (13): protocol version :data:`PROTOCOL_VERSION` (>= 12: supervisor port; >= 4: TOC v2);
* memory (4): zero memories;
* parameters (2): TOC v2 (info, items), read, write (answered with the value), :data:`PARAMS`;
* logging (5): TOC v2 of :data:`LOG_VARS`, blocks (create / append v2, start with a period in 10 ms units,
  stop, delete, reset), each value sent in the type the client asked to fetch it as (float, FP16, ints);
* the legacy commander (3: roll, -pitch, yaw rate in degrees, thrust 0..65535), the generic commander (7: stop,
  position, velocity world, hover, full state; meta: notify setpoints stop), the high-level commander (8: set
  group mask, takeoff 2, land 2, go_to / go_to 2, stop), the supervisor (9: state bit field, arm, recover,
  emergency stop) and the legacy emergency stop (localization, 6);
* anything else is counted in ``unknown`` and ignored (never answered wrongly).

Run: ``python -m robot_rl.sim.cf_peer --port 19850 [--require-arming]``; it prints ``cf_peer ready udp://...``.
"""
from __future__ import annotations

import argparse
import math
import select
import socket
import struct
import sys
import time
import zlib

import numpy as np

from robot_rl.contract.rotations import mat_to_quat
from robot_rl.controllers.quad_control import yaw_of
from robot_rl.sim.cf_vehicle import CfVehicle, CfVehicleConfig

PROTOCOL_VERSION = 12
PORT = {"console": 0, "param": 2, "commander": 3, "mem": 4, "log": 5, "localization": 6, "generic": 7,
        "hl": 8, "supervisor": 9, "platform": 13, "linkctrl": 15}
# log types: id -> struct format (cflib's LogTocElement.types)
LOG_FMT = {1: "<B", 2: "<H", 3: "<L", 4: "<b", 5: "<h", 6: "<i", 7: "<f", 8: "<e"}
LOG_VARS = (  # (group, name, type id) -- the firmware's names and units (angles and rates in degrees)
    *[("stateEstimate", n, 7) for n in ("x", "y", "z", "vx", "vy", "vz", "qx", "qy", "qz", "qw", "roll", "pitch",
                                        "yaw")],
    ("gyro", "x", 7), ("gyro", "y", 7), ("gyro", "z", 7),
    ("pm", "vbat", 7), ("pm", "batteryLevel", 1), ("pm", "state", 4), ("supervisor", "info", 2),
    *[("motor", f"m{i}", 2) for i in range(1, 5)],
    ("ctrltarget", "x", 7), ("ctrltarget", "y", 7), ("ctrltarget", "z", 7),  # the position set point being flown
)
# params: (group, name, type byte (cflib's ParamTocElement: 0x08 uint8, 0x06 float; | 0x40 read-only), default)
PARAMS = (
    ("commander", "enHighLevel", 0x08, 1), ("stabilizer", "controller", 0x08, 1), ("stabilizer", "stop", 0x08, 0),
    ("firmware", "modified", 0x08 | 0x40, 1),
    ("sim", "windX", 0x06, 0.0), ("sim", "windY", 0x06, 0.0), ("sim", "windZ", 0x06, 0.0),  # peer-only (tests)
)
PARAM_FMT = {0x08: "<B", 0x06: "<f"}
MAX_BLOCK_BYTES = 26  # 30 - block id - 3-byte timestamp
ENOENT, E2BIG, EEXIST = 2, 7, 17


def header(port: str, channel: int) -> int:
    return (PORT[port] << 4) | 0x0C | channel


def toc_crc(entries) -> int:
    return zlib.crc32(";".join(".".join(str(x) for x in e[:3]) for e in entries).encode())


def quat_decompress(comp: int) -> np.ndarray:
    """x, y, z, w of the firmware's 32-bit compressed quaternion (quatcompress.h: largest component's index in
    the top 2 bits, the other three as sign + 9-bit magnitude)."""
    q = np.zeros(4)
    largest = comp >> 30
    for i in range(3, -1, -1):
        if i != largest:
            mag, neg = comp & 0x1FF, (comp >> 9) & 1
            comp >>= 10
            q[i] = (-1 if neg else 1) * (1 / math.sqrt(2)) * mag / 0x1FF
    q[largest] = math.sqrt(max(0.0, 1.0 - float(q @ q)))
    return q


class CfPeer:
    def __init__(self, port: int, host: str = "127.0.0.1", vehicle: CfVehicle | None = None):
        self.v = vehicle or CfVehicle()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.uri = f"udp://{host}:{self.sock.getsockname()[1]}"
        self.client = None
        self._retired: set = set()  # earlier clients: a reconnecting cflib opens a new socket, never the old one
        self.params = {f"{g}.{n}": d for g, n, _, d in PARAMS}
        self.blocks: dict[int, dict] = {}
        self.unknown = 0
        self.received = 0
        self._t0 = time.monotonic()

    # ---- I/O --------------------------------------------------------------------------------------------------
    def send(self, hdr: int, payload: bytes = b"") -> None:
        if self.client is not None:
            self.sock.sendto(bytes([hdr]) + bytes(payload), self.client)

    def serve_forever(self, stop=lambda: False) -> None:
        dt = self.v.cfg.dt_s
        next_step = time.monotonic()
        while not stop():
            timeout = max(0.0, next_step - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], timeout)
            while ready:
                data, addr = self.sock.recvfrom(64)
                if addr in self._retired:  # buffered datagrams of a client that has since reconnected
                    ready, _, _ = select.select([self.sock], [], [], 0.0)
                    continue
                if addr != self.client:  # a new client (a reconnect comes from a new port): its own log blocks
                    if self.client is not None:
                        self._retired.add(self.client)
                    self.blocks.clear()
                    self.client = addr  # answer the latest client
                self.handle(data)
                ready, _, _ = select.select([self.sock], [], [], 0.0)
            now = time.monotonic()
            steps = 0
            while next_step <= now and steps < 50:
                self.v.step()
                next_step += dt
                steps += 1
            if next_step < now - 0.1:  # fell behind (a stopped process): resume from now, do not race
                next_step = now
            self._send_logs(now)

    def handle(self, data: bytes) -> None:
        self.received += 1
        hdr, payload = data[0], data[1:]
        if hdr == 0xFF:  # null packet (scan / polling)
            self.send(0xFF)
            return
        port, ch = hdr >> 4, hdr & 0x03
        fn = {PORT["linkctrl"]: self._linkctrl, PORT["platform"]: self._platform, PORT["mem"]: self._mem,
              PORT["param"]: self._param, PORT["log"]: self._log, PORT["commander"]: self._legacy,
              PORT["generic"]: self._generic, PORT["hl"]: self._hl, PORT["supervisor"]: self._supervisor,
              PORT["localization"]: self._localization}.get(port)
        try:
            handled = fn is not None and fn(ch, payload) is not False
        except (struct.error, IndexError, KeyError):
            handled = False
        if not handled:
            self.unknown += 1

    # ---- link, platform, memory ----------------------------------------------------------------------------------
    def _linkctrl(self, ch, pl):
        if ch == 0:  # echo
            self.send(header("linkctrl", 0), pl)
        elif ch == 1:
            self.send(header("linkctrl", 1), b"Bitcraze Crazyflie")
        else:
            return False

    def _platform(self, ch, pl):
        if ch == 1 and pl[0] == 0:
            self.send(header("platform", 1), bytes([0, PROTOCOL_VERSION]))
        elif ch == 1 and pl[0] == 1:
            self.send(header("platform", 1), bytes([1]) + b"cf_peer")
        else:
            return False

    def _mem(self, ch, pl):
        if ch != 0 or pl[0] != 1:
            return False
        self.send(header("mem", 0), bytes([1, 0]))  # CMD_INFO_NBR: no memories

    def _toc(self, port: str, pl, entries, item) -> bool:
        """TOC v2: info -> (count, crc); item i -> (i, element bytes)."""
        if pl[0] == 3:
            self.send(header(port, 0), struct.pack("<BHI", 3, len(entries), toc_crc(entries)) + bytes(8))
            return True
        if pl[0] == 2:
            i = struct.unpack("<H", pl[1:3])[0]
            if i < len(entries):
                self.send(header(port, 0), struct.pack("<BH", 2, i) + item(entries[i]))
            return True
        return False

    # ---- parameters -----------------------------------------------------------------------------------------------
    def _param(self, ch, pl):
        if ch == 0:
            return self._toc("param", pl, PARAMS, lambda e: bytes([e[2]]) + f"{e[0]}\0{e[1]}\0".encode())
        i = struct.unpack("<H", pl[:2])[0]
        g, n, t, _ = PARAMS[i]
        fmt, name = PARAM_FMT[t & 0x0F], f"{g}.{n}"
        if ch == 1:  # read: id, status 0, value
            self.send(header("param", 1), pl[:2] + bytes([0]) + struct.pack(fmt, self.params[name]))
        elif ch == 2 and not t & 0x40:  # write: answered with the (new) value
            self.params[name] = struct.unpack(fmt, pl[2:2 + struct.calcsize(fmt)])[0]
            self._apply_param(name)
            self.send(header("param", 2), pl[:2] + struct.pack(fmt, self.params[name]))
        else:
            return False

    def _apply_param(self, name: str) -> None:
        p = self.params
        self.v.wind_n = np.array([p["sim.windX"], p["sim.windY"], p["sim.windZ"]], dtype=float)
        self.v.high_level_enabled = bool(p["commander.enHighLevel"])
        if name == "stabilizer.stop" and p[name]:
            self.v.emergency_stop()

    # ---- logging ----------------------------------------------------------------------------------------------------
    def _log(self, ch, pl):
        if ch == 0:
            return self._toc("log", pl, LOG_VARS, lambda e: bytes([e[2]]) + f"{e[0]}\0{e[1]}\0".encode())
        if ch != 1:
            return False
        cmd = pl[0]
        reply = lambda bid, err: self.send(header("log", 1), bytes([cmd, bid, err]))  # noqa: E731
        if cmd == 5:  # reset
            self.blocks.clear()
            reply(0, 0)
        elif cmd in (6, 7):  # create / append v2: (fetch | stored << 4, id lo, id hi) per variable
            bid = pl[1]
            if cmd == 6 and bid in self.blocks:
                return reply(bid, EEXIST)
            if cmd == 7 and bid not in self.blocks:
                return reply(bid, ENOENT)
            vars_ = self.blocks.setdefault(bid, {"vars": [], "period": 0, "next": 0.0})["vars"] if cmd == 6 else \
                self.blocks[bid]["vars"]
            new = [(pl[k] & 0x0F, struct.unpack("<H", pl[k + 1:k + 3])[0]) for k in range(2, len(pl) - 2, 3)]
            if any(i >= len(LOG_VARS) or f not in LOG_FMT for f, i in new) or \
                    sum(struct.calcsize(LOG_FMT[f]) for f, _ in vars_ + new) > MAX_BLOCK_BYTES:
                if cmd == 6:
                    del self.blocks[bid]
                return reply(bid, E2BIG)
            vars_ += new
            reply(bid, 0)
        elif cmd in (2, 3, 4):  # delete / start (period in 10 ms) / stop
            bid = pl[1]
            if bid not in self.blocks:
                return reply(bid, ENOENT)
            if cmd == 2:
                del self.blocks[bid]
            elif cmd == 3:
                self.blocks[bid].update(period=max(1, pl[2]) * 0.01, next=time.monotonic())
            else:
                self.blocks[bid]["period"] = 0
            reply(bid, 0)
        else:
            return False

    def log_values(self) -> dict[int, float]:
        v = self.v
        s = v.state()
        q = mat_to_quat(s.rot)  # w, x, y, z
        rpy = [math.degrees(a) for a in _rpy(s.rot)]
        gyro = np.degrees(s.angvel_body)
        vals = [*s.pos, *s.linvel, q[1], q[2], q[3], q[0], *rpy, *gyro, v.battery_v,
                int(round(100 * (v.battery_v - v.cfg.battery_empty_v) / (v.cfg.battery_full_v - v.cfg.battery_empty_v))),
                3 if v.battery_v < 3.2 else 0, v.bitfield(), *[int((c + 1) * 32767.5) for c in v.rotor_cmd],
                *v.target_pos]
        return dict(enumerate(vals))

    def _send_logs(self, now: float) -> None:
        due = [(bid, b) for bid, b in self.blocks.items() if b["period"] and now >= b["next"]]
        if not due:
            return
        vals = self.log_values()
        ms = int((now - self._t0) * 1000) & 0xFFFFFF
        for bid, b in due:
            b["next"] = max(b["next"] + b["period"], now - b["period"])
            out = bytearray([bid, ms & 0xFF, (ms >> 8) & 0xFF, ms >> 16])
            for fetch, i in b["vars"]:
                fmt = LOG_FMT[fetch]
                x = vals[i]
                out += struct.pack(fmt, float(x) if fmt in ("<f", "<e") else int(x))
            self.send(header("log", 2), out)

    # ---- commanders, supervisor -------------------------------------------------------------------------------
    def _legacy(self, ch, pl):
        roll, neg_pitch, yawrate, thrust = struct.unpack("<fffH", pl[:14])
        self.v.on_setpoint("legacy", [math.radians(roll), -math.radians(neg_pitch), math.radians(yawrate),
                                      thrust / 65535.0 * self.v.cfg.full_thrust_n])

    def _generic(self, ch, pl):
        if ch == 1:  # meta: notify setpoints stop (remain valid ms ignored)
            if pl[0] != 0:
                return False
            self.v.notify_setpoints_stop()
            return
        kind = pl[0]
        if kind == 0:
            self.v.on_setpoint("stop", [])
        elif kind in (7, 8, 10):
            a, b, c, d = struct.unpack("<ffff", pl[1:17])
            if kind == 7:
                self.v.on_setpoint("position", [a, b, c, math.radians(d)])
            elif kind == 8:
                self.v.on_setpoint("velocity", [a, b, c, math.radians(d)])
            else:
                self.v.on_setpoint("hover", [a, b, -math.radians(c), d])  # clockwise-positive yaw rate
        elif kind == 6:
            f = struct.unpack("<hhhhhhhhhIhhh", pl[1:33] if len(pl) >= 33 else pl[1:] + bytes(33 - len(pl)))
            qx, qy, qz, qw = quat_decompress(f[9])
            yaw = math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))
            self.v.on_setpoint("full_state", [x / 1000.0 for x in f[0:6]] + [yaw])
        else:
            return False

    def _hl(self, ch, pl):
        cmd = pl[0]
        if cmd == 0:
            self.v.group_mask = pl[1]
        elif cmd == 3:
            self.v.high_level("stop", pl[1])
        elif cmd in (7, 8):
            g, h, yaw, cur, dur = struct.unpack("<Bff?f", pl[1:15])
            self.v.high_level("takeoff" if cmd == 7 else "land", g, height_m=h, yaw=yaw, use_current_yaw=cur,
                              duration_s=dur)
        elif cmd in (4, 12):
            if cmd == 4:
                g, rel, x, y, z, yaw, dur = struct.unpack("<BBfffff", pl[1:23])
            else:
                g, rel, _linear, x, y, z, yaw, dur = struct.unpack("<BBBfffff", pl[1:24])
            self.v.high_level("go_to", g, x=x, y=y, z=z, yaw=yaw, duration_s=dur, relative=bool(rel))
        else:
            return False

    def _supervisor(self, ch, pl):
        cmd = pl[0]
        if ch == 0 and cmd == 0x0C:
            self.send(header("supervisor", 0), bytes([0x8C]) + struct.pack("<H", self.v.bitfield()))
        elif ch == 1 and cmd == 1:
            ok = self.v.arm(bool(pl[1]))
            self.send(header("supervisor", 1), bytes([0x81, int(ok), int(self.v.armed)]))
        elif ch == 1 and cmd == 2:  # crash recovery: nothing to recover from here (no crash model)
            self.send(header("supervisor", 1), bytes([0x82, 1, 0]))
        elif ch == 1 and cmd == 3:
            self.v.emergency_stop()
        else:
            return False

    def _localization(self, ch, pl):
        if ch == 1 and pl[0] == 3:  # legacy emergency stop
            self.v.emergency_stop()
        else:
            return False

    def close(self) -> None:
        self.sock.close()


def _rpy(rot) -> tuple[float, float, float]:
    """The firmware's stateEstimate roll / pitch / yaw (pitch positive nose up, as its legacy convention logs it)."""
    roll = math.atan2(rot[2, 1], rot[2, 2])
    pitch = math.asin(max(-1.0, min(1.0, -rot[2, 0])))
    return roll, -pitch, yaw_of(rot)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="cf_peer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=19850)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--require-arming", action="store_true", help="motors stay off until the supervisor arms")
    a = ap.parse_args(argv)
    peer = CfPeer(a.port, a.host, CfVehicle(CfVehicleConfig(require_arming=a.require_arming)))
    print(f"cf_peer ready {peer.uri} (a CRTP protocol peer with the quad twin's physics, not firmware SITL)",
          flush=True)
    try:
        peer.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
