"""Rejected inputs are said, never dropped silently, and a flood of them cannot flood the log.

:class:`RejectLog` counts every rejected input by its cause (a short fixed phrase: ``"target: quaternion is not
a rotation"``) and writes at most one line per cause per ``period_s``: the first rejection at once, the rest of
that period as a count on the cause's next line (or at :meth:`flush`, which a node calls from a timer so that the
count of a flood that stopped is still written). Plain Python, no ROS: a node hands in its logger's ``warn``.

:func:`check_stamped_input` is the check every command subscriber runs on a message's header before its payload:
the frame (empty means "the robot's base frame", as ``ros2 topic pub`` sends) and the stamp (0 means unstamped;
one older than the command's timeout would be obeyed as if fresh; one from the future means a clock that is off).
"""
from __future__ import annotations

import math
import time
from typing import Callable


class RejectLog:
    def __init__(self, log: Callable[[str], None], period_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 prefix: str = "rejected"):
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"RejectLog period_s must be finite and > 0, got {period_s!r}")
        self._log, self.period_s, self._clock, self.prefix = log, period_s, clock, prefix
        self.counts: dict[str, int] = {}  # every rejection by cause, since start
        self._last_line: dict[str, float] = {}
        self._unsaid: dict[str, int] = {}  # rejections counted but not yet written, by cause

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reject(self, cause: str, detail: str = "") -> None:
        """Count one rejected input; write a line unless this cause had one less than ``period_s`` ago."""
        self.counts[cause] = self.counts.get(cause, 0) + 1
        now = self._clock()
        last = self._last_line.get(cause)
        if last is not None and now - last < self.period_s:
            self._unsaid[cause] = self._unsaid.get(cause, 0) + 1
            return
        more = self._unsaid.pop(cause, 0)
        tail = f" (and {more} more in the last {now - last:.1f} s)" if more and last is not None else ""
        self._log(f"{self.prefix} {cause}" + (f": {detail}" if detail else "") + tail)
        self._last_line[cause] = now

    def flush(self) -> None:
        """Write the counts still unsaid whose cause's period has passed (call it from a timer)."""
        now = self._clock()
        for cause, more in list(self._unsaid.items()):
            if now - self._last_line[cause] >= self.period_s:
                del self._unsaid[cause]
                self._log(f"{self.prefix} {cause}: {more} more in the last {now - self._last_line[cause]:.1f} s")
                self._last_line[cause] = now


def check_stamped_input(frame_id: str, stamp_s: float, now_s: float, expected_frame: str, max_age_s: float,
                        max_future_s: float) -> tuple[str, str] | None:
    """``(cause, detail)`` for refusing a command by its header, or None. ``stamp_s`` 0 (unset) is accepted."""
    if frame_id not in ("", expected_frame):
        return "wrong frame", f"{frame_id!r}, expected {expected_frame!r} (or empty)"
    if stamp_s != 0.0:
        age = now_s - stamp_s
        if not math.isfinite(age):
            return "unusable stamp", f"{stamp_s!r}"
        if age > max_age_s:
            return "stale stamp", f"{age:.3g} s old (the command timeout is {max_age_s:g} s)"
        if -age > max_future_s:
            return "stamp from the future", f"{-age:.3g} s ahead (clocks differ by more than {max_future_s:g} s?)"
    return None
