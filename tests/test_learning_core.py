"""The learning core on its own: pure torch (no twin, no ROS), the policy / algorithm split, the one UTD loop over
the data mixer, the one config tree, and gymnasium envs that are not the twin."""
import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from robot_rl.contract.params import ParameterError, flat_fields, to_flat
from robot_rl.learning.config import AlgoConfig, ReplayConfig, SACConfig, TrainConfig, algo_of, preset
from robot_rl.learning.mixer import DataMixer
from robot_rl.learning.policy import Policy
from robot_rl.learning.replay import ReplayBuffer, obs_spec_of
from robot_rl.learning.sac import SAC

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("robot_rl.sim", "robot_rl.drivers", "rclpy", "mujoco", "sim", "drivers")
SMALL = AlgoConfig(batch_size=16, utd_ratio=3, sac=SACConfig(hidden_width=16, num_critics=2), device="cpu")


def _imports_of(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
    return mods


def test_learning_core_imports_none_of_sim_drivers_rclpy_or_mujoco():
    files = sorted((ROOT / "robot_rl" / "learning").glob("*.py"))
    assert files
    seen, todo, graph = set(), [f"robot_rl.learning.{f.stem}" for f in files], {}
    while todo:  # walk the import graph through robot_rl modules (statically, every import anywhere in a file)
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        path = ROOT.joinpath(*parts).with_suffix(".py")
        if parts[:2] == ["robot_rl", "contract"]:
            path = ROOT.joinpath("contract", *parts[2:]).with_suffix(".py")
        if not path.is_file():
            continue
        graph[mod] = _imports_of(path)
        todo += [m for m in graph[mod] if m.startswith("robot_rl.")]
    bad = {m: sorted(i for i in imps if i.split(".")[0] in FORBIDDEN or i.startswith(FORBIDDEN[:2]))
           for m, imps in graph.items()}
    assert not {m: b for m, b in bad.items() if b}, bad
    # and at run time: importing every learning module loads none of them
    code = ("import sys, importlib; [importlib.import_module('robot_rl.learning.' + m) for m in sys.argv[1:]]; "
            f"print([m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m.startswith({FORBIDDEN[:2]!r})])")
    r = subprocess.run([sys.executable, "-c", code, *[f.stem for f in files if f.stem != "__init__"]],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _spec(state_dim=5, dtype=np.float32):
    return {"state": ((state_dim,), np.dtype(dtype))}


def test_policy_rebuilt_from_a_payload_acts_identically_and_holds_no_critics_or_optimiser():
    torch.manual_seed(0)
    algo = SAC(_spec(), 3, dataclasses.replace(SMALL, sac=dataclasses.replace(SMALL.sac, discount=0.9)))
    algo.set_state_normalization(np.random.default_rng(0).normal(size=(50, 5)))
    tensors, meta = algo.policy.payload()
    assert not any("critic" in k for k in tensors)
    p = Policy.from_payload(tensors, meta)
    assert p.cfg.sac.discount == 0.9  # the full algorithm config travels with the weights
    assert not hasattr(p, "optimizer") and not any("critic" in n for n, _ in p.named_parameters())
    obs = {"state": np.arange(5, dtype=np.float64)}  # float64 observations are fine
    np.testing.assert_array_equal(p.act(obs, deterministic=True), algo.act(obs, deterministic=True))
    with pytest.raises(ValueError, match="do not fit"):
        Policy.from_payload({**tensors, "extra": np.zeros(1, np.float32)}, meta)


def test_update_block_is_utd_ratio_critic_updates_with_the_actor_updated_on_the_last_only():
    algo = SAC(_spec(), 2, SMALL)
    buf = ReplayBuffer(_spec(), 2, 64)
    for i in range(40):
        buf.add({"state": np.full(5, i)}, np.zeros(2), 0.0, {"state": np.full(5, i + 1)}, False, False)
    flags = []
    real = algo.update
    algo.update = lambda batch, update_actor=True: flags.append(update_actor) or real(batch, update_actor)
    m = algo.update_block(DataMixer.of(buf, ReplayBuffer(_spec(), 2, 4), SMALL))
    assert flags == [False, False, True] and "actor_loss" in m


def test_mixer_takes_the_online_fraction_of_each_batch_from_online_data():
    on, pr = ReplayBuffer(_spec(1), 1, 32), ReplayBuffer(_spec(1), 1, 32)
    for b, r in ((on, 1.0), (pr, 0.0)):
        for i in range(10):
            b.add({"state": [i]}, [0.0], r, {"state": [i + 1]}, False, False)
    cfg = dataclasses.replace(SMALL, batch_size=20, replay=ReplayConfig(online_fraction=0.25))
    batch = DataMixer.of(on, pr, cfg).sample()
    assert batch["reward"].tolist() == [1.0] * 5 + [0.0] * 15
    assert AlgoConfig().replay.online_fraction == 0.5  # RLPD's 50/50 by default


def test_one_config_tree_same_defaults_in_trainer_learner_and_every_field_a_cli_flag():
    from robot_rl.runtime.learner_core import LearnerConfig
    from robot_rl.tools.cli import build_parser

    assert algo_of(TrainConfig()) == algo_of(LearnerConfig()) == AlgoConfig()
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "train" in a.choices)
    dests = {a.dest for a in sub.choices["train"]._actions}
    missing = [f.name for f in flat_fields(TrainConfig) if f"cfg:{f.name}" not in dests and f.name != "preset"]
    assert not missing
    from robot_rl.tools.commands.train_cmd import config_from_args

    a = sub.choices["train"].parse_args(["--env", "Pendulum-v1", "--sac.discount", "1", "--width", "64"])
    cfg = config_from_args(a)  # an int for a float, an old alias, the dense preset for --env
    assert (cfg.sac.discount, cfg.sac.hidden_width, cfg.preset, cfg.sac.num_critics) == (1.0, 64, "dense_control", 2)
    with pytest.raises(ParameterError, match="sac.discount"):
        config_from_args(sub.choices["train"].parse_args(["--sac.discount", "1.5"]))


def test_dense_control_preset_is_sb3_sac_defaults_and_sparse_manipulation_the_defaults():
    d = preset(TrainConfig, "dense_control")
    s = d.sac
    assert (s.discount, s.num_critics, s.initial_temperature, s.backup_entropy, d.utd_ratio, s.actor_lr,
            s.critic_lr, d.batch_size, s.hidden_width, d.num_demos) == (0.99, 2, 1.0, True, 1, 3e-4, 3e-4, 256, 256, 0)
    assert TrainConfig().sac.actor_q_reduction == "mean"
    assert to_flat(preset(TrainConfig, "sparse_manipulation")) == to_flat(TrainConfig())


def test_box_env_of_any_numeric_dtype_learns_through_adapted_spaces_and_rescaled_actions():
    from robot_rl.envs.sources import adapt
    from robot_rl.envs.wrappers import UnitActions

    class IntObs(gym.Env):
        observation_space = gym.spaces.Box(-10, 10, (3,), np.int64)
        action_space = gym.spaces.Box(np.array([0.0, -4.0]), np.array([2.0, 4.0]), dtype=np.float64)

        def reset(self, *, seed=None, options=None):
            return np.array([1, 2, 3]), {}

        def step(self, action):
            self.last = action
            return np.array([1, 2, 3]), 0.0, False, False, {}

    env = adapt(IntObs())
    assert isinstance(env, UnitActions) and env.action_space.low.tolist() == [-1, -1]
    env.reset()
    env.step(np.array([-1.0, 1.0], np.float32))
    assert env.unwrapped.last.tolist() == [0.0, 4.0]  # [-1, 1] mapped onto the env's bounds
    buf = ReplayBuffer(obs_spec_of(IntObs.observation_space), 2, 8)  # an int64 observation is stored (as float32)
    buf.add({"state": np.array([1, 2, 3])}, [0, 0], 0.0, {"state": np.array([4, 5, 6])}, False, True)
    assert buf.frames["state"].dtype == torch.float32 and buf.sample(1)["obs"]["state"].shape == (1, 3)


def test_a_short_seeded_pendulum_run_improves_its_return(tmp_path):
    from robot_rl.loops.trainer import Trainer

    torch.set_num_threads(1)
    # 5000 steps: at 3000 the gain over seeds 0-5 was 55-692 (on the edge of the bar); at 5000, seeds 0/3/5 gained
    # 1128/1076/374
    cfg = preset(TrainConfig, "dense_control", {"env": "Pendulum-v1", "total_env_steps": 5000, "seed": 0,
                                                "eval_every_env_steps": 5000, "eval_episodes": 3,
                                                "sac.hidden_width": 64, "device": "cpu"})
    s = Trainer(cfg, tmp_path, progress=False).run()
    first, last = s["history"][0]["mean_return"], s["history"][-1]["mean_return"]
    assert s["history"][-1]["success_rate"] is None  # Pendulum reports no success: return only
    assert last > first + 300, (first, last)


def _pendulum_demos(path, n=120):
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=3)
    rows = []
    for i in range(n):
        a = np.clip([-2.0 * obs[2]], -2, 2)  # a damping controller, in the env's units
        nxt, r, term, trunc, _ = env.step(a.astype(np.float32))
        rows.append((obs, a / 2.0, r, nxt, term, trunc or i == n - 1))
        obs = nxt
    np.savez(path, obs=np.stack([r[0] for r in rows]), action=np.stack([r[1] for r in rows]).astype(np.float32),
             reward=np.array([r[2] for r in rows]), next_obs=np.stack([r[3] for r in rows]),
             terminated=np.array([r[4] for r in rows]), truncated=np.array([r[5] for r in rows]))


def robot_rl(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "robot_rl.tools.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_train_on_a_gymnasium_id_with_demos_from_a_plain_npz_file(tmp_path):
    _pendulum_demos(tmp_path / "demos.npz")
    r = robot_rl("train", "--env", "Pendulum-v1", "--demo-path", str(tmp_path / "demos.npz"), "--steps", "300",
                 "--width", "32", "--batch", "32", "--random-steps", "100", "--eval-every", "300",
                 "--eval-episodes", "1", "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "Pendulum-v1: eval mean return" in r.stdout
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["demos"]["demo_transitions"] == 120 and s["env_steps"] == 300 and s["preset"] == "dense_control"


def test_trainer_from_python_with_an_env_instance_and_a_demo_file(tmp_path):
    from robot_rl.loops.demos import save_plain_demos
    from robot_rl.loops.trainer import Trainer

    _pendulum_demos(tmp_path / "flat.npz", n=40)
    with np.load(tmp_path / "flat.npz") as z:  # rewritten with per-key obs arrays (obs/state, next_obs/state)
        save_plain_demos(tmp_path / "demos.npz", [({"state": z["obs"][i]}, z["action"][i], z["reward"][i],
                                                   {"state": z["next_obs"][i]}, z["terminated"][i], z["truncated"][i])
                                                  for i in range(40)])
    cfg = preset(TrainConfig, "dense_control", {"total_env_steps": 120, "eval_every_env_steps": 120,
                                                "eval_episodes": 1, "sac.hidden_width": 16, "batch_size": 16})
    t = Trainer(cfg, tmp_path / "run", progress=False, env=gym.make("Pendulum-v1"), demos=tmp_path / "demos.npz")
    s = t.run()
    assert len(t.prior) == 40 and s["env_steps"] == 120 and len(s["history"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--env", "NoSuchEnv-v0"], "cannot open env 'NoSuchEnv-v0'"),
    (["--env", "no_such_module:Thing-v0"], "cannot open env 'no_such_module:Thing-v0'"),
    (["--env", "CartPole-v1"], "not a 1-D Box"),
    (["--env", "Pendulum-v1", "--demo-path", "WRONG"], "obs 'state' has shape (2,), the env's is (3,)"),
    (["--env", "Pendulum-v1", "--sac.discount", "2"], "sac.discount"),
])
def test_bad_train_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    if "WRONG" in args:
        bad = tmp_path / "bad.npz"
        np.savez(bad, obs=np.zeros((4, 2)), action=np.zeros((4, 1), np.float32), reward=np.zeros(4),
                 next_obs=np.zeros((4, 2)), terminated=np.zeros(4, bool), truncated=np.ones(4, bool))
        args = [str(bad) if a == "WRONG" else a for a in args]
    r = robot_rl("train", *args, "--steps", "10", "--out", str(tmp_path / "run"), "--no-progress", timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_an_image_env_without_images_entries_is_refused_in_one_line():
    from robot_rl.tools.commands.train_cmd import add_parser  # noqa: F401  (the command under test)
    from robot_rl.tools.cli import main

    class Pixels(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    class OddDict(Pixels):
        observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (2,)),
                                             "pixels": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)})

    gym.register("robot_rl_test/Pixels-v0", entry_point=Pixels)
    gym.register("robot_rl_test/OddDict-v0", entry_point=OddDict)
    for env_id, msg in (("robot_rl_test/Pixels-v0", "needs a Dict with 'state' and 'images/<camera>'"),
                        ("robot_rl_test/OddDict-v0", "'pixels' is neither 'state' nor 'images/<camera>'")):
        from contextlib import redirect_stderr
        from io import StringIO

        err = StringIO()
        with redirect_stderr(err):
            code = main(["train", "--env", env_id, "--steps", "5", "--no-progress", "--out", "/tmp/unused"])
        assert code == 2 and msg in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


def test_actor_loss_over_the_min_or_the_mean_of_the_critics_as_configured():
    """``actor_q_reduction``: the actor is scored by the critics' min (SAC / SB3) or mean (RLPD / REDQ)."""
    losses = {}
    for red in ("mean", "min"):
        torch.manual_seed(0)
        cfg = dataclasses.replace(SMALL, sac=dataclasses.replace(SMALL.sac, num_critics=4, actor_q_reduction=red))
        algo = SAC(_spec(), 2, cfg)
        buf = ReplayBuffer(_spec(), 2, 64)
        for i in range(40):
            buf.add({"state": np.full(5, i)}, np.zeros(2), 0.0, {"state": np.full(5, i + 1)}, False, False)
        torch.manual_seed(1)
        batch = DataMixer.of(buf, ReplayBuffer(_spec(), 2, 4), cfg).sample()
        losses[red] = float(algo.update(batch, update_actor=True)["actor_loss"])
    # same networks, same batch, same sampled actions: min(Q) <= mean(Q), so the min loss is the larger one
    assert losses["min"] > losses["mean"]
