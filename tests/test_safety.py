"""The safety filter (controllers/safety.py): box, speed, barrier, torque and torque-rate limits, NaN -> hold."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.controllers.impedance import CartesianImpedanceConfig, rotation_error
from robot_rl.contract.rotations import rotvec_to_mat
from robot_rl.controllers.safety import SafetyConfig, SafetyFilter, spring_wrench_bound

DT = 0.002
CFG = SafetyConfig()
N = 7
HOME_Q = np.array([0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398])
TAU_MAX = np.asarray(CFG.joint_torque_limit_nm)
RATE_STEP = CFG.torque_rate_limit_nm_per_s * DT

vec3 = st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3).map(np.array)
rotvec = st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3).map(np.array)
vec7 = lambda lo, hi: st.lists(st.floats(lo, hi), min_size=N, max_size=N).map(np.array)  # noqa: E731
maybe_bad = st.sampled_from([None, math.nan, math.inf, -math.inf])


def _fresh(cfg=CFG) -> SafetyFilter:
    f = SafetyFilter(cfg, DT, N)
    f.reset(np.array([0.5, 0.0, 0.3]), np.diag([1.0, -1.0, -1.0]))
    return f


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(vec3, rotvec), min_size=1, max_size=40))
def test_filtered_target_always_inside_workspace_box_and_within_speed_limits(targets):
    f = _fresh()
    lo, hi = np.asarray(CFG.workspace_min_m), np.asarray(CFG.workspace_max_m)
    for p, w in targets:
        prev_p, prev_r = f.target_pos.copy(), f.target_rot.copy()
        tp, tr = f.filter_target(p, rotvec_to_mat(w))
        assert np.all(tp >= lo) and np.all(tp <= hi)
        assert np.linalg.norm(tp - prev_p) <= CFG.max_ee_speed_m_per_s * DT * (1 + 1e-9)
        assert np.linalg.norm(rotation_error(tr, prev_r)) <= CFG.max_ee_angular_speed_rad_per_s * DT * (1 + 1e-6)
        assert np.allclose(tr @ tr.T, np.eye(3), atol=1e-9)


def test_target_inside_the_box_and_within_one_step_passes_unchanged():
    f = _fresh()
    p = f.target_pos + np.array([1e-4, 0.0, -1e-4])
    r = rotvec_to_mat(np.array([0.0, 0.0, 1e-3])) @ f.target_rot
    tp, tr = f.filter_target(p, r)
    assert np.array_equal(tp, p) and np.array_equal(tr, r)
    assert f.box_clamps == 0 and f.slew_limited_ticks == 0 and not f.violation


def test_target_slews_to_a_far_command_at_the_speed_limit_and_reaches_it():
    f = _fresh()
    goal = f.target_pos + np.array([0.1, 0.0, 0.0])
    ticks = 0
    while not np.array_equal(f.target_pos, goal):
        f.filter_target(goal, f.target_rot.copy())
        ticks += 1
        assert ticks < 1000
    assert ticks == math.ceil(0.1 / (CFG.max_ee_speed_m_per_s * DT) - 1e-9)


@pytest.mark.parametrize("where", ["pos", "rot"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_target_is_rejected_and_the_previous_target_held(where, bad):
    f = _fresh()
    p0, r0 = f.target_pos.copy(), f.target_rot.copy()
    p, r = p0 + 0.001, r0.copy()
    (p if where == "pos" else r)[1] = bad
    tp, tr = f.filter_target(p, r)
    assert np.array_equal(tp, p0) and np.array_equal(tr, r0)
    assert f.target_rejections == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(vec7(-500.0, 500.0), vec7(-3.5, 3.5), vec7(-5.0, 5.0), maybe_bad, st.integers(0, 3)),
                min_size=1, max_size=40),
       vec7(-40.0, 40.0))
def test_torque_and_torque_rate_limits_never_exceeded_whatever_the_input(ticks, bias):
    f = _fresh()
    prev = np.zeros(N)
    for tau, q, dq, bad, where in ticks:
        tau, q, dq, b = tau.copy(), q.copy(), dq.copy(), bias.copy()
        if bad is not None:
            (tau, q, dq, b)[where][where] = bad
        out = f.filter_torque(tau, q, dq, b)
        active = out - b if np.all(np.isfinite(b)) else out.copy()  # a non-finite bias is dropped by the hold
        assert np.all(np.isfinite(out))
        assert np.all(np.abs(active) <= TAU_MAX + 1e-9)
        assert np.all(np.abs(active - prev) <= RATE_STEP + 1e-9)
        prev = active


@pytest.mark.parametrize("where", ["tau", "q", "dq", "bias", "ee_vel"])
def test_nan_input_anywhere_gives_the_damped_gravity_hold(where):
    f = _fresh(dataclasses.replace(CFG, torque_rate_limit_nm_per_s=1e9))  # so that the hold is reached at once
    tau, q, dq, bias = np.full(N, 5.0), HOME_Q.copy(), np.full(N, 0.1), np.full(N, 3.0)
    ee_vel, jac = np.full(6, 0.01), np.ones((6, N))
    {"tau": tau, "q": q, "dq": dq, "bias": bias, "ee_vel": ee_vel}[where][2] = math.nan
    out = f.filter_torque(tau, q, dq, bias, ee_vel, jac)
    hold_d = np.asarray(CFG.hold_joint_damping_nm_s_per_rad)
    dq_used = dq if where != "dq" else np.zeros(N)
    expected = -hold_d * dq_used + (bias if where != "bias" else 0.0)
    assert f.holds == 1 and f.violation
    assert np.allclose(out, expected)


def test_hold_after_a_large_torque_ramps_down_at_the_rate_limit():
    f = _fresh()
    big = np.full(N, 10.0)
    for _ in range(20):
        f.filter_torque(big, HOME_Q, np.zeros(N))
    before = f.prev_active.copy()
    out = f.filter_torque(np.full(N, math.nan), HOME_Q, np.zeros(N))
    assert np.allclose(before - out, RATE_STEP)  # one rate step toward the zero hold, not a jump


def test_command_within_all_limits_passes_unchanged():
    f = _fresh()
    tau = np.array([1.0, -1.5, 0.5, 1.0, 0.2, -0.3, 0.1])
    bias = np.array([0.0, -20.0, 0.0, 15.0, 0.0, 1.0, 0.0])
    out = f.filter_torque(tau + bias, HOME_Q, np.zeros(N), bias)
    assert np.allclose(out, tau + bias) and not f.violation


@settings(max_examples=60, deadline=None)
@given(st.integers(0, N - 1), st.floats(0.0, 0.5), st.floats(0.01, 3.0), st.floats(-80.0, 80.0))
def test_joint_moving_toward_its_limit_faster_than_the_barrier_allows_gets_a_decelerating_torque(j, gap, speed, cmd):
    f = _fresh(dataclasses.replace(CFG, torque_rate_limit_nm_per_s=1e9))
    lo, hi = CFG.soft_joint_limits_rad()
    q = HOME_Q.copy()
    q[j] = hi[j] - gap
    allowed = min(CFG.joint_limit_gain_per_s * gap, CFG.joint_velocity_limit_rad_per_s[j])
    dq = np.zeros(N)
    dq[j] = allowed + speed
    tau = np.zeros(N)
    tau[j] = cmd
    out = f.filter_torque(tau, q, dq)
    kv = CFG.joint_limit_damping_nm_s_per_rad[j]
    assert out[j] <= max(-kv * speed, -TAU_MAX[j]) + 1e-9 < 0.0
    # and symmetrically at the lower limit
    f = _fresh(dataclasses.replace(CFG, torque_rate_limit_nm_per_s=1e9))
    q[j], dq[j], tau[j] = lo[j] + gap, -(allowed + speed), -cmd
    out = f.filter_torque(tau, q, dq)
    assert out[j] >= min(kv * speed, TAU_MAX[j]) - 1e-9 > 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, N - 1), st.lists(st.floats(-1.0, 1.0), min_size=50, max_size=400), st.floats(0.0, 1.0),
       st.floats(-1.0, 1.0))
def test_barrier_keeps_a_joint_inside_its_limits_under_any_command(j, commands, inertia_frac, q0_frac):
    """A 1-DoF double integrator driven by arbitrary commands (up to 10x the torque limit) through the filter never
    leaves its hard limits, for any inertia the barrier's gains are designed for (module docstring):
    k_v dt <= I <= min(k_v / (4 gamma), 2 tau_max / (gamma v_max))."""
    cfg = dataclasses.replace(CFG, torque_rate_limit_nm_per_s=1e9)
    kv, gamma = cfg.joint_limit_damping_nm_s_per_rad[j], cfg.joint_limit_gain_per_s
    tau_max, v_max = cfg.joint_torque_limit_nm[j], cfg.joint_velocity_limit_rad_per_s[j]
    i_min, i_max = kv * DT, min(kv / (4.0 * gamma), 2.0 * tau_max / (gamma * v_max))
    inertia = i_min + inertia_frac * (i_max - i_min)
    f = _fresh(cfg)
    lo, hi = cfg.soft_joint_limits_rad()
    q_min, q_max = cfg.joint_position_min_rad[j], cfg.joint_position_max_rad[j]
    q = HOME_Q.copy()
    q[j] = 0.5 * (lo[j] + hi[j]) + q0_frac * 0.5 * (hi[j] - lo[j])
    dq = np.zeros(N)
    for c in commands:
        tau = np.zeros(N)
        tau[j] = c * 10.0 * tau_max
        out = f.filter_torque(tau, q, dq)
        dq[j] += DT * out[j] / inertia
        q[j] += DT * dq[j]
        assert q_min <= q[j] <= q_max


def test_barrier_gains_cover_the_twin_arm_inertias():
    """The default gains meet the barrier's conditions for every joint inertia the Panda twin reaches."""
    import mujoco

    from robot_rl.sim.arm_twin import ArmTwin

    twin = ArmTwin()
    m, d = twin.model, twin.data
    lo, hi = CFG.soft_joint_limits_rad()
    rng = np.random.default_rng(0)
    full = np.zeros((m.nv, m.nv))
    diag = []
    for _ in range(200):
        d.qpos[twin._qs] = rng.uniform(lo, hi)
        mujoco.mj_forward(m, d)
        mujoco.mj_fullM(m, d, full)
        diag.append(np.diag(full)[twin._ds])
    i_lo, i_hi = np.min(diag, axis=0), np.max(diag, axis=0)
    kv, gamma = np.asarray(CFG.joint_limit_damping_nm_s_per_rad), CFG.joint_limit_gain_per_s
    assert np.all(kv * twin.tick_dt_s <= i_lo)
    assert np.all(4.0 * gamma * i_hi <= kv)
    assert np.all(gamma * np.asarray(CFG.joint_velocity_limit_rad_per_s) * i_hi <= 2.0 * TAU_MAX)


def test_overspeed_guard_makes_the_active_torque_dissipative():
    cfg = dataclasses.replace(CFG, torque_rate_limit_nm_per_s=1e9, joint_position_min_rad=(-10.0,) * N,
                              joint_position_max_rad=(10.0,) * N)
    rng = np.random.default_rng(0)
    for _ in range(50):
        f = _fresh(cfg)
        jac = rng.normal(size=(6, N)) * 0.3
        dq = rng.normal(size=N)
        v = jac @ dq
        v[:3] *= 2.0 * CFG.max_ee_speed_m_per_s / np.linalg.norm(v[:3])  # twice the speed limit
        dq = np.linalg.lstsq(jac, v, rcond=None)[0]
        v = jac @ dq
        tau = rng.normal(size=N) * 5.0
        out = f.filter_torque(tau, np.zeros(N), dq, None, v, jac)
        assert f.overspeed_ticks == 1 and f.violation
        if np.all(np.abs(out) < TAU_MAX):  # not clipped by the hardware limits
            assert float(out @ dq) < 0.0


def test_reference_clipping_bound_is_stiffness_times_clip_and_is_checked():
    imp = CartesianImpedanceConfig()
    f, t = spring_wrench_bound(imp)
    assert np.allclose(f, imp.translational_stiffness_n_per_m * np.asarray(imp.translational_clip_m))
    assert np.allclose(t, imp.rotational_stiffness_nm_per_rad * np.asarray(imp.rotational_clip_rad))
    CFG.validate_impedance(imp)
    with pytest.raises(ValueError, match="reference clipping"):
        CFG.validate_impedance(CartesianImpedanceConfig(translational_clip_m=(0.05, 0.05, 0.05)))


@pytest.mark.parametrize("kw", [
    {"workspace_min_m": (1.0, 0.0, 0.0)}, {"max_ee_speed_m_per_s": 0.0}, {"torque_rate_limit_nm_per_s": -1.0},
    {"joint_torque_limit_nm": (87.0,) * 6}, {"joint_soft_limit_margin_rad": 5.0},
    {"joint_limit_damping_nm_s_per_rad": (0.0,) * 7}, {"max_ee_angular_speed_rad_per_s": math.nan},
])
def test_safety_config_rejects_invalid_values(kw):
    with pytest.raises(ValueError):
        SafetyFilter(dataclasses.replace(CFG, **kw), DT, N)
