import random

import numpy as np
import pytest

from robot_rl.runtime.delivery import Inbox, Outbox
from robot_rl.runtime.wire import (Reassembler, Transition, WireError, chunk_payload, decode_ack, decode_transitions,
                           decode_weights, encode_ack, encode_transitions, encode_weights, parse_chunk)


def _t(i, img=True):
    rng = np.random.default_rng(i)
    obs = {"state": rng.normal(size=26).astype(np.float32)}
    nxt = {"state": rng.normal(size=26).astype(np.float32)}
    if img:
        obs["images/front"] = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
        nxt["images/front"] = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    return Transition(obs, rng.uniform(-1, 1, 7).astype(np.float32), float(i), nxt, i % 3 == 0, False,
                      intervened=i % 2 == 0, takeover_started=i == 2, success=i == 3, actor_id="a0", seq=i, episode=7)


def test_transitions_round_trip_bit_exact_with_flags_and_images():
    ts = [_t(i) for i in range(1, 5)]
    back = decode_transitions(encode_transitions(ts))
    assert len(back) == 4
    for a, b in zip(ts, back):
        for k in a.obs:
            assert np.array_equal(a.obs[k], b.obs[k]) and a.obs[k].dtype == b.obs[k].dtype
            assert np.array_equal(a.next_obs[k], b.next_obs[k])
        assert np.array_equal(a.action, b.action)
        assert (a.reward, a.terminated, a.truncated, a.intervened, a.takeover_started, a.success, a.seq, a.episode,
                a.actor_id) == (b.reward, b.terminated, b.truncated, b.intervened, b.takeover_started, b.success,
                                b.seq, b.episode, b.actor_id)


def test_payloads_are_safetensors_not_pickle_and_kinds_are_checked():
    blob = encode_transitions([_t(1, img=False)])
    assert b"pickle" not in blob and not blob.startswith(b"\x80")  # no pickle protocol header
    with pytest.raises(WireError, match="expected 'weights'"):
        decode_weights(blob)
    w = encode_weights({"actor.w": np.ones((3, 2), np.float32)}, version=12)
    with pytest.raises(WireError, match="expected 'transitions'"):
        decode_transitions(w)
    tensors, version, _ = decode_weights(w)
    assert version == 12 and np.array_equal(tensors["actor.w"], np.ones((3, 2), np.float32))
    with pytest.raises(WireError):
        decode_weights(w[:20])


def test_large_payload_is_chunked_and_reassembles_in_any_order_with_duplicates():
    payload = np.random.default_rng(0).integers(0, 255, 1_000_003, dtype=np.uint8).tobytes()
    frames = chunk_payload(payload, chunk_bytes=100_000)
    assert len(frames) == 11
    assert all(len(f) < 100_300 for f in frames)
    order = frames + frames[:3]
    random.Random(1).shuffle(order)
    r = Reassembler()
    got = [p for f in order if (p := r.add(f, 0.0)) is not None]
    assert got == [payload]
    assert r.in_flight == 0  # late duplicates of a finished message are ignored
    other = chunk_payload(payload, chunk_bytes=100_000)
    r.add(other[0], 100.0)
    assert r.in_flight == 1
    r.add(chunk_payload(b"x")[0], 200.0)  # the partial from t=100 expired
    assert r.in_flight == 0 and r.dropped == 1


def test_corrupted_chunk_fails_the_integrity_check():
    payload = bytes(range(256)) * 100
    frames = chunk_payload(payload, chunk_bytes=4096)
    bad = bytearray(frames[2])
    bad[-1] ^= 0xFF
    frames[2] = bytes(bad)
    r = Reassembler()
    with pytest.raises(WireError, match="SHA-256"):
        for f in frames:
            r.add(f, 0.0)
    with pytest.raises(WireError, match="magic"):
        parse_chunk(b"XXXX" + frames[0][4:])
    with pytest.raises(WireError, match="truncated"):
        parse_chunk(frames[0][:10])


def test_small_payload_is_one_chunk():
    frames = chunk_payload(b"abc", chunk_bytes=1024)
    assert len(frames) == 1
    assert Reassembler().add(frames[0], 0.0) == b"abc"


def test_ack_round_trip():
    learner, acks = decode_ack(encode_ack({"a0": (5, 3)}, "L"))
    assert learner == "L" and acks == {"a0": (5, 3)}
    with pytest.raises(WireError):
        decode_ack(b"{not json")


def _send(outbox, inbox, now, lose=False):
    for t in outbox.to_send(now):
        if not lose:
            inbox.accept(t)


def test_restarted_learner_gets_every_transition_exactly_once():
    out = Outbox("a0", resend_after_s=1.0, max_send_per_call=1000)
    inbox = Inbox()
    accepted = []
    now = 0.0
    for i in range(50):  # normal flow, learner checkpoints at 30
        out.add(_t(i + 1, img=False))
        for t in out.to_send(now):
            if inbox.accept(t):
                accepted.append(t.seq)
        now += 0.1
        persisted = 30 if inbox.received["a0"] >= 30 else 0
        out.on_ack(inbox.received["a0"], persisted, now)
    assert out.unpersisted == 20  # 31..50 kept until persisted
    # learner dies: 20 more transitions go nowhere
    for i in range(20):
        out.add(_t(100 + i, img=False))
        out.to_send(now)
        now += 0.1
    # restarted learner resumes from its checkpoint (received = persisted = 30)
    inbox = Inbox({"a0": 30})
    accepted = accepted[:30]
    for _ in range(20):
        out.on_ack(inbox.received["a0"], 30, now)
        for t in out.to_send(now):
            if inbox.accept(t):
                accepted.append(t.seq)
        now += 0.5
    assert accepted == list(range(1, 71))
    assert out.rewinds >= 1


def test_inbox_rejects_duplicates_and_gaps_per_actor():
    inbox = Inbox()
    a1, a2, b1 = _t(1, False), _t(2, False), _t(1, False)
    b1.actor_id = "b"
    assert inbox.accept(a1) and not inbox.accept(a1)
    assert inbox.accept(b1)
    a3 = _t(3, False)
    assert not inbox.accept(a3) and inbox.gaps == 1
    assert inbox.accept(a2) and inbox.accept(a3)
    assert inbox.received == {"a0": 3, "b": 1}
