"""Sliding-window rate limiting: the arithmetic only.

The hub counts the requests of each API key per fixed window (one row per key and
window start in PostgreSQL) and asks :func:`decide` whether one more request fits.
The estimate of the sliding window is the classic one::

    previous_count * (1 - elapsed / window) + current_count

where ``elapsed`` is the time since the start of the current window and
``current_count`` already includes the request being decided.

``retry_after`` assumes the hub counts every request, allowed or not (an upsert
that adds one and returns the counts): it is the smallest whole number of seconds
after which the same request, sent again with no other request in between and
counted too, is allowed. A hub that counts only allowed requests would accept the
retry at least as early. With ``limit >= 1`` a retry always fits within two
windows; by default the wait is capped at one window.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """The answer for one request.

    :ivar allowed: whether the request may go on
    :ivar retry_after: whole seconds to wait before retrying, 0 when allowed
    :ivar estimated: the sliding-window estimate, this request included
    """

    allowed: bool
    retry_after: int
    estimated: float


def _check_window(window):
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            "The rate-limit window is a whole number of seconds, 1 or more."
        )


def window_start(now_ts, window=60):
    """Return the start of the fixed window holding ``now_ts``.

    :param now_ts: a Unix timestamp in seconds
    :param window: the window length in whole seconds
    :return: ``now_ts`` floored to a multiple of ``window``, as an int
    :raise ValueError: when ``window`` is not a whole number of seconds from 1
    """
    _check_window(window)
    return int(now_ts // window) * window


def estimate(current_count, previous_count, now_ts, window=60):
    """Return the sliding-window estimate at ``now_ts``.

    :param current_count: requests counted in the current window
    :param previous_count: requests counted in the window before it
    :param now_ts: a Unix timestamp in seconds
    :param window: the window length in whole seconds
    :return: ``previous_count * (1 - elapsed / window) + current_count``
    """
    elapsed = now_ts - window_start(now_ts, window)
    return previous_count * (1 - elapsed / window) + current_count


def _retry_allowed(limit, current, previous, now_ts, wait, window):
    """Whether the request, sent again ``wait`` seconds later, is allowed."""
    later = now_ts + wait
    start_now, start_later = window_start(now_ts, window), window_start(later, window)
    if start_later == start_now:
        counts = (current + 1, previous)
    elif start_later == start_now + window:
        # the current window became the previous one
        counts = (1, current)
    else:
        counts = (1, 0)
    return estimate(*counts, later, window) <= limit


def _threshold(limit, current, previous, now_ts, window):
    """Seconds (a real number) until the retried request is allowed."""
    elapsed = now_ts - window_start(now_ts, window)
    left = window - elapsed
    room = limit - current - 1
    if room >= 0 and previous > 0:
        # previous * (1 - (elapsed + wait) / window) + current + 1 <= limit
        wait = window * (1 - room / previous) - elapsed
        if wait < left:
            return max(0.0, wait)
    # next window: current * (1 - offset / window) + 1 <= limit
    share = (limit - 1) / current
    if share >= 1:
        return left
    return left + window * (1 - share)


def _check_count(name, value, lowest):
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise ValueError(f"{name} is a whole number from {lowest}.")


def decide(limit, current_count, previous_count, now_ts, window=60, *, max_wait=None):
    """Decide whether a request fits a sliding-window rate limit.

    :param limit: the largest number of requests per window; 0 or less means
        unlimited
    :param current_count: requests of the current window, this one included
    :param previous_count: requests of the previous window
    :param now_ts: the Unix timestamp of the request, in seconds
    :param window: the window length in whole seconds
    :param max_wait: the largest ``retry_after`` returned; defaults to ``window``.
        When the cap binds (a burst early in a window), a retry after
        ``retry_after`` may be refused once more, with a shorter wait; pass
        ``2 * window`` to never cap the exact wait
    :return: a :class:`Decision`
    :raise ValueError: when the limit, a count or the window is out of range
    """
    _check_window(window)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError("The rate limit is a whole number of requests per window.")
    _check_count("current_count", current_count, 1)
    _check_count("previous_count", previous_count, 0)
    estimated = estimate(current_count, previous_count, now_ts, window)
    if limit <= 0 or estimated <= limit:
        return Decision(True, 0, estimated)
    wait = max(
        1, math.ceil(_threshold(limit, current_count, previous_count, now_ts, window))
    )
    # The formula is exact; these two loops only absorb floating-point rounding so
    # that the answer agrees with the arithmetic the hub will use on the retry.
    args = (limit, current_count, previous_count, now_ts)
    while not _retry_allowed(*args, wait, window):
        wait += 1
    while wait > 1 and _retry_allowed(*args, wait - 1, window):
        wait -= 1
    cap = window if max_wait is None else max(1, int(max_wait))
    return Decision(False, min(wait, cap), estimated)
