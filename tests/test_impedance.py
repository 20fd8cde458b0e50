"""The Cartesian impedance law in controllers/, run by the twin."""
import math

import numpy as np
import pytest

from robot_rl.controllers.impedance import CartesianImpedanceConfig, CartesianImpedanceController, rotation_error
from robot_rl.contract.rotations import rotvec_to_mat
from robot_rl.sim.arm_env import DOWN
from robot_rl.sim.arm_twin import ArmTwin


def test_rotation_error_is_axis_times_angle_of_current_relative_to_target():
    rng = np.random.default_rng(0)
    for _ in range(50):
        r_d = rotvec_to_mat(rng.normal(size=3))
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(0.0, math.pi - 1e-3)
        r = rotvec_to_mat(axis * angle) @ r_d
        np.testing.assert_allclose(rotation_error(r, r_d), axis * angle, atol=1e-6)


def test_rotation_error_handles_half_turn_and_identity():
    r_d = np.eye(3)
    r = rotvec_to_mat(np.array([0.0, 0.0, math.pi]))
    e = rotation_error(r, r_d)
    assert np.isclose(np.linalg.norm(e), math.pi) and np.isclose(abs(e[2]), math.pi)
    np.testing.assert_array_equal(rotation_error(r_d, r_d), np.zeros(3))


def test_impedance_drives_tcp_to_target_within_tolerance():
    twin = ArmTwin()
    p0, r0 = twin.ee_pose()
    cases = [
        (np.array([0.10, 0.10, -0.15]), np.zeros(3)),
        (np.array([-0.05, -0.12, 0.05]), np.array([0.0, 0.0, 0.3])),
        (np.array([0.15, 0.0, -0.25]), np.array([0.2, -0.1, 0.0])),
    ]
    for dp, drot in cases:
        twin.reset()
        target_pos, target_rot = p0 + dp, rotvec_to_mat(drot) @ r0
        twin.set_target(target_pos, target_rot)
        twin.step(twin.ticks_for(3.0))
        p, r = twin.ee_pose()
        assert np.linalg.norm(p - target_pos) < 2e-3, (dp, p - target_pos)
        assert np.linalg.norm(rotation_error(r, target_rot)) < 0.01


WALL_X_M = 0.55


def test_reference_clipping_bounds_steady_force_pushing_into_a_wall():
    cfg = CartesianImpedanceConfig()
    # a low wall: its top (z = 0.32 m) is above the fingertips but below the hand, so the fingers take the contact
    wall = (f'<body name="wall" pos="{WALL_X_M + 0.05} 0 0.16"><geom type="box" size="0.05 0.3 0.16" '
            'contype="1" conaffinity="3" rgba="0.5 0.5 0.5 1"/></body>')
    twin = ArmTwin(wall)
    q = twin.solve_ik(np.array([WALL_X_M - 0.05, 0.0, 0.3]), DOWN)
    twin.reset(q, gripper_closedness=1.0)
    # target 10 cm behind the wall face: without clipping the spring would push with K * 0.1 = 200 N
    twin.set_target(np.array([WALL_X_M + 0.10, 0.0, 0.3]), DOWN)
    twin.step(twin.ticks_for(3.0))
    forces = []
    for _ in range(20):
        twin.step(twin.ticks_for(0.05))
        forces.append(-twin.ee_wrench()[0])  # the wall pushes back along -x
    bound = cfg.translational_stiffness_n_per_m * cfg.translational_clip_m[0]
    steady = float(np.median(forces))
    assert twin.ee_pose()[0][0] < WALL_X_M + 0.005  # it is in contact, not through the wall
    assert steady > 0.5 * bound, f"no real contact: {steady:.1f} N"
    assert max(forces) <= bound * 1.1 + 1.0, f"steady force {max(forces):.1f} N exceeds K*clip = {bound:.1f} N"


def test_torques_saturate_at_joint_torque_limits():
    ctrl = CartesianImpedanceController(CartesianImpedanceConfig(translational_clip_m=(10.0, 10.0, 10.0),
                                                                 translational_stiffness_n_per_m=1e5))
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(6, 7))
    tau = ctrl.compute(np.zeros(3), np.eye(3), jac, np.zeros(7), np.zeros(7), np.array([5.0, 5.0, 5.0]),
                       np.eye(3), np.zeros(7))
    assert np.all(np.abs(tau) <= np.asarray(ctrl.cfg.joint_torque_limit_nm) + 1e-12)
    assert np.any(np.isclose(np.abs(tau), ctrl.cfg.joint_torque_limit_nm))


@pytest.mark.parametrize("field,value", [
    ("translational_clip_m", (0.0, 0.01, 0.01)),
    ("translational_stiffness_n_per_m", -1.0),
    ("rotational_damping_nm_s_per_rad", float("nan")),
    ("nullspace_projector_period_ticks", 0),
])
def test_impedance_config_rejects_invalid_values(field, value):
    with pytest.raises(ValueError, match=field):
        CartesianImpedanceController(CartesianImpedanceConfig(**{field: value}))
