"""CloudEvents 1.0 in structured JSON mode (https://cloudevents.io).

The hub receives events as ``application/cloudevents+json`` (one event) or
``application/cloudevents-batch+json`` (a JSON array of events) and sends events
the same way. :func:`decode_json` turns request bytes into JSON without echoing
them, :func:`parse_batch` checks the outer array of a batch, and
:func:`parse_event` checks one envelope and reports every problem at once, each
with the JSON pointer of the failing attribute. Only JSON ``data`` is supported:
``data_base64`` is refused. A JSON ``null`` attribute counts as absent, as the
CloudEvents JSON format requires. Whether the ``type`` is a known event type is
not decided here: the hub looks it up in its catalogue.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator

from .errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from .schemas import Violation, json_pointer

SPECVERSION = "1.0"
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 255
MAX_BATCH_ITEMS = 1000

#: context attributes defined by the CloudEvents 1.0 specification
CONTEXT_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "dataschema",
    "datacontenttype",
)
_RESERVED = frozenset(CONTEXT_ATTRIBUTES) | {"data", "data_base64"}
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
#: what PostgreSQL cannot store in text or jsonb: NUL, and UTF-16 surrogates that
#: JSON ``\u`` escapes can produce unpaired (they have no UTF-8 encoding)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: the JSON escapes through which a decoded string can hold what ``_UNSTORABLE``
#: finds: a JSON text cannot hold NUL or a surrogate raw (control characters are
#: invalid in JSON strings, and a UTF-8 body cannot encode a surrogate)
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
#: at most this many unstorable strings are reported for one event
MAX_UNSTORABLE_REPORTED = 20
_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


@dataclass(frozen=True)
class CloudEvent:
    """One checked CloudEvent; optional attributes that were absent are ``None``."""

    id: str
    source: str
    type: str
    specversion: str = SPECVERSION
    time: str | None = None
    subject: str | None = None
    dataschema: str | None = None
    datacontenttype: str | None = None
    data: Any = None
    extensions: dict = field(default_factory=dict)

    def to_dict(self):
        """Return the structured-mode JSON object of this event.

        :return: a dict with the context attributes that are set, the extension
            attributes as top-level members, and ``data``
        """
        event = dict(self.extensions)
        for name in CONTEXT_ATTRIBUTES:
            value = getattr(self, name)
            if value is not None:
                event[name] = value
        event["data"] = self.data
        return event


def _is_json_media_type(value):
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _is_extension_value(value):
    # bool is an int subclass: it is accepted on purpose (CloudEvents Boolean).
    return isinstance(value, str | int | float)


def _check_required_string(obj, name, max_length, problems, base):
    value = obj.get(name)
    pointer = json_pointer([name], base)
    if value is None:
        problems.append(Violation(pointer, "is required"))
    elif not isinstance(value, str) or not value:
        problems.append(Violation(pointer, "must be a non-empty string"))
    elif max_length and len(value) > max_length:
        problems.append(
            Violation(pointer, f"must be at most {max_length} characters long")
        )


def _check_optional_attributes(obj, problems, base):
    time = obj.get("time")
    if time is not None and not (
        isinstance(time, str) and _FORMAT_CHECKER.conforms(time, "date-time")
    ):
        problems.append(
            Violation(json_pointer(["time"], base), "must be an RFC 3339 date-time")
        )
    for name in ("subject", "dataschema"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(Violation(json_pointer([name], base), "must be a string"))
    content_type = obj.get("datacontenttype")
    if content_type is not None and not (
        isinstance(content_type, str) and _is_json_media_type(content_type)
    ):
        problems.append(
            Violation(
                json_pointer(["datacontenttype"], base),
                "must be application/json or a media type ending with +json",
            )
        )


def _check_data(obj, problems, base):
    if "data_base64" in obj:
        problems.append(
            Violation(
                json_pointer(["data_base64"], base),
                "is not supported: send the data as a JSON object in 'data'",
            )
        )
    data = obj.get("data")
    if data is None:
        problems.append(Violation(json_pointer(["data"], base), "is required"))
    elif not isinstance(data, dict):
        problems.append(
            Violation(json_pointer(["data"], base), "must be a JSON object")
        )


def _unstorable(text):
    """Why the string ``text`` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (U+0000)"
    return "must not contain an unpaired UTF-16 surrogate (U+D800 to U+DFFF)"


def may_hold_unstorable(body):
    """Whether the JSON text ``body`` (bytes) may decode to strings the database
    cannot store: only when it holds a ``\\u0000`` or a surrogate escape. A body
    without one needs no walk over its decoded strings (:func:`check_storable`),
    which costs a batch of 500 events more than its validation. A ``str`` body
    may hold them raw: it always may."""
    if not isinstance(body, bytes | bytearray | memoryview):
        return True
    return _UNSTORABLE_ESCAPE.search(body) is not None


def check_storable(value, problems, base=""):
    """Report every string of a JSON value (member names included) that the
    database cannot store, with its pointer; values are never repeated.

    :param value: a decoded JSON value
    :param problems: the list of :class:`Violation` to append to
    :param base: JSON pointer of ``value``
    """
    reported = 0
    stack = [(value, [])]
    while stack and reported < MAX_UNSTORABLE_REPORTED:
        node, path = stack.pop()
        if isinstance(node, str):
            why = _unstorable(node)
            if why:
                problems.append(Violation(json_pointer(path, base), why))
                reported += 1
        elif isinstance(node, dict):
            for name, item in node.items():
                why = _unstorable(name)
                if why:
                    problems.append(
                        Violation(json_pointer(path, base), f"member name {why}")
                    )
                    reported += 1
                else:  # a pointer through that name could not be stored either
                    stack.append((item, [*path, name]))
        elif isinstance(node, list):
            stack.extend((item, [*path, i]) for i, item in enumerate(node))


def _extensions(obj, problems, base):
    extensions = {}
    for name, value in obj.items():
        if name in _RESERVED or value is None or _unstorable(name):
            continue  # an unstorable name is reported by check_storable
        pointer = json_pointer([name], base)
        if not _EXTENSION_NAME.fullmatch(name):
            problems.append(
                Violation(
                    pointer,
                    "is not a valid extension attribute name "
                    "(1 to 20 lower-case letters or digits)",
                )
            )
        elif not _is_extension_value(value):
            problems.append(
                Violation(pointer, "must be a string, a number or a boolean")
            )
        else:
            extensions[name] = value
    return extensions


def parse_event(obj, base="", check_strings=True):
    """Check one structured-mode CloudEvent and return it.

    :param obj: the decoded JSON of the event
    :param base: JSON pointer prefix of the event, e.g. ``/3`` for item 3 of a batch
    :param check_strings: look for strings the database cannot store (False when
        the body they come from holds none: see :func:`may_hold_unstorable`)
    :return: a :class:`CloudEvent`
    :raise MalformedRequest: when ``obj`` is not a JSON object
    :raise ValidationFailed: listing one entry per failing attribute, with its
        pointer under ``base``; values are never repeated in the messages
    """
    if not isinstance(obj, dict):
        raise MalformedRequest(
            "A CloudEvent must be a JSON object.",
            errors=[{"pointer": base, "message": "must be a JSON object"}],
        )
    problems = []
    specversion = obj.get("specversion")
    if specversion is None:
        problems.append(Violation(json_pointer(["specversion"], base), "is required"))
    elif specversion != SPECVERSION:
        problems.append(
            Violation(json_pointer(["specversion"], base), f"must be '{SPECVERSION}'")
        )
    _check_required_string(obj, "id", MAX_ID_LENGTH, problems, base)
    _check_required_string(obj, "source", None, problems, base)
    _check_required_string(obj, "type", MAX_TYPE_LENGTH, problems, base)
    _check_optional_attributes(obj, problems, base)
    _check_data(obj, problems, base)
    extensions = _extensions(obj, problems, base)
    if check_strings:
        check_storable(obj, problems, base)
    if problems:
        problems.sort()
        first = problems[0]
        raise ValidationFailed(
            f"The CloudEvent envelope has {len(problems)} problem(s); first: "
            f"{first.pointer or '/'} {first.message}.",
            errors=[p.as_dict() for p in problems],
        )
    return CloudEvent(
        id=obj["id"],
        source=obj["source"],
        type=obj["type"],
        specversion=specversion,
        time=obj.get("time"),
        subject=obj.get("subject"),
        dataschema=obj.get("dataschema"),
        datacontenttype=obj.get("datacontenttype"),
        data=obj["data"],
        extensions=extensions,
    )


def parse_batch(obj, max_items=MAX_BATCH_ITEMS):
    """Check the outer JSON array of a batch and return its items unparsed.

    Each item is then parsed on its own with ``parse_event(item, base=f"/{i}")``,
    so that one bad item does not reject the others.

    :param obj: the decoded JSON of the batch body
    :param max_items: the largest number of events accepted in one batch
    :return: the list of raw items
    :raise MalformedRequest: when ``obj`` is not a JSON array, or is empty
    :raise PayloadTooLarge: when the batch holds more than ``max_items`` events
    """
    if not isinstance(obj, list):
        raise MalformedRequest("A batch of CloudEvents must be a JSON array.")
    if not obj:
        raise MalformedRequest("A batch of CloudEvents must hold at least one event.")
    if len(obj) > max_items:
        raise PayloadTooLarge(
            f"A batch holds at most {max_items} events; this one holds {len(obj)}."
        )
    return list(obj)


def format_time(moment):
    """Format an aware datetime as RFC 3339, in UTC with a ``Z`` suffix.

    :param moment: a timezone-aware :class:`datetime.datetime`
    :return: e.g. ``2025-03-15T08:20:41.123Z``
    :raise ValueError: when ``moment`` is naive
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("The time of an event must be timezone-aware.")
    utc = moment.astimezone(timezone.utc)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(
    type,
    data,
    source,
    *,
    subject=None,
    time=None,
    id=None,
    dataschema=None,
    extensions=None,
):
    """Build a structured-mode CloudEvent for sending.

    :param type: the event type code, e.g. ``inspection.failed``
    :param data: the event data, a JSON object
    :param source: the source URI-reference of the sender
    :param subject: optional subject (e.g. a lot or order reference)
    :param time: an aware datetime or an RFC 3339 string; defaults to now in UTC
    :param id: the event id; defaults to a random UUID
    :param dataschema: optional URI of the data schema
    :param extensions: optional extension attributes
    :return: the event as a dict ready for ``json.dumps``
    :raise ValueError: when an extension would replace a context attribute
    :raise ValidationFailed: when the resulting event is not a valid CloudEvent
    """
    extensions = dict(extensions or {})
    clash = sorted(_RESERVED.intersection(extensions))
    if clash:
        raise ValueError(
            f"Extension attribute(s) {', '.join(clash)} would replace context "
            "attributes."
        )
    if time is None:
        time = datetime.now(timezone.utc)
    if isinstance(time, datetime):
        time = format_time(time)
    event = dict(extensions)
    event.update(
        specversion=SPECVERSION,
        id=str(uuid.uuid4()) if id is None else id,
        source=source,
        type=type,
        time=time,
        datacontenttype="application/json",
    )
    if subject is not None:
        event["subject"] = subject
    if dataschema is not None:
        event["dataschema"] = dataschema
    event["data"] = data
    parse_event(event)
    return event


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def decode_json(body, pointer_base=""):
    """Decode a UTF-8 JSON body.

    :param body: the body as bytes (``str`` is accepted too)
    :param pointer_base: the pointer reported in ``errors`` (where the body sits)
    :return: the decoded JSON value
    :raise MalformedRequest: when the body is not UTF-8, not JSON, nested too
        deeply or uses ``NaN``/``Infinity``; the detail gives the line and column
        of the problem but never repeats the body
    """
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"The body is not valid UTF-8 (byte {exc.start})."
            raise MalformedRequest(
                detail, errors=[{"pointer": pointer_base, "message": detail}]
            ) from None
    elif isinstance(body, str):
        text = body
    else:
        raise TypeError("decode_json expects bytes or str.")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        detail = (
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        )
    except ValueError as exc:
        detail = f"The body is not valid JSON: {exc}."
    except RecursionError:
        detail = "The body is not acceptable JSON: it is nested too deeply."
    raise MalformedRequest(
        detail, errors=[{"pointer": pointer_base, "message": detail}]
    )
