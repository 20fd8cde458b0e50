import numpy as np
import pytest
import torch

from robot_rl.learning.replay import ReplayBuffer, TransitionRouter, sample_mixed

SPEC = {"state": ((3,), np.float32), "images/front": ((4, 4, 3), np.uint8)}


def _obs(v: float) -> dict:
    return {"state": np.full(3, v, np.float32), "images/front": np.full((4, 4, 3), int(v) % 256, np.uint8)}


def _episode(buf, start: float, length: int, reward_of=lambda v: v):
    for t in range(length):
        v = start + t
        buf.add(_obs(v), np.full(2, v, np.float32), reward_of(v), _obs(v + 1), False, t == length - 1)


def test_images_are_stored_once_within_an_episode():
    buf = ReplayBuffer(SPEC, action_dim=2, capacity_transitions=100)
    _episode(buf, 0, 10)
    _episode(buf, 50, 5)
    # 10 transitions need 11 frames, 5 more need 6: next_obs of one transition is the obs of the next
    assert len(buf) == 15
    assert buf.frames_written == 17


def test_samples_pair_each_obs_with_its_own_next_obs_action_and_reward():
    buf = ReplayBuffer(SPEC, action_dim=2, capacity_transitions=100)
    _episode(buf, 0, 10)
    _episode(buf, 50, 5)
    b = buf.sample(64, torch.Generator().manual_seed(0))
    v = b["obs"]["state"][:, 0]
    torch.testing.assert_close(b["next_obs"]["state"][:, 0], v + 1)
    torch.testing.assert_close(b["action"][:, 0], v)
    torch.testing.assert_close(b["reward"], v)
    assert torch.equal(b["next_obs"]["images/front"][:, 0, 0, 0].long(), (v + 1).long() % 256)
    assert b["obs"]["images/front"].dtype == torch.uint8


def test_capacity_bounds_the_buffer_and_evicts_oldest_first():
    buf = ReplayBuffer(SPEC, action_dim=2, capacity_transitions=20, extra_frame_fraction=0.1)
    for e in range(10):
        _episode(buf, 100 * e, 7)
    assert len(buf) <= 20
    assert buf.frames["state"].shape[0] == buf.frame_capacity < 2 * 20
    b = buf.sample(500, torch.Generator().manual_seed(1))
    v = b["obs"]["state"][:, 0]
    torch.testing.assert_close(b["next_obs"]["state"][:, 0], v + 1)  # no transition points at a stale frame
    assert v.min() >= 600  # only the newest episodes remain


def test_half_of_every_batch_comes_from_each_buffer():
    online = ReplayBuffer(SPEC, 2, 100)
    prior = ReplayBuffer(SPEC, 2, 100)
    _episode(online, 0, 30, reward_of=lambda v: 0.0)
    _episode(prior, 100, 30, reward_of=lambda v: 1.0)
    b = sample_mixed(online, prior, 256, 0.5, torch.Generator().manual_seed(0))
    assert b["reward"].shape == (256,)
    assert int((b["reward"] == 0).sum()) == 128 and int((b["reward"] == 1).sum()) == 128
    assert torch.all(b["reward"][:128] == 0) and torch.all(b["reward"][128:] == 1)
    # before any online data the batch is all prior (and the other way round)
    empty = ReplayBuffer(SPEC, 2, 100)
    assert torch.all(sample_mixed(empty, prior, 64)["reward"] == 1)
    assert torch.all(sample_mixed(online, empty, 64)["reward"] == 0)


def test_interventions_go_to_both_buffers_and_policy_steps_only_online():
    online, prior = ReplayBuffer(SPEC, 2, 100), ReplayBuffer(SPEC, 2, 100)
    router = TransitionRouter(online, prior)
    intervened = [False, False, True, True, True, False]
    for t, iv in enumerate(intervened):
        router.add(_obs(t), np.zeros(2), float(t), _obs(t + 1), False, False, intervened=iv)
    assert len(online) == 6 and len(prior) == 3
    assert sorted(prior.rewards[:len(prior)].tolist()) == [2.0, 3.0, 4.0]
    b = prior.sample(50)
    torch.testing.assert_close(b["next_obs"]["state"][:, 0], b["obs"]["state"][:, 0] + 1)


def test_rlif_blames_the_policy_step_before_a_takeover_not_the_humans_first_step():
    online, prior = ReplayBuffer(SPEC, 2, 100), ReplayBuffer(SPEC, 2, 100)
    router = TransitionRouter(online, prior, rlif=True, takeover_reward=-1.0)
    # episode 1: policy 0-1, human 2-3 (takeover at 2), policy 4, human 5 (takeover at 5), policy 6 ends it;
    # episode 2: the human takes over on its first step (no policy step to blame), then the policy
    script = [(0, False, False, False), (1, False, False, False), (2, True, True, False), (3, True, False, False),
              (4, False, False, False), (5, True, True, False), (6, False, False, True),
              (20, True, True, False), (21, False, False, True)]
    returned = [router.add(_obs(t), np.zeros(2), 1.0, _obs(t + 1), False, end, intervened=human,
                           takeover_started=start) for t, human, start, end in script]
    assert returned == [0.0] * len(script)  # no task reward; the blame lands on an earlier, stored transition
    assert online.rewards[:len(script)].tolist() == [0, -1, 0, 0, -1, 0, 0, 0, 0]
    assert prior.rewards[:len(prior)].tolist() == [0, 0, 0, 0]  # the human's steps are never the blamed ones


def test_router_without_rlif_keeps_the_task_reward():
    online, prior = ReplayBuffer(SPEC, 2, 100), ReplayBuffer(SPEC, 2, 100)
    router = TransitionRouter(online, prior)
    got = [router.add(_obs(t), np.zeros(2), float(t), _obs(t + 1), False, False, intervened=t == 2,
                      takeover_started=t == 2) for t in range(4)]
    assert got == [0.0, 1.0, 2.0, 3.0] and online.rewards[:4].tolist() == got


def test_buffer_round_trips_through_npz_exactly(tmp_path):
    buf = ReplayBuffer(SPEC, 2, 30)
    for e in range(6):
        _episode(buf, 10 * e, 9)
    buf.save(tmp_path / "b.npz")
    other = ReplayBuffer(SPEC, 2, 30)
    other.load(tmp_path / "b.npz")
    for k, v in buf.state_arrays().items():
        np.testing.assert_array_equal(other.state_arrays()[k], v)
    assert len(other) == len(buf)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = buf.sample(32, g1), other.sample(32, g2)
    assert torch.equal(a["obs"]["images/front"], b["obs"]["images/front"]) and torch.equal(a["reward"], b["reward"])


def test_wrong_observation_shape_is_rejected():
    buf = ReplayBuffer(SPEC, 2, 10)
    with pytest.raises(ValueError, match="shape"):
        buf.add({"state": np.zeros(4, np.float32), "images/front": np.zeros((4, 4, 3), np.uint8)}, np.zeros(2), 0.0,
                _obs(1), False, False)


def test_a_small_unwrapped_buffer_loads_into_a_larger_one_and_a_wrapped_one_is_refused(tmp_path):
    from robot_rl.learning.flagged_replay import FlaggedReplayBuffer

    spec = {"state": ((3,), np.dtype(np.float32))}
    small = FlaggedReplayBuffer(spec, 2, capacity_transitions=10)
    for t in range(6):
        small.add({"state": np.full(3, t, np.float32)}, np.full(2, t, np.float32), float(t),
                  {"state": np.full(3, t + 1, np.float32)}, False, t == 5, intervened=t % 2 == 1)
    small.save(tmp_path / "prior.npz")
    big = FlaggedReplayBuffer(spec, 2, capacity_transitions=1000)
    big.load(tmp_path / "prior.npz")
    assert len(big) == 6
    np.testing.assert_array_equal(big.stored_flags(), [False, True, False, True, False, True])
    batch = big.gather(torch.arange(6))
    np.testing.assert_array_equal(batch["reward"].numpy(), np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(batch["next_obs"]["state"][:, 0].numpy(), np.arange(1, 7, dtype=np.float32))
    big.add({"state": np.full(3, 9, np.float32)}, np.zeros(2, np.float32), 9.0,
            {"state": np.full(3, 10, np.float32)}, True, False)
    assert len(big) == 7  # keeps growing after the loaded demos
    for t in range(20):  # wrap the small buffer: it can no longer be placed in a different ring
        small.add({"state": np.full(3, 100 + t, np.float32)}, np.zeros(2, np.float32), 0.0,
                  {"state": np.full(3, 101 + t, np.float32)}, False, False)
    small.save(tmp_path / "wrapped.npz")
    with pytest.raises(ValueError, match="capacity"):
        FlaggedReplayBuffer(spec, 2, capacity_transitions=1000).load(tmp_path / "wrapped.npz")


def test_an_unwrapped_buffer_persists_only_its_written_prefix_and_restores_exactly():
    spec = {"state": ((3,), np.float32)}
    buf = ReplayBuffer(spec, 2, 10_000)
    for i in range(5):
        buf.add({"state": np.full(3, i, np.float32)}, [i, -i], float(i), {"state": np.full(3, i + 1, np.float32)},
                False, i == 4)
    arrs = buf.state_arrays()
    assert arrs["frames/state"].shape == (6, 3) and arrs["actions"].shape == (5, 2)  # not the 10 000 capacity
    again = ReplayBuffer(spec, 2, 10_000)
    again.load_arrays(arrs)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a, b = buf.sample(32, g1), again.sample(32, g2)
    assert torch.equal(a["obs"]["state"], b["obs"]["state"]) and torch.equal(a["action"], b["action"])
    assert len(again) == 5 and again.frames_written == 6
