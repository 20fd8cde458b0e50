"""The twin's identifiable dynamics: the few numbers ``robot-rl calibrate twin`` fits to logs of the robot and the
twin then loads (``TwinRuntimeConfig.dynamics_file``, ``TwinConfig`` through :func:`apply_dynamics`).

The file is YAML: ``{robot: ..., dynamics: {field: value, ...}, fit: {...}}``; only ``dynamics`` is read here
(the rest is the fit's report). Every value is range-checked: a bad one is one line naming it (exit 2). A file
without a field (e.g. one written before ``joint_frictionloss_nm`` existed) keeps its nominal value.

Per-joint fields (tuples, joints 1..7) sit beside the scalar ones: ``joint_frictionloss_nm`` is each joint's dry
(Coulomb) friction, MuJoCo's ``frictionloss``: a constraint force opposing the joint's motion of magnitude up to
that torque (MuJoCo documentation, "Computation: Constraint model, friction loss").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from robot_rl.contract.params import ParameterError, build, param, to_flat
from robot_rl.sim.arm_twin import TwinConfig

N_ARM_JOINTS = 7


@dataclass(frozen=True)
class TwinDynamics:
    """Nominal values are the generated Panda-class model's (``sim/panda_model.py``)."""

    joint_damping_nm_s_per_rad: float = param(0.5, ge=0, le=100, doc="viscous damping of every arm joint")
    joint_armature_kg_m2: float = param(0.1, ge=0, le=10, doc="reflected rotor inertia of every arm joint")
    link_mass_scale: float = param(1.0, gt=0.1, le=10, doc="scale of every link's mass and inertia")
    payload_kg: float = param(0.0, ge=0, le=10, doc="point mass at the TCP, not gravity-compensated")
    control_latency_s: float = param(0.0, ge=0, le=0.5, doc="delay from a target's stamp to the control law")
    actuator_gain: float = param(1.0, gt=0.1, le=10, doc="applied / commanded joint torque")
    joint_frictionloss_nm: tuple[float, ...] = param((0.0,) * N_ARM_JOINTS, ge=0, le=100,
                                                     doc="dry (Coulomb) friction torque of joints 1..7 [Nm]")

    def __post_init__(self):
        if len(self.joint_frictionloss_nm) != N_ARM_JOINTS:
            raise ParameterError(f"joint_frictionloss_nm: expected {N_ARM_JOINTS} values (joints 1..7), "
                                 f"got {len(self.joint_frictionloss_nm)}")


DYNAMICS_FIELDS = tuple(f.name for f in dataclasses.fields(TwinDynamics))
PER_JOINT_FIELDS = tuple(f.name for f in dataclasses.fields(TwinDynamics) if isinstance(f.default, tuple))


def apply_dynamics(cfg: TwinConfig, dyn: TwinDynamics) -> TwinConfig:
    """``cfg`` with the model, latency and actuator gain of ``dyn``."""
    model = dataclasses.replace(cfg.model, joint_damping_nm_s_per_rad=dyn.joint_damping_nm_s_per_rad,
                                joint_armature_kg_m2=dyn.joint_armature_kg_m2, link_mass_scale=dyn.link_mass_scale,
                                payload_kg=dyn.payload_kg, joint_frictionloss_nm=tuple(dyn.joint_frictionloss_nm))
    return dataclasses.replace(cfg, model=model, control_latency_s=dyn.control_latency_s,
                               actuator_gain=dyn.actuator_gain)


def plain(value):
    """A field's value as YAML / JSON writes it: a float, or a list of floats (per-joint fields)."""
    return [float(x) for x in value] if isinstance(value, tuple) else float(value)


def dynamics_report(dyn: TwinDynamics) -> dict:
    return {k: plain(getattr(dyn, k)) for k in DYNAMICS_FIELDS}


def dynamics_from_vector(values, names=DYNAMICS_FIELDS, base: TwinDynamics = TwinDynamics()) -> TwinDynamics:
    return dataclasses.replace(base, **{n: float(v) for n, v in zip(names, values)})


def dynamics_from_dict(d: dict, where: str = "dynamics") -> TwinDynamics:
    if not isinstance(d, dict):
        raise ParameterError(f"{where}: expected a mapping of {', '.join(DYNAMICS_FIELDS)}")
    return build(TwinDynamics, d, where=f"{where}: ")


def load_dynamics(path: str | Path) -> TwinDynamics:
    """The ``dynamics`` block of an identified-parameters YAML; one-line ``ParameterError`` on anything wrong."""
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise ParameterError(f"twin dynamics file not found: {p}")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ParameterError(f"{p}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or "dynamics" not in doc:
        raise ParameterError(f"{p}: no 'dynamics' mapping (written by robot-rl calibrate twin?)")
    return dynamics_from_dict(doc["dynamics"], where=f"{p.name}: dynamics")


def save_dynamics(path: str | Path, dyn: TwinDynamics, extra: dict | None = None) -> Path:
    """Write ``{dynamics: ..., **extra}`` atomically (temp file, then rename)."""
    import os

    import yaml

    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"dynamics": {k: plain(v) for k, v in to_flat(dyn).items()}, **(extra or {})}
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, p)
    return p
