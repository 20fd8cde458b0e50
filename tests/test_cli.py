"""The robot-rl commands a user runs: demo (the pre-learner main job) and bench twin (smoke run)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def robot_rl(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_demo_writes_success_figure_image_strip_and_video(tmp_path):
    r = robot_rl("demo", "--task", "pick_cube", "--episodes", "3", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "expert success 3/3" in r.stdout
    summary = json.loads((tmp_path / "pick_cube" / "summary.json").read_text())
    assert summary["success_rate"] == 1.0
    assert (tmp_path / "pick_cube" / "strip.png").stat().st_size > 1000
    assert (tmp_path / "pick_cube" / "episode.gif").stat().st_size > 1000


def test_demo_rejects_an_unknown_task_with_a_clear_message(tmp_path):
    r = robot_rl("demo", "--task", "fly", "--out", str(tmp_path))
    assert r.returncode != 0 and "unknown task 'fly'" in r.stderr and "Traceback" not in r.stderr


def test_bench_twin_prints_one_json_object_with_the_overhead_ratio():
    r = robot_rl("bench", "twin", "--json", "--steps", "20", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # figures only, no timing claims (a loaded CI machine can make 20 steps of anything look faster): each rate is
    # positive and finite, and each ratio is the quotient of the rates it names
    rates = {k: v for k, v in out.items() if k.endswith("_per_s") or "_per_s_" in k}
    assert rates and all(0 < v < float("inf") for v in rates.values())
    raw = out["raw_mj_step_control_steps_per_s"]
    assert abs(out["overhead_ratio"] - raw / out["control_steps_per_s_state"]) < 1e-6 * out["overhead_ratio"]
    assert abs(out["overhead_ratio_2cams"] - raw / out["control_steps_per_s_2cams"]) < 1e-6 * out["overhead_ratio_2cams"]
    assert out["machine"]["cpus"] >= 1
