"""Pacing deliveries to a receiver that cannot take bursts.

An endpoint's throttle is a maximum number of messages per second. The hub sends
to a throttled endpoint one message after the other and spaces the sends at least
``1 / rate`` seconds apart, measured from the start of one send to the start of
the next; there is no burst allowance. Only one delivery job works on an endpoint
at a time, so pacing within the job is pacing for the endpoint; the time the next
send may start is kept on the endpoint between jobs, so a new job does not send
sooner than the one before it would have.

A job does not sleep through long gaps: when the next send is further away than
:data:`MAX_SLEEP` seconds, the job stops and a new one is planned for that time
(queue_job's ``eta``), leaving its worker free meanwhile.
"""

import math
import time

#: the longest a delivery job sleeps to keep the pace; longer gaps end the job
MAX_SLEEP = 2.0


def check_rate(rate):
    """Check a throttle rate in messages per second (0 means no throttle).

    :raise ValueError: for a negative, infinite or non-numeric rate
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ValueError("The throttle is a number of messages per second.")
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(
            "The throttle is 0 (none) or a positive number of messages per second."
        )
    return float(rate)


class Pacer:
    """Hands out send times at most ``rate`` per second.

    :param rate: messages per second; 0 disables pacing
    :param not_before: a :func:`time.time` value before which no send may start (the
        previous job's next free time), or ``None``
    :param clock: returns the current time in seconds (default :func:`time.time`;
        tests pass their own clock)
    :param sleep: sleeps that many seconds (default :func:`time.sleep`)
    """

    def __init__(self, rate, not_before=None, clock=time.time, sleep=time.sleep):
        self.rate = check_rate(rate)
        self.interval = 1.0 / self.rate if self.rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self.next_free = not_before or 0.0

    def wait(self, max_sleep=MAX_SLEEP):
        """Wait for the next send's turn and take it.

        :param max_sleep: the longest this call may sleep
        :return: ``None`` when the turn was taken (the caller sends now), or the
            time at which the turn comes when that is more than ``max_sleep`` away
            (nothing was taken: the caller stops and comes back then)
        """
        if not self.interval:
            return None
        now = self._clock()
        delay = self.next_free - now
        if delay > max_sleep:
            return self.next_free
        if delay > 0:
            self._sleep(delay)
            now = self.next_free
        self.next_free = now + self.interval
        return None
