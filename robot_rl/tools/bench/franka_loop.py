"""``robot-rl bench franka-loop``: achieved control-loop rate of our Franka driver (filtered impedance law,
watchdog, state snapshot, every tick) and of a bare pylibfranka zero-torque loop, against the same franky-sim
server in one run, side by side (``ratio_vs_bare`` = ours / bare; target >= 0.95).

Rates are ticks completed per wall second over ``seconds`` after a warm-up; the server paces both at its 1 kHz
(franky-sim is Python too, so on a busy machine both fall below 1 kHz together: compare the ratio). The two
runs alternate ``repeats`` times and the medians are reported."""
from __future__ import annotations

import statistics
import time


def _bare_rate(host: str, seconds: float, warmup_s: float) -> float:
    import pylibfranka as plf

    robot = plf.Robot(host, plf.RealtimeConfig.kIgnore)
    ctl = robot.start_torque_control()
    zero = [0.0] * 7
    n, t_start, t_end = 0, time.perf_counter() + warmup_s, time.perf_counter() + warmup_s + seconds
    while True:
        ctl.readOnce()
        ctl.writeOnce(plf.Torques(zero))
        t = time.perf_counter()
        if t >= t_start:
            n += 1
        if t >= t_end:
            break
    fin = plf.Torques(zero)
    fin.motion_finished = True
    ctl.readOnce()
    ctl.writeOnce(fin)
    del ctl, robot
    return n / seconds


def _driver_rate(host: str, seconds: float, warmup_s: float) -> tuple[float, dict]:
    from robot_rl.drivers.franka import FrankaArm, FrankaArmConfig, GripperConfig

    arm = FrankaArm(FrankaArmConfig(robot_ip=host, realtime="ignore", gripper=GripperConfig(enabled=False)))
    arm.start()
    try:
        time.sleep(warmup_s)
        s0 = arm.snapshot()
        target, rot = s0.ee_pos.copy(), s0.ee_rot.copy()
        target[1] += 0.05  # track a target so every stage of the law and filters runs
        t0, n0 = time.perf_counter(), arm.ticks
        while time.perf_counter() - t0 < seconds:
            arm.set_target(target, rot)
            time.sleep(0.01)
        rate = (arm.ticks - n0) / (time.perf_counter() - t0)
        tel = arm.telemetry()
    finally:
        arm.close()
    if tel["fault"]:
        raise RuntimeError(f"driver faulted during the bench: {tel['fault']}")
    return rate, tel


def run(seconds: float = 3.0, repeats: int = 3, warmup_s: float = 0.5, host: str = "127.0.0.1") -> dict:
    from robot_rl.drivers.franky_sim_peer import FrankySimServer

    bare, ours = [], []
    with FrankySimServer(host) as server:
        for _ in range(repeats):
            bare.append(_bare_rate(server.host, seconds, warmup_s))
            time.sleep(0.2)
            r, tel = _driver_rate(server.host, seconds, warmup_s)
            ours.append(r)
            time.sleep(0.2)
    b, o = statistics.median(bare), statistics.median(ours)
    return {
        "bench": "franka-loop",
        "peer": "franky-sim (MuJoCo, libfranka protocol) on loopback",
        "seconds_per_run": seconds,
        "repeats": repeats,
        "bare_pylibfranka_hz": round(b, 1),
        "driver_hz": round(o, 1),
        "ratio_vs_bare": round(o / b, 4),
        "bare_runs_hz": [round(x, 1) for x in bare],
        "driver_runs_hz": [round(x, 1) for x in ours],
        "driver_filters": {k: tel[k] for k in ("slew_limited_ticks", "rate_limited_ticks", "intervention_ticks")},
    }


def add_parser(sub) -> None:
    p = sub.add_parser("franka-loop", help="Franka driver loop rate vs a bare pylibfranka loop (franky-sim peer)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--host", default="127.0.0.1", help="loopback address for the franky-sim server")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from robot_rl.tools.bench.cli import emit

    if args.seconds <= 0 or args.repeats < 1:
        raise SystemExit("robot-rl bench franka-loop: --seconds must be > 0 and --repeats >= 1")
    return emit(run(args.seconds, args.repeats, host=args.host), args.json)
