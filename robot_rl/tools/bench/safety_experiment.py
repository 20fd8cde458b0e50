"""``robot-rl bench safety-experiment``: the safety and passivity filters in the twin, against an adversary.

1. Adversary: a misbehaving actor publishing impedance targets at the policy rate (10 Hz) on the peg-insertion
   scene: it hammers the peg into the block (targets alternately well above the block and well below the
   table, outside the workspace box), scrubs sideways across it and wobbles the yaw. Run twice from the same
   seeded state: with the filters (safety + enforced tank) and without them (the bare impedance law, with the
   tank only monitoring so that both runs measure injected energy the same way). Reported per run: the net
   energy the non-passive port injected, the peak contact force on the hand and peg, the peak active torque
   (fraction of the limit), the peak torque rate, the peak TCP speed, the fastest target slew and the ticks
   with the target outside the workspace box; for the filtered run, a check of every bound it must keep.
2. The scripted experts' success over seeded episodes per task with the filters on and off (the claim: within
   5 points).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from robot_rl.controllers.impedance import rotation_error


@dataclass(frozen=True)
class AdversaryConfig:
    task: str = "peg_insert"
    steps: int = 100  # at the task's policy rate
    above_block_m: float = 0.05  # "up" target: the peg tip this far above the block's top face
    below_table_m: float = 0.10  # "down" target below the table (outside the box: the filter clamps it)
    scrub_m: float = 0.05  # lateral amplitude around the hole
    yaw_wobble_rad: float = 0.3
    hammer_period_steps: int = 10  # up for half, down for half
    seed: int = 0


class _Probe:
    """Stands in for the twin's control law during one rollout: calls the law, records what each tick sent."""

    def __init__(self, law, safety):
        self.law = law
        self.safety = safety  # the law's safety filter when it filters targets, else None
        self.active: list[np.ndarray] = []
        self.targets: list[tuple[np.ndarray, np.ndarray]] = []

    def compute(self, pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias=None):
        tau = self.law.compute(pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias)
        self.active.append(tau - bias if bias is not None else tau.copy())
        if self.safety is not None:
            self.targets.append((self.safety.target_pos.copy(), self.safety.target_rot.copy()))
        else:
            self.targets.append((np.array(target_pos, dtype=float), np.array(target_rot, dtype=float)))
        return tau


def _adversary_target(k: int, hole_top: np.ndarray, cfg: AdversaryConfig, tip_offset_m: float):
    from robot_rl.contract.rotations import rotvec_to_mat
    from robot_rl.sim.arm_env import DOWN

    up = (k % cfg.hammer_period_steps) < cfg.hammer_period_steps // 2
    side = 1.0 if (k // 2) % 2 == 0 else -1.0
    pos = hole_top.copy()
    pos[0] += side * cfg.scrub_m
    pos[1] -= side * cfg.scrub_m
    pos[2] = hole_top[2] + tip_offset_m + cfg.above_block_m if up else -cfg.below_table_m
    rot = rotvec_to_mat(np.array([0.0, 0.0, side * cfg.yaw_wobble_rad])) @ DOWN
    return pos, rot


def adversarial_run(filtered: bool, cfg: AdversaryConfig = AdversaryConfig()) -> dict:
    """One adversarial rollout; ``filtered`` False runs the bare law with the tank monitoring only."""
    from robot_rl.controllers.filtered_loop import FiltersConfig
    from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv
    from robot_rl.sim.arm_twin import TwinConfig

    filters = FiltersConfig() if filtered else FiltersConfig(safety_enabled=False, passivity_enabled=False)
    env = TwinArmEnv(cfg.task, EnvConfig(twin=TwinConfig(filters=filters)))
    env.reset(seed=cfg.seed)
    twin = env.twin
    loop = twin.filters
    tank, safety = loop.tank, loop.safety
    probe = _Probe(loop, safety if filtered else None)
    twin._law = probe  # the fast loop calls ``_law.compute``; the probe forwards to the real law
    hole = env.task.hole_top(env.model)
    tip_offset = float(twin.ee_pose()[0][2] - env.task.tip(env.data)[2])
    forces, speeds, energy_min = [], [], math.inf
    bound_ok = True
    try:
        for k in range(cfg.steps):
            twin.set_target(*_adversary_target(k, hole, cfg, tip_offset))
            for _ in range(env.ticks_per_step):
                twin.step(1)
                forces.append(float(np.linalg.norm(twin.ee_wrench()[:3])))
                speeds.append(float(np.linalg.norm(twin.ee_velocity()[:3])))
                energy_min = min(energy_min, tank.energy_j)
                bound = tank.cfg.initial_energy_j - tank.cfg.min_energy_j + tank.harvested_j + tank.debt_j
                bound_ok &= tank.injected_j <= bound + 1e-9
    finally:
        twin._law = loop
    active = np.array(probe.active)
    dt = twin.tick_dt_s
    rate = np.abs(np.diff(np.vstack([np.zeros(twin.n), active]), axis=0)) / dt
    tau_max = np.asarray(filters.safety.joint_torque_limit_nm)
    tp = np.array([t[0] for t in probe.targets])
    slew = np.linalg.norm(np.diff(tp, axis=0), axis=1) / dt
    ang = np.array([np.linalg.norm(rotation_error(b[1], a[1])) for a, b in zip(probe.targets, probe.targets[1:])]) / dt
    box_lo, box_hi = np.asarray(filters.safety.workspace_min_m), np.asarray(filters.safety.workspace_max_m)
    outside = int(np.sum(np.any((tp < box_lo) | (tp > box_hi), axis=1)))
    tel = loop.telemetry()
    eff = tank.cfg.harvest_efficiency
    dissipated = tel["harvested_j"] / eff if eff > 0.0 else float("nan")
    out = {
        "filters": filtered,
        "ticks": len(active),
        "injected_energy_j": tel["injected_j"],
        "controller_damping_dissipation_j": dissipated,
        # what the port injected beyond what the controller's own damping dissipated: into contacts, friction,
        # motion (with the tank: at most E0 - E_min + debt)
        "injected_minus_damping_dissipation_j": tel["injected_j"] - dissipated,
        "peak_contact_force_n": max(forces),
        "p99_contact_force_n": float(np.percentile(forces, 99)),
        "mean_contact_force_n": float(np.mean(forces)),
        "contact_impulse_n_s": float(np.sum(forces) * dt),
        "peak_active_torque_fraction_of_limit": float(np.max(np.abs(active) / tau_max)),
        "peak_torque_rate_nm_per_s": float(rate.max()),
        "peak_tcp_speed_m_per_s": max(speeds),
        "peak_target_speed_m_per_s": float(slew.max()),
        "peak_target_angular_speed_rad_per_s": float(ang.max()),
        "target_outside_box_ticks": outside,
    }
    if filtered:
        s = filters.safety
        out["tank_min_energy_j"] = energy_min
        out["energy_bound_j"] = (tank.cfg.initial_energy_j - tank.cfg.min_energy_j + tel["harvested_j"]
                                 + tel["debt_j"])
        out["safety_counters"] = safety.counters()
        out["bounds"] = {
            "tank_energy_at_least_min": energy_min >= tank.cfg.min_energy_j,
            "injected_at_most_e0_minus_emin_plus_harvested_plus_debt": bool(bound_ok),
            "active_torque_within_limits": bool(np.all(np.abs(active) <= tau_max + 1e-9)),
            "torque_rate_within_limit": bool(rate.max() <= s.torque_rate_limit_nm_per_s * (1 + 1e-9)),
            "target_inside_box": outside == 0,
            "target_speed_within_limit": bool(slew.max() <= s.max_ee_speed_m_per_s * (1 + 1e-9)),
            "target_angular_speed_within_limit": bool(ang.max() <= s.max_ee_angular_speed_rad_per_s * (1 + 1e-6)),
        }
        out["within_bounds"] = all(out["bounds"].values())
    env.close()
    return out


def expert_success(task: str, episodes: int, filters_on: bool, seed: int = 0) -> float:
    from robot_rl.controllers.filtered_loop import FiltersConfig
    from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv
    from robot_rl.sim.arm_twin import TwinConfig
    from robot_rl.sim.experts import make_expert, run_episode

    env = TwinArmEnv(task, EnvConfig(twin=TwinConfig(filters=FiltersConfig(enabled=filters_on))))
    expert = make_expert(env)
    wins = sum(run_episode(env, expert, seed=seed + s)["success"] for s in range(episodes))
    env.close()
    return wins / episodes


def run(steps: int = 100, episodes: int = 50, tasks: tuple[str, ...] | None = None, seed: int = 0) -> dict:
    from robot_rl.sim.tasks import TASKS

    adv = dataclasses.replace(AdversaryConfig(), steps=steps, seed=seed)
    result = {
        "bench": "safety-experiment",
        "adversary": dataclasses.asdict(adv),
        "without_filters": adversarial_run(False, adv),
        "with_filters": adversarial_run(True, adv),
    }
    success = {}
    for task in tasks or tuple(sorted(TASKS)):
        on = expert_success(task, episodes, True, seed)
        off = expert_success(task, episodes, False, seed)
        success[task] = {"filters_on": on, "filters_off": off, "difference_points": 100.0 * (on - off)}
    result["expert_episodes_per_task"] = episodes
    result["expert_success"] = success
    result["expert_success_within_5_points"] = all(abs(v["difference_points"]) <= 5.0 for v in success.values())
    return result


def add_parser(sub) -> None:
    p = sub.add_parser("safety-experiment",
                       help="adversary vs filters in the twin (energy, contact force, bounds) + expert success on/off")
    p.add_argument("--steps", type=int, default=100, help="adversary policy steps")
    p.add_argument("--episodes", type=int, default=50, help="seeded expert episodes per task and setting")
    p.add_argument("--task", action="append", dest="tasks", help="expert task (repeatable; default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")

    def _go(a):
        from robot_rl.tools.bench.cli import emit

        return emit(run(a.steps, a.episodes, tuple(a.tasks) if a.tasks else None, a.seed), a.json)

    p.set_defaults(func=_go)
