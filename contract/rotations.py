"""The one set of rotation conversions (numpy only), used by every folder.

Quaternion order, everywhere in robot_rl: **(w, x, y, z)**, scalar first (MuJoCo's order and the state vector's).
ROS messages (``geometry_msgs/Quaternion``) and libfranka carry (x, y, z, w): convert at the message boundary
with :func:`wxyz_from_xyzw` / :func:`xyzw_from_wxyz`, nowhere else.

Rotation matrices are 3x3, active (``R @ v`` rotates ``v``); a rotation vector is axis * angle [rad].
"""
from __future__ import annotations

import math

import numpy as np

QUAT_ORDER = "wxyz"
_EPS_NORM = 1e-9


class RotationError(ValueError):
    """A quaternion that is not a rotation (zero norm, NaN/inf or wrongly shaped)."""


def normalized_quat(q) -> np.ndarray:
    """``q`` (w, x, y, z) scaled to unit norm; :class:`RotationError` when it has no direction or is not finite."""
    a = np.asarray(q, dtype=float).reshape(-1)
    if a.shape != (4,):
        raise RotationError(f"a quaternion has 4 numbers (w, x, y, z), got {np.shape(q)}")
    n = math.sqrt(float(a @ a))
    if not math.isfinite(n) or n < _EPS_NORM:
        raise RotationError(f"invalid quaternion {tuple(float(v) for v in a)} (zero or not finite)")
    return a / n


def quat_to_mat(q) -> np.ndarray:
    """Rotation matrix of a (w, x, y, z) quaternion (normalised first)."""
    w, x, y, z = normalized_quat(q).tolist()
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def mat_to_quat(r) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix, on the w >= 0 hemisphere. Shepperd's method: the branch of the largest
    of (trace, r00, r11, r22) keeps the division well conditioned (the same branch order as MuJoCo's
    ``mju_mat2Quat``)."""
    m = np.asarray(r, dtype=float).reshape(9).tolist()
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = m
    if r00 + r11 + r22 > 0:
        w = 0.5 * math.sqrt(1 + r00 + r11 + r22)
        q = [w, 0.25 * (r21 - r12) / w, 0.25 * (r02 - r20) / w, 0.25 * (r10 - r01) / w]
    elif r00 > r11 and r00 > r22:
        x = 0.5 * math.sqrt(1 + r00 - r11 - r22)
        q = [0.25 * (r21 - r12) / x, x, 0.25 * (r01 + r10) / x, 0.25 * (r02 + r20) / x]
    elif r11 > r22:
        y = 0.5 * math.sqrt(1 - r00 + r11 - r22)
        q = [0.25 * (r02 - r20) / y, 0.25 * (r01 + r10) / y, y, 0.25 * (r12 + r21) / y]
    else:
        z = 0.5 * math.sqrt(1 - r00 - r11 + r22)
        q = [0.25 * (r10 - r01) / z, 0.25 * (r02 + r20) / z, 0.25 * (r12 + r21) / z, z]
    out = np.array(q)
    out /= math.sqrt(float(out @ out))
    return out if out[0] >= 0 else -out


def rotvec_to_mat(v) -> np.ndarray:
    """Rodrigues: the rotation matrix of rotation vector ``v`` (axis * angle, rad)."""
    v = np.asarray(v, dtype=float).reshape(3)
    th = math.sqrt(float(v @ v))
    if th < 1e-12:
        return np.eye(3)
    x, y, z = (v / th).tolist()
    c, s = math.cos(th), math.sin(th)
    t = 1.0 - c
    return np.array([[c + x * x * t, x * y * t - z * s, x * z * t + y * s],
                     [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
                     [z * x * t - y * s, z * y * t + x * s, c + z * z * t]])


def rotvec_to_quat(v) -> np.ndarray:
    """(w, x, y, z) of rotation vector ``v`` (axis * angle, rad): (cos(angle/2), axis sin(angle/2))."""
    v = np.asarray(v, dtype=float).reshape(3)
    th = math.sqrt(float(v @ v))
    if th < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[math.cos(th / 2)], v * (math.sin(th / 2) / th)])


def mat_to_rotvec(r, out: np.ndarray | None = None) -> np.ndarray:
    """Rotation vector (axis * angle, angle in [0, pi]) of a rotation matrix (the log map), into ``out`` if given.

    atan2 of the skew and symmetric parts keeps small angles exact; at a half turn the axis comes from
    a a^T = (R + I) / 2, its sign referenced to the largest diagonal entry. Written with Python floats on purpose:
    the controllers run it every control tick and small-array numpy calls cost more.
    """
    if out is None:
        out = np.empty(3)
    (e00, e01, e02), (e10, e11, e12), (e20, e21, e22) = np.asarray(r, dtype=float).tolist()
    sx, sy, sz = 0.5 * (e21 - e12), 0.5 * (e02 - e20), 0.5 * (e10 - e01)
    sin_t = math.sqrt(sx * sx + sy * sy + sz * sz)
    cos_t = 0.5 * (e00 + e11 + e22 - 1.0)
    if sin_t > 1e-9:
        k = math.atan2(sin_t, cos_t) / sin_t
        out[0], out[1], out[2] = sx * k, sy * k, sz * k
    elif cos_t > 0.0:
        out[:] = 0.0  # identity
    else:
        e = np.asarray(r, dtype=float)
        a = np.sqrt(np.clip((np.diag(e) + 1.0) * 0.5, 0.0, None))
        k = int(np.argmax(a))
        for j in range(3):
            if j != k:
                a[j] = math.copysign(a[j], e[k, j] + e[j, k])
        out[:] = a / np.linalg.norm(a) * math.pi
    return out


def quat_mul(a, b) -> np.ndarray:
    """Hamilton product ``a * b`` of two (w, x, y, z) quaternions (``b`` applied first)."""
    aw, ax, ay, az = np.asarray(a, float).tolist()
    bw, bx, by, bz = np.asarray(b, float).tolist()
    return np.array([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw])


def quat_conj(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, float).tolist()
    return np.array([w, -x, -y, -z])


def rotation_angle(r_a, r_b) -> float:
    """Angle [rad] of the rotation between two rotation matrices."""
    return float(np.linalg.norm(mat_to_rotvec(np.asarray(r_a) @ np.asarray(r_b).T)))


def wxyz_from_xyzw(q) -> np.ndarray:
    x, y, z, w = np.asarray(q, float).reshape(4).tolist()
    return np.array([w, x, y, z])


def xyzw_from_wxyz(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, float).reshape(4).tolist()
    return np.array([x, y, z, w])


def euler_zyx_to_mat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """R = Rz(yaw) Ry(pitch) Rx(roll) (aerospace roll-pitch-yaw, angles in rad)."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def mat_to_euler_zyx(r) -> tuple[float, float, float]:
    """(roll, pitch, yaw) [rad] of R = Rz(yaw) Ry(pitch) Rx(roll); pitch in [-pi/2, pi/2]."""
    r = np.asarray(r, float)
    pitch = math.asin(max(-1.0, min(1.0, -float(r[2, 0]))))
    return math.atan2(float(r[2, 1]), float(r[2, 2])), pitch, math.atan2(float(r[1, 0]), float(r[0, 0]))
