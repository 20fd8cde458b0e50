"""Smoke runs of the quadrotor benchmarks (robot_rl/tools/bench/quad_*.py): the figures they print are there and
consistent; no timing claims (those belong to the benchmark runs, not CI)."""
import json
import subprocess
import sys

from robot_rl.tools.bench import quad_hover


def test_bench_quad_hover_runs_ours_and_sb3_and_scores_both():
    out = quad_hover.run(seeds=1, steps=120, eval_episodes=2)
    for key in ("ours", "sb3"):
        r = out[key][0]
        assert r["episodes"] == 2 and 0.0 <= r["success_rate"] <= 1.0 and r["pos_rms_last_2s_m_median"] >= 0.0
        assert r["env_steps"] == 120
    assert out["goal_met_per_seed"] == [out["ours"][0]["success_rate"] >= 0.95 and
                                        out["ours"][0]["pos_rms_last_2s_m_median"] < 0.05 and
                                        out["ours"][0]["train_wall_s"] <= 600]


def test_bench_quad_twin_prints_one_json_object_with_both_engines_and_the_expert_success():
    p = subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", "bench", "quad-twin", "--json", "--steps", "3",
                        "--repeats", "1", "--episodes", "1"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert "machine" in out
    for engine in ("mujoco", "pybullet"):
        assert out[f"{engine}_env_steps_per_s"] > 0 and out[f"{engine}_raw_physics_steps_per_s"] > 0
        # our env step contains the engine's steps: it can only cost more than them
        assert out[f"{engine}_overhead_ratio"] > 1.0
        assert out[f"{engine}_expert_waypoints_success_rate"] == 1.0
    assert out["expert_success_rate"] == out["mujoco_expert_hover"]["success_rate"] == 1.0
