"""The delivery throttle's pacing, on a clock of the test's own (time travel: no
test here waits or measures real time)."""

import math

import pytest

from mfg_integration.throttle import MAX_SLEEP, Pacer, check_rate


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def pacer(rate, not_before=None, now=1000.0):
    clock = FakeClock(now)
    return Pacer(rate, not_before, clock=clock, sleep=clock.sleep), clock


def test_no_throttle_never_waits():
    p, clock = pacer(0)
    for _ in range(1000):
        assert p.wait() is None
    assert clock.slept == []


def test_sends_are_spaced_by_the_interval_without_a_burst():
    p, clock = pacer(4)  # one every 0.25 s
    starts = []
    for _ in range(5):
        assert p.wait() is None
        starts.append(clock.now)
    assert starts == [1000.0, 1000.25, 1000.5, 1000.75, 1001.0]
    assert clock.slept == [0.25] * 4


def test_slow_sends_are_not_delayed_further():
    p, clock = pacer(2)
    assert p.wait() is None
    clock.now += 3  # the send took 3 s: the next may start at once
    assert p.wait() is None
    assert clock.slept == []
    assert p.next_free == 1003.5


def test_the_previous_jobs_pace_carries_over():
    p, clock = pacer(1, not_before=1000.6)
    assert p.wait() is None
    assert clock.slept == [pytest.approx(0.6)]
    assert clock.now == 1000.6


@pytest.mark.parametrize("rate", [0.1, 0.2])
def test_a_long_gap_ends_the_job_instead_of_sleeping(rate):
    p, clock = pacer(rate)
    assert p.wait() is None
    due = p.wait()
    assert due == pytest.approx(1000.0 + 1 / rate)
    assert clock.slept == []
    # nothing was taken: the same turn is still the next one
    assert p.next_free == due
    clock.now = due
    assert p.wait() is None


def test_max_sleep_is_the_limit_between_sleeping_and_stopping():
    p, clock = pacer(1 / MAX_SLEEP)
    assert p.wait() is None
    assert p.wait() is None  # exactly MAX_SLEEP away: slept
    assert clock.slept == [MAX_SLEEP]
    assert p.wait(max_sleep=MAX_SLEEP - 0.5) == pytest.approx(1000.0 + 2 * MAX_SLEEP)


@pytest.mark.parametrize("rate", [-1, math.inf, math.nan, "5", True, None])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError, match="messages per second"):
        check_rate(rate)


def test_rates_are_floats():
    assert check_rate(3) == 3.0
    assert check_rate(0) == 0.0
