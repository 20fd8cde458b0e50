"""``robot-rl bench learner-ablation``: the statistics on known inputs (IQM, bootstrap CI, censoring, the worst drop
after 80 %) and a tiny end-to-end run (CI smoke: budgets of a few env steps) whose JSON has the documented
structure and whose finished runs a second call reuses."""
import json

import numpy as np
import pytest

from robot_rl.tools.bench.learner_ablation import (CONFIGS, DEFAULT_CONFIGS, bootstrap_ci, iqm, markdown_table,
                                                   run_metrics, summarize_cell, worst_drop_after)


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(range(1, 9)) == 4.5  # mean of 3, 4, 5, 6
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # order does not matter
    assert iqm([1, 2, 3, 4, 100]) == 3.0  # n = 5: one dropped at each end
    assert iqm([2.0, 4.0]) == 3.0 and iqm([7]) == 7.0
    with pytest.raises(ValueError):
        iqm([])


def test_bootstrap_ci_contains_the_iqm_is_reproducible_and_narrows_with_more_seeds():
    x = list(range(1, 9))
    lo, hi = bootstrap_ci(x, n_boot=1000)
    assert lo <= iqm(x) <= hi and lo < hi and 1 <= lo and hi <= 8
    assert bootstrap_ci(x, n_boot=1000) == [lo, hi]  # seeded
    wide = np.diff(bootstrap_ci([1, 9, 2, 8], n_boot=1000))[0]
    narrow = np.diff(bootstrap_ci([1, 9, 2, 8] * 8, n_boot=1000))[0]
    assert narrow < wide
    assert bootstrap_ci([5.0]) == [5.0, 5.0]


def test_worst_drop_after_first_reaching_80pct():
    assert worst_drop_after([0.0, 0.6, 0.0, 0.9, 1.0, 0.3, 0.8, 1.0]) == pytest.approx(0.7)  # 1.0 -> 0.3
    assert worst_drop_after([0.0, 0.5, 0.0, 0.7]) is None  # the drop before 80 % does not count; never reached
    assert worst_drop_after([0.8, 0.9, 1.0]) == 0.0


def _run(seed, curve, steps=5000, cpu=50.0):
    return {"seed": seed, "curve": curve, "env_steps": steps, "learner_cpu_s": cpu, "wall_s": 1.0, "updates": 10}


def test_a_run_that_never_reaches_90pct_is_counted_at_its_budget_and_flagged_censored():
    reached = _run(0, [(0, 0.0, 0.0), (1000, 0.5, 10.0), (2000, 0.9, 21.0), (3000, 0.2, 30.0)], steps=3000)
    never = _run(1, [(0, 0.0, 0.0), (1000, 0.4, 9.0), (2000, 0.7, 20.0)], steps=2000, cpu=22.5)
    assert run_metrics(reached) == {"reached_90pct": True, "env_steps_to_90pct": 2000,
                                    "learner_cpu_s_to_90pct": 21.0, "worst_drop_after_80pct": pytest.approx(0.7)}
    m = run_metrics(never)
    assert (m["reached_90pct"], m["env_steps_to_90pct"], m["learner_cpu_s_to_90pct"]) == (False, 2000, 22.5)
    cell = summarize_cell([reached, never], n_boot=200)
    assert (cell["n"], cell["n_reached_90pct"], cell["n_censored"]) == (2, 1, 1)
    e = cell["env_steps_to_90pct"]
    assert e["per_seed"] == {"0": 2000, "1": 2000} and e["censored_seeds"] == ["1"] and e["lower_bound"]
    assert cell["learner_cpu_s_to_90pct"]["iqm"] == pytest.approx((21.0 + 22.5) / 2)
    d = cell["worst_drop_after_80pct"]
    assert d["n_reached_80pct"] == 1 and d["per_seed"] == {"0": pytest.approx(0.7), "1": None}
    assert not summarize_cell([reached], n_boot=50)["env_steps_to_90pct"]["lower_bound"]


def test_markdown_table_has_a_row_per_task_and_configuration_and_marks_censored_figures_as_lower_bounds():
    reached = _run(0, [(0, 0.0, 0.0), (1000, 0.9, 12.5)], steps=2000, cpu=30.0)
    never = _run(1, [(0, 0.0, 0.0), (2000, 0.3, 40.0)], steps=2000, cpu=40.0)
    again = _run(2, [(0, 0.0, 0.0), (1000, 0.9, 12.5)], steps=2000, cpu=30.0)
    summary = {"results": {"pick_cube": {"fast": summarize_cell([reached, again], n_boot=50),
                                         "slow": summarize_cell([never], n_boot=50)}}}
    rows = markdown_table(summary).strip().splitlines()
    assert len(rows) == 4 and rows[0].startswith("| task | configuration |")
    assert rows[2] == "| pick_cube | fast | 2/2 | 1000 [1000, 1000] | 12.5 [12.5, 12.5] | 0.00 [0.00, 0.00] (n=2) |"
    assert rows[3] == "| pick_cube | slow | 0/1 | ≥ 2000 [2000, 2000] | ≥ 40.0 [40.0, 40.0] | - |"


def test_the_default_configurations_are_the_issue_s_four_and_the_chosen_default():
    assert DEFAULT_CONFIGS == ("hil_serl2_bc", "rlpd10", "hil_serl2", "sac2_min", "crossq")
    assert set(DEFAULT_CONFIGS) <= set(CONFIGS)


def test_hil_serl2_bc_is_the_learner_default():
    from robot_rl.contract.params import to_flat
    from robot_rl.learning.config import TrainConfig, preset

    name, over = CONFIGS["hil_serl2_bc"]
    chosen = to_flat(preset(TrainConfig, name, over))
    default = to_flat(TrainConfig())
    assert {k: v for k, v in chosen.items() if k != "preset"} == {k: v for k, v in default.items() if k != "preset"}


def test_tiny_ablation_end_to_end_json_structure_and_reuse(tmp_path, capsys):
    pytest.importorskip("mujoco")
    from robot_rl.tools.cli import main

    args = ["bench", "learner-ablation", "--tasks", "reach", "--configs", "rlpd10,crossq", "--seeds", "0",
            "--steps", "12", "--random-steps", "4", "--eval-every", "12", "--eval-episodes", "1", "--demos", "1",
            "--bootstrap", "50", "--out", str(tmp_path), "--no-progress", "--json"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    s = json.loads((tmp_path / "summary.json").read_text())
    assert json.loads(printed[printed.index("\n{") + 1:])["results"] == s["results"]  # --json prints the summary
    assert s["bench"] == "learner_ablation" and s["tasks"] == ["reach"] and s["missing_runs"] == []
    assert set(s["configs"]) == {"rlpd10", "crossq"} and s["configs"]["crossq"]["preset"] == "crossq"
    assert "censor" in s["censoring"] and s["threshold"] == 0.9 and s["keep_threshold"] == 0.8
    for config in ("rlpd10", "crossq"):
        cell = s["results"]["reach"][config]
        assert cell["n"] == 1 and cell["n_reached_90pct"] + cell["n_censored"] == 1
        for key in ("env_steps_to_90pct", "learner_cpu_s_to_90pct"):
            assert set(cell[key]) >= {"iqm", "ci95", "per_seed", "censored_seeds", "lower_bound"}
            assert cell[key]["ci95"][0] <= cell[key]["iqm"] <= cell[key]["ci95"][1]
        assert set(cell["worst_drop_after_80pct"]) >= {"iqm", "ci95", "n_reached_80pct", "per_seed"}
        run = json.loads((tmp_path / "reach" / f"{config}_seed0.json").read_text())
        assert [p[0] for p in run["curve"]] == [0, 12] and run["env_steps"] == 12
        cpu = [p[2] for p in run["curve"]]
        assert cpu[0] == 0.0 and cpu == sorted(cpu) and cpu[-1] == run["learner_cpu_s"] > 0
        assert run["learner_cpu_s"] < run["process_cpu_s"]  # the env, the demos and the evaluations are not in it
    assert run["updates"] == run["update_blocks"] == 12 - 4 + 1  # crossq: UTD 1 from step 4 on
    assert (tmp_path / "curves_reach.png").stat().st_size > 0
    assert (tmp_path / "table.md").read_text() == markdown_table(s)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "reach").glob("*.json")}
    assert len(stamps) == 2
    assert main(args) == 0  # a second call reuses every finished run
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "reach").glob("*.json")} == stamps
    assert json.loads((tmp_path / "summary.json").read_text())["results"] == s["results"]
    # --report-only runs nothing: a configuration never run is listed as missing, the finished ones summarized
    assert main([*args[:5], "rlpd10,hil_serl2", *args[6:], "--report-only"]) == 0
    s2 = json.loads((tmp_path / "summary.json").read_text())
    assert s2["missing_runs"] == ["reach/hil_serl2_seed0"] and list(s2["results"]["reach"]) == ["rlpd10"]
    assert not (tmp_path / "reach" / "hil_serl2_seed0.json").exists()
