"""Logs from franky-sim (its own FR3 model: the stand-in for the robot) through the real Franka driver replay in
the twin: the recorder's MCAP carries every channel a replay needs, on the robot's clock."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pylibfranka")
pytest.importorskip("franky_sim")

from robot_rl.calibration.arm_log import read_arm_log  # noqa: E402
from robot_rl.tools.cli import main  # noqa: E402
from tests.test_franka import free_loopback_host  # noqa: E402




@pytest.mark.slow
def test_franky_sim_reach_log_through_the_driver_replays_in_the_twin(tmp_path, capsys):
    from robot_rl.tools.validate.franky_record import record_franky_logs

    (path,) = record_franky_logs(tmp_path, kinds=("reach",), seeds=range(1), duration_s=1.6,
                                 host=free_loopback_host())
    log = read_arm_log(path)
    assert log.meta["source"] == "franky-sim"
    assert np.median(np.diff(log.t_s)) <= 0.011  # sampled on the robot's clock, >= ~100 Hz of it
    assert len(log.target_t_s) >= 14 and log.control.shape == (len(log.t_s), 10)
    assert np.all(np.isfinite(log.tau_measured_nm))
    moved = np.linalg.norm(log.ee_pos_m[-1] - log.ee_pos_m[0])
    assert moved > 0.02  # the driver tracked the script's targets (no watchdog hold)
    assert main(["validate", "replay", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["logs"][0]["nominal"]
    assert np.isfinite(row["ee_position_rmse_m"]) and len(row["joint_rms_rad"]) == 7
