"""The frozen-encoder feature cache (``encoder.feature_cache``): each stored frame's features are computed once and
the updates read them instead of the images. Real torch networks, real replay buffers, the real twin for the
trainer; small images and networks so that each test takes seconds."""
import dataclasses

import numpy as np
import pytest
import torch

from robot_rl.learning.config import AlgoConfig, EncoderConfig, SACConfig, TrainConfig
from robot_rl.learning.mixer import DataMixer
from robot_rl.learning.policy import Policy
from robot_rl.learning.replay import ReplayBuffer
from robot_rl.learning.sac import SAC

CAMS = ("front", "wrist")
PX, STATE, ACT = 32, 5, 3
SPEC = {"state": ((STATE,), np.dtype(np.float32)),
        **{f"images/{c}": ((PX, PX, 3), np.dtype(np.uint8)) for c in CAMS}}
SMALL_ENC = dict(channels=8, conv_layers=2, feature_dim_per_camera=8)


def _algo(**enc) -> AlgoConfig:
    return AlgoConfig(batch_size=16, utd_ratio=2, device="cpu", sac=SACConfig(hidden_width=32, num_critics=2),
                      encoder=EncoderConfig(**{**SMALL_ENC, **enc}))


def _agent(seed=0, **enc) -> SAC:
    torch.manual_seed(seed)
    return SAC(SPEC, ACT, _algo(**enc), device="cpu")


def _obs(rng):
    return {"state": rng.normal(size=STATE).astype(np.float32),
            **{f"images/{c}": rng.integers(0, 256, (PX, PX, 3), dtype=np.uint8) for c in CAMS}}


def _filled(n, capacity=None, seed=0, episode=7) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(SPEC, ACT, capacity or n)
    obs = _obs(rng)
    for i in range(n):
        nxt = _obs(rng)
        end = i % episode == episode - 1
        buf.add(obs, rng.uniform(-1, 1, ACT), float(rng.random() < 0.3), nxt, False, end)
        obs = _obs(rng) if end else nxt
    return buf


def _encoder_output(agent, images_by_key):
    """The encoder's own per-camera features, image by image (no batching, no cache)."""
    enc = agent.encoder
    return {c: torch.cat([enc.projections[c](enc.trunks[c](img[None])) for img in images_by_key[f"images/{c}"]])
            for c in CAMS}


def test_cached_features_equal_the_frozen_encoders_output_on_each_stored_obs_and_next_obs_frame():
    agent = _agent(frozen=True, feature_cache=True, feature_cache_dtype="float32")
    buf = _filled(30)
    agent.attach_feature_cache(buf)
    assert buf.refresh_features() == min(buf.frames_written, buf.frame_capacity)  # every stored frame, once
    assert buf.refresh_features() == 0  # and not again
    idx = torch.arange(len(buf))
    cached, images = buf.gather(idx), buf.gather(idx, images=True)
    assert not any(k.startswith("images/") for k in cached["obs"])  # the batch carries features, not images
    with torch.no_grad():
        for part in ("obs", "next_obs"):
            want = _encoder_output(agent, images[part])
            for c in CAMS:
                got = cached[part][f"features/{c}"]
                assert got.dtype == torch.float32 and got.shape == (len(buf), SMALL_ENC["feature_dim_per_camera"])
                torch.testing.assert_close(got, want[c], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(cached[part]["state"], images[part]["state"])


def test_default_float16_cache_stores_half_precision_within_its_rounding():
    agent = _agent(frozen=True, feature_cache=True)
    assert agent.encoder_cfg.feature_cache_dtype == "float16"
    buf = _filled(10)
    agent.attach_feature_cache(buf)
    idx = torch.arange(len(buf))
    got = buf.gather(idx)["obs"]["features/front"]
    with torch.no_grad():
        want = _encoder_output(agent, buf.gather(idx, images=True)["obs"])["front"]
    assert got.dtype == torch.float16
    torch.testing.assert_close(got.float(), want, rtol=0, atol=2 ** -11)  # tanh features in [-1, 1]


def test_frames_overwritten_after_the_ring_wraps_get_their_new_features():
    agent = _agent(frozen=True, feature_cache=True, feature_cache_dtype="float32")
    buf = _filled(12, capacity=12)
    agent.attach_feature_cache(buf)
    buf.refresh_features()
    rng = np.random.default_rng(5)
    obs = _obs(rng)
    for _ in range(15):  # more frames than the ring holds: every slot is written again
        nxt = _obs(rng)
        buf.add(obs, rng.uniform(-1, 1, ACT), 0.0, nxt, False, False)
        obs = nxt
    idx = torch.arange(len(buf))
    cached = buf.gather(idx)["next_obs"]["features/wrist"]
    with torch.no_grad():
        want = _encoder_output(agent, buf.gather(idx, images=True)["next_obs"])["wrist"]
    torch.testing.assert_close(cached, want, rtol=1e-5, atol=1e-6)


def test_an_update_from_cached_features_equals_the_uncached_update_with_augmentation_off():
    # same weights (same seed), same batch rows, same random draws: the cached agent reads features, the other
    # encodes the images with DrQ's shift off (augment_pad_px 0); the cache's own pad (4) is not applied
    cached = _agent(seed=3, frozen=True, feature_cache=True, feature_cache_dtype="float32")
    plain = _agent(seed=3, frozen=True, augment_pad_px=0)
    for a, b in zip(cached.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)
    buf = _filled(40)
    cached.attach_feature_cache(buf)
    idx = torch.randint(0, len(buf), (16,), generator=torch.Generator().manual_seed(0))
    b_cached, b_images = buf.gather(idx), buf.gather(idx, images=True)
    b_cached["n_online"] = b_images["n_online"] = 8  # half prior rows: the BC term is in the actor's loss
    torch.manual_seed(11)
    m_cached = cached.update(b_cached)
    torch.manual_seed(11)
    m_plain = plain.update(b_images)
    for k in ("critic_loss", "actor_loss", "bc_loss", "temperature_loss", "q_mean"):
        torch.testing.assert_close(m_cached[k], m_plain[k], rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(cached.named_parameters(), plain.parameters()):  # and the same step
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_update_block_leaves_a_frozen_encoder_unchanged_and_without_gradient_while_the_critics_learn():
    agent = _agent(frozen=True, feature_cache=True)
    online, prior = _filled(40, seed=1), _filled(20, seed=2)
    enc_before = {k: v.clone() for k, v in agent.encoder.state_dict().items()}
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    mixer = DataMixer(online, prior, batch_size=16)
    for _ in range(3):
        agent.update_block(mixer)
    assert online.feature_cache_enabled and prior.feature_cache_enabled  # update_block attached both buffers
    assert all(not p.requires_grad and p.grad is None for p in agent.encoder.parameters())
    for k, v in agent.encoder.state_dict().items():
        assert torch.equal(v, enc_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, agent.critic.parameters()))
    optimised = {id(p) for g in agent.optimizer.param_groups for p in g["params"]}
    assert not optimised & {id(p) for p in agent.encoder.parameters()}


def test_a_frozen_pretrained_trunk_caches_its_output_and_the_projections_still_train(tmp_path):
    from safetensors.torch import save_file

    donor = _agent(seed=7)
    path = tmp_path / "trunks.safetensors"
    save_file(donor.encoder.trunk_state(), str(path))
    agent = _agent(pretrained_weights_path=str(path), freeze_pretrained=True, feature_cache=True,
                   feature_cache_dtype="float32")
    assert agent.encoder.cache_level() == "trunk"
    online, prior = _filled(40, seed=1), _filled(20, seed=2)
    trunk_before = {k: v.clone() for k, v in agent.encoder.trunks.state_dict().items()}
    proj_before = [p.detach().clone() for p in agent.encoder.projections.parameters()]
    mixer = DataMixer(online, prior, batch_size=16)
    for _ in range(3):
        agent.update_block(mixer)
    feats = online.gather(torch.arange(4))["obs"]["features/front"]
    assert feats.shape == (4, agent.encoder.trunks["front"].out_dim)  # the trunk's flattened output is stored
    for k, v in agent.encoder.trunks.state_dict().items():
        assert torch.equal(v, trunk_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(proj_before, agent.encoder.projections.parameters()))


def test_the_shipped_policy_still_encodes_images_and_acts_like_the_trained_agent():
    agent = _agent(frozen=True, feature_cache=True)
    mixer = DataMixer(_filled(40, seed=1), _filled(20, seed=2), batch_size=16)
    for _ in range(2):
        agent.update_block(mixer)
    tensors, meta = agent.policy.payload()
    policy = Policy.from_payload(tensors, meta)
    assert set(policy.obs_spec) == set(SPEC)  # it takes the images, not features
    obs = _obs(np.random.default_rng(9))
    torch.testing.assert_close(torch.as_tensor(policy.act(obs, deterministic=True)),
                               torch.as_tensor(agent.act(obs, deterministic=True)), rtol=1e-5, atol=1e-6)
    moved = dict(obs, **{"images/front": np.roll(obs["images/front"], 8, axis=1)})
    assert not np.array_equal(policy.act(moved, deterministic=True), policy.act(obs, deterministic=True))


def test_feature_cache_with_a_trainable_encoder_is_a_one_line_error():
    with pytest.raises(ValueError, match="feature_cache needs a frozen encoder") as e:
        _agent(feature_cache=True)
    assert "\n" not in str(e.value)
    _agent(feature_cache=False)  # the default trainable encoder is fine without the cache


def test_the_trainer_learns_from_cached_features_checkpoints_and_resumes_with_them_recomputed(tmp_path):
    from robot_rl.loops.trainer import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(task="pick_cube", reward="sparse", seed=0, total_env_steps=30, num_demos=1, batch_size=8,
                      utd_ratio=1, pixels=True, random_action_steps=20, start_training_after_steps=20,
                      eval_episodes=1, eval_every_env_steps=10**9, checkpoint_every_env_steps=10**9,
                      sac=SACConfig(hidden_width=32, num_critics=2),
                      encoder=EncoderConfig(**SMALL_ENC, frozen=True, feature_cache=True))
    t = Trainer(cfg, tmp_path, progress=False)
    enc_before = {k: v.clone() for k, v in t.agent.encoder.state_dict().items()}
    t.run()
    assert t.updates == 30 - 19
    assert t.online.feature_cache_enabled and t.prior.feature_cache_enabled
    assert t.online.features["features/front"].shape[1] == SMALL_ENC["feature_dim_per_camera"]
    for k, v in t.agent.encoder.state_dict().items():
        assert torch.equal(v, enc_before[k]), k
    r = Trainer.resume(tmp_path, progress=False, total_env_steps=33)
    assert not r.online.feature_cache_enabled  # features are not saved: the resumed run recomputes them
    r.run()
    idx = torch.arange(len(r.online))
    got = r.online.gather(idx)["obs"]["features/wrist"]
    with torch.no_grad():
        want = r.agent.featurize(r.online.gather(idx, images=True)["obs"])["wrist"]
    torch.testing.assert_close(got.float(), want.float(), rtol=0, atol=2 ** -11)
    assert dataclasses.asdict(r.cfg)["encoder"]["feature_cache"] is True
