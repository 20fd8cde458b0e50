"""``robot-rl validate policies``: the ranking figures (Pearson, Kendall, SIMPLER's MMRV), the pairing of episodes
between the twin and the robot stand-in, and the whole command against franky-sim through the real driver."""
from __future__ import annotations

import json

import numpy as np
import pytest

from robot_rl.tools.validate.ranking import mmrv, ranking_figures


def test_mmrv_is_zero_for_a_ranking_that_agrees_and_costs_the_gap_of_each_wrong_pair():
    real = [0.1, 0.5, 0.9]
    assert mmrv(real, [0.0, 0.3, 0.4]) == 0.0  # same order, other values
    # the twin swaps the last two: each of them counts the 0.4 real gap, the first policy nothing
    assert mmrv(real, [0.0, 0.4, 0.3]) == pytest.approx((0.0 + 0.4 + 0.4) / 3)
    # the twin reverses everything: each policy's worst wrongly-ordered pair
    assert mmrv(real, [0.9, 0.5, 0.1]) == pytest.approx((0.8 + 0.4 + 0.8) / 3)
    # a tie in the twin that the robot separates: the paper's strict "<" counts it against the policy the robot
    # ranks lower only (its pair reads "twin: not below, robot: below"), so half the gap on average
    assert mmrv([0.2, 0.6], [0.5, 0.5]) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        mmrv([0.1], [0.2])


def test_ranking_figures_report_undefined_correlations_as_none():
    f = ranking_figures([0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 1.0, 0.6])
    assert f["pearson_r"] == pytest.approx(np.corrcoef([0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 1.0, 0.6])[0, 1])
    assert f["kendall_tau"] == pytest.approx(1.0) and f["mmrv"] == 0.0 and f["policies"] == 4
    flat = ranking_figures([0.0, 0.5, 1.0], [1.0, 1.0, 1.0])  # the twin says every policy is perfect
    assert flat["pearson_r"] is None and flat["kendall_tau"] is None
    assert flat["mmrv"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_an_episode_seed_is_the_same_reach_problem_for_the_twin_and_the_robot_stand_in():
    from robot_rl.sim.arm_env import DOWN, TwinArmEnv
    from robot_rl.tools.validate.franky_link import FrankyTaskLink

    env = TwinArmEnv("reach")
    link = FrankyTaskLink(arm=None, task_cfg=env.tcfg, start_rot=DOWN)
    for seed in (2_000_000, 2_000_001, 7):
        env.reset(seed=seed)
        link.begin_episode(seed)
        assert np.array_equal(link.goal, env.task.goal(env.model))
        tcp, _ = env.twin.ee_pose()
        assert np.linalg.norm(tcp - link.start) < 0.003  # the twin settled 50 ms at that start pose
    env.close()


def test_a_run_that_cannot_be_validated_is_one_line_and_exit_2(tmp_path, capsys):
    from robot_rl.tools.cli import main

    assert main(["validate", "policies", str(tmp_path / "nowhere"), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a checkpoint" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_validate_policies_ranks_two_runs_in_the_twin_and_on_franky_sim(tmp_path, capsys):
    pytest.importorskip("pylibfranka")
    pytest.importorskip("franky_sim")
    from robot_rl.tools.cli import main
    from tests.test_franka import free_loopback_host

    runs = []
    for seed in (0, 1):  # two barely trained policies: the command's path, not their quality
        out = tmp_path / f"reach_{seed}"
        assert main(["train", "--task", "reach", "--steps", "30", "--random-steps", "20", "--seed", str(seed),
                     "--num-demos", "1", "--eval-episodes", "1", "--out", str(out), "--no-progress"]) == 0
        runs.append(str(out))
    capsys.readouterr()
    code = main(["validate", "policies", *runs, "--episodes", "1", "--host", free_loopback_host(),
                 "--out", str(tmp_path / "report"), "--record-logs", str(tmp_path / "logs"), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    # every franky-sim episode is an arm log the replay reads: the policy's own motions, its targets and tank
    from robot_rl.calibration.arm_log import read_arm_log

    logs = sorted((tmp_path / "logs").glob("*.mcap"))
    assert [p.name for p in logs] == ["reach_0_ep2000000.mcap", "reach_1_ep2000000.mcap"]
    log = read_arm_log(logs[0])
    assert log.meta["kind"] == "policy" and len(log.target_t_s) >= 10 and log.control.shape[1] == 10
    assert np.all(np.isfinite(log.control[:, 7]))  # the driver's tank energy at every sample
    assert main(["validate", "replay", str(logs[0]), "--json"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["logs"][0]["nominal"]["ee_position_rmse_m"])
    assert [p["env_steps"] for p in res["policies"]] == [30, 30]
    for p in res["policies"]:
        assert len(p["real_successes"]) == 1 and len(p["twin_nominal_successes"]) == 1
        assert p["real_success"] in (0.0, 1.0)
    assert set(res["ranking"]) == {"nominal"} and 0.0 <= res["ranking"]["nominal"]["mmrv"] <= 1.0
    assert (tmp_path / "report" / "twin_vs_real.png").stat().st_size > 1000
    assert json.loads((tmp_path / "report" / "validate_policies.json").read_text())["task"] == "reach"
    # each policy's franky-sim episodes were kept as they finished: a rerun reuses them and starts no simulator
    assert len(list((tmp_path / "report" / "franky_episodes").glob("*.json"))) == 2
    assert main(["validate", "policies", *runs, "--episodes", "1", "--host", "192.0.2.1", "--out",
                 str(tmp_path / "report"), "--json"]) == 0
    rerun = capsys.readouterr()
    assert rerun.err.count("(cached)") == 2 and "franky-sim through the Franka driver" in rerun.err
    assert [p["real_successes"] for p in json.loads(rerun.out)["policies"]] == \
        [p["real_successes"] for p in res["policies"]]
    from robot_rl.tools.validate.policies import VALIDATION_SEED_OFFSET, _cached_franky, load_run

    run0, seeds = load_run(runs[0]), [VALIDATION_SEED_OFFSET]
    assert _cached_franky(tmp_path / "report" / "franky_episodes", 0, run0, seeds)[1] is not None
    assert _cached_franky(tmp_path / "report" / "franky_episodes", 0, run0, [1, 2])[1] is None  # other episodes
    ck = next(f for f in (tmp_path / "reach_0" / "checkpoint").iterdir() if f.is_file())
    ck.touch()  # a retrained checkpoint is not the one that ran
    assert _cached_franky(tmp_path / "report" / "franky_episodes", 0, run0, seeds)[1] is None
    # the twin re-judged with identified dynamics, the robot side taken from the first report (no new episodes)
    from robot_rl.sim.twin_dynamics import TwinDynamics, save_dynamics

    dyn = save_dynamics(tmp_path / "identified.yaml", TwinDynamics(joint_damping_nm_s_per_rad=1.0))
    report = str(tmp_path / "report" / "validate_policies.json")
    assert main(["validate", "policies", *runs, "--episodes", "1", "--dynamics", str(dyn), "--real-results",
                 report, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert set(again["ranking"]) == {"nominal", "identified"}
    assert [p["real_successes"] for p in again["policies"]] == [p["real_successes"] for p in res["policies"]]
    assert main(["validate", "policies", *runs, "--episodes", "2", "--real-results", report]) == 2
    assert "differ" in capsys.readouterr().err


def test_ranking_intervals_pair_the_episodes_and_contain_the_point_figures():
    from robot_rl.tools.validate.ranking import ranking_intervals

    rng = np.random.default_rng(3)
    p = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    real = rng.random((5, 40)) < p[:, None]
    same = ranking_intervals(real, real, resamples=300)  # a twin identical episode by episode: no doubt at all
    assert same["mmrv_ci"] == [0.0, 0.0] and same["pearson_r_ci"] == [pytest.approx(1.0)] * 2
    twin = rng.random((5, 40)) < p[:, None]  # the same policies, other episodes: the point lies in the interval
    f = ranking_figures(real.mean(axis=1), twin.mean(axis=1))
    ci = ranking_intervals(real, twin, resamples=500)
    assert ci["pearson_r_ci"][0] <= f["pearson_r"] <= ci["pearson_r_ci"][1] and ci["pearson_r_ci"][0] < 1.0
    assert ci["mmrv_ci"][0] <= f["mmrv"] <= ci["mmrv_ci"][1] and ci["pearson_r_defined"] == 1.0
    with pytest.raises(ValueError):
        ranking_intervals(real, twin[:, :10])
