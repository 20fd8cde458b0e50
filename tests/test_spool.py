"""The actor's spool and the outbox over it: a killed actor's undelivered transitions survive, in order, once."""
import numpy as np

from robot_rl.runtime.delivery import Inbox, Outbox
from robot_rl.runtime.spool import Spool
from robot_rl.runtime.wire import Transition

IDENT = {"actor_id": "a0", "task": "reach", "cameras": [], "image_size_px": 128}


def _t(i: int) -> Transition:
    obs = {"state": np.full(3, i, np.float32)}
    return Transition(obs, np.zeros(2, np.float32), float(i), obs, False, False)


def _deliver(box: Outbox, inbox: Inbox, now: float = 0.0) -> list[int]:
    got = [t.seq for t in box.to_send(now) if inbox.accept(t)]
    box.on_ack(inbox.received.get("a0", 0), 0, now)
    return got


def test_a_restarted_actor_resends_what_the_killed_one_had_not_delivered(tmp_path):
    box = Outbox("a0", spool=Spool(tmp_path / "a0", IDENT))
    inbox = Inbox()
    for i in range(10):
        box.add(_t(i))
    sent = box.to_send(0.0)
    for t in sent[:4]:  # the learner got 4, the actor is killed before the rest arrive
        inbox.accept(t)
    # kill -9: no close(), the process is gone; a new actor opens the same spool
    box2 = Outbox("a0", spool=Spool(tmp_path / "a0", IDENT))
    assert box2.last_seq == 10 and box2.unpersisted == 10
    box2.on_ack(inbox.received["a0"], 0, 1.0)
    for i in range(10, 13):
        box2.add(_t(i))
    box2.next_to_send = inbox.received["a0"] + 1  # the rewind after resend_after_s, without waiting for it
    got = _deliver(box2, inbox, 5.0)
    assert got == list(range(5, 14)) and inbox.duplicates == 0 and inbox.gaps == 0
    assert [int(t.reward) for t in box2._items.values()] == list(range(13))


def test_persisted_segments_are_deleted_and_the_rest_kept(tmp_path):
    spool = Spool(tmp_path / "a0", IDENT, segment_transitions=5)
    box = Outbox("a0", spool=spool)
    for i in range(12):
        box.add(_t(i))
    assert len(list((tmp_path / "a0").glob("*.seg"))) == 3
    box.on_ack(12, 10, 0.0)  # persisted 1..10: the segments 1-5 and 6-10 are done
    assert sorted(p.name for p in (tmp_path / "a0").glob("*.seg")) == ["000000000011.seg"]
    assert [t.seq for t in Spool(tmp_path / "a0", IDENT).load()] == [11, 12]


def test_a_frame_cut_short_by_a_kill_is_dropped_and_counted(tmp_path):
    box = Outbox("a0", spool=Spool(tmp_path / "a0", IDENT))
    for i in range(3):
        box.add(_t(i))
    seg = next((tmp_path / "a0").glob("*.seg"))
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # the last write torn
    again = Spool(tmp_path / "a0", IDENT)
    assert [t.seq for t in again.load()] == [1, 2] and again.torn_frames == 1


def test_a_spool_of_another_task_is_moved_aside_not_replayed(tmp_path):
    box = Outbox("a0", spool=Spool(tmp_path / "a0", IDENT))
    box.add(_t(0))
    other = Spool(tmp_path / "a0", {**IDENT, "task": "pick_cube"})
    assert other.moved_aside is not None and list(other.moved_aside.glob("*.seg"))
    assert other.load() == []


def test_a_learner_with_no_memory_of_this_actor_gets_the_kept_transitions_renumbered_from_1():
    said = []
    box = Outbox("a0", on_renumber=lambda *a: said.append(a))
    for i in range(5):
        box.add(_t(i))
    box.on_ack(5, 5, 0.0)  # an old learner persisted 1..5
    for i in range(5, 8):
        box.add(_t(i))  # 6, 7, 8 not yet delivered; then a fresh learner (new out_dir) comes up
    fresh = Inbox()
    fresh.received["a0"] = 0
    box.on_ack(0, 0, 1.0)
    assert said == [(6, 1, 3)]
    got = _deliver(box, fresh, 2.0)
    assert got == [1, 2, 3] and [int(t.reward) for t in box._items.values()] == [5, 6, 7]


def test_an_actor_restarted_without_a_spool_continues_after_the_learners_count():
    box = Outbox("a0")
    box.on_ack(40, 40, 0.0)  # the learner already has 40 from this actor's previous life
    box.add(_t(0))
    assert box.last_seq == 41
    inbox = Inbox({"a0": 40})
    assert _deliver(box, inbox) == [41]
