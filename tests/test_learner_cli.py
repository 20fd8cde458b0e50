"""The learner's commands as a user runs them: a tiny `robot-rl train` and smoke runs of the benchmarks."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def robot_rl(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_train_writes_curve_summary_checkpoint_and_logs_and_prints_eval_success(tmp_path):
    r = robot_rl("train", "--task", "reach", "--reward", "dense", "--steps", "160", "--demos", "2", "--width", "32",
                 "--critics", "2", "--batch", "32", "--random-steps", "60", "--eval-every", "80",
                 "--eval-episodes", "1", "--threads", "1", "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "reach: eval success" in r.stdout and "after 160 env steps" in r.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["env_steps"] == 160 and summary["updates"] == 2 * (160 - 59)
    assert [h["step"] for h in summary["history"]] == [0, 80, 160]
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert (tmp_path / "checkpoint" / "meta.json").is_file()
    assert summary["log"]["kind"] in ("tensorboard", "csv") and Path(summary["log"]["path"]).exists()
    # resuming a finished run with a larger budget continues from its step count
    r2 = robot_rl("train", "--resume", str(tmp_path), "--steps", "200", "--no-progress", "--threads", "1")
    assert r2.returncode == 0, r2.stderr
    assert "resuming" in r2.stderr and "at env step 160" in r2.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["env_steps"] == 200


def test_bench_learner_smoke_prints_the_ratio_against_sb3():
    pytest.importorskip("stable_baselines3")
    r = robot_rl("bench", "learner", "--json", "--width", "32", "--critics", "3", "--batch", "32", "--updates", "3",
                 "--repeats", "1", "--pixel-updates", "1", "--no-compile", "--no-amp", "--threads", "1",
                 "--skill-seeds", "0")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ratio_vs_sb3"] > 0 and out["state_updates_per_s"] > 0 and out["pixel_updates_per_s"] > 0
    # 3 critics do more arithmetic per update than SB3's 2 at the same width and batch
    assert out["gflop_per_update_ours"] > out["gflop_per_update_sb3"] > 0
    assert 0 < out["flop_ratio_sb3_over_ours"] < 1 and out["efficiency_vs_sb3"] > 0
    assert "seconds_to_90pct" not in out  # --skill-seeds 0 (tests/test_skill_time.py runs that part)


def test_update_flops_counts_a_matmul_and_its_gradient():
    import torch

    from robot_rl.tools.bench.learner import update_flops

    a = torch.randn(8, 16, requires_grad=True)
    w = torch.randn(16, 4, requires_grad=True)
    assert update_flops(lambda: (a @ w).sum()) == 2 * 8 * 16 * 4
    # backward: one matmul for each input's gradient
    assert update_flops(lambda: (a @ w).sum().backward()) == 3 * 2 * 8 * 16 * 4
