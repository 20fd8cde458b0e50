import pytest

from robot_rl.tools.bench import skill_time


def _run(seed, curve, env_steps, cpu):
    return {"seed": seed, "curve": curve, "env_steps": env_steps, "learner_cpu_s": cpu, "wall_s": 1.0}


def test_side_summary_reads_cpu_seconds_at_the_first_eval_at_90pct_and_censors_the_rest_at_their_budget():
    runs = [_run(0, [(0, 0.0, 0.0), (500, 0.9, 12.0), (1000, 1.0, 30.0)], 1000, 30.0),
            _run(1, [(0, 0.0, 0.0), (500, 0.5, 11.0), (1000, 0.8, 25.0)], 1000, 25.0)]
    s = skill_time.side_summary(runs, n_boot=50)
    assert s["learner_cpu_s_to_90pct"]["per_seed"] == {"0": 12.0, "1": 25.0}
    assert s["env_steps_to_90pct"]["per_seed"] == {"0": 500, "1": 1000}
    assert s["censored_seeds"] == ["1"] and s["lower_bound"] and s["n_reached_90pct"] == 1


def test_sb3_side_gets_the_demos_and_counts_only_its_gradient_steps_cpu():
    r = skill_time.run_sb3("reach", seed=0, steps=150, eval_every=150, eval_episodes=1, demos=1)
    assert r["demo_transitions"] > 0  # the expert demo is in SB3's replay buffer
    assert r["updates"] > 0 and r["learner_cpu_s"] > 0.0
    assert [p[0] for p in r["curve"]] == [0, 150]
    assert r["curve"][0][2] == 0.0 and r["curve"][-1][2] <= r["learner_cpu_s"]


def test_skill_time_refuses_a_task_that_is_not_a_twin_task():
    with pytest.raises(ValueError, match="twin task"):
        skill_time.run(task="Hopper-v5")


def test_a_finished_run_is_reused_by_a_later_call_with_the_same_settings(tmp_path):
    kw = dict(task="reach", seeds=(0,), steps=20, sb3_steps=150, eval_every=150, eval_episodes=1, demos=1,
              out=str(tmp_path))
    first = skill_time.run(**kw)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*_seed0.json")}
    assert set(stamps) == {"ours_seed0.json", "sb3_seed0.json"}
    again = skill_time.run(**kw)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*_seed0.json")} == stamps
    assert again["sb3"]["learner_cpu_s_to_90pct"] == first["sb3"]["learner_cpu_s_to_90pct"]
