"""Domain randomisation knobs for the twin, all off by default.

Each knob scales or perturbs the model's nominal value afresh at every reset (nominal values are kept, so
randomisation never accumulates). Ranges are (low, high) multipliers; jitters are half-widths with units.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_rl.contract.rotations import quat_mul, rotvec_to_quat


@dataclass(frozen=True)
class DomainRandomizationConfig:
    friction_scale_range: tuple[float, float] | None = None  # all geoms' sliding friction
    object_mass_scale_range: tuple[float, float] | None = None  # bodies with a free joint (task objects)
    joint_damping_scale_range: tuple[float, float] | None = None  # all joints' damping
    camera_pos_jitter_m: float = 0.0  # uniform +- per axis on every camera's position
    camera_rot_jitter_rad: float = 0.0  # uniform +- rotation about a random axis for every camera

    @property
    def enabled(self) -> bool:
        return any(
            (self.friction_scale_range, self.object_mass_scale_range, self.joint_damping_scale_range,
             self.camera_pos_jitter_m > 0.0, self.camera_rot_jitter_rad > 0.0)
        )

    def validate(self) -> None:
        for name in ("friction_scale_range", "object_mass_scale_range", "joint_damping_scale_range"):
            r = getattr(self, name)
            if r is not None and not (0.0 < r[0] <= r[1]):
                raise ValueError(f"DomainRandomizationConfig.{name} must be (low, high) with 0 < low <= high, got {r}")
        if self.camera_pos_jitter_m < 0.0 or self.camera_rot_jitter_rad < 0.0:
            raise ValueError("camera jitters must be >= 0")


class DomainRandomizer:
    def __init__(self, model: mujoco.MjModel, cfg: DomainRandomizationConfig):
        cfg.validate()
        self.model, self.cfg = model, cfg
        self.friction0 = model.geom_friction[:, 0].copy()
        self.damping0 = model.dof_damping.copy()
        self.cam_pos0 = model.cam_pos.copy()
        self.cam_quat0 = model.cam_quat.copy()
        free = [model.jnt_bodyid[j] for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
        self.object_bodies = np.array(free, dtype=int)
        self.mass0 = model.body_mass[self.object_bodies].copy()
        self.inertia0 = model.body_inertia[self.object_bodies].copy()

    def apply(self, rng: np.random.Generator) -> None:
        m, c = self.model, self.cfg
        if not c.enabled:
            return
        if c.friction_scale_range:
            m.geom_friction[:, 0] = self.friction0 * rng.uniform(*c.friction_scale_range, size=self.friction0.shape)
        if c.joint_damping_scale_range:
            m.dof_damping[:] = self.damping0 * rng.uniform(*c.joint_damping_scale_range, size=self.damping0.shape)
        if c.object_mass_scale_range and self.object_bodies.size:
            s = rng.uniform(*c.object_mass_scale_range, size=self.mass0.shape)
            m.body_mass[self.object_bodies] = self.mass0 * s
            m.body_inertia[self.object_bodies] = self.inertia0 * s[:, None]
        if c.camera_pos_jitter_m > 0.0:
            j = c.camera_pos_jitter_m
            m.cam_pos[:] = self.cam_pos0 + rng.uniform(-j, j, size=self.cam_pos0.shape)
        if c.camera_rot_jitter_rad > 0.0:
            for i in range(m.ncam):
                axis = rng.normal(size=3)
                axis /= np.linalg.norm(axis)
                dq = rotvec_to_quat(axis * rng.uniform(-c.camera_rot_jitter_rad, c.camera_rot_jitter_rad))
                m.cam_quat[i] = quat_mul(self.cam_quat0[i], dq)
