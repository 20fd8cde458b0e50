"""Rejected inputs: one line per cause per period, counted, never silent; the header check on commands."""
import pytest

from robot_rl.contract.rejects import RejectLog, check_stamped_input


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_a_flood_of_one_cause_writes_one_line_per_period_with_the_count():
    lines, clock = [], Clock()
    log = RejectLog(lines.append, period_s=1.0, clock=clock)
    for _ in range(1000):  # 1000 bad targets in 0.5 s
        log.reject("target: position not finite")
        clock.t += 0.0005
    assert lines == ["rejected target: position not finite"]
    clock.t += 0.6
    log.reject("target: position not finite")
    assert len(lines) == 2 and "(and 999 more in the last" in lines[1]
    assert log.counts["target: position not finite"] == 1001 and log.total == 1001


def test_each_cause_has_its_own_line_and_detail():
    lines, clock = [], Clock()
    log = RejectLog(lines.append, clock=clock)
    log.reject("target: wrong frame", "'world', expected 'base'")
    log.reject("gripper command: outside [0, 1]", "7.0")
    log.reject("target: wrong frame", "'world', expected 'base'")
    assert lines == ["rejected target: wrong frame: 'world', expected 'base'",
                     "rejected gripper command: outside [0, 1]: 7.0"]


def test_flush_says_the_count_of_a_flood_that_stopped():
    lines, clock = [], Clock()
    log = RejectLog(lines.append, clock=clock)
    for _ in range(5):
        log.reject("image: wrong size")
    log.flush()  # the period has not passed: nothing yet
    assert len(lines) == 1
    clock.t += 1.0
    log.flush()
    assert lines[-1] == "rejected image: wrong size: 4 more in the last 1.0 s"
    log.flush()
    assert len(lines) == 2  # said once


def test_a_nonpositive_period_is_refused():
    with pytest.raises(ValueError, match="period_s"):
        RejectLog(print, period_s=0.0)


@pytest.mark.parametrize("frame,stamp,cause", [
    ("world", 10.0, "wrong frame"),
    ("base", 9.0, "stale stamp"),           # 1 s old, timeout 0.2 s
    ("base", 11.0, "stamp from the future"),  # 1 s ahead, tolerance 0.5 s
    ("base", float("nan"), "unusable stamp"),
])
def test_a_command_header_is_refused_by_frame_and_stamp(frame, stamp, cause):
    bad = check_stamped_input(frame, stamp, now_s=10.0, expected_frame="base", max_age_s=0.2, max_future_s=0.5)
    assert bad is not None and bad[0] == cause


@pytest.mark.parametrize("frame,stamp", [("base", 10.0), ("", 9.9), ("base", 0.0), ("base", 10.4)])
def test_a_fresh_command_in_the_base_frame_or_unstamped_is_accepted(frame, stamp):
    assert check_stamped_input(frame, stamp, 10.0, "base", max_age_s=0.2, max_future_s=0.5) is None
