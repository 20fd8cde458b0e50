"""contract/rotations.py: the one set of rotation conversions, checked against MuJoCo's own and by round trips."""
import math

import numpy as np
import pytest

from robot_rl.contract.rotations import (
    RotationError,
    mat_to_quat,
    mat_to_rotvec,
    normalized_quat,
    quat_conj,
    quat_mul,
    quat_to_mat,
    rotation_angle,
    rotvec_to_mat,
    rotvec_to_quat,
    wxyz_from_xyzw,
    xyzw_from_wxyz,
)

mujoco = pytest.importorskip("mujoco")


def random_quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


# rotations whose largest of (trace, r00, r11, r22) picks each branch of Shepperd's method, and angles near pi
BRANCH_ROTVECS = [np.array([0.1, 0.2, -0.3]), np.array([math.pi - 1e-3, 0.0, 0.0]), np.array([0.0, 3.0, 0.1]),
                  np.array([0.05, -0.1, 3.1]), np.array([0.0, 0.0, math.pi])]


def test_quat_to_mat_matches_mujoco_mju_quat2mat_on_random_rotations():
    for q in random_quats(200):
        m = np.empty(9)
        mujoco.mju_quat2Mat(m, q)
        np.testing.assert_allclose(quat_to_mat(q), m.reshape(3, 3), atol=1e-12)


def test_mat_to_quat_matches_mujoco_mju_mat2quat_up_to_the_w_nonnegative_sign():
    mats = [quat_to_mat(q) for q in random_quats(200, seed=1)] + [rotvec_to_mat(v) for v in BRANCH_ROTVECS]
    for r in mats:
        ours = mat_to_quat(r)
        ref = np.empty(4)
        mujoco.mju_mat2Quat(ref, np.ascontiguousarray(r).reshape(9))
        ref = ref if ref[0] >= 0 else -ref
        assert ours[0] >= 0.0
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_quat_mat_round_trip_recovers_the_quaternion_up_to_sign():
    for q in random_quats(200, seed=2):
        back = mat_to_quat(quat_to_mat(q))
        assert np.allclose(back, q, atol=1e-12) or np.allclose(back, -q, atol=1e-12)
        r = quat_to_mat(q)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)


def test_rotvec_round_trip_including_zero_and_angles_near_pi():
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(200, 3))
    vecs = list(dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * rng.uniform(0, 3.1, size=(200, 1)))
    vecs += BRANCH_ROTVECS[:1] + [np.zeros(3)]
    for v in vecs:
        np.testing.assert_allclose(mat_to_rotvec(rotvec_to_mat(v)), v, atol=1e-9)
    for v in BRANCH_ROTVECS[1:]:  # near pi the axis sign is free: compare the rotation, not the vector
        assert rotation_angle(rotvec_to_mat(mat_to_rotvec(rotvec_to_mat(v))), rotvec_to_mat(v)) < 1e-6


def test_rotvec_to_mat_and_rotvec_to_quat_match_mujoco_axis_angle():
    rng = np.random.default_rng(4)
    for _ in range(100):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(-3.0, 3.0)
        q = np.empty(4)
        mujoco.mju_axisAngle2Quat(q, axis, angle)
        np.testing.assert_allclose(rotvec_to_mat(axis * angle), quat_to_mat(q), atol=1e-12)
        np.testing.assert_allclose(rotvec_to_quat(axis * angle), q, atol=1e-12)
    np.testing.assert_array_equal(rotvec_to_quat(np.zeros(3)), [1, 0, 0, 0])


def test_quat_mul_composes_like_matrix_products_and_like_mujoco():
    qa, qb = random_quats(2, seed=5)
    np.testing.assert_allclose(quat_to_mat(quat_mul(qa, qb)), quat_to_mat(qa) @ quat_to_mat(qb), atol=1e-12)
    ref = np.empty(4)
    mujoco.mju_mulQuat(ref, qa, qb)
    np.testing.assert_allclose(quat_mul(qa, qb), ref, atol=1e-12)
    np.testing.assert_allclose(quat_mul(qa, quat_conj(qa)), [1, 0, 0, 0], atol=1e-12)


def test_xyzw_wxyz_conversions_are_inverse_and_put_w_where_named():
    q = np.array([0.1, 0.2, 0.3, 0.9])  # x, y, z, w
    np.testing.assert_array_equal(wxyz_from_xyzw(q), [0.9, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(xyzw_from_wxyz(wxyz_from_xyzw(q)), q)


@pytest.mark.parametrize("bad", [[0, 0, 0, 0], [math.nan, 0, 0, 1], [math.inf, 0, 0, 0], [1, 0, 0]])
def test_zero_nan_inf_or_short_quaternion_is_a_rotation_error(bad):
    with pytest.raises(RotationError):
        quat_to_mat(bad)
    with pytest.raises(ValueError):  # RotationError is a ValueError: callers catching ValueError keep working
        normalized_quat(bad)


def test_unnormalised_quaternion_gives_the_rotation_of_its_direction():
    q = random_quats(1, seed=6)[0]
    np.testing.assert_allclose(quat_to_mat(3.7 * q), quat_to_mat(q), atol=1e-12)
