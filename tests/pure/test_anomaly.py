"""Anomaly hints: the last hour against the same hour of the week before."""

from hypothesis import given
from hypothesis import strategies as st

from mfg_integration.anomaly import (
    MIN_COUNT_CHANGE,
    MIN_WEEKS,
    THRESHOLD,
    hints,
    robust_score,
)

USUAL = [(120, 1), (118, 2), (125, 0), (121, 1), (119, 1), (130, 2)]


def test_a_usual_hour_is_not_flagged():
    assert hints((123, 1), USUAL) == []


def test_a_silent_busy_hour_is_flagged_as_unusually_few():
    (hint,) = hints((4, 0), USUAL)
    assert hint.figure == "messages"
    assert (hint.value, hint.usual, hint.weeks) == (4, 120.5, 6)
    assert hint.score < -THRESHOLD
    assert hint.text.startswith("4 messages in the last hour, usually 120.5")
    assert "unusually fewer" in hint.text


def test_a_burst_on_a_quiet_hour_is_flagged_as_unusually_many():
    quiet = [(0, 0), (1, 0), (0, 0), (2, 0)]
    (hint,) = hints((60, 0), quiet)
    assert hint.figure == "messages" and "unusually more" in hint.text


def test_a_failure_rate_that_jumps_is_flagged():
    (hint,) = hints((120, 54), USUAL)
    assert hint.figure == "failure_rate"
    assert hint.text.startswith("45% of the last hour's messages failed, usually 1%")


def test_small_changes_and_low_volumes_are_not_flagged():
    # a perfectly regular history: the floor of the scale keeps small changes quiet
    regular = [(50, 0)] * 8
    assert hints((50 + MIN_COUNT_CHANGE - 1, 0), regular) == []
    # a rate on a handful of messages says nothing
    assert hints((5, 5), [(5, 0)] * 8) == []


def test_too_little_history_says_nothing():
    assert hints((0, 0), USUAL[: MIN_WEEKS - 1]) == []


def test_one_past_incident_does_not_hide_the_pattern():
    # a week with an outage in the history: the median ignores it
    history = USUAL[:5] + [(0, 0)]
    assert hints((2, 0), history)[0].figure == "messages"
    assert hints((121, 1), history) == []


@given(
    level=st.integers(min_value=0, max_value=10_000),
    weeks=st.integers(min_value=MIN_WEEKS, max_value=8),
)
def test_an_hour_like_every_past_one_is_never_flagged(level, weeks):
    assert hints((level, 0), [(level, 0)] * weeks) == []


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=20), st.floats(0, 1e6))
def test_the_score_has_the_sign_of_the_difference(history, value):
    score, median = robust_score(value, history, 1.0)
    assert (score > 0) == (value > median)
    assert (score < 0) == (value < median)
