"""``robot-rl validate``: how far is the twin from the robot?

    robot-rl validate replay LOG... [--dynamics twin_dynamics.yaml] [--report DIR] [--json]
    robot-rl validate record-franky --out DIR        # logs from franky-sim through the real Franka driver
    robot-rl validate policies RUN... [--dynamics YAML] [--episodes N] [--out DIR] [--json]
                                                     # rank trained runs twin vs franky-sim (Pearson, Kendall, MMRV)

A log that cannot be replayed (corrupt, truncated, another robot, a topic missing) or a run that cannot be validated
(no checkpoint, another task, pixels) is one line, exit code 2.
"""
from __future__ import annotations

import json
import sys


def _replay_cmd(a) -> int:
    from robot_rl.calibration.arm_log import read_arm_log
    from robot_rl.calibration.replay import ReplayConfig, divergence, simulate
    from robot_rl.sim.twin_dynamics import TwinDynamics, load_dynamics

    cfg = ReplayConfig(control_hz=a.control_hz, ee_error_threshold_m=a.threshold_mm / 1000)
    cfg.validate()
    logs = [read_arm_log(p) for p in a.logs]  # every log checked before any replay runs
    variants = {"nominal": TwinDynamics()}
    if a.dynamics:
        variants["identified"] = load_dynamics(a.dynamics)
    out = {"logs": [], "threshold_m": cfg.ee_error_threshold_m}
    for log in logs:
        rolls = {k: simulate(log, d, cfg) for k, d in variants.items()}
        row = {k: divergence(log, r, cfg) for k, r in rolls.items()}
        if a.report:
            from pathlib import Path

            from robot_rl.tools.validate.report import overlay_png

            png = overlay_png(Path(a.report) / (Path(log.path).stem + ".png"), log, rolls)
            row["png"] = str(png)
        out["logs"].append(row)
    for k in variants:
        vals = [r[k]["ee_position_rmse_m"] for r in out["logs"]]
        out[f"{k}_mean_ee_position_rmse_m"] = sum(vals) / len(vals)
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        for row in out["logs"]:
            for k, d in row.items():
                if k == "png":
                    continue
                tt = "never" if d["time_to_threshold_s"] is None else f"{d['time_to_threshold_s']:.2f} s"
                print(f"{d['log']} [{k}]: EE RMSE {1000 * d['ee_position_rmse_m']:.2f} mm, rotation "
                      f"{d['rotation_error_mean_rad']:.4f} rad mean, > {a.threshold_mm:g} mm after {tt}, "
                      f"latency {1000 * d['latency_s']:.1f} ms")
            if "png" in row:
                print(f"  overlay: {row['png']}")
    return 0


def _record_cmd(a) -> int:
    from robot_rl.tools.validate.franky_record import record_franky_logs

    for name in ("duration_s", "segment_s", "reach_m"):
        v = getattr(a, name)
        if not v > 0:
            raise ValueError(f"record-franky: --{name.replace('_', '-')} must be > 0, got {v}")
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    paths = record_franky_logs(a.out, kinds=tuple(a.kinds.split(",")), seeds=seeds, duration_s=a.duration_s,
                               tank_enforced=a.tank == "enforce", segment_s=a.segment_s, reach_m=a.reach_m)
    for p in paths:
        print(p)
    return 0


def add_parser(sub) -> None:
    from robot_rl.calibration.sysid import ExcitationConfig

    p = sub.add_parser("validate", help="sim-to-real validation: replay logs in the twin, record franky-sim logs")
    vs = p.add_subparsers(dest="what", metavar="WHAT")
    vs.required = True
    r = vs.add_parser("replay", help="re-run logged targets in the twin; divergence figures (+ PNG overlays)")
    r.add_argument("logs", nargs="+", metavar="LOG")
    r.add_argument("--dynamics", default="", help="identified-parameters YAML (robot-rl calibrate twin): also "
                                                  "replay with it")
    r.add_argument("--report", default="", help="folder for the PNG overlays (real vs twin)")
    r.add_argument("--threshold-mm", type=float, default=20.0, help="EE error for the time-to-divergence")
    r.add_argument("--control-hz", type=float, default=500.0)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_replay_cmd)
    f = vs.add_parser("record-franky", help="record replayable logs from franky-sim through the real driver")
    f.add_argument("--out", required=True, help="folder for the MCAP logs")
    f.add_argument("--kinds", default="reach,push,gripper")
    f.add_argument("--seeds", type=int, default=2, help="logs per kind")
    f.add_argument("--first-seed", type=int, default=0, help="the excitation seeds are first-seed .. +seeds-1")
    f.add_argument("--duration-s", type=float, default=4.0, help="s of excitation per log")
    f.add_argument("--segment-s", type=float, default=ExcitationConfig.segment_s,
                   help="s per waypoint (reach: the move takes its first half); shorter is faster")
    f.add_argument("--reach-m", type=float, default=ExcitationConfig.reach_m,
                   help="m: waypoints lie within this of the start pose, per axis")
    f.add_argument("--tank", choices=("monitor", "enforce"), default="monitor",
                   help="the driver's energy tank: only watch (default, for identification) or scale the spring")
    f.set_defaults(func=_record_cmd)
    from robot_rl.tools.validate.policies import add_policies_parser

    add_policies_parser(vs)


if __name__ == "__main__":  # pragma: no cover
    from robot_rl.tools.cli import main

    sys.exit(main(["validate", *sys.argv[1:]]))
