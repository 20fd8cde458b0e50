"""Write an :class:`~robot_rl.calibration.arm_log.ArmLog` as an MCAP episode with the recorder's writer
(``robot_rl.runtime.recorder.McapEpisodeWriter``: CDR messages, ``ros2msg`` schemas), the format
``calibration/arm_log.py`` reads."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robot_rl.calibration.arm_log import LOG_TOPICS, N_JOINTS, ROBOT_KIND, ArmLog, _store


def _stamp(t_ns: int):
    ts = _store()
    return ts.types["std_msgs/msg/Header"](
        stamp=ts.types["builtin_interfaces/msg/Time"](sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000)),
        frame_id="base")


def _pose_msg(t_ns: int, pos, quat_wxyz):
    ts = _store()
    w, x, y, z = (float(v) for v in quat_wxyz)
    return ts.types["geometry_msgs/msg/PoseStamped"](header=_stamp(t_ns), pose=ts.types["geometry_msgs/msg/Pose"](
        position=ts.types["geometry_msgs/msg/Point"](x=float(pos[0]), y=float(pos[1]), z=float(pos[2])),
        orientation=ts.types["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)))


def _joint_msg(t_ns: int, names, pos, vel=(), eff=()):
    return _store().types["sensor_msgs/msg/JointState"](
        header=_stamp(t_ns), name=list(names), position=np.asarray(pos, float), velocity=np.asarray(vel, float),
        effort=np.asarray(eff, float))


def _array_msg(values):
    ts = _store()
    return ts.types["std_msgs/msg/Float64MultiArray"](
        layout=ts.types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=np.asarray(values, float))


def write_arm_log(path: str | Path, log: ArmLog, t0_ns: int = 1_000_000_000) -> Path:
    """Write ``log`` as an MCAP episode (messages logged at their stamps, ``t0_ns`` + the log's times)."""
    from robot_rl.runtime.recorder import McapEpisodeWriter

    ts = _store()
    names = [f"joint{i}" for i in range(1, N_JOINTS + 1)]
    meta = {"robot": ROBOT_KIND, **{k: (json.dumps(v) if not isinstance(v, str) else v) for k, v in log.meta.items()}}
    w = McapEpisodeWriter(path, {ep.name: ep.type for ep, _ in LOG_TOPICS.values()}, meta)
    rows: list[tuple[int, str, object]] = []

    def ns(t):
        return t0_ns + int(round(float(t) * 1e9))

    for i, t in enumerate(log.t_s):
        rows.append((ns(t), "joint_states", _joint_msg(ns(t), names, log.q_rad[i], log.dq_rad_per_s[i],
                                                       log.tau_measured_nm[i])))
        if len(log.control):
            rows.append((ns(t), "control", _array_msg(log.control[i])))
    for i, t in enumerate(log.ee_t_s):
        rows.append((ns(t), "ee_pose", _pose_msg(ns(t), log.ee_pos_m[i], log.ee_quat_wxyz[i])))
    for i, t in enumerate(log.target_t_s):
        rows.append((ns(t), "target_pose", _pose_msg(ns(t), log.target_pos_m[i], log.target_quat_wxyz[i])))
    for t, c in zip(log.gripper_cmd_t_s, log.gripper_cmd):
        rows.append((ns(t), "gripper_command", ts.types["std_msgs/msg/Float64"](data=float(c))))
    for t, wdt in zip(log.gripper_t_s, log.gripper_width_m):
        rows.append((ns(t), "gripper_state", _joint_msg(ns(t), ["width"], [wdt])))
    rows.sort(key=lambda r: r[0])
    for t, key, msg in rows:
        ep = LOG_TOPICS[key][0]
        w.write(ep.name, ts.serialize_cdr(msg, ep.type), t)
    return w.close()
