"""Batch delivery: when a subscription's gathered messages go out, and as what.

A subscription in batch mode does not send each event as it is emitted: its
messages wait, and go out together as one CloudEvents batch
(``application/cloudevents-batch+json``, a JSON array of events in emission order)

- every N minutes, on the clock (every 15 minutes: at :00, :15, :30 and :45 UTC),
- at set times of day in a time zone (such as shift ends: ``06:00, 14:00, 22:00``),
- or as soon as N messages are waiting,

whichever comes first. :func:`next_flush` computes the next scheduled time,
:func:`parse_times` reads the set times, and :func:`batch_id` gives the batch's
``webhook-id``, the same on every attempt of the same messages.
"""

import hashlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: the media type of a batch body
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_times(text):
    """Read set times of day written like ``"06:00, 14:00, 22:00"``.

    :param text: comma-separated ``HH:MM`` times (24-hour clock); empty: none
    :return: the times as sorted, distinct ``(hour, minute)`` pairs
    :raise ValueError: naming the entry that is not a time
    """
    times = set()
    for position, raw in enumerate((text or "").split(","), start=1):
        entry = raw.strip()
        if not entry and not (text or "").strip():
            continue
        match = _TIME.fullmatch(entry)
        if not match:
            raise ValueError(
                f"Entry {position} ({entry[:20]!r}) of the batch times is not a time "
                "of day like 06:00 or 22:30."
            )
        times.add((int(match.group(1)), int(match.group(2))))
    return sorted(times)


def _zone(tz_name):
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {str(tz_name)[:60]!r}.") from None


def next_flush(now, every_minutes=0, times=(), tz_name="UTC"):
    """The next scheduled time a batch goes out, strictly after ``now``.

    :param now: a naive UTC datetime (as Odoo stores them)
    :param every_minutes: the interval on the clock (0: none)
    :param times: ``(hour, minute)`` pairs of :func:`parse_times` (local times)
    :param tz_name: the time zone of ``times`` (an IANA name)
    :return: a naive UTC datetime, or ``None`` when there is no schedule
    :raise ValueError: for a negative interval or an unknown time zone
    """
    if every_minutes < 0:
        raise ValueError("The batch interval is 0 (none) or a number of minutes.")
    candidates = []
    aware = now.replace(tzinfo=UTC)
    if every_minutes:
        step = every_minutes * 60
        seconds = int(aware.timestamp())
        candidates.append(datetime.fromtimestamp((seconds // step + 1) * step, UTC))
    if times:
        zone = _zone(tz_name)
        local = aware.astimezone(zone)
        for days in (0, 1, 2):
            day = (local + timedelta(days=days)).date()
            for hour, minute in times:
                # a time skipped by a DST change comes out shifted by the gap
                at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                if at.astimezone(UTC) > aware:
                    candidates.append(at.astimezone(UTC))
                    break
            if len(candidates) == bool(every_minutes) + 1:
                break
    if not candidates:
        return None
    return min(candidates).replace(tzinfo=None)


def batch_id(msg_ids):
    """The ``webhook-id`` of a batch: ``batch_`` and 32 hex digits of the SHA-256
    of its messages' ids, so a retry of the same messages repeats it."""
    digest = hashlib.sha256("\0".join(msg_ids).encode("utf-8")).hexdigest()
    return f"batch_{digest[:32]}"
