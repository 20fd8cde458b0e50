"""Record replayable arm logs from franky-sim (a MuJoCo FR3 behind the libfranka protocol: the stand-in for the
robot, whose model the twin never reads) through the real Franka driver (``drivers/franka.py``, its 1 kHz
filtered impedance loop): the excitation scripts of ``calibration/sysid.py`` streamed at 10 Hz in wall time,
the driver's state sampled at ``state_hz``, written in the arm-log MCAP format (``calibration/arm_log.py``).

Known: a ``gripper`` log shows the driver's loop stalled during each gripper move. pylibfranka's ``Gripper.move`` /
``grasp`` hold the GIL for the whole move (measured: a 1 ms Python thread ticks once in a 1.2 s move), so the 1 kHz
torque loop in the same process sends nothing meanwhile; franky-sim keeps the last torque and the arm runs away (a
real Franka would stop with a communication reflex). Until the gripper runs in its own process, a gripper log
records that fault, not the twin's fidelity: keep it out of the fit."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

FRANKY_SIM_START_Q = (0.0, 0.0, 0.0, -1.5707963, 0.0, 1.5707963, 0.785398)  # franky-sim's initial posture


def _sampler(arm, state_hz: float, stop: threading.Event, rows: list) -> None:
    last = -1
    period = 1.0 / state_hz
    nxt = time.monotonic()
    while not stop.is_set():
        s = arm.snapshot()
        if s is not None and s.ticks != last:
            last = s.ticks
            tel = arm.telemetry()
            w = arm.gripper_width_m()
            rows.append((s.robot_time_s, s.q.copy(), s.dq.copy(), s.tau_measured_nm.copy(), s.tau_commanded_nm.copy(),
                         s.ee_pos.copy(), s.ee_rot.copy(), tel.get("energy_j", np.nan), tel.get("alpha", np.nan),
                         tel.get("intervention_ticks", np.nan), np.nan if w is None else w))
        nxt += period
        time.sleep(max(0.0, nxt - time.monotonic()))


def record_one(arm, excitation, state_hz: float = 100.0, resend_s: float = 0.05):
    """One run of ``excitation`` on a started :class:`FrankaArm`; returns the :class:`ArmLog`."""
    from robot_rl.calibration.sysid import excitation_script

    s0 = arm.snapshot()
    targets, gripper = excitation_script(s0.ee_pos, s0.ee_rot, excitation)
    rows: list = []
    stop = threading.Event()
    th = threading.Thread(target=_sampler, args=(arm, state_hz, stop, rows), daemon=True)
    th.start()
    time.sleep(0.2)  # some samples before the first command

    def robot_now() -> float:
        return arm.snapshot().robot_time_s

    current = [None]

    def wait_robot(t_until: float) -> None:
        # franky-sim runs slower than wall time on a loaded host, and the driver's watchdog counts wall time: the
        # current target is re-sent (same pose: the law sees no change) so that it never goes stale meanwhile
        last = time.monotonic()
        while robot_now() < t_until:
            time.sleep(0.001)
            if current[0] is not None and time.monotonic() - last > resend_s:
                arm.set_target(*current[0])
                last = time.monotonic()

    t0 = robot_now()
    sent, grip = [], []
    events = sorted([(t, 0, i) for i, (t, _, _) in enumerate(targets)] + [(t, 1, i) for i, (t, _) in enumerate(gripper)])
    for t, kind, i in events:  # paced on the robot's clock (franky-sim runs slower than wall time under load)
        wait_robot(t0 + t)
        now = robot_now()
        if kind == 0:
            current[0] = (targets[i][1], targets[i][2])
            arm.set_target(*current[0])
            sent.append((now, targets[i][1], targets[i][2]))
        else:
            arm.command_gripper(gripper[i][1])
            grip.append((now, gripper[i][1]))
    wait_robot(t0 + excitation.duration_s + 0.5)
    stop.set()
    th.join(2.0)
    if len(rows) < 20:
        raise RuntimeError(f"only {len(rows)} driver samples in {excitation.duration_s:g} s (is the loop running?)")
    return _arm_log(arm, rows, sent, grip, {"kind": excitation.kind, "seed": excitation.seed,
                                            "segment_s": excitation.segment_s, "reach_m": excitation.reach_m})


def _arm_log(arm, rows: list, sent: list, grip: list, meta: dict):
    """The :class:`ArmLog` of the driver samples ``rows`` (:func:`_sampler`), the targets ``sent`` ``[(robot time,
    pos, rot)]`` and gripper commands ``grip``, times from the first sample."""
    from robot_rl.calibration.arm_log import ArmLog
    from robot_rl.contract.rotations import mat_to_quat

    ts = rows[0][0]
    col = list(zip(*rows))
    t = np.array(col[0]) - ts
    return ArmLog(t, np.array(col[1]), np.array(col[2]), np.array(col[3]), t.copy(), np.array(col[5]),
                  np.array([mat_to_quat(r) for r in col[6]]),
                  np.array([x[0] - ts for x in sent]), np.array([x[1] for x in sent]).reshape(-1, 3),
                  np.array([mat_to_quat(x[2]) for x in sent]).reshape(-1, 4),
                  gripper_cmd_t_s=np.array([g[0] - ts for g in grip]), gripper_cmd=np.array([g[1] for g in grip]),
                  gripper_t_s=t.copy(), gripper_width_m=np.array(col[10]),
                  control=np.column_stack([np.array(col[4]), col[7], col[8], col[9]]),
                  meta={"source": "franky-sim", "control_hz": arm.cfg.control_hz,
                        "nullspace_q_rad": [float(v) for v in arm.q_nullspace],
                        "passivity_enabled": bool(arm.cfg.filters.passivity_enabled), **meta})


class EpisodeRecorder:
    """An arm log of whatever drives the arm meanwhile (a policy episode): :meth:`start` samples the driver at
    ``state_hz`` in a thread, :meth:`target` notes each impedance target sent, :meth:`stop` returns the log."""

    def __init__(self, arm, state_hz: float = 100.0):
        self.arm, self.state_hz = arm, state_hz
        self._rows: list = []
        self._sent: list = []
        self._stop: threading.Event | None = None
        self._th: threading.Thread | None = None

    def start(self) -> None:
        self._rows, self._sent, self._stop = [], [], threading.Event()
        self._th = threading.Thread(target=_sampler, args=(self.arm, self.state_hz, self._stop, self._rows), daemon=True)
        self._th.start()

    def target(self, pos, rot) -> None:
        if self._stop is not None and not self._stop.is_set():
            s = self.arm.snapshot()
            self._sent.append((s.robot_time_s, np.asarray(pos, float).copy(), np.asarray(rot, float).copy()))

    def stop(self, meta: dict):
        """The episode's :class:`ArmLog` (None when the driver gave too few samples or no target was sent)."""
        self._stop.set()
        self._th.join(2.0)
        rows, sent = list(self._rows), list(self._sent)
        if len(rows) < 20 or not sent:
            return None
        return _arm_log(self.arm, rows, sent, [], meta)


def record_franky_logs(out_dir, kinds=("reach", "push", "gripper"), seeds=range(2), duration_s: float = 4.0,
                       host: str = "127.0.0.1", tank_enforced: bool = False, segment_s: float | None = None,
                       reach_m: float | None = None) -> list[Path]:
    """Start franky-sim, connect the driver, and record one log per (kind, seed): ``<kind>_<seed>.mcap``.

    ``tank_enforced=False`` (default): the energy tank monitors only. With the default 2 J budget it empties within
    about one 12 cm reach and then stops the spring (alpha -> 0), and when it empties (robot vs twin) then decides
    most of the divergence: identification wants the dynamics, so the excitation runs unscaled (the tank still
    logged) and the replay runs its twin's tank in the same mode."""
    from dataclasses import replace

    from robot_rl.tools.validate.log_writer import write_arm_log
    from robot_rl.calibration.sysid import KINDS, ExcitationConfig
    from robot_rl.drivers.franka import FrankaArm, FrankaArmConfig, ResetMotionConfig
    from robot_rl.drivers.franky_sim_peer import FrankySimServer

    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown excitation kind {bad[0]!r}: one of {', '.join(KINDS)}")
    out = Path(out_dir)
    paths = []
    with FrankySimServer(host, start_timeout_s=60.0) as srv:
        base = FrankaArmConfig(robot_ip=srv.host, realtime="ignore")
        cfg = replace(base, reset=ResetMotionConfig(q_rad=FRANKY_SIM_START_Q),
                      filters=replace(base.filters, passivity_enabled=tank_enforced))
        with FrankaArm(cfg) as arm:
            deadline = time.monotonic() + 10.0
            while arm.snapshot() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            for kind in kinds:
                for seed in seeds:
                    arm.command_gripper(0.0)
                    arm.move_to_reset()
                    time.sleep(0.3)
                    exc = ExcitationConfig(kind=kind, seed=int(seed), duration_s=duration_s)
                    exc = replace(exc, segment_s=exc.segment_s if segment_s is None else float(segment_s),
                                  reach_m=exc.reach_m if reach_m is None else float(reach_m))
                    log = record_one(arm, exc)
                    paths.append(write_arm_log(out / f"{kind}_{seed}.mcap", log))
    return paths
