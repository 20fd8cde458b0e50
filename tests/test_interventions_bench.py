"""The person-like scripted human (late, partial, sometimes wrong) on the real twin, RLIF's reward, and the
``bench interventions`` smoke run (three arms, takeovers only in the human arms, runs cached)."""
import argparse
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from robot_rl.runtime.person_like_human import PersonLikeHuman, PersonLikeHumanConfig, remaining_distance  # noqa: E402
from robot_rl.sim.arm_env import TwinArmEnv  # noqa: E402

STILL = np.array([0, 0, 0, 0, 0, 0, -1.0], np.float32)  # a policy that does nothing: it always strays


def _task_state(env):
    tcp, _ = env.twin.ee_pose()
    s = float(env.task.success(env.model, env.data, tcp))
    return np.concatenate([[s, s], env.task.features(env.model, env.data, tcp)])


def _drive(env, human, episodes: int, seed: int = 0):
    """Episodes of the still policy with ``human`` watching; per episode the list of per-step human actions (None:
    the policy acted)."""
    out = []
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        human.reset()
        steps = []
        while True:
            pos, rot = env.twin.ee_pose()
            human.observe(pos, rot, _task_state(env))
            a = human.period()
            steps.append(a)
            _, _, term, trunc, _ = env.step(STILL if a is None else a)
            if term or trunc:
                break
        out.append(steps)
    return out


def _runs(steps):
    """Lengths of the consecutive runs of human actions in one episode, and where each starts."""
    runs, start = [], None
    for i, a in enumerate(steps + [None]):
        if a is not None and start is None:
            start = i
        elif a is None and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def test_human_never_takes_over_before_its_reaction_delay_and_the_policy_acts_meanwhile():
    env = TwinArmEnv("pick_cube")
    cfg = PersonLikeHumanConfig(task="pick_cube", patience_steps=5, reaction_delay_steps=(3, 7),
                                takeover_steps=(4, 6), wrong_prob=0.0, seed=3)
    h = PersonLikeHuman(cfg, env)
    episodes = _drive(env, h, 2)
    assert h.takeovers >= 4
    delays = [start - noticed for noticed, start in h.events]
    # each takeover exactly its drawn delay late (a delay drawn near the episode end may never come to a takeover)
    assert all(3 <= d <= 7 for d in delays) and delays == h.delays[:len(delays)]
    assert len(set(delays)) > 1  # the delay is random
    first = _runs(episodes[0])[0][0]
    assert first >= cfg.patience_steps + 3  # a stray needs the patience window, then the delay
    for noticed, start in h.events[:2]:  # the first episode's: the policy acted between noticing and taking over
        assert all(a is None for a in episodes[0][noticed:start]) and episodes[0][start] is not None


def test_takeover_lengths_vary_and_takeovers_hand_back_before_the_task_is_done():
    env = TwinArmEnv("pick_cube")
    cfg = PersonLikeHumanConfig(task="pick_cube", patience_steps=4, reaction_delay_steps=(0, 2),
                                takeover_steps=(3, 12), wrong_prob=0.0, seed=1)
    h = PersonLikeHuman(cfg, env)
    episodes = _drive(env, h, 2)
    runs = [n for ep in episodes for _, n in _runs(ep)]
    assert len(set(h.lengths)) >= 3 and all(3 <= n <= 12 for n in h.lengths)
    # what was driven is what was drawn (a takeover cut by the episode's end is shorter)
    assert runs[:-1] == h.lengths[:len(runs) - 1] and runs[-1] <= h.lengths[len(runs) - 1]
    assert h.partial_takeovers >= 3  # handed back with the cube not lifted: partial
    again = PersonLikeHuman(cfg, TwinArmEnv("pick_cube"))
    _drive(again.env, again, 2)
    assert again.events == h.events and again.lengths == h.lengths  # deterministic per seed


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_wrong_takeovers_happen_at_their_rate(p):
    env = TwinArmEnv("pick_cube")  # 1-2 step takeovers never lift the cube: the episodes run their 100 steps
    cfg = PersonLikeHumanConfig(task="pick_cube", patience_steps=2, reaction_delay_steps=(0, 0),
                                takeover_steps=(1, 2), wrong_prob=p, seed=0)
    h = PersonLikeHuman(cfg, env)
    _drive(env, h, 6)
    n = h.takeovers
    assert n >= 80
    rate = h.wrong_takeovers / n
    sd = np.sqrt(max(p * (1 - p), 1e-12) / n)
    assert abs(rate - p) <= 4 * sd  # binomial: 4 standard deviations (p = 0: exactly none)
    if p > 0:
        assert 0 < h.wrong_target_takeovers < h.wrong_takeovers  # both kinds of wrong


def test_a_wrong_target_takeover_heads_for_the_shifted_target_and_a_right_one_for_the_cube():
    ends = {}
    for wrong in (0.0, 1.0):
        env = TwinArmEnv("pick_cube")
        cfg = PersonLikeHumanConfig(task="pick_cube", noise_std=0.0, patience_steps=2, reaction_delay_steps=(0, 0),
                                    takeover_steps=(15, 15), wrong_prob=wrong, wrong_target_prob=1.0,
                                    wrong_fraction=(1.0, 1.0), wrong_offset_m=0.06, seed=0)
        h = PersonLikeHuman(cfg, env)
        steps = _drive(env, h, 1)[0]
        start, n = _runs(steps)[0]
        assert n == 15
        env.reset(seed=0)  # replay the episode up to the end of the first takeover
        for a in steps[:start + n]:
            env.step(STILL if a is None else a)
        tcp, _ = env.twin.ee_pose()
        ends[wrong] = float(np.linalg.norm((env.task.cube_pos(env.data) - tcp)[:2]))
    assert ends[0.0] < 0.015 and 0.04 < ends[1.0] < 0.08


def test_strays_are_judged_by_the_task_remaining_distance():
    env = TwinArmEnv("pick_cube")
    env.reset(seed=0)
    st = _task_state(env)
    cube = env.task.cube_pos(env.data)
    tcp, _ = env.twin.ee_pose()
    c = env.task.cfg
    assert remaining_distance("pick_cube", st) == pytest.approx(
        np.linalg.norm(cube - tcp) + c.cube_half_size_m + c.lift_success_m - cube[2], abs=1e-9)
    peg = TwinArmEnv("peg_insert")
    peg.reset(seed=0)
    goal = peg.task.hole_top(peg.model) - [0, 0, peg.task.cfg.insert_success_m]
    assert remaining_distance("peg_insert", _task_state(peg)) == pytest.approx(
        np.linalg.norm(peg.task.tip(peg.data) - goal), abs=1e-9)
    with pytest.raises(ValueError, match="unknown task 'stack'"):
        PersonLikeHumanConfig(task="stack")


def _trainer(tmp_path, arm: str, steps: int = 80):
    import torch

    from robot_rl.learning.config import TrainConfig
    from robot_rl.tools.bench.interventions import _trainer_cls

    torch.set_num_threads(1)
    cfg = TrainConfig(task="pick_cube", seed=0, total_env_steps=steps, num_demos=1, eval_every_env_steps=10**6,
                      eval_episodes=1, checkpoint_every_env_steps=10**12, random_action_steps=40,
                      start_training_after_steps=40, batch_size=32, device="cpu", rlif=arm == "rlif")
    hcfg = PersonLikeHumanConfig(task="pick_cube", patience_steps=4, reaction_delay_steps=(0, 3),
                                 takeover_steps=(3, 8), seed=0)
    t = _trainer_cls()(cfg, tmp_path / arm, hcfg)
    t.run()
    return t


def test_rlif_penalises_the_policy_step_that_made_the_human_take_over_and_no_task_reward_reaches_the_learner(
        tmp_path):
    t = _trainer(tmp_path, "rlif")
    n = len(t.online)
    started = t.online.stored_flags("takeover_started")
    human = t.online.stored_flags("intervened")
    continues = (t.online.obs_frame[1:n] == t.online.next_frame[:n - 1]).cpu().numpy()  # row j+1 follows row j
    expected = np.zeros(n)
    expected[:-1][started[1:] & ~human[:-1] & continues] = -1.0
    rewards = t.online.rewards[:n].cpu().numpy()
    assert started.sum() == t.takeover.takeovers > 0 and (expected == -1).sum() > 0
    np.testing.assert_array_equal(rewards, expected)
    np.testing.assert_array_equal(t.prior.rewards[:len(t.prior)].cpu().numpy(), 0.0)  # human rows and demos
    demo_rows = ~t.prior.stored_flags("intervened")
    assert demo_rows.sum() == t.demo_info["demo_transitions"] > 0  # the demos are there, their task reward is not


def _args(tmp_path, *extra):
    from robot_rl.tools.bench import interventions

    p = argparse.ArgumentParser()
    interventions.add_parser(p.add_subparsers())
    return p.parse_args(["interventions", "--tasks", "pick_cube", "--seeds", "0", "--steps", "60", "--demos", "1",
                         "--eval-every", "1000", "--eval-episodes", "1", "--random-steps", "30", "--patience", "4",
                         "--reaction-delay", "0,3", "--takeover-steps", "3,10", "--bootstrap", "200",
                         "--out", str(tmp_path), "--json", *extra])


def test_bench_smoke_runs_three_arms_with_takeovers_only_in_the_human_arms_and_reuses_finished_runs(tmp_path):
    import torch

    from robot_rl.tools.bench.interventions import run

    torch.set_num_threads(1)
    res = run(_args(tmp_path))
    cells = res["results"]["pick_cube"]
    assert set(cells) == {"with", "without", "rlif"}
    assert cells["with"]["takeovers"]["total"] > 0 and cells["rlif"]["takeovers"]["total"] > 0
    assert cells["without"]["takeovers"]["total"] == 0 and cells["without"]["human_steps"]["total"] == 0
    for c in cells.values():
        assert c["env_steps_per_seed"] == {"0": 60} and c["n"] == 1
    assert set(res["paired"]["pick_cube"]) == {"without_minus_with", "without_minus_rlif"}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["results"]["pick_cube"]["with"]["takeovers"] == cells["with"]["takeovers"]
    assert (tmp_path / "table.md").read_text().count("| pick_cube |") == 5
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pick_cube").glob("*.json")}
    assert len(stamp) == 3
    again = run(_args(tmp_path))  # every run cached: nothing re-run, the same figures
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pick_cube").glob("*.json")} == stamp
    assert again["results"] == res["results"]


def test_bench_rejects_an_unknown_task_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _args(tmp_path, "--tasks", "stack")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "stack" in err and "pick_cube" in err


def test_report_only_summarises_finished_runs_and_runs_nothing(tmp_path):
    from robot_rl.tools.bench.interventions import run

    res = run(_args(tmp_path, "--report-only"))
    assert res["results"]["pick_cube"] == {} and len(res["missing_runs"]) == 3
    assert not (tmp_path / "pick_cube").exists() or not list((tmp_path / "pick_cube").glob("*.json"))


def _cached_full_runs(tmp_path, endings: dict):
    """Write finished whole-budget runs (5 seeds per arm) whose last two evaluations are ``endings[arm]``."""
    from robot_rl.tools.bench.interventions import settings
    from robot_rl.tools.bench.sample_efficiency import save_run

    a = _args(tmp_path, "--full", "--seeds", "0,1,2,3,4")
    a.steps, a.eval_every = (60,), (1000,)
    (tmp_path / "pick_cube").mkdir(parents=True, exist_ok=True)
    for arm, (second_last, last) in endings.items():
        for seed in range(5):
            r = {"seed": seed, "curve": [[0, 0.0], [30, second_last], [60, last]], "env_steps": 60, "updates": 30,
                 "human_steps": 0 if arm == "without" else 10, "takeovers": 0 if arm == "without" else 2,
                 "wrong_takeovers": 0, "partial_takeovers": 0, "wall_s": 1.0, "cpu_s": 1.0}
            save_run(tmp_path / "pick_cube" / f"{arm}_seed{seed}.json", r, settings(a, "pick_cube", arm))


def test_full_budget_runs_report_success_at_budget_paired_by_seed_with_a_ci(tmp_path):
    from robot_rl.tools.bench.interventions import run

    _cached_full_runs(tmp_path, {"with": (0.8, 1.0), "without": (0.1, 0.1), "rlif": (0.0, 0.2)})
    res = run(_args(tmp_path, "--full", "--seeds", "0,1,2,3,4", "--report-only"))
    assert res["missing_runs"] == []
    cells = res["results"]["pick_cube"]
    assert cells["with"]["success_at_budget"]["mean"] == pytest.approx(0.9)  # the mean of the last 2 evaluations
    assert cells["without"]["success_at_budget"]["mean"] == pytest.approx(0.1)
    d = res["paired_success_at_budget"]["pick_cube"]
    assert d["with_minus_without"]["mean"] == pytest.approx(0.8) and d["with_minus_without"]["excludes_zero"]
    assert d["rlif_minus_without"]["mean"] == pytest.approx(0.0) and not d["rlif_minus_without"]["excludes_zero"]
    table = (tmp_path / "table.md").read_text()
    assert "success at budget" in table and "+0.80 [+0.80, +0.80] | yes" in table
    assert (tmp_path / "success_pick_cube.png").stat().st_size > 1000  # the mean success curve of each arm
    one = run(_args(tmp_path, "--full", "--seeds", "0,1,2,3,4", "--report-only", "--final-evals", "1"))
    assert one["results"]["pick_cube"]["with"]["success_at_budget"]["mean"] == pytest.approx(1.0)


def test_runs_that_stop_at_the_threshold_report_no_success_at_budget_and_do_not_reuse_full_runs(tmp_path):
    from robot_rl.tools.bench.interventions import run

    _cached_full_runs(tmp_path, {"with": (0.8, 1.0), "without": (0.1, 0.1), "rlif": (0.0, 0.2)})
    res = run(_args(tmp_path, "--seeds", "0,1,2,3,4", "--report-only"))
    assert len(res["missing_runs"]) == 15 and res["paired_success_at_budget"] == {}
    assert "not reported" in res["success_at_budget"]
