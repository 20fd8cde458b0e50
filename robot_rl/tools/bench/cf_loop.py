"""``robot-rl bench cf-loop``: the setpoint -> state round trip and the closed-loop rate of our Crazyflie driver
(:class:`robot_rl.drivers.crazyflie.Crazyflie`: guard, then cflib) against a bare cflib loop, on the same CRTP
protocol peer (``robot_rl.sim.cf_peer``, a separate process), side by side in one run (``ratio_vs_bare`` = our
loop rate / bare loop rate; goal >= 0.95).

Both read the same state log blocks (position / velocity, attitude / rates at 100 Hz, battery at 10 Hz): the bare
loop stores them, the driver builds its state from them. One cycle: send a position setpoint whose x alternates between two values, then wait until a log block reports the
vehicle flying that set point (``ctrltarget.x``, every 10 ms): the round trip. The loop rate is cycles per second.
Both loops hover first (high-level takeoff) and alternate ``repeats`` times; medians are reported."""
from __future__ import annotations

import statistics
import threading
import time

TARGET_VARS = ("ctrltarget.x", "ctrltarget.y", "ctrltarget.z")
MISS_S = 1.0  # a set point not reported within this is a missed cycle


class _TargetWatch:
    """Fires when the logged ctrltarget.x equals the value waited for."""

    def __init__(self):
        self.want, self.hit = None, threading.Event()

    def cb(self, ts, data, lc) -> None:
        if self.want is not None and abs(data["ctrltarget.x"] - self.want) < 1e-4:
            self.hit.set()

    def add_to(self, cf, period_ms: int = 10) -> None:
        from cflib.crazyflie.log import LogConfig

        lc = LogConfig("target", period_ms)
        for v in TARGET_VARS:
            lc.add_variable(v, "float")
        cf.log.add_config(lc)
        lc.data_received_cb.add_callback(self.cb)
        lc.start()


def _cycles(send, watch: _TargetWatch, n: int) -> tuple[list[float], float]:
    """(round trips of the cycles that completed, cycles per second); a cycle whose set point no log block reports
    within ``MISS_S`` counts as missed (no round trip; its time stays in the rate). All missed: RuntimeError."""
    rtts = []
    t_start = time.perf_counter()
    for i in range(n):
        x = 0.05 if i % 2 else -0.05
        watch.hit.clear()
        watch.want = x
        t0 = time.perf_counter()
        send(x)
        if watch.hit.wait(MISS_S):
            rtts.append(time.perf_counter() - t0)
    if not rtts:
        raise RuntimeError(f"no log block reported any of the {n} set points within {MISS_S} s")
    return rtts, n / (time.perf_counter() - t_start)


def _hovering(z_of, height_m: float = 0.5, timeout_s: float = 15.0) -> None:
    """Wait until the vehicle hovers at the takeoff height: a loaded host runs the peer's physics behind the wall
    clock, and a loop started during the climb measures the climb (and the guard's fence floor), not the loop."""
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        z = z_of()
        if z is not None and abs(z - height_m) < 0.02:
            time.sleep(0.3)
            return
        time.sleep(0.05)
    raise RuntimeError(f"the vehicle did not reach {height_m} m within {timeout_s} s (z={z_of()})")


def _bare(uri: str, n: int) -> tuple[list[float], float]:
    import cflib.crtp
    from cflib.crazyflie import Crazyflie
    from cflib.crazyflie.syncCrazyflie import SyncCrazyflie

    cflib.crtp.init_drivers()
    from cflib.crazyflie.log import LogConfig

    from robot_rl.drivers.crazyflie import ATT_VARS, BAT_VARS, POSE_VARS, RATE_VARS

    with SyncCrazyflie(uri, cf=Crazyflie(rw_cache=None)) as scf:
        state = {}
        for name, period, variables in (("pose", 10, [(v, "float") for v in POSE_VARS]),
                                        ("att", 10, [(v, "float") for v in ATT_VARS] + [(v, "FP16") for v in RATE_VARS]),
                                        ("battery", 100, list(BAT_VARS))):  # the same state the driver reads
            lc = LogConfig(name, period)
            for v, t in variables:
                lc.add_variable(v, t)
            scf.cf.log.add_config(lc)
            lc.data_received_cb.add_callback(lambda ts, d, lc: state.update(d))
            lc.start()
        watch = _TargetWatch()
        watch.add_to(scf.cf)
        scf.cf.high_level_commander.takeoff(0.5, 1.0)
        _hovering(lambda: state.get("stateEstimate.z"))
        out = _cycles(lambda x: scf.cf.commander.send_position_setpoint(x, 0.0, 0.5, 0.0), watch, n)
        scf.cf.commander.send_notify_setpoint_stop()
        scf.cf.high_level_commander.land(0.0, 1.0)
        time.sleep(1.5)
        return out


def _ours(uri: str, n: int) -> tuple[list[float], float]:
    from robot_rl.drivers.crazyflie import Crazyflie, CrazyflieConfig

    drv = Crazyflie(CrazyflieConfig(uri=uri))
    drv.connect()
    try:
        watch = _TargetWatch()
        watch.add_to(drv._cf)
        drv.takeoff(0.5, 1.0)
        _hovering(lambda: None if drv.state() is None else float(drv.state()[0].pos[2]))
        out = _cycles(lambda x: drv.command("position", [x, 0.0, 0.5, 0.0]), watch, n)
        drv.notify_setpoints_stop()
        drv.land(0.0, 1.0)
        time.sleep(1.5)
        return out
    finally:
        drv.close()


def _pct(xs, q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measure(cycles: int = 300, repeats: int = 2) -> dict:
    import socket
    import subprocess
    import sys

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    peer = subprocess.Popen([sys.executable, "-m", "robot_rl.sim.cf_peer", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = peer.stdout.readline()
        if "cf_peer ready" not in line:
            raise RuntimeError(f"cf_peer did not start: {line}")
        uri = f"udp://127.0.0.1:{port}"
        res = {"bare": [], "ours": []}
        for _ in range(repeats):
            res["bare"].append(_bare(uri, cycles))
            res["ours"].append(_ours(uri, cycles))
    finally:
        peer.terminate()
        peer.wait(5)
    out = {"cycles": cycles, "repeats": repeats, "peer": "robot_rl.sim.cf_peer (CRTP protocol peer, not firmware)"}
    for k, runs in res.items():
        rtts = [r for rt, _ in runs for r in rt]
        out[f"{k}_rtt_p50_ms"] = round(1e3 * statistics.median(rtts), 3)
        out[f"{k}_rtt_p99_ms"] = round(1e3 * _pct(rtts, 0.99), 3)
        out[f"{k}_loop_hz"] = round(statistics.median(rate for _, rate in runs), 2)
        out[f"{k}_missed_cycles"] = cycles * repeats - len(rtts)
    out["ratio_vs_bare"] = round(out["ours_loop_hz"] / out["bare_loop_hz"], 3)
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("cf-loop", help="setpoint -> state round trip and loop rate: our Crazyflie driver vs bare cflib")
    p.add_argument("--cycles", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _emit(measure(a.cycles, a.repeats), a.json))


def _emit(result: dict, as_json: bool) -> int:
    from robot_rl.tools.bench.cli import emit

    return emit(result, as_json)
