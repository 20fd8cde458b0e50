"""Each task's scripted expert succeeds on >= 90 % of 50 seeded episodes."""
import pytest

from robot_rl.sim.arm_env import TwinArmEnv
from robot_rl.sim.experts import make_expert, run_episode
from robot_rl.sim.tasks import TASKS

EPISODES = 50


@pytest.mark.parametrize("task", sorted(TASKS))
def test_scripted_expert_reaches_90_percent_success_over_50_seeded_episodes(task):
    env = TwinArmEnv(task)
    expert = make_expert(env)
    results = [run_episode(env, expert, seed=1000 + s) for s in range(EPISODES)]
    rate = sum(r["success"] for r in results) / EPISODES
    assert rate >= 0.9, f"{task}: expert success {rate:.0%}"


def test_noisy_expert_still_mostly_succeeds_on_pick_cube():
    env = TwinArmEnv("pick_cube")
    expert = make_expert(env, noise_std=0.2, seed=0)
    rate = sum(run_episode(env, expert, seed=s)["success"] for s in range(10)) / 10
    assert rate >= 0.7
