"""Retry delays: exponential backoff, fixed schedules, jitter and ``Retry-After``.

Outbound delivery follows a schedule of delays, by default the example schedule
of the Standard Webhooks specification (immediately, 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 14 h, 20 h, 24 h: ten attempts over 75 h 35 min 5 s). Inbound
processing retries with a capped exponential backoff. Both add random jitter so
that failures that happened together are not all retried together. All delays
are in seconds.
"""

import math
import random
import re
import time as _time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

#: seconds to wait before attempt 1, 2, ... 10 (Standard Webhooks example)
STANDARD_WEBHOOKS_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: the longest wait a ``Retry-After`` header may impose
MAX_RETRY_AFTER = 86400

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENTRY = re.compile(r"([0-9]+)\s*([smhd]?)", re.IGNORECASE)
_DELTA_SECONDS = re.compile(r"[0-9]+")


def _check_jitter(jitter):
    if not 0 <= jitter < 1:
        raise ValueError("The jitter is a fraction from 0 (included) to 1 (excluded).")


def jittered(seconds, jitter=0.2, rng=random):
    """Spread a delay uniformly by ``±jitter``.

    :param seconds: the nominal delay, zero or more
    :param jitter: the relative spread, e.g. ``0.2`` for ±20 %
    :param rng: a source of randomness with ``uniform`` (:mod:`random` or a
        :class:`random.Random`)
    :return: a float in ``[seconds * (1 - jitter), seconds * (1 + jitter)]``
    :raise ValueError: when ``seconds`` is negative or ``jitter`` out of range
    """
    if seconds < 0:
        raise ValueError("A delay cannot be negative.")
    _check_jitter(jitter)
    if not jitter or not seconds:
        return float(seconds)
    low, high = seconds * (1 - jitter), seconds * (1 + jitter)
    return min(high, max(low, rng.uniform(low, high), 0.0))


def backoff_delay(attempt, base=10, factor=2.0, cap=3600, jitter=0.2, rng=random):
    """Return the delay before retry number ``attempt`` of a capped backoff.

    The nominal delay is ``min(cap, base * factor ** (attempt - 1))``; jitter is
    applied after the cap, so a delay may exceed ``cap`` by ``jitter``.

    :param attempt: 1 for the first retry, 2 for the second, ...
    :param base: the nominal delay of the first retry, more than 0
    :param factor: the growth of the delay per retry, 1 or more
    :param cap: the largest nominal delay, more than 0
    :param jitter: the relative spread, from 0 (included) to 1 (excluded)
    :param rng: a source of randomness with ``uniform``
    :return: the delay in seconds (a float)
    :raise ValueError: when an argument is out of range
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError("The retry number (attempt) is an integer from 1.")
    if base <= 0:
        raise ValueError("The base delay must be more than 0.")
    if factor < 1:
        raise ValueError("The backoff factor must be 1 or more.")
    if cap <= 0:
        raise ValueError("The delay cap must be more than 0.")
    _check_jitter(jitter)
    if factor > 1 and (attempt - 1) * math.log(factor) >= math.log(cap / base):
        nominal = cap  # also avoids computing huge powers
    else:
        nominal = min(cap, base * factor ** (attempt - 1))
    return jittered(nominal, jitter, rng)


def schedule_delay(
    attempt, schedule=STANDARD_WEBHOOKS_SCHEDULE, jitter=0.2, rng=random
):
    """Return the delay before attempt number ``attempt`` of a schedule.

    :param attempt: 1 for the first attempt (``schedule[0]``), 2 for the second...
    :param schedule: the delays of the attempts, in seconds
    :param jitter: the relative spread, from 0 (included) to 1 (excluded)
    :param rng: a source of randomness with ``uniform``
    :return: the jittered delay in seconds, or ``None`` when the schedule is
        exhausted (no attempt ``attempt``: the message goes dead)
    :raise ValueError: when ``attempt`` is less than 1 or ``jitter`` out of range
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError("The attempt number is an integer from 1.")
    _check_jitter(jitter)
    if attempt > len(schedule):
        return None
    return jittered(schedule[attempt - 1], jitter, rng)


def parse_schedule(text):
    """Parse a schedule written like ``"0, 5s, 5m, 30m, 2h, 24h"``.

    Entries are separated by commas; each is a whole number followed by an
    optional unit ``s``, ``m``, ``h`` or ``d`` (a bare number is seconds).

    :param text: the schedule as written by an administrator
    :return: the delays in seconds, as a tuple of ints
    :raise ValueError: naming the entry that is not a delay, or that is shorter
        than the one before it, or when there is no entry at all
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("A retry schedule needs at least one delay.")
    delays = []
    for position, raw in enumerate(text.split(","), start=1):
        entry = raw.strip()
        match = _ENTRY.fullmatch(entry)
        if not match:
            raise ValueError(
                f"Entry {position} ({entry!r}) of the retry schedule is not a delay "
                "like 30s, 5m, 2h or 1d."
            )
        seconds = int(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
        if delays and seconds < delays[-1]:
            raise ValueError(
                f"Entry {position} ({entry!r}) of the retry schedule is shorter than "
                "the one before it; delays must not decrease."
            )
        delays.append(seconds)
    return tuple(delays)


def _format_delay(seconds):
    if seconds == 0:
        return "0"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_schedule(schedule):
    """Write a schedule the way :func:`parse_schedule` reads it.

    Each delay is written in the largest of hours, minutes and seconds that
    divides it (``86400`` is ``24h``).

    :param schedule: delays in seconds (whole, zero or more)
    :return: e.g. ``"0, 5s, 5m, 30m, 2h"``
    :raise ValueError: when a delay is not a whole number of seconds, zero or more
    """
    parts = []
    for seconds in schedule:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError(
                "A schedule delay is a whole number of seconds, 0 or more."
            )
        parts.append(_format_delay(seconds))
    return ", ".join(parts)


def _timestamp(now):
    if now is None:
        return _time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return now.timestamp()
    return float(now)


def parse_retry_after(value, now=None):
    """Read an HTTP ``Retry-After`` value (RFC 9110, section 10.2.3).

    :param value: the header value: delta-seconds or an HTTP-date (``str``,
        ``bytes`` or an ``int`` of seconds)
    :param now: the current time as an aware datetime (naive means UTC) or a Unix
        timestamp; defaults to the clock; only used for an HTTP-date
    :return: the seconds to wait, from 0 to 86400, or ``None`` when the value is
        absent or not understood
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return min(MAX_RETRY_AFTER, max(0, value))
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        digits = value.lstrip("0") or "0"
        if len(digits) > 9:  # more than any useful delay: do not convert it
            return MAX_RETRY_AFTER
        return min(MAX_RETRY_AFTER, int(digits))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    wait = math.ceil(moment.timestamp() - _timestamp(now))
    return min(MAX_RETRY_AFTER, max(0, wait))
