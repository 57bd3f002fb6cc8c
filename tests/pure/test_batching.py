"""Batch delivery schedules (time travel: every "now" is given) and batch ids."""

from datetime import datetime

import pytest

from mfg_integration.batching import batch_id, next_flush, parse_times


def test_parse_times():
    assert parse_times("22:00, 6:00,14:00, 06:00") == [(6, 0), (14, 0), (22, 0)]
    assert parse_times("") == []
    assert parse_times(None) == []


@pytest.mark.parametrize("text", ["25:00", "6h", "06:00,", "12:60", "noon"])
def test_parse_times_refusals(text):
    with pytest.raises(ValueError, match="is not a time of day"):
        parse_times(text)


def test_every_n_minutes_on_the_clock():
    now = datetime(2026, 12, 3, 8, 7, 30)
    assert next_flush(now, every_minutes=15) == datetime(2026, 12, 3, 8, 15)
    # exactly on a mark: the next one
    assert next_flush(datetime(2026, 12, 3, 8, 15), 15) == datetime(2026, 12, 3, 8, 30)
    assert next_flush(datetime(2026, 12, 3, 23, 59), 60) == datetime(2026, 12, 4, 0, 0)


def test_set_times_in_a_time_zone():
    shifts = parse_times("06:00, 14:00, 22:00")
    # 08:07 UTC is 09:07 in Berlin (winter): the next shift end is 14:00 local
    now = datetime(2026, 12, 3, 8, 7)
    assert next_flush(now, times=shifts, tz_name="Europe/Berlin") == datetime(
        2026, 12, 3, 13, 0
    )
    # after the last one of the day: tomorrow's first
    late = datetime(2026, 12, 3, 21, 30)  # 22:30 local
    assert next_flush(late, times=shifts, tz_name="Europe/Berlin") == datetime(
        2026, 12, 4, 5, 0
    )
    # summer time moves the UTC hour
    july = datetime(2026, 7, 1, 8, 7)
    assert next_flush(july, times=shifts, tz_name="Europe/Berlin") == datetime(
        2026, 7, 1, 12, 0
    )


def test_the_earlier_of_interval_and_set_times():
    now = datetime(2026, 12, 3, 12, 50)
    times = parse_times("13:00")
    assert next_flush(now, 30, times) == datetime(2026, 12, 3, 13, 0)
    assert next_flush(now, 5, times) == datetime(2026, 12, 3, 12, 55)


def test_no_schedule():
    assert next_flush(datetime(2026, 12, 3)) is None


def test_bad_schedules():
    with pytest.raises(ValueError, match="Unknown time zone"):
        next_flush(datetime(2026, 12, 3), times=[(6, 0)], tz_name="Mars/Olympus")
    with pytest.raises(ValueError, match="interval"):
        next_flush(datetime(2026, 12, 3), every_minutes=-5)


def test_batch_id_is_stable_and_depends_on_the_messages():
    first = batch_id(["a", "b"])
    assert first == batch_id(["a", "b"])
    assert first != batch_id(["a", "b", "c"])
    assert first != batch_id(["ab"])
    assert first.startswith("batch_") and len(first) == 38
    assert "." not in first
