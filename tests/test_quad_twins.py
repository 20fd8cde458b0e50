"""The quadrotor twins (sim/quad_twin.py): MuJoCo and PyBullet from one parameter config, one rotor model."""
import dataclasses

import numpy as np
import pytest

from robot_rl.contract.quad import CF2X, QuadParams, allocation_matrix, command_from_thrust, hover_command, \
    rpm_from_command
from robot_rl.contract.params import ParameterError, build
from robot_rl.contract.rotations import quat_to_mat, rotation_angle
from robot_rl.sim.quad_mujoco import quad_mjcf
from robot_rl.sim.quad_twin import ENGINES, QuadTwin

DT = 0.005
H = hover_command(CF2X)


def _fly(engine: str, commands: np.ndarray, params: QuadParams = CF2X, **start):
    twin = QuadTwin(engine, params, DT)
    twin.reset(start.get("pos", (0.0, 0.0, 1.0)), start.get("quat", (1.0, 0.0, 0.0, 0.0)),
               start.get("linvel", (0.0, 0.0, 0.0)), start.get("angvel_body", (0.0, 0.0, 0.0)))
    pos, rot = [], []
    for u in commands:
        twin.step(u)
        s = twin.state()
        pos.append(s.pos)
        rot.append(s.rot)
    twin.close()
    return np.array(pos), np.array(rot)


def _sequences() -> dict[str, np.ndarray]:
    n = 400  # 2 s
    seqs = {"hover": np.full((n, 4), H)}
    # steps about each axis: +-0.05 on the rotors that make roll, pitch, yaw torque, and a collective step
    for name, pattern in {"roll": (-1, -1, 1, 1), "pitch": (-1, 1, 1, -1), "yaw": (-1, 1, -1, 1),
                          "thrust": (1, 1, 1, 1)}.items():
        u = np.full((n, 4), H)
        u[50:150] += 0.05 * np.asarray(pattern, float)
        seqs[name] = u
    seqs["random"] = np.clip(H + 0.15 * np.random.default_rng(0).standard_normal((n, 4)), -1, 1)
    return seqs


@pytest.mark.parametrize("name", sorted(_sequences()))
def test_mujoco_and_pybullet_trajectories_agree_under_the_same_rotor_commands(name):
    cmds = _sequences()[name]
    start = {"linvel": (0.3, -0.2, 0.1), "angvel_body": (0.5, -0.4, 1.0)}
    p_mj, r_mj = _fly("mujoco", cmds, **start)
    p_pb, r_pb = _fly("pybullet", cmds, **start)
    assert np.max(np.linalg.norm(p_mj - p_pb, axis=1)) < 1e-3  # m, over 2 s
    assert max(rotation_angle(a, b) for a, b in zip(r_mj, r_pb)) < 1e-3  # rad
    # and the commands did something: the trajectories are not trivially equal to the start
    if name != "hover":
        assert np.max(np.linalg.norm(p_mj - p_mj[0], axis=1)) > 0.05


@pytest.mark.parametrize("engine", ENGINES)
def test_static_hover_thrust_equals_weight_within_one_percent(engine):
    twin = QuadTwin(engine, CF2X, DT)
    twin.reset((0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0))
    v0 = twin.state().linvel[2]
    twin.step(np.full(4, H))
    # the thrust the engine applied, measured from its vertical acceleration: m (a_z + g)
    thrust = CF2X.mass_kg * ((twin.state().linvel[2] - v0) / DT + CF2X.gravity_m_per_s2)
    assert thrust == pytest.approx(CF2X.weight_n, rel=0.01)
    for _ in range(399):
        twin.step(np.full(4, H))
    s = twin.state()
    assert np.linalg.norm(s.pos - (0.0, 0.0, 1.0)) < 1e-3 and np.linalg.norm(s.linvel) < 1e-3
    twin.close()


def test_hover_command_is_where_thrust_curve_meets_weight_and_commands_invert():
    rpm = rpm_from_command(H, CF2X)
    assert 4 * CF2X.thrust_coeff_n_per_rpm2 * rpm ** 2 == pytest.approx(CF2X.weight_n, rel=1e-9)
    t = np.array([0.01, 0.05, 0.1, CF2X.max_thrust_per_rotor_n])
    u = command_from_thrust(t, CF2X)
    assert np.allclose(CF2X.thrust_coeff_n_per_rpm2 * rpm_from_command(u, CF2X) ** 2, t)
    assert rpm_from_command(2.0, CF2X) == CF2X.max_rpm and rpm_from_command(-3.0, CF2X) == CF2X.min_rpm


def test_allocation_gives_roll_pitch_yaw_torques_of_the_x_layout():
    a = allocation_matrix(CF2X)
    more_left = a @ np.array([0.0, 0.0, 1.0, 1.0])  # rotors 2, 3 sit at +y
    more_front = a @ np.array([1.0, 0.0, 0.0, 1.0])  # rotors 0, 3 sit at +x
    assert more_left[1] > 0 and more_front[2] < 0  # +y thrust rolls +x; +x thrust pitches -y
    assert a[3] @ np.ones(4) == pytest.approx(0.0)  # equal rotors: the drag torques cancel
    assert np.linalg.matrix_rank(a) == 4


def test_motor_lag_delays_thrust_by_the_motor_time_constant():
    twin = QuadTwin("mujoco", CF2X, DT)
    twin.reset((0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0), rpm=np.zeros(4))
    steps = int(round(CF2X.motor_time_constant_s / DT))
    for _ in range(steps):
        twin.step(np.ones(4))
    # after one time constant a first-order lag has covered 1 - 1/e of the way
    assert twin.rpm[0] == pytest.approx(CF2X.max_rpm * (1 - np.exp(-1)), rel=1e-6)


def test_heavier_vehicle_sinks_under_the_nominal_hover_command_in_both_engines():
    heavy = dataclasses.replace(CF2X, mass_kg=CF2X.mass_kg * 1.1)
    for engine in ENGINES:
        pos, _ = _fly(engine, np.full((200, 4), H), heavy)
        assert pos[-1, 2] < 1.0 - 0.01, engine


def test_mjcf_is_generated_from_the_parameters():
    p = dataclasses.replace(CF2X, mass_kg=0.031, inertia_kg_m2=(2e-5, 2e-5, 3e-5))
    xml = quad_mjcf(p, DT)
    assert 'mass="0.031"' in xml and 'diaginertia="2e-05 2e-05 3e-05"' in xml and f'timestep="{DT}"' in xml


def test_bad_parameter_is_refused_with_its_name():
    with pytest.raises(ParameterError, match="mass_kg"):
        build(QuadParams, {"mass_kg": -1.0})


def test_twin_state_quaternion_and_rotation_agree():
    twin = QuadTwin("pybullet", CF2X, DT)
    q = np.array([0.9, 0.1, -0.3, 0.2])
    q /= np.linalg.norm(q)
    twin.reset((0.0, 0.0, 1.0), q, angvel_body=(0.0, 0.0, 1.0))
    s = twin.state()
    assert np.allclose(s.rot, quat_to_mat(q)) and np.allclose(s.angvel_body, (0.0, 0.0, 1.0))
    twin.close()
