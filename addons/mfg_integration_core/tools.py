"""Small helpers shared by the core models."""

from datetime import datetime, timezone


def utc_naive(value):
    """RFC 3339 text to a naive UTC datetime, as Odoo stores datetimes (None stays)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def iso_utc(value):
    """A naive UTC datetime as RFC 3339 text with ``Z`` (None for an empty value)."""
    if not value:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
