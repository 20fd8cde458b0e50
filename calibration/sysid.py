"""Twin system identification: fit :class:`~robot_rl.sim.twin_dynamics.TwinDynamics` to logs of the robot.

Output-error fit over closed-loop replays: each evaluation re-runs every log in the twin (``calibration/replay.py``:
same targets, same law and filters) and the residual is the joint-position error at every logged sample plus
``velocity_weight`` times the joint-velocity error plus ``energy_weight`` times the energy tank's error (where the
log has the driver's tank telemetry: the tank decides when the passivity filter stalls the spring, and how fast
it drains depends on the dynamics, friction above all), minimised by ``scipy.optimize.least_squares`` (trust region
reflective, bounds, finite differences on normalised parameters). The latency starts from the cross-correlation
estimate of the nominal replay. A per-joint field (``joint_frictionloss_nm``) is fitted element by element: naming
it fits all seven of its joints.

Why not ``mujoco.sysid`` (MuJoCo >= 3.4 ships it): it needs the ``mujoco[sysid]`` extras (not installed here) and
rolls out open-loop control sequences, while the twin's torques come from the impedance law closed around the
simulated state at every tick; an open-loop torque replay of a log diverges within a second.

The excitation scripts (:func:`excitation_script`) are shared by the shadow-real logs (:func:`shadow_log`: a twin
with perturbed dynamics, the exact-truth test) and the recordings from franky-sim through the real driver.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from robot_rl.calibration.arm_log import CONTROL_FIELDS, ArmLog
from robot_rl.calibration.replay import ReplayConfig, divergence, make_twin, simulate
from robot_rl.contract.rotations import mat_to_quat, rotvec_to_mat
from robot_rl.sim.twin_dynamics import DYNAMICS_FIELDS, PER_JOINT_FIELDS, TwinDynamics, dynamics_report

# per parameter (per element of a per-joint one): (normalising scale, lower bound, upper bound) in its units
PARAM_SPACE = {
    "joint_damping_nm_s_per_rad": (1.0, 0.0, 20.0),
    "joint_armature_kg_m2": (0.1, 0.0, 2.0),
    "link_mass_scale": (1.0, 0.3, 3.0),
    "payload_kg": (1.0, 0.0, 5.0),
    "control_latency_s": (0.01, 0.0, 0.2),
    "actuator_gain": (1.0, 0.3, 3.0),
    "joint_frictionloss_nm": (1.0, 0.0, 10.0),
}


def fit_coordinates(params: tuple[str, ...]) -> list[tuple[str, int | None]]:
    """The optimiser's coordinates: ``(field, None)`` per scalar field, ``(field, joint index)`` per element."""
    return [(n, j) for n in params
            for j in (range(len(getattr(TwinDynamics(), n))) if n in PER_JOINT_FIELDS else (None,))]


def coordinate_values(dyn: TwinDynamics, coords) -> np.ndarray:
    return np.array([getattr(dyn, n) if j is None else getattr(dyn, n)[j] for n, j in coords], float)


def with_coordinates(base: TwinDynamics, coords, values) -> TwinDynamics:
    """``base`` with the coordinates ``coords`` set to ``values`` (per-joint fields: the named elements)."""
    changes = {n: list(getattr(base, n)) for n, j in coords if j is not None}
    for (n, j), v in zip(coords, values):
        if j is None:
            changes[n] = float(v)
        else:
            changes[n][j] = float(v)
    return dataclasses.replace(base, **{n: tuple(v) if isinstance(v, list) else v for n, v in changes.items()})


@dataclass(frozen=True)
class FitConfig:
    params: tuple[str, ...] = DYNAMICS_FIELDS  # which fields to fit (the rest stay at the start values)
    velocity_weight_s: float = 0.1  # rad/s -> rad in the residual
    energy_weight_rad_per_j: float = 0.0  # tank energy error (J) -> rad in the residual; 0: not fitted
    max_evaluations: int = 200  # least_squares' max_nfev: its finite-difference evaluations come on top
    tolerance: float = 1e-10  # least_squares' ftol / xtol / gtol
    diff_step: float = 1e-3  # finite-difference step, in normalised units
    replay: ReplayConfig = ReplayConfig()

    def validate(self) -> None:
        unknown = [p for p in self.params if p not in PARAM_SPACE]
        if unknown or not self.params:
            raise ValueError(f"fit params {list(self.params)}: each one of {', '.join(PARAM_SPACE)}")
        if not (np.isfinite(self.energy_weight_rad_per_j) and self.energy_weight_rad_per_j >= 0):
            raise ValueError(f"energy_weight_rad_per_j must be >= 0, got {self.energy_weight_rad_per_j}")
        if self.max_evaluations < 1:
            raise ValueError(f"max_evaluations must be >= 1, got {self.max_evaluations}")
        self.replay.validate()


@dataclass
class FitResult:
    dynamics: TwinDynamics
    start: TwinDynamics
    cost_start: float
    cost: float
    evaluations: int
    message: str
    per_log_before: list[dict]
    per_log_after: list[dict]

    def report(self) -> dict:
        return {"params": dynamics_report(self.dynamics), "start": dynamics_report(self.start),
                "cost_start": self.cost_start, "cost": self.cost, "evaluations": self.evaluations,
                "message": self.message,
                "ee_position_rmse_before_m": [d["ee_position_rmse_m"] for d in self.per_log_before],
                "ee_position_rmse_after_m": [d["ee_position_rmse_m"] for d in self.per_log_after],
                "logs": [d["log"] for d in self.per_log_after]}


def residuals(logs: list[ArmLog], dyn: TwinDynamics, cfg: FitConfig) -> np.ndarray:
    parts = []
    for log in logs:
        r = simulate(log, dyn, cfg.replay)
        parts.append((r.q_rad - log.q_rad).ravel())
        if cfg.velocity_weight_s > 0:
            parts.append(cfg.velocity_weight_s * (r.dq_rad_per_s - log.dq_rad_per_s).ravel())
        if cfg.energy_weight_rad_per_j > 0 and len(log.control):
            e = log.control[:, 7]  # the driver's tank energy at each state sample (NaN: not logged)
            ok = np.isfinite(e)
            parts.append(cfg.energy_weight_rad_per_j * np.where(ok, r.tank_energy_j - np.where(ok, e, 0.0), 0.0))
    out = np.concatenate(parts)
    # a twin that blew up (a wild parameter step) gives a large finite residual, never NaN, to the optimiser
    return np.nan_to_num(out, nan=1e3, posinf=1e3, neginf=-1e3)


def fit_dynamics(logs: list[ArmLog], cfg: FitConfig = FitConfig(), start: TwinDynamics = TwinDynamics(),
                 progress=None) -> FitResult:
    """Least-squares fit of ``cfg.params`` to ``logs`` from ``start`` (latency: from the cross-correlation)."""
    from scipy.optimize import least_squares

    cfg.validate()
    if not logs:
        raise ValueError("no logs to fit")
    before = [divergence(log, simulate(log, start, cfg.replay), cfg.replay) for log in logs]
    if "control_latency_s" in cfg.params and start.control_latency_s == 0.0:
        lat = float(np.clip(np.median([d["latency_s"] for d in before]), 0.0, PARAM_SPACE["control_latency_s"][2]))
        start = dataclasses.replace(start, control_latency_s=lat)
    coords = fit_coordinates(cfg.params)
    scale = np.array([PARAM_SPACE[n][0] for n, _ in coords])
    lo = np.array([PARAM_SPACE[n][1] for n, _ in coords]) / scale
    hi = np.array([PARAM_SPACE[n][2] for n, _ in coords]) / scale
    x0 = np.clip(coordinate_values(start, coords) / scale, lo, hi)
    calls = [0]

    def dyn_of(x) -> TwinDynamics:
        return with_coordinates(start, coords, x * scale)

    def fun(x):
        calls[0] += 1
        r = residuals(logs, dyn_of(x), cfg)
        if progress is not None:
            progress(calls[0], float(0.5 * r @ r), dyn_of(x))
        return r

    r0 = residuals(logs, dyn_of(x0), cfg)
    sol = least_squares(fun, x0, bounds=(lo, hi), method="trf", diff_step=cfg.diff_step, x_scale=1.0,
                        ftol=cfg.tolerance, xtol=cfg.tolerance, gtol=cfg.tolerance, max_nfev=cfg.max_evaluations)
    dyn = dyn_of(sol.x)
    after = [divergence(log, simulate(log, dyn, cfg.replay), cfg.replay) for log in logs]
    return FitResult(dyn, start, float(0.5 * r0 @ r0), float(sol.cost), calls[0], str(sol.message), before, after)


# ---- excitation and the shadow-real stand-in -------------------------------------------------------------------
@dataclass(frozen=True)
class ExcitationConfig:
    kind: str = "reach"  # "reach" (waypoints along straight lines) | "push" (target jumps) | "gripper" (a cycle)
    duration_s: float = 4.0
    command_hz: float = 10.0  # the policy's rate
    segment_s: float = 0.8  # one waypoint / jump per segment
    reach_m: float = 0.12  # waypoints within this of the start pose, per axis
    turn_rad: float = 0.25  # and turned by up to this about a random axis
    seed: int = 0


KINDS = ("reach", "push", "gripper")


def excitation_script(start_pos, start_rot, cfg: ExcitationConfig) -> tuple[list, list]:
    """``(targets, gripper)``: ``[(t_s, pos, rot)]`` at ``command_hz`` and ``[(t_s, closedness)]``."""
    if cfg.kind not in KINDS:
        raise ValueError(f"excitation kind {cfg.kind!r}: one of {', '.join(KINDS)}")
    rng = np.random.default_rng(cfg.seed)
    n_seg = max(1, int(round(cfg.duration_s / cfg.segment_s)))
    ways = [(np.asarray(start_pos, float), np.asarray(start_rot, float))]
    for _ in range(n_seg):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        turn = axis * rng.uniform(0.3, 1.0) * cfg.turn_rad
        off = rng.uniform(-1, 1, 3) * cfg.reach_m
        if cfg.kind == "gripper":
            off, turn = off * 0.3, turn * 0.3
        ways.append((ways[0][0] + off, start_rot @ rotvec_to_mat(turn)))
    dt = 1.0 / cfg.command_hz
    per = max(1, int(round(cfg.segment_s / dt)))
    targets = []
    for s in range(n_seg):
        (p0, r0), (p1, r1) = ways[s], ways[s + 1]
        for k in range(per):
            t = (s * per + k) * dt
            if cfg.kind == "push":
                targets.append((t, p1, r1))
            else:  # straight line over the first half of the segment, then held
                a = min(1.0, (k + 1) / (0.5 * per))
                from robot_rl.contract.rotations import mat_to_rotvec

                targets.append((t, p0 + a * (p1 - p0), r0 @ rotvec_to_mat(a * mat_to_rotvec(r0.T @ r1))))
    gripper = []
    if cfg.kind == "gripper":
        for s in range(n_seg):
            gripper.append((s * per * dt + 0.05, float(s % 2 == 0)))
    return targets, gripper


def shadow_log(truth: TwinDynamics, excitation: ExcitationConfig, replay: ReplayConfig = ReplayConfig(),
               state_hz: float = 100.0, q0=None) -> ArmLog:
    """A log of the "shadow real" twin (``truth``'s dynamics) under an excitation script: exact ground truth."""
    twin = make_twin(truth, replay)
    q0 = twin.home_q if q0 is None else np.asarray(q0, float)
    twin.reset(q=q0)
    pos0, rot0 = twin.ee_pose()
    targets, gripper = excitation_script(pos0, rot0, excitation)
    t = np.arange(0.0, excitation.duration_s, 1.0 / state_hz)
    n = len(t)
    log = ArmLog(t, np.tile(q0, (n, 1)), np.zeros((n, 7)), np.zeros((n, 7)), t.copy(), np.zeros((n, 3)),
                 np.zeros((n, 4)), np.array([x[0] for x in targets]), np.array([x[1] for x in targets]),
                 np.array([mat_to_quat(x[2]) for x in targets]),
                 gripper_cmd_t_s=np.array([g[0] for g in gripper]), gripper_cmd=np.array([g[1] for g in gripper]),
                 meta={"source": "shadow-twin", "nullspace_q_rad": [float(v) for v in twin.q_nullspace],
                       "truth": dynamics_report(truth)})
    roll = simulate(log, truth, replay, twin=twin)
    log.q_rad, log.dq_rad_per_s = roll.q_rad, roll.dq_rad_per_s
    log.tau_measured_nm = truth.actuator_gain * roll.tau_cmd_nm
    log.ee_pos_m = roll.ee_pos_m
    log.ee_quat_wxyz = np.array([mat_to_quat(r) for r in roll.ee_rot])
    log.gripper_t_s, log.gripper_width_m = t.copy(), roll.gripper_width_m
    log.control = np.concatenate([roll.tau_cmd_nm, np.full((n, CONTROL_FIELDS - 7), np.nan)], axis=1)
    return log
