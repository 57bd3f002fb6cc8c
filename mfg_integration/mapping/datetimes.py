"""Date/time helpers of the ``datetime`` transform: time zones, ISO 8601 and
epoch parsing, local times across daylight saving changes, epoch numbers."""

import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from ._common import _Fail, _is_number, _show, _to_decimal

_ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r" ?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z"
)
_UTC_NAMES = frozenset(
    ("UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu")
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _zone(name):
    """Return the :class:`ZoneInfo` of ``name``.

    :raise _Fail: when there is no such time zone
    """
    try:
        return ZoneInfo(name)
    except Exception as exc:  # noqa: BLE001 - ValueError, ZoneInfoNotFoundError, OSError
        raise _Fail(f"unknown time zone {_show(name)}") from exc


def _parse_iso(text):
    match = _ISO_DATETIME.match(text.strip())
    if not match:
        raise _Fail(f"{_show(text)} is not an ISO 8601 date/time")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tzinfo = None
    if offset in ("Z", "z"):
        tzinfo = timezone.utc
    elif offset:
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            raise _Fail(f"{_show(text)} has an invalid offset")
        delta = timedelta(hours=hours, minutes=minutes)
        tzinfo = timezone(-delta if offset[0] == "-" else delta)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError as exc:
        raise _Fail(f"{_show(text)} is not a valid date/time: {exc}") from exc


def _parse_epoch(value, scale):
    if isinstance(value, bool) or not (_is_number(value) or isinstance(value, str)):
        raise _Fail(f"{_show(value)} is not a number of seconds since the epoch")
    amount = _to_decimal(value)
    try:
        micro = int((amount * scale).to_integral_value(rounding=ROUND_HALF_EVEN))
        return _EPOCH + timedelta(microseconds=micro)
    except (OverflowError, ValueError, InvalidOperation) as exc:
        raise _Fail(f"{_show(value)} is out of the supported date range") from exc


def _localize(naive, zone, zone_name, ambiguous):
    """Attach ``zone`` to a naive local time, refusing DST gaps and folds."""
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier

    def exists(candidate):
        back = candidate.astimezone(timezone.utc).astimezone(zone)
        return back.replace(tzinfo=None) == naive

    shown = naive.isoformat(sep=" ")
    if not (exists(earlier) and exists(later)):
        raise _Fail(
            f"{shown} does not exist in {zone_name} "
            "(skipped when the clocks were set forward)"
        )
    if ambiguous == "earlier":
        return earlier
    if ambiguous == "later":
        return later
    raise _Fail(
        f"{shown} is ambiguous in {zone_name} (repeated when the clocks were set "
        'back); set "ambiguous" to "earlier" or "later"'
    )


def _epoch_number(moment, unit):
    delta = moment - _EPOCH
    micro = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    whole, rest = divmod(micro, unit)
    return whole if not rest else float(Decimal(micro) / Decimal(unit))
