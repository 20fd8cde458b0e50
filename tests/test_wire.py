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


def _lossy_restart_run(window: int, depth: int = 100, steps: int = 400) -> tuple[list[int], Inbox, int]:
    """A restarted learner (received 0) whose reader keeps only the latest ``depth`` messages and reads them only
    every 4th tick (busy in between), while the actor rewinds and bursts at 64 messages per tick."""
    from collections import deque

    out = Outbox("a0", resend_after_s=0.3, max_send_per_call=64, window=window)
    for i in range(600):  # a backlog the old learner never persisted
        out.add(_t(i + 1, img=False))
    inbox, reader, accepted, now, done_at = Inbox({"a0": 0}), deque(maxlen=depth), [], 0.0, None
    for tick in range(steps):
        if done_at is None and len(accepted) == 600:
            done_at = tick
        if tick % 4 == 0:
            while reader:
                t = reader.popleft()
                if inbox.accept(t):
                    accepted.append(t.seq)
        reader.extend(out.to_send(now))  # KEEP_LAST: the oldest unread messages fall out
        out.on_ack(inbox.received["a0"], 0, now)
        now += 0.05
    return accepted, inbox, done_at


def test_outbox_window_keeps_a_rewind_within_the_readers_history():
    accepted, inbox, done_at = _lossy_restart_run(window=50)
    assert accepted == list(range(1, 601))  # everything, in order, exactly once
    assert inbox.gaps == 0 and inbox.duplicates == 0
    _, unbounded, unbounded_done_at = _lossy_restart_run(window=10**9)
    # without flow control the reader loses the head of every burst: thousands of wasted resends, and catching
    # up waits for a rewind that happens to land right before a read (seen as a restarted learner stuck in gaps)
    assert unbounded.gaps > 1000
    assert unbounded_done_at is None or unbounded_done_at > 2 * done_at


def test_outbox_never_has_more_than_window_in_flight_beyond_the_acked_prefix():
    out = Outbox("a0", max_send_per_call=1000, window=30)
    for i in range(100):
        out.add(_t(i + 1, img=False))
    sent = out.to_send(0.0)
    assert [t.seq for t in sent] == list(range(1, 31))
    assert out.to_send(0.1) == []  # nothing until the learner acknowledges
    out.on_ack(20, 0, 0.2)
    assert [t.seq for t in out.to_send(0.3)] == list(range(31, 51))
