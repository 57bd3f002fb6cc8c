"""Anomaly hints: a system whose traffic departs from its usual pattern.

A plant's systems have a weekly rhythm: the MES is busy on weekday shifts and quiet
on Sunday nights. So a system's last complete hour is compared with *the same hour of
the week* in the previous weeks (up to :data:`WEEKS`; in UTC, so a daylight-saving
change shifts the pattern by one hour twice a year), on two figures: the number of
messages, and the share of them that failed (dead letters and retries).

The statistic is robust to the odd past incident: the median of the past values, and
their median absolute deviation (MAD) scaled by 1.4826 to estimate a standard
deviation. The hour is flagged when its robust z-score ``(value - median) / scale``
exceeds :data:`THRESHOLD` in absolute value (3.5, as Iglewicz and Hoaglin recommend
for the modified z-score) and the difference also matters in absolute terms
(:data:`MIN_COUNT_CHANGE` messages, :data:`MIN_RATE_CHANGE` of failure rate). The
scale has a floor, so that a perfectly regular history does not flag every small
change: the square root of the median for counts (the spread of a Poisson count), and
:data:`MIN_RATE_CHANGE` / 2 for rates. Nothing is said with fewer than
:data:`MIN_WEEKS` weeks of history, or for rates of hours with fewer than
:data:`MIN_RATE_MESSAGES` messages.
"""

import math
import statistics
from dataclasses import dataclass

__all__ = [
    "MIN_COUNT_CHANGE",
    "MIN_RATE_CHANGE",
    "MIN_RATE_MESSAGES",
    "MIN_WEEKS",
    "THRESHOLD",
    "WEEKS",
    "Hint",
    "hints",
    "robust_score",
]

#: how many past weeks are compared
WEEKS = 8
#: how many past weeks with data are needed to say anything
MIN_WEEKS = 3
#: the robust z-score beyond which an hour is unusual
THRESHOLD = 3.5
#: the least change in messages an hour that counts as unusual
MIN_COUNT_CHANGE = 10
#: the least change of failure rate (a share) that counts as unusual
MIN_RATE_CHANGE = 0.05
#: the least messages in an hour for its failure rate to be judged
MIN_RATE_MESSAGES = 10
#: MAD to standard deviation, for normally distributed values
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Hint:
    """An unusual figure: ``figure`` is ``messages`` or ``failure_rate``, ``value``
    the last hour's, ``usual`` the median of the same hour in past weeks, ``score``
    the robust z-score and ``weeks`` how many past weeks were compared."""

    figure: str
    value: float
    usual: float
    score: float
    weeks: int

    @property
    def text(self):
        direction = "more" if self.value > self.usual else "fewer"
        if self.figure == "messages":
            return (
                f"{self.value:g} messages in the last hour, usually {self.usual:g} at "
                f"this hour of the week ({self.weeks} weeks): unusually {direction} "
                f"(robust z {self.score:+.1f})"
            )
        higher = "higher" if self.value > self.usual else "lower"
        return (
            f"{self.value:.0%} of the last hour's messages failed, usually "
            f"{self.usual:.0%} at this hour of the week ({self.weeks} weeks): "
            f"unusually {higher} (robust z {self.score:+.1f})"
        )


def robust_score(value, history, floor):
    """``(score, median)``: the robust z-score of ``value`` against ``history``
    (see the module's documentation), the scale at least ``floor``."""
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history)
    scale = max(mad * MAD_SCALE, floor)
    return (value - median) / scale, median


def hints(current, history):
    """The unusual figures of the last hour.

    :param current: ``(messages, failed)`` of the last complete hour
    :param history: ``(messages, failed)`` of the same hour in each past week that
        had any message (weeks without messages count as ``(0, 0)`` only when the
        system already sent before them: the caller decides)
    :return: a list of :class:`Hint` (empty when nothing is unusual)
    """
    if len(history) < MIN_WEEKS:
        return []
    found = []
    count, failed = current
    counts = [total for total, _failed in history]
    score, usual = robust_score(
        count, counts, max(1.0, math.sqrt(statistics.median(counts)))
    )
    if abs(score) > THRESHOLD and abs(count - usual) >= MIN_COUNT_CHANGE:
        found.append(Hint("messages", count, usual, round(score, 2), len(history)))
    rates = [f / total for total, f in history if total >= MIN_RATE_MESSAGES]
    if count >= MIN_RATE_MESSAGES and len(rates) >= MIN_WEEKS:
        rate = failed / count
        score, usual = robust_score(rate, rates, MIN_RATE_CHANGE / 2)
        if abs(score) > THRESHOLD and abs(rate - usual) >= MIN_RATE_CHANGE:
            found.append(Hint("failure_rate", rate, usual, round(score, 2), len(rates)))
    return found
