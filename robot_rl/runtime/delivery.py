"""At-least-once delivery of transitions from actors to a learner, exactly-once into its buffers.

The actor numbers its transitions 1, 2, 3, ... and keeps every one in an :class:`Outbox` until the learner
reports it *persisted* (inside a checkpoint). The learner's :class:`Inbox` accepts only the next expected seq
of each actor (duplicates and gaps are ignored) and acknowledges two numbers per actor: ``received`` (the
contiguous prefix in memory) and ``persisted`` (the prefix in the last checkpoint). When ``received`` stops
short of what was sent for ``resend_after_s`` -- a learner that restarted from its checkpoint, or lost
messages -- the outbox rewinds and sends again from ``received + 1``. A restarted learner therefore ends up
with every transition exactly once. Time is passed in (any monotonic clock).

Flow control: at most ``window`` transitions are ever in flight beyond the learner's acknowledged ``received``.
The learner's reader keeps the *latest* ``depth`` messages (the contract's transitions QoS is KEEP_LAST 1000); a
burst larger than that while the learner is busy (a checkpoint, a long update) would drop the oldest -- exactly
the ones it needs next -- and every rewind would repeat the loss. With ``window`` below the reader's depth a
rewind always fits."""
from __future__ import annotations

from collections import OrderedDict

from robot_rl.runtime.wire import Transition


class Outbox:
    def __init__(self, actor_id: str, capacity: int = 200_000, resend_after_s: float = 2.0,
                 max_send_per_call: int = 64, window: int = 500):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.actor_id = actor_id
        self.window = window
        self.capacity = capacity
        self.resend_after_s = resend_after_s
        self.max_send_per_call = max_send_per_call
        self._items: OrderedDict[int, Transition] = OrderedDict()
        self.last_seq = 0  # seq of the newest transition added
        self.next_to_send = 1
        self.received = 0  # learner's acknowledgements
        self.persisted = 0
        self._progress_s: float | None = None  # last time `received` advanced (or we sent fresh data)
        self.dropped_unacked = 0  # transitions evicted before being persisted (outbox overflow)
        self.rewinds = 0

    def add(self, t: Transition) -> Transition:
        self.last_seq += 1
        t.seq = self.last_seq
        t.actor_id = self.actor_id
        self._items[t.seq] = t
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.dropped_unacked += 1
        return t

    def on_ack(self, received: int, persisted: int, now_s: float) -> None:
        if received > self.received or self._progress_s is None:
            self._progress_s = now_s
        self.received = received
        self.persisted = max(self.persisted, min(persisted, self.last_seq))
        for s in list(self._items):
            if s > self.persisted:
                break
            del self._items[s]
        if received + 1 < self.next_to_send and now_s - self._progress_s > self.resend_after_s:
            self.next_to_send = received + 1  # learner is missing some: go back
            self._progress_s = now_s
            self.rewinds += 1

    def to_send(self, now_s: float) -> list[Transition]:
        """Transitions to publish now (in seq order, at most ``max_send_per_call``)."""
        out = []
        s = max(self.next_to_send, min(self._items) if self._items else self.next_to_send)
        last = min(self.last_seq, self.received + self.window)  # flow control (module docstring)
        while s <= last and len(out) < self.max_send_per_call:
            t = self._items.get(s)
            if t is not None:
                out.append(t)
            s += 1
        if out:
            if self.next_to_send == self.received + 1:  # was caught up: the learner's clock starts now
                self._progress_s = now_s
            self.next_to_send = out[-1].seq + 1
        return out

    @property
    def unpersisted(self) -> int:
        return len(self._items)


class Inbox:
    """The learner side: which transitions to accept (exactly once, in order, per actor)."""

    def __init__(self, received: dict[str, int] | None = None):
        self.received: dict[str, int] = dict(received or {})
        self.duplicates = 0
        self.gaps = 0

    def accept(self, t: Transition) -> bool:
        expected = self.received.setdefault(t.actor_id, 0) + 1  # known from now on: acked even before its seq 1
        if t.seq == expected:
            self.received[t.actor_id] = t.seq
            return True
        if t.seq < expected:
            self.duplicates += 1
        else:
            self.gaps += 1
        return False
