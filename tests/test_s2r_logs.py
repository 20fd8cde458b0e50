"""Arm logs for sim-to-real validation: the MCAP round trip, the replay's figures on logs with known truth, and
logs that cannot be replayed (corrupt, truncated, another robot, a topic missing) refused in one line, exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_rl.calibration.arm_log import read_arm_log
from robot_rl.tools.validate.log_writer import write_arm_log
from robot_rl.calibration.replay import divergence, estimate_latency_s, simulate
from robot_rl.calibration.sysid import ExcitationConfig, shadow_log
from robot_rl.sim.twin_dynamics import TwinDynamics
from robot_rl.tools.cli import main

TRUTH = TwinDynamics(joint_damping_nm_s_per_rad=1.2, payload_kg=0.5, control_latency_s=0.02, actuator_gain=0.95)


@pytest.fixture(scope="module")
def shadow(tmp_path_factory):
    log = shadow_log(TRUTH, ExcitationConfig(kind="gripper", seed=3, duration_s=1.6))
    return write_arm_log(tmp_path_factory.mktemp("logs") / "shadow.mcap", log), log


def test_log_round_trips_through_mcap_with_every_replay_channel(shadow):
    path, log = shadow
    back = read_arm_log(path)
    np.testing.assert_allclose(back.t_s, log.t_s, atol=1e-9)
    np.testing.assert_allclose(back.q_rad, log.q_rad)
    np.testing.assert_allclose(back.tau_measured_nm, log.tau_measured_nm)
    np.testing.assert_allclose(back.target_pos_m, log.target_pos_m)
    np.testing.assert_allclose(back.gripper_cmd, log.gripper_cmd)
    np.testing.assert_allclose(back.gripper_cmd_t_s, log.gripper_cmd_t_s, atol=1e-9)
    assert back.control.shape == (len(log.t_s), 10)
    np.testing.assert_allclose(back.nullspace_q_rad, log.nullspace_q_rad)


def test_replay_with_the_true_dynamics_reproduces_the_shadow_log_exactly(shadow):
    path, _ = shadow
    log = read_arm_log(path)
    exact = divergence(log, simulate(log, TRUTH))
    nominal = divergence(log, simulate(log, TwinDynamics()))
    assert exact["ee_position_rmse_m"] < 1e-9 and max(exact["joint_rms_rad"]) < 1e-9
    assert exact["time_to_threshold_s"] is None
    assert nominal["ee_position_rmse_m"] > 1e-3  # the payload sags, the gain is off: the nominal twin diverges
    assert exact["gripper_width_rmse_m"] < 1e-9


def test_cross_correlation_finds_a_known_shift_between_two_signals():
    t = np.arange(0.0, 4.0, 0.01)
    twin = np.exp(-((t - 1.5) / 0.2) ** 2) + 0.5 * np.exp(-((t - 2.7) / 0.3) ** 2)
    real = np.interp(t - 0.037, t, twin)  # the real signal runs 37 ms late
    assert estimate_latency_s(t, real, twin, 0.2) == pytest.approx(0.037, abs=0.002)


def test_validate_replay_prints_json_figures_and_writes_an_overlay_png(shadow, tmp_path, capsys):
    path, _ = shadow
    rc = main(["validate", "replay", str(path), "--json", "--report", str(tmp_path)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    row = out["logs"][0]["nominal"]
    for key in ("joint_rms_rad", "ee_position_rmse_m", "rotation_error_mean_rad", "time_to_threshold_s",
                "latency_s", "gripper_width_rmse_m"):
        assert key in row
    assert len(row["joint_rms_rad"]) == 7
    png = Path(out["logs"][0]["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cli_error(argv, capsys) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_truncated_log_is_one_line_and_exit_2(shadow, tmp_path, capsys):
    path, _ = shadow
    bad = tmp_path / "truncated.mcap"
    data = Path(path).read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    err = _cli_error(["validate", "replay", str(bad)], capsys)
    assert "truncated.mcap" in err


def test_corrupt_log_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "noise.mcap"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    err = _cli_error(["validate", "replay", str(bad)], capsys)
    assert "not a readable MCAP log" in err


def test_log_of_another_robot_is_one_line_and_exit_2(tmp_path, capsys):
    log = shadow_log(TwinDynamics(), ExcitationConfig(duration_s=0.5))
    log.meta["robot"] = "crazyflie"
    p = write_arm_log(tmp_path / "quad.mcap", log)
    err = _cli_error(["validate", "replay", str(p)], capsys)
    assert "recorded on robot 'crazyflie', this twin replays 'franka_7dof'" in err


def test_log_missing_the_targets_is_one_line_and_exit_2(tmp_path, capsys):
    log = shadow_log(TwinDynamics(), ExcitationConfig(duration_s=0.5))
    log.target_t_s, log.target_pos_m, log.target_quat_wxyz = np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4))
    p = write_arm_log(tmp_path / "no_targets.mcap", log)
    err = _cli_error(["validate", "replay", str(p)], capsys)
    assert "arm/target_pose is missing" in err


def test_calibrate_twin_refuses_a_missing_log_in_one_line(tmp_path, capsys):
    err = _cli_error(["calibrate", "twin", str(tmp_path / "absent.mcap"), "--out", str(tmp_path / "d.yaml")], capsys)
    assert "no such log" in err


def test_dynamics_file_with_a_bad_value_is_one_line(tmp_path):
    from robot_rl.contract.params import ParameterError
    from robot_rl.sim.twin_dynamics import load_dynamics

    p = tmp_path / "d.yaml"
    p.write_text("dynamics: {payload_kg: -1.0}\n")
    with pytest.raises(ParameterError, match="payload_kg") as e:
        load_dynamics(p)
    assert "\n" not in str(e.value)


def test_replay_runs_the_energy_tank_in_the_mode_the_driver_logged(tmp_path):
    from robot_rl.calibration.replay import make_twin

    log = shadow_log(TwinDynamics(), ExcitationConfig(duration_s=0.5))
    assert read_arm_log(write_arm_log(tmp_path / "a.mcap", log)).passivity_enforced
    log.meta["passivity_enabled"] = False
    back = read_arm_log(write_arm_log(tmp_path / "b.mcap", log))
    assert not back.passivity_enforced
    assert not make_twin(TwinDynamics(), passivity_enforced=back.passivity_enforced).filters.enforce_tank


def test_record_franky_refuses_an_unknown_excitation_before_starting_the_simulator(tmp_path, capsys):
    err = _cli_error(["validate", "record-franky", "--out", str(tmp_path), "--kinds", "reach,dance"], capsys)
    assert "unknown excitation kind 'dance'" in err


def test_record_franky_refuses_a_zero_segment_before_starting_the_simulator(tmp_path, capsys):
    err = _cli_error(["validate", "record-franky", "--out", str(tmp_path), "--segment-s", "0"], capsys)
    assert "--segment-s must be > 0" in err
