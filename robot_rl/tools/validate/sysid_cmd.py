"""``robot-rl calibrate twin LOG... --out twin_dynamics.yaml``: fit the twin's dynamics to logs of the robot
(``calibration/sysid.py``), write the identified-parameters YAML the twin loads (the twin node's
``dynamics_file``), and report the divergence before and after, on the fitted logs and on held-out ones."""
from __future__ import annotations

import json
import sys

from robot_rl.sim.twin_dynamics import DYNAMICS_FIELDS


def _fmt(value) -> str:
    """A report value: a number, or a per-joint list of them."""
    return "[" + " ".join(f"{x:.4g}" for x in value) + "]" if isinstance(value, list) else f"{value:10.5g}"


def _twin_cmd(a) -> int:
    from robot_rl.calibration.arm_log import read_arm_log
    from robot_rl.calibration.replay import ReplayConfig, divergence, simulate
    from robot_rl.calibration.sysid import FitConfig, fit_dynamics
    from robot_rl.sim.twin_dynamics import TwinDynamics, load_dynamics, save_dynamics

    logs = [read_arm_log(p) for p in a.logs]
    held = [read_arm_log(p) for p in a.heldout]
    params = tuple(x for x in a.params.split(",") if x) if a.params else DYNAMICS_FIELDS
    replay = ReplayConfig(control_hz=a.control_hz)
    cfg = FitConfig(params=params, max_evaluations=a.max_evaluations, replay=replay,
                    energy_weight_rad_per_j=a.energy_weight)
    cfg.validate()  # a bad value: one line, exit 2 (before any log is replayed)
    start = load_dynamics(a.start) if a.start else TwinDynamics()
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if a.json else (lambda s: print(s, flush=True))
    say(f"fitting {', '.join(params)} to {len(logs)} log(s) ({sum(x.duration_s for x in logs):.1f} s)")

    def progress(n, cost, dyn):
        if n % 10 == 1:
            say(f"  evaluation {n}: cost {cost:.4g}")

    res = fit_dynamics(logs, cfg, start, progress=progress)
    report = res.report()
    if held:
        def rmse(dyn):
            return [divergence(x, simulate(x, dyn, replay), replay)["ee_position_rmse_m"] for x in held]
        report["heldout_logs"] = [x.path for x in held]
        report["heldout_ee_position_rmse_before_m"] = rmse(start)
        report["heldout_ee_position_rmse_after_m"] = rmse(res.dynamics)
    save_dynamics(a.out, res.dynamics, {"robot": logs[0].meta.get("robot"), "fit": report})
    if a.json:
        print(json.dumps(report, indent=1))
    else:
        for k in DYNAMICS_FIELDS:
            say(f"  {k:28s} {_fmt(report['start'][k])} -> {_fmt(report['params'][k])}")
        for key in ("ee_position_rmse", "heldout_ee_position_rmse"):
            if f"{key}_before_m" in report:
                b, c = report[f"{key}_before_m"], report[f"{key}_after_m"]
                say(f"  {key.replace('_', ' ')}: {sum(b) / len(b) * 1000:.2f} mm -> {sum(c) / len(c) * 1000:.2f} mm")
        say(f"wrote {a.out} ({res.message})")
    return 0


def add_twin_parser(cs) -> None:
    t = cs.add_parser("twin", help="system identification: fit the twin's dynamics to arm logs -> dynamics YAML")
    t.add_argument("logs", nargs="+", metavar="LOG", help="MCAP arm logs to fit on")
    t.add_argument("--heldout", nargs="*", default=[], metavar="LOG", help="logs judged out of sample")
    t.add_argument("--out", required=True, help="identified-parameters YAML to write")
    t.add_argument("--params", default="", help=f"comma-separated subset of {', '.join(DYNAMICS_FIELDS)} (default "
                                                "all; a per-joint field fits each of its joints)")
    t.add_argument("--start", default="", help="a dynamics YAML to start from (default: the nominal model)")
    t.add_argument("--max-evaluations", type=int, default=200,
                   help="least-squares steps' evaluations (finite differences add len(params) per Jacobian)")
    t.add_argument("--control-hz", type=float, default=500.0, help="the twin's law rate during replays")
    t.add_argument("--energy-weight", type=float, default=0.0, metavar="RAD_PER_J",
                   help="rad per J: also fit the energy tank's trace (the logs' driver telemetry); 0: joints only")
    t.add_argument("--json", action="store_true", help="print the fit report as JSON (progress on stderr)")
    t.set_defaults(func=_twin_cmd)
