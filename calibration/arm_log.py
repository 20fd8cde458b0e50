"""Arm logs that replay: what the twin needs to re-run a run of the robot, in the recorder's MCAP format (ROS 2 CDR
messages on the contract's topics, ``ros2msg`` schemas; ``robot_rl.runtime.recorder.McapEpisodeWriter``).

Written by ``robot_rl.tools.validate.log_writer.write_arm_log`` (the recorder's writer is a runtime part, above
this layer). Per log: ``arm/joint_states`` (position, velocity, effort = measured joint torque), ``arm/ee_pose``,
``arm/target_pose`` (the commands, stamped when sent), ``arm/gripper/command`` and ``arm/gripper/state`` (width),
``arm/control`` ([commanded torque x7 Nm, tank energy J, tank alpha, safety interventions] at each state sample)
and the metadata ``episode``: ``robot`` (the arm kind), ``source``, ``control_hz``, ``nullspace_q_rad``,
``passivity_enabled`` (the tank enforcing, the default, or only monitoring).

:func:`read_arm_log` refuses anything a replay cannot use (not MCAP, truncated, another robot, a topic missing,
too short, joints of another count) with a :class:`LogError`: one line, exit 2 from the CLI.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.contract import topics as T

ROBOT_KIND = "franka_7dof"  # the arm kind a log must declare to be replayed by this twin
N_JOINTS = 7
CONTROL_FIELDS = N_JOINTS + 3
# key -> (endpoint, required for a replay)
LOG_TOPICS = {"joint_states": (T.ARM["joint_states"], True), "ee_pose": (T.ARM["ee_pose"], True),
              "target_pose": (T.ARM["target_pose"], True), "gripper_command": (T.ARM["gripper_command"], False),
              "gripper_state": (T.ARM["gripper_state"], False), "control": (T.ARM_LOG["control"], False)}
MIN_SAMPLES = 20


class LogError(ValueError):
    """A log that cannot be replayed; the message is one line naming the file and the reason."""


@dataclass
class ArmLog:
    """Time series of one run; times [s] from the log's start (``t0_ns``, the first sample's stamp)."""

    t_s: np.ndarray  # (N,) joint-state stamps
    q_rad: np.ndarray  # (N, 7)
    dq_rad_per_s: np.ndarray  # (N, 7)
    tau_measured_nm: np.ndarray  # (N, 7)
    ee_t_s: np.ndarray  # (K,)
    ee_pos_m: np.ndarray  # (K, 3)
    ee_quat_wxyz: np.ndarray  # (K, 4)
    target_t_s: np.ndarray  # (M,)
    target_pos_m: np.ndarray  # (M, 3)
    target_quat_wxyz: np.ndarray  # (M, 4)
    gripper_cmd_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gripper_cmd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gripper_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gripper_width_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    control: np.ndarray = field(default_factory=lambda: np.zeros((0, CONTROL_FIELDS)))  # at t_s, may be empty
    meta: dict = field(default_factory=dict)
    t0_ns: int = 0
    path: str = ""

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0])

    @property
    def passivity_enforced(self) -> bool:
        """Whether the driver's energy tank scaled the spring (``FiltersConfig.passivity_enabled``) or only watched."""
        return str(self.meta.get("passivity_enabled", "true")).lower() not in ("false", "0")

    @property
    def nullspace_q_rad(self) -> np.ndarray | None:
        v = self.meta.get("nullspace_q_rad")
        return None if v is None else np.asarray(json.loads(v) if isinstance(v, str) else v, float)


_TS = None


def _store():
    global _TS
    if _TS is None:
        from rosbags.typesys import Stores, get_typestore

        _TS = get_typestore(Stores.ROS2_KILTED)
    return _TS


def _read_raw(p: Path) -> tuple[dict, dict[str, list]]:
    from mcap.reader import make_reader

    ts = _store()
    by_name = {ep.name: (k, ep.type) for k, (ep, _) in LOG_TOPICS.items()}
    out: dict[str, list] = {k: [] for k in LOG_TOPICS}
    with open(p, "rb") as f:
        reader = make_reader(f)
        meta = {}
        for m in reader.iter_metadata():
            if m.name == "episode":
                meta = dict(m.metadata)
        for _, channel, message in reader.iter_messages():
            if channel.topic in by_name:
                key, typ = by_name[channel.topic]
                out[key].append(ts.deserialize_cdr(message.data, typ))
    return meta, out


def _t(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _pose_arrays(msgs, t0: int):
    t = np.array([(_t(m) - t0) * 1e-9 for m in msgs])
    pos = np.array([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in msgs]).reshape(-1, 3)
    quat = np.array([[m.pose.orientation.w, m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z]
                     for m in msgs]).reshape(-1, 4)
    return t, pos, quat


def read_arm_log(path: str | Path, robot: str = ROBOT_KIND) -> ArmLog:
    """The log at ``path``, checked for a replay; :class:`LogError` (one line) when it cannot be used."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise LogError(f"{p}: no such log")
    try:
        meta, raw = _read_raw(p)
    except Exception as e:  # noqa: BLE001 - the mcap reader raises many kinds on a damaged file
        raise LogError(f"{p}: not a readable MCAP log ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'truncated or corrupt'})") from None
    got = meta.get("robot")
    if got != robot:
        raise LogError(f"{p}: recorded on robot {got!r}, this twin replays {robot!r}")
    for key, (ep, required) in LOG_TOPICS.items():
        if required and not raw[key]:
            raise LogError(f"{p}: topic {ep.name} is missing (a replay needs {', '.join(e.name for e, r in LOG_TOPICS.values() if r)})")
    js = raw["joint_states"]
    if len(js) < MIN_SAMPLES:
        raise LogError(f"{p}: only {len(js)} joint states (at least {MIN_SAMPLES})")
    bad = [i for i, m in enumerate(js) if len(m.position) != N_JOINTS or len(m.velocity) != N_JOINTS]
    if bad:
        raise LogError(f"{p}: joint state {bad[0]} has {len(js[bad[0]].position)} positions, a {robot} has {N_JOINTS}")
    t0 = _t(js[0])
    t = np.array([(_t(m) - t0) * 1e-9 for m in js])
    if np.any(np.diff(t) <= 0):
        raise LogError(f"{p}: joint-state stamps do not increase")
    q = np.array([m.position for m in js])
    dq = np.array([m.velocity for m in js])
    eff = np.array([m.effort if len(m.effort) == N_JOINTS else np.full(N_JOINTS, np.nan) for m in js])
    ee_t, ee_p, ee_q = _pose_arrays(raw["ee_pose"], t0)
    tt, tp, tq = _pose_arrays(raw["target_pose"], t0)
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(tp)) and np.all(np.isfinite(tq))):
        raise LogError(f"{p}: non-finite joint positions or targets")
    ctrl = np.array([m.data for m in raw["control"]], float) if raw["control"] else np.zeros((0, CONTROL_FIELDS))
    if len(ctrl) != len(t) or (len(ctrl) and ctrl.shape[1] != CONTROL_FIELDS):
        ctrl = np.zeros((0, CONTROL_FIELDS))
    gs = raw["gripper_state"]
    gc = raw["gripper_command"]
    return ArmLog(t, q, dq, eff, ee_t, ee_p, ee_q, tt, tp, tq,
                  gripper_cmd_t_s=np.zeros(len(gc)) if not gc else _cmd_times(p, gc, t0),
                  gripper_cmd=np.array([m.data for m in gc]),
                  gripper_t_s=np.array([(_t(m) - t0) * 1e-9 for m in gs]),
                  gripper_width_m=np.array([m.position[0] if len(m.position) else np.nan for m in gs]),
                  control=ctrl, meta=meta, t0_ns=t0, path=str(p))


def _cmd_times(p: Path, msgs, t0: int) -> np.ndarray:
    """Float64 has no stamp: the gripper commands' times are their MCAP log times."""
    from mcap.reader import make_reader

    name = LOG_TOPICS["gripper_command"][0].name
    with open(p, "rb") as f:
        return np.array([(m.log_time - t0) * 1e-9 for _, c, m in make_reader(f).iter_messages(topics=[name])])
