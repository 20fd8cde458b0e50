"""Replay a logged run in the twin and measure how far the twin is from the robot.

The twin starts from the log's first joint state (positions and velocities), its null-space posture is the
driver's and so is its energy tank's mode, enforcing or monitoring (log metadata), and each logged target reaches the twin's law at its stamp (the same impedance law, safety
and passivity filters the driver runs, ``controllers/``); gripper commands are applied at their log times. The
twin is sampled at the log's joint-state stamps minus ``control_latency_s`` (the robot responds that much later;
linear between ticks, so the figures are continuous in the latency: a target delay is not, once the safety
filter's slew limit saturates).

Divergence (:func:`divergence`): per-joint RMS error, end-effector position RMSE, rotation error, the time until
the end-effector error first exceeds a threshold, gripper width error, and the latency between robot and twin
from the cross-correlation of their end-effector speeds (the lag that maximises it, refined on a fine grid around
the peak, to a twentieth of a sample).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from robot_rl.calibration.arm_log import ArmLog
from robot_rl.contract.rotations import quat_to_mat
from robot_rl.controllers.filtered_loop import FiltersConfig
from robot_rl.sim.arm_twin import ArmTwin, TwinConfig
from robot_rl.sim.panda_model import ArmModelConfig
from robot_rl.sim.twin_dynamics import TwinDynamics, apply_dynamics


@dataclass(frozen=True)
class ReplayConfig:
    control_hz: float = 500.0  # the twin's law rate during a replay (the physics runs physics_dt_s)
    physics_dt_s: float = 0.001
    ee_error_threshold_m: float = 0.02  # "time to divergence": the first time the EE error exceeds this
    max_latency_s: float = 0.2  # the cross-correlation searches lags in [-max, +max]

    def validate(self) -> None:
        for name in ("control_hz", "physics_dt_s", "ee_error_threshold_m", "max_latency_s"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"replay.{name} must be > 0, got {v!r}")


@dataclass
class Rollout:
    t_s: np.ndarray
    q_rad: np.ndarray
    dq_rad_per_s: np.ndarray
    ee_pos_m: np.ndarray
    ee_rot: np.ndarray  # (N, 3, 3)
    gripper_width_m: np.ndarray
    tau_cmd_nm: np.ndarray
    tank_energy_j: np.ndarray  # the twin's energy tank (NaN without filters)


def make_twin(dyn: TwinDynamics, cfg: ReplayConfig = ReplayConfig(), passivity_enforced: bool = True) -> ArmTwin:
    """The replay's twin; ``passivity_enforced=False``: the energy tank only monitors (as the driver logged it)."""
    filters = dataclasses.replace(FiltersConfig(), passivity_enabled=passivity_enforced)
    base = TwinConfig(model=ArmModelConfig(physics_dt_s=cfg.physics_dt_s), control_hz=cfg.control_hz,
                      filters=filters)
    return ArmTwin(cfg=dataclasses.replace(apply_dynamics(base, dyn), control_latency_s=0.0))


def simulate(log: ArmLog, dyn: TwinDynamics = TwinDynamics(), cfg: ReplayConfig = ReplayConfig(),
             twin: ArmTwin | None = None) -> Rollout:
    """The twin's run under the log's commands (see the module doc)."""
    twin = make_twin(dyn, cfg, log.passivity_enforced) if twin is None else twin
    if log.nullspace_q_rad is not None:
        twin.q_nullspace = log.nullspace_q_rad.copy()
    g0 = float(log.gripper_cmd[0]) if len(log.gripper_cmd) and log.gripper_cmd_t_s[0] <= 0 else 0.0
    twin.reset(q=log.q_rad[0], gripper_closedness=g0)
    twin.data.qvel[twin._ds] = log.dq_rad_per_s[0]
    import mujoco

    mujoco.mj_forward(twin.model, twin.data)
    for t, p, qw in zip(log.target_t_s, log.target_pos_m, log.target_quat_wxyz):
        twin.queue_target(max(0.0, t), p, quat_to_mat(qw))
    cmds = [(t, c) for t, c in zip(log.gripper_cmd_t_s, log.gripper_cmd) if t > 0]
    n = len(log.t_s)
    out = Rollout(log.t_s.copy(), np.zeros((n, 7)), np.zeros((n, 7)), np.zeros((n, 3)), np.zeros((n, 3, 3)),
                  np.zeros(n), np.zeros((n, 7)), np.full(n, np.nan))
    dt = twin.tick_dt_s
    state = {"tick": 0, "ci": 0}

    def advance_to(goal: int) -> None:
        while state["tick"] < goal:
            ci = state["ci"]
            nxt = goal if ci >= len(cmds) else min(goal, max(state["tick"] + 1, int(round(cmds[ci][0] / dt))))
            twin.step(nxt - state["tick"])
            state["tick"] = nxt
            while state["ci"] < len(cmds) and cmds[state["ci"]][0] <= nxt * dt + 0.5 * dt:
                twin.set_gripper(cmds[state["ci"]][1])
                state["ci"] += 1

    def sample():
        pos, rot = twin.ee_pose()
        e = twin.filters.tank.energy_j if twin.filters is not None else np.nan
        return twin.q.copy(), twin.dq.copy(), pos, rot, twin.gripper_width(), twin.last_tau.copy(), e

    # the robot runs the twin's response dyn.control_latency_s late: sample the twin at t - latency, linear
    # between its two neighbouring ticks (continuous in the latency, so the fit can take its gradient)
    lat = dyn.control_latency_s
    for i, t in enumerate(log.t_s):
        s_t = max(0.0, t - lat) / dt
        k = int(np.floor(s_t))
        advance_to(k)
        a = sample()
        w = s_t - k
        if w > 1e-9:
            advance_to(k + 1)
            b = sample()
        else:
            b = a
        out.q_rad[i] = a[0] + w * (b[0] - a[0])
        out.dq_rad_per_s[i] = a[1] + w * (b[1] - a[1])
        out.ee_pos_m[i] = a[2] + w * (b[2] - a[2])
        out.ee_rot[i] = a[3] if w < 0.5 else b[3]
        out.gripper_width_m[i] = a[4] + w * (b[4] - a[4])
        out.tau_cmd_nm[i] = a[5] if w < 0.5 else b[5]
        out.tank_energy_j[i] = a[6] + w * (b[6] - a[6])
    return out


def _interp(t_src, values, t_dst) -> np.ndarray:
    return np.stack([np.interp(t_dst, t_src, values[:, k]) for k in range(values.shape[1])], axis=1)


def log_ee_at_states(log: ArmLog) -> tuple[np.ndarray, np.ndarray]:
    """The logged EE position and rotation at the joint-state stamps (nearest pose sample for the rotation)."""
    pos = _interp(log.ee_t_s, log.ee_pos_m, log.t_s)
    idx = np.clip(np.searchsorted(log.ee_t_s, log.t_s), 0, len(log.ee_t_s) - 1)
    rot = np.stack([quat_to_mat(q) for q in log.ee_quat_wxyz[idx]])
    return pos, rot


def estimate_latency_s(t_s, speed_real, speed_twin, max_lag_s: float) -> float:
    """Lag [s] of ``speed_real`` behind ``speed_twin`` maximising their cross-correlation (to 1/20 sample)."""
    dt = float(np.median(np.diff(t_s)))
    a = speed_real - speed_real.mean()
    b = speed_twin - speed_twin.mean()
    if not (np.any(a) and np.any(b)):
        return 0.0
    k_max = max(1, min(len(a) // 2, int(round(max_lag_s / dt))))
    lags = np.arange(-k_max, k_max + 1)
    c = np.array([np.dot(a[max(0, k):len(a) + min(0, k)], b[max(0, -k):len(b) - max(0, k)]) for k in lags])
    j = int(np.argmax(c))
    # refine on a fine grid within one sample of the peak: the twin's signal shifted by a fractional lag (linear
    # interpolation), correlated with the real one over the samples both cover
    idx = np.arange(len(a), dtype=float)
    best, best_c = float(lags[j]), -np.inf
    for lag in lags[j] + np.linspace(-1.0, 1.0, 41):
        src = idx - lag
        ok = (src >= 0) & (src <= len(b) - 1)
        bs = np.interp(src[ok], idx, b)  # normalised: interpolation shrinks bs, which would favour whole lags
        cc = float(np.dot(a[ok], bs)) / max(1e-300, float(np.linalg.norm(a[ok]) * np.linalg.norm(bs)))
        if cc > best_c:
            best, best_c = float(lag), cc
    return best * dt


def _speed(t_s, pos) -> np.ndarray:
    return np.linalg.norm(np.gradient(pos, t_s, axis=0), axis=1)


def divergence(log: ArmLog, roll: Rollout, cfg: ReplayConfig = ReplayConfig()) -> dict:
    """The figures of one replay (see the module doc); lengths in m, angles in rad, times in s."""
    pos_real, rot_real = log_ee_at_states(log)
    e_pos = np.linalg.norm(roll.ee_pos_m - pos_real, axis=1)
    rel = np.einsum("nji,njk->nik", rot_real, roll.ee_rot)
    e_rot = np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1))
    over = np.nonzero(e_pos > cfg.ee_error_threshold_m)[0]
    out = {
        "log": log.path, "duration_s": log.duration_s, "samples": len(log.t_s),
        "joint_rms_rad": np.sqrt(np.mean((roll.q_rad - log.q_rad) ** 2, axis=0)).tolist(),
        "ee_position_rmse_m": float(np.sqrt(np.mean(e_pos ** 2))),
        "ee_position_max_m": float(e_pos.max()),
        "rotation_error_mean_rad": float(e_rot.mean()),
        "rotation_error_max_rad": float(e_rot.max()),
        "ee_error_threshold_m": cfg.ee_error_threshold_m,
        "time_to_threshold_s": None if len(over) == 0 else float(log.t_s[over[0]]),
        "latency_s": estimate_latency_s(log.t_s, _speed(log.t_s, pos_real), _speed(log.t_s, roll.ee_pos_m),
                                        cfg.max_latency_s),
    }
    if len(log.gripper_t_s) >= 2 and np.all(np.isfinite(log.gripper_width_m)):
        w_real = np.interp(log.t_s, log.gripper_t_s, log.gripper_width_m)
        out["gripper_width_rmse_m"] = float(np.sqrt(np.mean((roll.gripper_width_m - w_real) ** 2)))
    else:
        out["gripper_width_rmse_m"] = None
    # the filters' telemetry side by side: an emptied tank (alpha -> 0) stops the spring, whatever the dynamics
    real_e = log.control[:, 7] if len(log.control) else np.full(len(log.t_s), np.nan)
    ok = np.isfinite(real_e) & np.isfinite(roll.tank_energy_j)
    out["tank_energy_rmse_j"] = float(np.sqrt(np.mean((real_e[ok] - roll.tank_energy_j[ok]) ** 2))) if ok.any() else None
    out["tank_energy_final_j"] = {"real": float(real_e[-1]) if np.isfinite(real_e[-1]) else None,
                                  "twin": float(roll.tank_energy_j[-1])}
    return out
