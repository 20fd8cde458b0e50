"""The learner's ablation options, all behind the one update loop (``SAC.update_block``): the actor's Q over a
random subset of critics, the critic-to-actor update ratio, CrossQ (no target critics, batch renormalisation,
one joint critic forward), the ablation presets, and each option as a ``robot-rl train`` flag and a learner ROS
parameter."""
import dataclasses

import numpy as np
import pytest
import torch

from robot_rl.contract.params import ParameterError
from robot_rl.learning.config import AlgoConfig, SACConfig, TrainConfig, algo_of, preset
from robot_rl.learning.mixer import DataMixer
from robot_rl.learning.networks import CriticEnsemble, batch_renorm
from robot_rl.learning.replay import ReplayBuffer
from robot_rl.learning.sac import SAC

SPEC = {"state": ((5,), np.dtype(np.float32))}
SMALL = AlgoConfig(batch_size=16, utd_ratio=1, sac=SACConfig(hidden_width=16, num_critics=4), device="cpu")


def _cfg(base=SMALL, **kw) -> AlgoConfig:
    sac = {k[4:]: v for k, v in kw.items() if k.startswith("sac_")}
    top = {k: v for k, v in kw.items() if not k.startswith("sac_")}
    return dataclasses.replace(base, sac=dataclasses.replace(base.sac, **sac), **top)


def _mixer(cfg):
    buf = ReplayBuffer(SPEC, 2, 64)
    rng = np.random.default_rng(0)
    for i in range(40):
        buf.add({"state": rng.normal(size=5)}, rng.uniform(-1, 1, 2), float(i % 3 == 0),
                {"state": rng.normal(size=5)}, False, False)
    return DataMixer.of(buf, ReplayBuffer(SPEC, 2, 4), cfg)


def _flat(params) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in params])


# ---- the actor's Q over a random subset of critics -------------------------------------------------------------
def _actor_loss(cfg) -> float:
    torch.manual_seed(0)
    algo = SAC(SPEC, 2, cfg)
    mixer = _mixer(cfg)
    torch.manual_seed(1)
    return float(algo.update(mixer.sample(), update_actor=True)["actor_loss"])


def test_subset_mean_is_the_mean_over_all_critics_when_the_subset_is_all_of_them_and_differs_otherwise():
    mean = _actor_loss(_cfg(sac_actor_q_reduction="mean"))
    full = _actor_loss(_cfg(sac_actor_q_reduction="subset_mean", sac_actor_critic_subset_size=4))
    two = _actor_loss(_cfg(sac_actor_q_reduction="subset_mean", sac_actor_critic_subset_size=2))
    assert full == pytest.approx(mean, rel=1e-5, abs=1e-6)
    assert abs(two - mean) > 1e-5


def test_subset_mean_evaluates_only_the_drawn_critics():
    cfg = _cfg(sac_actor_q_reduction="subset_mean", sac_actor_critic_subset_size=2)
    algo = SAC(SPEC, 2, cfg)
    seen = []
    real = algo.critic.forward
    algo.critic.forward = lambda x, params=None, subset=None, bn_train=None: (
        seen.append(None if subset is None else subset.tolist()) or real(x, params, subset, bn_train))
    algo.update(_mixer(cfg).sample(), update_actor=True)
    actor_calls = [s for s in seen[1:]]  # the first call is the critic loss (all critics)
    assert seen[0] is None and len(actor_calls) == 1 and len(actor_calls[0]) == 2
    assert len(set(actor_calls[0])) == 2 and all(0 <= k < 4 for k in actor_calls[0])


def test_unknown_actor_reduction_is_refused():
    with pytest.raises(ParameterError, match="sac.actor_q_reduction"):
        preset(TrainConfig, "sparse_manipulation", {"sac.actor_q_reduction": "median"})


# ---- critic-to-actor update ratio ------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3])
def test_with_ratio_k_the_actor_and_temperature_change_only_on_every_kth_update_block(k):
    cfg = _cfg(actor_update_every=k)
    algo = SAC(SPEC, 2, cfg)
    mixer = _mixer(cfg)
    changed_actor, changed_critic, changed_alpha = [], [], []
    for _ in range(2 * 3):
        a0, c0, t0 = _flat(algo.actor.parameters()), _flat(algo.critic.parameters()), float(algo.log_alpha.detach())
        m = algo.update_block(mixer)
        changed_actor.append(not torch.equal(a0, _flat(algo.actor.parameters())))
        changed_critic.append(not torch.equal(c0, _flat(algo.critic.parameters())))
        changed_alpha.append(t0 != float(algo.log_alpha.detach()))
        assert ("actor_loss" in m) == changed_actor[-1]
    expected = [(i + 1) % k == 0 for i in range(6)]
    assert changed_actor == expected and changed_alpha == expected
    assert all(changed_critic)  # the critics update on every one
    assert algo.update_blocks == 6


def test_ratio_and_utd_together_update_the_actor_on_the_last_critic_update_of_every_kth_block():
    cfg = _cfg(utd_ratio=2, actor_update_every=2)
    algo = SAC(SPEC, 2, cfg)
    flags = []
    real = algo.update
    algo.update = lambda batch, update_actor=True: flags.append(update_actor) or real(batch, update_actor)
    mixer = _mixer(cfg)
    for _ in range(4):
        algo.update_block(mixer)
    assert flags == [False, False, False, True, False, False, False, True]  # critic-to-actor ratio 4


def test_update_block_accumulates_its_cpu_time():
    algo = SAC(SPEC, 2, SMALL)
    assert algo.update_cpu_s == 0.0
    mixer = _mixer(SMALL)
    algo.update_block(mixer)
    first = algo.update_cpu_s
    algo.update_block(mixer)
    assert first > 0.0 and algo.update_cpu_s > first


# ---- CrossQ -----------------------------------------------------------------------------------------------------
def test_batch_renorm_train_normalises_with_the_batch_and_eval_with_the_running_statistics():
    torch.manual_seed(0)
    h = torch.randn(3, 64, 8) * 2.0 + 1.0
    mean, var = torch.zeros(3, 1, 8), torch.ones(3, 1, 8)
    out = batch_renorm(h, mean, var, train=True, momentum=0.1, renorm=False)
    torch.testing.assert_close(out.mean(1), torch.zeros(3, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(1, unbiased=False), torch.ones(3, 8), atol=1e-3, rtol=0)
    torch.testing.assert_close(mean, 0.1 * h.mean(1, keepdim=True))  # running <- 0.9 running + 0.1 batch
    # renormalising (r, d unclipped) gives the running-statistics normalisation's values, with the batch's gradient
    m2, v2 = torch.full((3, 1, 8), 0.8), torch.full((3, 1, 8), 3.0)
    ev = batch_renorm(h, m2.clone(), v2.clone(), train=False, momentum=0.1, renorm=True)
    tr = batch_renorm(h, m2.clone(), v2.clone(), train=True, momentum=0.1, renorm=True)
    torch.testing.assert_close(tr, ev, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, ev, atol=1e-3)


def test_batch_renorm_ensemble_matches_per_critic_reference_and_counts_its_warmup():
    torch.manual_seed(0)
    ens = CriticEnsemble(6, 8, 2, 3, layer_norm=False, batch_renorm=True, brn_momentum=0.5, brn_warmup=2)
    x = torch.randn(32, 6) * 3
    for _ in range(3):
        ens(x, bn_train=True)
    assert int(ens.brn_updates) == 3 and not torch.allclose(ens.brn_mean0, torch.zeros(1, 6))
    q = ens(x, bn_train=False)
    for k in range(3):
        torch.testing.assert_close(q[k], ens.single(k, x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ens(x, subset=torch.tensor([2, 0]), bn_train=False), q[[2, 0]])
    with pytest.raises(ValueError, match="all critics"):
        ens(x, subset=torch.tensor([0]), bn_train=True)


def test_crossq_has_no_target_critics_and_one_joint_critic_forward_per_update():
    cfg = _cfg(algo_of(preset(TrainConfig, "crossq")), batch_size=16, device="cpu", sac_hidden_width=16)
    assert (cfg.sac.crossq, cfg.utd_ratio, cfg.actor_update_every, cfg.sac.num_critics) == (True, 1, 3, 2)
    algo = SAC(SPEC, 2, cfg)
    assert algo.critic_target is None and not any(k.startswith("critic_target") for k in algo.state_dict())
    assert algo._online_target_pairs == ([], [])
    calls = []
    real = algo.critic.forward
    algo.critic.forward = lambda x, params=None, subset=None, bn_train=None: (
        calls.append((x.shape[0], algo.critic.training if bn_train is None else bn_train)) or
        real(x, params, subset, bn_train))
    mixer = _mixer(cfg)
    c0 = _flat(algo.critic.parameters())
    for _ in range(3):
        m = algo.update_block(mixer)
    assert not torch.equal(c0, _flat(algo.critic.parameters())) and torch.isfinite(m["critic_loss"])
    train_calls = [c for c in calls if c[1]]
    assert train_calls == [(32, True)] * 3  # current + next pairs (2 x batch 16) in one training forward
    assert calls.count((16, False)) == 1 and "actor_loss" in m  # the actor's, on the 3rd block, running stats
    assert int(algo.critic.brn_updates) == 3


def test_crossq_state_round_trips_through_a_state_dict():
    cfg = _cfg(sac_crossq=True, sac_num_critics=2, sac_critic_layer_norm=False)
    a, b = SAC(SPEC, 2, cfg), SAC(SPEC, 2, cfg)
    mixer = _mixer(cfg)
    for _ in range(2):
        a.update_block(mixer)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, a.critic.weights[0].shape[1])
    torch.testing.assert_close(b.critic(x, bn_train=False), a.critic(x, bn_train=False))


# ---- presets, flags, ROS parameters ------------------------------------------------------------------------------
def test_ablation_presets_differ_from_the_defaults_only_where_they_say():
    d = preset(TrainConfig, "sparse_manipulation")
    h, s = preset(TrainConfig, "hil_serl"), preset(TrainConfig, "sac2_min")
    assert (h.sac.num_critics, h.sac.critic_layer_norm, h.sac.actor_q_reduction) == (2, True, "mean")
    assert (s.sac.num_critics, s.sac.actor_q_reduction) == (2, "min")
    assert dataclasses.replace(h, sac=d.sac, preset=d.preset) == d
    assert (d.actor_update_every, d.sac.crossq, d.sac.actor_critic_subset_size) == (1, False, 2)


def test_every_new_option_is_a_train_flag():
    from robot_rl.tools.cli import build_parser
    from robot_rl.tools.commands.train_cmd import config_from_args

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "train" in a.choices)
    a = sub.choices["train"].parse_args([
        "--preset", "crossq", "--sac.actor-q-reduction", "subset_mean", "--sac.actor-critic-subset-size", "3",
        "--actor-update-every", "4", "--sac.batch-renorm-momentum", "0.05", "--sac.batch-renorm-warmup-updates",
        "7", "--no-sac.crossq"])
    cfg = config_from_args(a)
    assert (cfg.preset, cfg.sac.actor_q_reduction, cfg.sac.actor_critic_subset_size, cfg.actor_update_every) == \
        ("crossq", "subset_mean", 3, 4)
    assert (cfg.sac.batch_renorm_momentum, cfg.sac.batch_renorm_warmup_updates, cfg.sac.crossq) == (0.05, 7, False)
    with pytest.raises(ParameterError, match="actor_update_every"):
        config_from_args(sub.choices["train"].parse_args(["--actor-update-every", "0"]))


def test_every_new_option_is_a_learner_ros_parameter():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from robot_rl.contract.ros_node import declare_config
    from robot_rl.runtime.learner_core import LearnerConfig

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("abl_params", context=ctx, parameter_overrides=[
            Parameter("sac.actor_q_reduction", value="subset_mean"), Parameter("sac.actor_critic_subset_size", value=3),
            Parameter("actor_update_every", value=2), Parameter("sac.crossq", value=True),
            Parameter("sac.batch_renorm_warmup_updates", value=5)])
        cfg = declare_config(node, LearnerConfig)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    assert (cfg.sac.actor_q_reduction, cfg.sac.actor_critic_subset_size, cfg.actor_update_every) == \
        ("subset_mean", 3, 2)
    assert (cfg.sac.crossq, cfg.sac.batch_renorm_warmup_updates) == (True, 5)


# ---- behaviour cloning on the prior rows ------------------------------------------------------------------------
def _bc_setup(weight: float):
    cfg = _cfg(sac_bc_weight=weight, batch_size=32)
    torch.manual_seed(0)
    algo = SAC(SPEC, 2, cfg)
    rng = np.random.default_rng(0)
    online, prior = ReplayBuffer(SPEC, 2, 64), ReplayBuffer(SPEC, 2, 64)
    demo_action = np.array([0.6, -0.4], np.float32)  # the demos always do this; online data is uniform noise
    for i in range(40):
        online.add({"state": rng.normal(size=5)}, rng.uniform(-1, 1, 2), 0.0, {"state": rng.normal(size=5)},
                   False, False)
        prior.add({"state": rng.normal(size=5)}, demo_action, 0.0, {"state": rng.normal(size=5)}, False, False)
    return algo, DataMixer.of(online, prior, cfg), prior, demo_action


def test_bc_term_is_on_the_prior_rows_only_and_absent_when_off():
    algo, mixer, _, _ = _bc_setup(1.0)
    batch = mixer.sample()
    assert batch["n_online"] == 16  # RLPD's 50/50: the first 16 rows are online
    terms = algo.update(batch, update_actor=True)
    assert "bc_loss" in terms and float(terms["bc_loss"]) > 0
    off, mixer_off, _, _ = _bc_setup(0.0)
    assert "bc_loss" not in off.update(mixer_off.sample(), update_actor=True)
    # all rows online (no prior data in the batch): nothing to clone
    batch["n_online"] = 32
    assert "bc_loss" not in algo.update(batch, update_actor=True)


def test_bc_term_pulls_the_actor_to_the_prior_actions():
    def distance_after(weight: float) -> float:
        algo, mixer, prior, demo_action = _bc_setup(weight)
        for _ in range(150):
            algo.update_block(mixer)
        states = prior.frames["state"][:40]
        with torch.no_grad():
            a, _ = algo.actor(algo.encode({"state": states}), deterministic=True)
        return float((a - torch.as_tensor(demo_action)).norm(dim=-1).mean())

    assert distance_after(5.0) < 0.5 * distance_after(0.0)
