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
    """``spool`` (optional, :class:`robot_rl.runtime.spool.Spool`): every added transition is on disk first, and
    a new Outbox over the same spool (a restarted actor) starts with the transitions the learner has not
    persisted and continues their numbering. ``on_renumber(old_first, new_first, n)`` is told when the learner's
    stream and this one disagree (a learner with no memory of this actor, or one further ahead than this actor
    ever got: a restart without a spool) and the unacknowledged transitions are renumbered to follow on from what
    the learner has."""

    def __init__(self, actor_id: str, capacity: int = 200_000, resend_after_s: float = 2.0,
                 max_send_per_call: int = 64, window: int = 500, spool=None, on_renumber=None):
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
        self.renumbered = 0
        self.spool, self.on_renumber = spool, on_renumber
        if spool is not None:
            for t in spool.load():
                t.actor_id = actor_id
                self._items[t.seq] = t
            if self._items:
                self.last_seq = max(self._items)
                self.next_to_send = min(self._items)

    def add(self, t: Transition) -> Transition:
        self.last_seq += 1
        t.seq = self.last_seq
        t.actor_id = self.actor_id
        self._items[t.seq] = t
        if self.spool is not None:
            self.spool.append(t)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.dropped_unacked += 1
        return t

    def on_ack(self, received: int, persisted: int, now_s: float) -> None:
        first = next(iter(self._items)) if self._items else self.last_seq + 1
        if received + 1 < first or received > self.last_seq:  # the two streams disagree (class docstring)
            self._renumber(received + 1)
            persisted = min(persisted, received)
        if received > self.received or self._progress_s is None:
            self._progress_s = now_s
        self.received = received
        self.persisted = max(self.persisted, min(persisted, self.last_seq))
        for s in list(self._items):
            if s > self.persisted:
                break
            del self._items[s]
        if self.spool is not None:
            self.spool.trim(self.persisted)
        if received + 1 < self.next_to_send and now_s - self._progress_s > self.resend_after_s:
            self.next_to_send = received + 1  # learner is missing some: go back
            self._progress_s = now_s
            self.rewinds += 1

    def _renumber(self, first: int) -> None:
        items = list(self._items.values())
        old_first = items[0].seq if items else None
        for i, t in enumerate(items):
            t.seq = first + i
        self._items = OrderedDict((t.seq, t) for t in items)
        self.last_seq, self.next_to_send = first + len(items) - 1, first
        self.received = self.persisted = first - 1
        self.renumbered += len(items)
        if self.spool is not None:
            self.spool.rewrite(items)
        if self.on_renumber is not None:
            self.on_renumber(old_first, first, len(items))

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
