"""Retry delays: backoff, schedules, jitter and Retry-After."""

import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfg_integration.retry import (
    MAX_RETRY_AFTER,
    STANDARD_WEBHOOKS_SCHEDULE,
    backoff_delay,
    format_schedule,
    jittered,
    parse_retry_after,
    parse_schedule,
    schedule_delay,
)

DRAWS = 5000


def test_default_schedule_is_the_standard_webhooks_example():
    assert len(STANDARD_WEBHOOKS_SCHEDULE) == 10
    assert STANDARD_WEBHOOKS_SCHEDULE[0] == 0
    total = sum(STANDARD_WEBHOOKS_SCHEDULE)
    assert total == 272105
    assert total == 75 * 3600 + 35 * 60 + 5
    assert list(STANDARD_WEBHOOKS_SCHEDULE) == sorted(STANDARD_WEBHOOKS_SCHEDULE)


# -- jitter -------------------------------------------------------------------------


def test_jitter_bounds_over_many_seeded_draws():
    rng = random.Random(1234)
    draws = [jittered(100, 0.2, rng) for _ in range(DRAWS)]
    assert all(80 <= d <= 120 for d in draws)
    # the whole band is used, not a narrower one
    assert min(draws) < 81 and max(draws) > 119
    assert 98 < sum(draws) / len(draws) < 102


def test_jitter_zero_and_zero_delay():
    assert jittered(42, 0, random.Random(1)) == 42.0
    assert jittered(0, 0.5, random.Random(1)) == 0.0


def test_jitter_is_reproducible_with_a_seed():
    assert jittered(60, 0.2, random.Random(7)) == jittered(60, 0.2, random.Random(7))


class _ExtremeRng:
    """An rng returning a value just outside the band, as rounding might."""

    def __init__(self, offset):
        self.offset = offset

    def uniform(self, low, high):
        return (high if self.offset > 0 else low) + self.offset


def test_jitter_result_is_clamped_to_the_band_and_never_negative():
    assert jittered(10, 0.2, _ExtremeRng(1e-9)) == 12
    assert jittered(10, 0.2, _ExtremeRng(-1e-9)) == 8
    assert jittered(1e-300, 0.9, _ExtremeRng(-1)) >= 0


@pytest.mark.parametrize("jitter", [-0.1, 1, 1.5])
def test_jitter_out_of_range(jitter):
    with pytest.raises(ValueError, match="jitter"):
        jittered(10, jitter)


def test_negative_delay_refused():
    with pytest.raises(ValueError, match="negative"):
        jittered(-1)


# -- backoff ------------------------------------------------------------------------


def test_backoff_without_jitter_doubles_then_caps():
    delays = [
        backoff_delay(n, base=10, factor=2, cap=100, jitter=0) for n in range(1, 7)
    ]
    assert delays == [10, 20, 40, 80, 100, 100]


def test_backoff_factor_one_is_constant():
    assert {backoff_delay(n, base=7, factor=1, jitter=0) for n in (1, 5, 50)} == {7}


def test_backoff_huge_attempt_is_capped_quickly():
    assert backoff_delay(10**9, jitter=0) == 3600
    assert backoff_delay(5000, factor=2.5, cap=60, jitter=0) == 60


def test_backoff_jitter_bounds_over_many_seeded_draws():
    rng = random.Random(99)
    for attempt, nominal in ((1, 10), (3, 40), (20, 3600)):
        draws = [backoff_delay(attempt, rng=rng) for _ in range(DRAWS)]
        assert min(draws) >= nominal * 0.8 and max(draws) <= nominal * 1.2
        assert min(draws) < nominal * 0.81 and max(draws) > nominal * 1.19


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"attempt": 0}, "attempt"),
        ({"attempt": 1.5}, "attempt"),
        ({"attempt": True}, "attempt"),
        ({"attempt": 1, "base": 0}, "base"),
        ({"attempt": 1, "factor": 0.5}, "factor"),
        ({"attempt": 1, "cap": 0}, "cap"),
        ({"attempt": 1, "jitter": 1}, "jitter"),
        ({"attempt": 1, "jitter": -0.01}, "jitter"),
    ],
)
def test_backoff_arguments_validated(kwargs, word):
    with pytest.raises(ValueError, match=word):
        backoff_delay(**kwargs)


# -- schedules ------------------------------------------------------------------------


def test_schedule_delay_follows_the_schedule_without_jitter():
    delays = [schedule_delay(n, jitter=0) for n in range(1, 11)]
    assert delays == list(STANDARD_WEBHOOKS_SCHEDULE)


def test_schedule_exhausted_returns_none():
    assert schedule_delay(11) is None
    assert schedule_delay(3, schedule=(0, 5)) is None
    assert schedule_delay(2, schedule=(0, 5), jitter=0) == 5


def test_schedule_jitter_bounds_over_many_seeded_draws():
    rng = random.Random(5)
    draws = [schedule_delay(10, rng=rng) for _ in range(DRAWS)]
    assert 86400 * 0.8 <= min(draws) < 86400 * 0.81
    assert 86400 * 1.19 < max(draws) <= 86400 * 1.2
    assert all(schedule_delay(1, rng=rng) == 0 for _ in range(100))


@pytest.mark.parametrize("attempt", [0, -1, 2.0])
def test_schedule_attempt_validated(attempt):
    with pytest.raises(ValueError, match="attempt"):
        schedule_delay(attempt)


def test_parse_the_standard_schedule():
    text = "0, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h"
    assert parse_schedule(text) == STANDARD_WEBHOOKS_SCHEDULE
    assert format_schedule(STANDARD_WEBHOOKS_SCHEDULE) == text


def test_parse_schedule_units_and_spacing():
    assert parse_schedule(" 10 ,2 M,1H, 0001h, 1d ") == (10, 120, 3600, 3600, 86400)
    assert parse_schedule("7") == (7,)


@pytest.mark.parametrize(
    "text, bad",
    [
        ("5m, 1m", "1m"),
        ("0, 5x", "5x"),
        ("0, , 5", "Entry 2"),
        ("0, -5", "-5"),
        ("0, 1.5h", "1.5h"),
        ("0, 5m 3s", "5m 3s"),
    ],
)
def test_parse_schedule_names_the_bad_entry(text, bad):
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert bad in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_parse_schedule_needs_an_entry(text):
    with pytest.raises(ValueError, match="at least one"):
        parse_schedule(text)


def test_format_schedule_units():
    assert format_schedule((0, 59, 60, 61, 3600, 5400, 90000)) == (
        "0, 59s, 1m, 61s, 1h, 90m, 25h"
    )


@pytest.mark.parametrize("schedule", [(-1,), (1.5,), ("5",), (True,)])
def test_format_schedule_refuses_non_delays(schedule):
    with pytest.raises(ValueError):
        format_schedule(schedule)


@given(
    st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12).map(
        sorted
    )
)
def test_schedule_round_trip(delays):
    text = format_schedule(delays)
    assert parse_schedule(text) == tuple(delays)
    assert format_schedule(parse_schedule(text)) == text


# -- Retry-After ----------------------------------------------------------------------

NOW = datetime(2025, 3, 15, 8, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", 120),
        (" 0 ", 0),
        (b"30", 30),
        (45, 45),
        (-3, 0),
        ("0000000007", 7),
        ("86401", MAX_RETRY_AFTER),
        ("9" * 5000, MAX_RETRY_AFTER),
        (10**12, MAX_RETRY_AFTER),
    ],
)
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    assert parse_retry_after("Sat, 15 Mar 2025 08:02:00 GMT", now=NOW) == 120
    later = NOW + timedelta(seconds=0.25)
    assert parse_retry_after("Sat, 15 Mar 2025 08:02:00 GMT", now=later) == 120
    assert (
        parse_retry_after("Sat, 15 Mar 2025 08:02:00 GMT", now=NOW.timestamp()) == 120
    )


def test_retry_after_http_date_in_the_past_is_zero_and_far_future_capped():
    assert parse_retry_after("Sat, 15 Mar 2025 07:00:00 GMT", now=NOW) == 0
    assert (
        parse_retry_after("Sat, 22 Mar 2025 08:00:00 GMT", now=NOW) == MAX_RETRY_AFTER
    )


def test_retry_after_obsolete_date_formats_and_naive_now():
    naive_now = NOW.replace(tzinfo=None)
    assert parse_retry_after("Saturday, 15-Mar-25 08:01:00 GMT", now=naive_now) == 60
    assert parse_retry_after("Sat Mar 15 08:00:30 2025", now=NOW) == 30


def test_retry_after_http_date_uses_the_clock_by_default():
    future = datetime.now(timezone.utc) + timedelta(seconds=600)
    value = future.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 590 <= parse_retry_after(value) <= 600


@pytest.mark.parametrize(
    "value", [None, "", "  ", "soon", "1.5", "-5", "Sat, 99 Foo 2025", True, [], 3.5]
)
def test_retry_after_unparsable_is_none(value):
    assert parse_retry_after(value, now=NOW) is None
