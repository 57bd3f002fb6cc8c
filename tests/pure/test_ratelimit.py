"""Sliding-window rate-limit arithmetic."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg_integration.ratelimit import Decision, decide, estimate, window_start

T0 = 1_700_000_040  # a multiple of 60: the start of a window


def test_window_start_floors_to_the_window():
    assert window_start(T0) == T0
    assert window_start(T0 + 59.999) == T0
    assert window_start(T0 + 60) == T0 + 60
    assert window_start(125, window=10) == 120
    assert isinstance(window_start(T0 + 0.5), int)


@pytest.mark.parametrize("window", [0, -60, 1.5, True])
def test_window_must_be_whole_seconds(window):
    with pytest.raises(ValueError, match="window"):
        window_start(T0, window)


def test_estimate_at_window_edges():
    # at the very start of a window the previous one counts fully
    assert estimate(3, 10, T0) == 13
    # half-way it counts half
    assert estimate(3, 10, T0 + 30) == 8
    # just before the end it almost does not count
    assert estimate(3, 10, T0 + 59.94) == pytest.approx(3.01)
    # the next window starts over: current becomes previous
    assert estimate(1, 3, T0 + 60) == 4


def test_allowed_at_and_below_the_limit():
    assert decide(10, 10, 0, T0) == Decision(True, 0, 10)
    assert decide(10, 5, 10, T0 + 30) == Decision(True, 0, 10)
    assert decide(10, 1, 0, T0).allowed


def test_refused_over_the_limit():
    decision = decide(10, 11, 0, T0 + 5)
    assert not decision.allowed
    assert decision.estimated == 11
    assert decision.retry_after >= 1


def test_previous_window_weight_at_the_edges():
    # 9 now + 10 before: refused at the start of the window, allowed near its end
    assert not decide(10, 9, 10, T0).allowed
    assert decide(10, 9, 10, T0 + 54).allowed
    assert not decide(10, 9, 10, T0 + 53).allowed


def test_retry_after_exact_within_the_window():
    # the refused request stays counted and the retry adds one more:
    # 10 * (1 - e/60) + 8 + 1 <= 10  <=>  e >= 54: from T0 + 20, 34 seconds
    decision = decide(10, 8, 10, T0 + 20)
    assert decision == Decision(False, 34, pytest.approx(10 * (1 - 20 / 60) + 8))
    # fractional timestamps round the wait up
    assert decide(10, 8, 10, T0 + 20.5).retry_after == 34
    assert decide(10, 8, 10, T0 + 19.5).retry_after == 35


def test_retry_after_reaching_into_the_next_window():
    # 9 + 1 requests in this window never fit beside any previous weight: wait for
    # the next window, where the 9 weigh 9 and the retry adds 1
    assert decide(10, 9, 10, T0 + 20).retry_after == 40


def test_retry_after_at_least_one_second():
    # 600 * (1 - e/60) + 2 <= 10  <=>  e >= 59.2: 0.3 s after T0 + 58.9
    decision = decide(10, 1, 600, T0 + 58.9)
    assert not decision.allowed
    assert decision.retry_after == 1


def test_burst_at_window_start_needs_the_next_window():
    # 10 allowed requests and an 11th refused at T0. Next window: the 11 weigh
    # 11 * (1 - e/60) and the retry adds 1: e >= 60 * 2 / 11 = 10.9, i.e. 71 s.
    assert decide(10, 11, 0, T0, max_wait=120).retry_after == 71
    # by default the wait is capped at the window
    assert decide(10, 11, 0, T0).retry_after == 60
    # later in the window the cap does not bind
    assert decide(10, 11, 0, T0 + 30).retry_after == 41


def test_limit_one():
    # one request already in this window: the retry is allowed once that request
    # has fully left the sliding window, i.e. at the end of the next window
    assert decide(1, 2, 0, T0 + 10, max_wait=200).retry_after == 110
    assert decide(1, 1, 0, T0).allowed


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_zero_or_less_is_unlimited(limit):
    decision = decide(limit, 10**6, 10**6, T0)
    assert decision.allowed and decision.retry_after == 0
    assert decision.estimated == 2 * 10**6


@pytest.mark.parametrize(
    "args",
    [
        (10, 0, 0, T0),
        (10, -1, 0, T0),
        (10, 1, -1, T0),
        (10, 1.5, 0, T0),
        (10.5, 1, 0, T0),
        (True, 1, 0, T0),
    ],
)
def test_arguments_validated(args):
    with pytest.raises(ValueError):
        decide(*args)


def hub_counts(now_ts, later_ts, current, previous, window, count_refused=True):
    """The counts a hub sees for a retry at ``later_ts``: by default the hub counts
    every request (the refused one included), else only allowed requests."""
    stored = current if count_refused else current - 1
    if window_start(later_ts, window) == window_start(now_ts, window):
        return stored + 1, previous
    if window_start(later_ts, window) == window_start(now_ts, window) + window:
        return 1, stored
    return 1, 0


@settings(max_examples=500, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=50),
    counted=st.integers(min_value=0, max_value=60),
    previous=st.integers(min_value=0, max_value=200),
    offset=st.floats(min_value=0, max_value=59.999, allow_nan=False),
    window=st.sampled_from([1, 10, 60, 3600]),
)
def test_retry_after_makes_the_retry_allowed(limit, counted, previous, offset, window):
    now = T0 * window + offset * window / 60
    current = counted + 1
    decision = decide(limit, current, previous, now, window, max_wait=2 * window)
    if decision.allowed:
        assert decision.retry_after == 0
        return
    wait = decision.retry_after
    assert 1 <= wait <= 2 * window
    later = now + wait
    assert decide(
        limit, *hub_counts(now, later, current, previous, window), later, window
    ).allowed
    if wait > 1:
        # the wait is the shortest one: a second earlier is still refused
        sooner = now + wait - 1
        counts = hub_counts(now, sooner, current, previous, window)
        assert not decide(limit, *counts, sooner, window).allowed
    # with the default cap the wait never exceeds the window
    capped = decide(limit, current, previous, now, window)
    assert capped.retry_after == min(wait, window)
