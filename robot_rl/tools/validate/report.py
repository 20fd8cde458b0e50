"""The picture a person looks at: real vs twin overlays of one replay (PNG, matplotlib's Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def overlay_png(path: str | Path, log, rollouts: dict, title: str = "") -> Path:
    """Per joint: the logged position and each rollout's (``{label: Rollout}``); then the EE position
    components, the EE position error of each rollout over time, the gripper width and the energy tank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.calibration.replay import log_ee_at_states

    pos_real, _ = log_ee_at_states(log)
    fig, axes = plt.subplots(5, 2, figsize=(11, 13), sharex=True)
    axes = axes.ravel()
    for j in range(7):
        ax = axes[j]
        ax.plot(log.t_s, log.q_rad[:, j], "k-", lw=1.6, label="real")
        for label, r in rollouts.items():
            ax.plot(r.t_s, r.q_rad[:, j], "--", lw=1.0, label=label)
        ax.set_ylabel(f"q{j + 1} [rad]")
    ax = axes[7]
    for k, c in enumerate("xyz"):
        ax.plot(log.t_s, pos_real[:, k], "k-", lw=1.4)
        for label, r in rollouts.items():
            ax.plot(r.t_s, r.ee_pos_m[:, k], "--", lw=0.9)
    ax.set_ylabel("EE x, y, z [m]")
    ax = axes[8]
    for label, r in rollouts.items():
        ax.plot(r.t_s, 1000 * np.linalg.norm(r.ee_pos_m - pos_real, axis=1), label=label)
    ax.set_ylabel("EE error [mm]")
    ax.legend(fontsize=8)
    ax = axes[9]
    if len(log.gripper_t_s):
        ax.plot(log.gripper_t_s, 1000 * log.gripper_width_m, "k-", label="real")
        for label, r in rollouts.items():
            ax.plot(r.t_s, 1000 * r.gripper_width_m, "--", label=label)
    ax.set_ylabel("gripper width [mm]")
    if len(log.control):  # the energy tank beside it: an empty tank stops the spring
        ax2 = ax.twinx()
        ax2.plot(log.t_s, log.control[:, 7], "k:", lw=1.2)
        for label, r in rollouts.items():
            ax2.plot(r.t_s, r.tank_energy_j, ":", lw=1.0)
        ax2.set_ylabel("tank energy [J] (dotted)")
    axes[0].legend(fontsize=8)
    for ax in axes[-2:]:
        ax.set_xlabel("t [s]")
    fig.suptitle(title or Path(log.path).name)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=80)
    plt.close(fig)
    return p
