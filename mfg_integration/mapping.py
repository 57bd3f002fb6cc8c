"""Mapping engine: turn one JSON payload into another, line by line, without code.

Plants differ: one MES calls a work order ``WO-17/3``, sends grams and local time,
while the canonical event wants the Odoo reference, kilograms and UTC. A *mapping*
adapts such payloads. It is plain data, edited in the Odoo UI, exported to JSON for
version control, and evaluated here, in the pure package, without ``eval``: sources
are JMESPath expressions and every other step is one of a closed set of transforms.

Definition format (the public export format)
============================================

A mapping definition is a JSON object::

    {
      "format": "mfg-integration-mapping/1",
      "name": "Vendor MES progress",
      "description": "",
      "event_type": "work_order.progress_reported",
      "direction": "inbound",
      "lines": [
        {"target": "work_order.reference", "source": "wo.number",
         "transforms": [{"type": "required"},
                        {"type": "xref", "model": "mrp.workorder", "create": false}]},
        {"target": "quantity.value", "source": "qty_g",
         "transforms": [{"type": "uom", "from": "g", "to": "kg"},
                        {"type": "round", "digits": 3}]},
        {"target": "quantity.uom",
         "transforms": [{"type": "constant", "value": "kg"}]}
      ]
    }

Top-level keys:

``format``
    ``"mfg-integration-mapping/1"``. Always written by :func:`export_definition`
    and required by :func:`import_definition`; optional for :func:`compile_mapping`,
    which refuses any other value.
``name``, ``description``
    Free text (default ``""``).
``event_type``
    The canonical event type code the mapping produces or reads, or ``null``.
``direction``
    ``"inbound"`` (external payload → canonical, the default), ``"outbound"``, or
    ``"upcast"`` (an older schema version's canonical data → the next version's).
``lines``
    The ordered list of lines. No other key is allowed.

Each line is an object with:

``target`` (required)
    A dotted path into the output object. A segment is a name
    (``[a-zA-Z_][a-zA-Z0-9_]*``) or a list index (``0`` to ``9999``, no leading
    zero): ``items.0.code`` sets ``code`` in the first element of the list
    ``items``. The first segment is a name. List slots that no line fills are
    ``null``. Two lines cannot set the same path, a line cannot set a path below one
    another line sets (``a`` and ``a.b``), and a path cannot be used both as a list
    and as an object (``items.0`` and ``items.code``).
``source`` (optional)
    A JMESPath expression evaluated against the payload. Missing paths give
    ``null``. Without a source (or with ``null`` or an empty text) the value starts
    as ``null``.
``transforms`` (optional, default ``[]``)
    The ordered list of transforms applied to the value. The final value is written
    at ``target``, even when it is ``null``.

Each transform is an object with a ``type`` and that type's parameters; an unknown
type or parameter is an error. ``null`` passes through every transform unchanged
unless said otherwise below.

``constant`` {``value``}
    Replaces the value by ``value`` (any JSON value).
``default`` {``value``}
    Uses ``value`` when the value is ``null``.
``required`` {}
    Fails with "a value is required" when the value is ``null``.
``value_map`` {``map`` | ``table``, ``default``?, ``strict`` = ``true``}
    ``map`` is a list of ``[from, to]`` pairs; ``from`` is a string, number,
    boolean or ``null``, compared by JSON equality (``"1"`` and ``1`` differ, ``1``
    and ``1.0`` do not). ``table`` instead names a shared table given to
    :func:`compile_mapping` as ``value_maps``. An unmatched value becomes
    ``default`` when that key is present (even ``null``), else fails when
    ``strict``, else is kept. ``null`` is looked up like any value.
``xref`` {``model``, ``create`` = ``false``, ``external_model`` = ``null``}
    Looks the value (an external id: text or integer, passed on as text) up with
    the ``resolver`` given to :meth:`CompiledMapping.apply`, called as
    ``resolver(model, external_id, create, external_model)``. ``None`` from the
    resolver fails, naming the external id.
``uom`` {``from``, ``to``}
    Converts a number (or numeric text) between units with the ``uom_converter``
    given to :meth:`CompiledMapping.apply`, called as
    ``uom_converter(value, from, to)``; without one, with the built-in table
    :data:`BUILTIN_UNITS` (mass ``mg g kg t lb oz``; length ``mm cm m km in ft``;
    volume ``ml mL l L m3``; time ``s min h``; count ``Units Dozens``). Converting
    across categories fails. The result is a float.
``datetime`` {``input_format`` = ``"iso"``, ``input_tz`` = ``"UTC"``,
``output_tz`` = ``"UTC"``, ``output_format`` = ``"iso"``, ``ambiguous`` = ``"raise"``}
    ``input_format`` is ``"iso"`` (ISO 8601 / RFC 3339 text; a date alone means
    midnight), ``"epoch"`` or ``"epoch_ms"`` (seconds or milliseconds since
    1970-01-01 UTC, number or numeric text) or a ``strptime`` format.
    ``input_tz`` (an IANA name) applies when the parsed value has no offset; a
    local time skipped by a daylight saving change fails ("does not exist in …"),
    and one repeated by it fails unless ``ambiguous`` is ``"earlier"`` or
    ``"later"``. ``output_format`` is ``"iso"`` (RFC 3339, ``Z`` for UTC, the
    offset otherwise), ``"epoch"`` / ``"epoch_ms"`` (an integer, or a float with a
    fraction) or a ``strftime`` format, written in ``output_tz``.
``round`` {``digits`` = ``0``, ``mode`` = ``"half_up"``}
    Rounds a number (or numeric text) with decimal arithmetic to ``digits``
    (``-9`` to ``15``) decimals; ``mode`` is ``"half_up"`` or ``"half_even"``.
    The result is a float, or an integer when ``digits`` is ``0`` or less.
``number`` {}
    Text to number: an integer for integral text (``"17"``), else a float
    (``"1.5"``, ``"1e3"``). Numbers pass unchanged; anything else fails.
``string`` {}
    A scalar to text (``true``/``false`` for booleans); lists and objects fail.
``template`` {``template``}
    ``str.format``-like text with named fields only: ``{name}`` or
    ``{name:spec}`` with a simple spec (fill, align, sign, width and precision up
    to 99, grouping, type among ``bdeEfFgGosxX%``). Attribute or index access,
    positional fields and conversions (``!r``) are refused. Fields come from the
    value when it is an object; any other value is the single field ``{value}``.
    ``null`` renders as empty text, booleans as ``true``/``false``, lists and
    objects as compact JSON. The template is never passed to ``str.format``.
``lowercase``, ``uppercase``, ``strip`` {}
    Text operations; a non-text value fails.

Errors are :class:`~mfg_integration.errors.MappingError`. Invalid definitions list
one ``{"pointer": "/lines/<i>/…", "message": …}`` entry per problem in ``errors``,
each message naming the line ("Line 2 (quantity.value): …"). A failed
:meth:`CompiledMapping.apply` names the first failing line in ``detail`` and has
one entry with the pointer ``/lines/<i>``.

Callbacks (``resolver``, ``uom_converter``) signal "cannot" by raising
:class:`~mfg_integration.errors.MappingError` or :class:`ValueError`: the error is
reported against the line. Any other exception (a database error, a transient
error) propagates unchanged so that the caller can retry.
"""

import functools
import json
import math
import re
import string
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction
from zoneinfo import ZoneInfo

import jmespath
import jmespath.functions

from mfg_integration.errors import MappingError

#: the format marker of this version of the definition format
FORMAT = "mfg-integration-mapping/1"
_FORMAT_FAMILY = "mfg-integration-mapping/"
#: allowed ``direction`` values (``upcast``: an older schema version's data to the
#: next version's, before handlers run)
DIRECTIONS = ("inbound", "outbound", "upcast")
#: the largest list index a target may address
MAX_LIST_INDEX = 9999
_MAX_DEPTH = 64
_TOP_KEYS = ("format", "name", "description", "event_type", "direction", "lines")
_LINE_KEYS = ("target", "source", "transforms")

_NAME_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INDEX_SEGMENT = re.compile(r"(?:0|[1-9][0-9]{0,3})\Z")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r" ?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?\Z"
)
_DATE_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_LINE_POINTER = re.compile(r"/lines/([0-9]+)(?:/|\Z)")
_TEMPLATE_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEMPLATE_SPEC = re.compile(
    r"(?:[^{}]?[<>^=])?[+\- ]?#?0?(?:[1-9][0-9]?)?[,_]?(?:\.[0-9]{1,2})?"
    r"[bdeEfFgGosxX%]?\Z"
)
_UTC_NAMES = frozenset(
    ("UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu")
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DECIMAL_CONTEXT = Context(prec=1000, Emax=999999, Emin=-999999)

#: built-in units: name -> (category, exact size in the category's reference unit)
BUILTIN_UNITS = {
    "mg": ("mass", Fraction("0.000001")),
    "g": ("mass", Fraction("0.001")),
    "kg": ("mass", Fraction("1")),
    "t": ("mass", Fraction("1000")),
    "lb": ("mass", Fraction("0.45359237")),
    "oz": ("mass", Fraction("0.028349523125")),
    "mm": ("length", Fraction("0.001")),
    "cm": ("length", Fraction("0.01")),
    "m": ("length", Fraction("1")),
    "km": ("length", Fraction("1000")),
    "in": ("length", Fraction("0.0254")),
    "ft": ("length", Fraction("0.3048")),
    "ml": ("volume", Fraction("0.001")),
    "mL": ("volume", Fraction("0.001")),
    "l": ("volume", Fraction("1")),
    "L": ("volume", Fraction("1")),
    "m3": ("volume", Fraction("1000")),
    "s": ("time", Fraction(1, 3600)),
    "min": ("time", Fraction(1, 60)),
    "h": ("time", Fraction("1")),
    "Units": ("count", Fraction("1")),
    "Dozens": ("count", Fraction("12")),
}

_MISSING = object()
_JMESPATH_FUNCTIONS = jmespath.functions.Functions().FUNCTION_TABLE


class _Fail(Exception):
    """A transform cannot produce a value; ``bare`` omits the transform's name."""

    def __init__(self, message, bare=False):
        super().__init__(message)
        self.message = message
        self.bare = bare


# -- small helpers ------------------------------------------------------------------


def _pointer(*tokens):
    """Return the JSON pointer made of ``tokens`` (RFC 6901 escaping)."""
    return "".join(
        "/" + str(token).replace("~", "~0").replace("/", "~1") for token in tokens
    )


def _show(value, limit=80):
    """Return a short JSON rendering of ``value`` for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_number(value):
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _json_problem(value, depth=0):
    """Return why ``value`` is not a JSON value, or ``None`` when it is one."""
    if depth > _MAX_DEPTH:
        return "nested too deeply"
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "must have text keys only"
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "must be a JSON value"


def _copy_json(value):
    """Return a copy of the lists and objects of ``value`` (scalars are shared)."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(item) for item in value]
    return value


def _map_key(value):
    """Return the lookup key of a ``value_map`` entry (``"1"`` and ``1`` differ)."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    return None


def _finite_float(number):
    """Return ``number`` (a Decimal or Fraction) as a finite float.

    :raise ValueError: when it is too large for a float
    """
    try:
        result = float(number)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError("the result is too large")
    return result


def _to_decimal(value):
    """Return ``value`` (a number or numeric text) as a finite :class:`Decimal`.

    :raise _Fail: when it is not a finite number
    """
    if isinstance(value, str):
        text = value.strip()
        if not _FLOAT_TEXT.match(text):
            raise _Fail(f"{_show(value)} is not a number")
        result = Decimal(text)
    elif _is_number(value):
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    else:
        raise _Fail(f"{_show(value)} is not a number")
    if not result.is_finite():
        raise _Fail(f"{_show(value)} is not a finite number")
    return result


@functools.lru_cache(maxsize=512)
def _compile_expression(text):
    """Compile a JMESPath expression once per process (cached by its text).

    :raise jmespath.exceptions.JMESPathError: when the text is not valid JMESPath
    """
    return jmespath.compile(text)


def _jmespath_message(exc):
    """Return a one-line explanation of a JMESPath parse error."""
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        message = "the expression is incomplete"
    else:
        message = getattr(exc, "message", None) or getattr(exc, "msg", None)
        message = message or str(exc)
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int):
        message = f"{message} at column {position + 1}"
    return _one_line(message)


def _function_problem(tree):
    """Return why a parsed expression calls an unknown function wrongly, or None."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            continue
        pending.extend(node.get("children") or ())
        if node.get("type") != "function_expression":
            continue
        name = node.get("value")
        if name not in _JMESPATH_FUNCTIONS:
            return f"calls the unknown function {name}()"
        signature = _JMESPATH_FUNCTIONS[name]["signature"]
        given = len(node.get("children") or ())
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if given < len(signature) or (given > len(signature) and not variadic):
            expected = f"{'at least ' if variadic else ''}{len(signature)}"
            return f"calls {name}() with {given} argument(s) instead of {expected}"
    return None


def _expression_problem(text):
    """Return why ``text`` is not a valid JMESPath expression, or ``None``."""
    try:
        parsed = _compile_expression(text)
    except jmespath.exceptions.JMESPathError as exc:
        return "is not a valid JMESPath expression: " + _jmespath_message(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on odd input
        return "is not a valid JMESPath expression: " + _one_line(
            type(exc).__name__ + ": " + str(exc)
        )
    return _function_problem(parsed.parsed)


#: public names of the JMESPath helpers, for the other modules that evaluate
#: expressions written by administrators (process flows)
compile_expression = _compile_expression
expression_problem = _expression_problem


def _zone(name):
    """Return the :class:`ZoneInfo` of ``name``.

    :raise _Fail: when there is no such time zone
    """
    try:
        return ZoneInfo(name)
    except Exception as exc:  # noqa: BLE001 - ValueError, ZoneInfoNotFoundError, OSError
        raise _Fail(f"unknown time zone {_show(name)}") from exc


# -- parameter checks: each returns a problem text or None ---------------------------


def _check_text(value):
    if not isinstance(value, str) or not value:
        return "must be a non-empty text"
    return None


def _check_optional_text(value):
    if value is None:
        return None
    return _check_text(value)


def _check_bool(value):
    return None if isinstance(value, bool) else "must be true or false"


def _check_digits(value):
    if isinstance(value, bool) or not isinstance(value, int) or not -9 <= value <= 15:
        return "must be an integer from -9 to 15"
    return None


def _choice(*options):
    def check(value):
        if not isinstance(value, str) or value not in options:
            return "must be one of " + ", ".join(f'"{option}"' for option in options)
        return None

    return check


def _check_pairs(value):
    if not isinstance(value, (list, tuple)):
        return "must be a list of [from, to] pairs"
    seen = {}
    for position, pair in enumerate(value, 1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return f"entry {position} must be a [from, to] pair"
        source, result = pair
        key = _map_key(source)
        if key is None or (isinstance(source, float) and not math.isfinite(source)):
            return f"entry {position}: 'from' must be a text, number, boolean or null"
        problem = _json_problem(result)
        if problem:
            return f"entry {position}: 'to': {problem}"
        if key in seen:
            return (
                f"entry {position}: {_show(source)} is already mapped by "
                f"entry {seen[key]}"
            )
        seen[key] = position
    return None


def _check_zone_name(value):
    problem = _check_text(value)
    if problem:
        return problem
    try:
        _zone(value)
    except _Fail as exc:
        return exc.message
    return None


def _check_date_format(value, specials):
    if not isinstance(value, str) or not value:
        return "must be a non-empty text"
    if value in specials:
        return None
    position = 0
    while True:
        position = value.find("%", position)
        if position < 0:
            break
        directive = value[position + 1 : position + 2]
        if directive not in _DATE_DIRECTIVES:
            return f"unsupported directive %{directive}"
        position += 2
    if "%" not in value:
        return "must be " + ", ".join(f'"{s}"' for s in specials) + " or a % format"
    return None


def _check_datetime_format(value):
    return _check_date_format(value, ("iso", "epoch", "epoch_ms"))


def _parse_template(text):
    """Split a template into ``(literal, field, spec)`` parts.

    :raise _Fail: when the template uses anything but plain named fields
    """
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise _Fail(f"not a valid template: {exc}") from exc
    result = []
    for literal, field, spec, conversion in parts:
        if field is not None:
            if conversion:
                raise _Fail(f"conversion !{conversion} is not allowed")
            if field == "":
                raise _Fail("positional fields {} are not allowed: name each field")
            if not _TEMPLATE_FIELD.match(field):
                raise _Fail(
                    f"field {{{field}}} is not allowed: use plain names only, "
                    "without attributes, indexes or numbers"
                )
            if spec and not _TEMPLATE_SPEC.match(spec):
                raise _Fail(f"format spec {{{field}:{spec}}} is not allowed")
        result.append((literal, field, spec or ""))
    return tuple(result)


def _check_template(value):
    problem = _check_text(value)
    if problem:
        return problem
    try:
        _parse_template(value)
    except _Fail as exc:
        return exc.message
    return None


# -- transforms ------------------------------------------------------------------


class _Param:
    __slots__ = ("name", "check", "default", "required")

    def __init__(self, name, check, default=_MISSING, required=False):
        self.name = name
        self.check = check
        self.default = default
        self.required = required


class _Runtime:
    __slots__ = ("resolver", "uom_converter")

    def __init__(self, resolver, uom_converter):
        self.resolver = resolver
        self.uom_converter = uom_converter


def _build_constant(params, tables):
    constant = params["value"]
    return lambda value, runtime: _copy_json(constant)


def _build_default(params, tables):
    fallback = params["value"]

    def default(value, runtime):
        return _copy_json(fallback) if value is None else value

    return default


def _build_required(params, tables):
    def required(value, runtime):
        if value is None:
            raise _Fail("a value is required", bare=True)
        return value

    return required


def _build_value_map(params, tables):
    pairs = params["map"] if "map" in params else tables[params["table"]]
    table = {_map_key(source): result for source, result in _pairs_of(pairs)}
    fallback = params.get("default", _MISSING)
    strict = params["strict"]

    def value_map(value, runtime):
        key = _map_key(value)
        if key is not None and key in table:
            return _copy_json(table[key])
        if fallback is not _MISSING:
            return _copy_json(fallback)
        if strict:
            raise _Fail(f"no mapping for {_show(value)}")
        return value

    return value_map


def _pairs_of(table):
    """Return the ``[from, to]`` pairs of a table given as pairs or as an object."""
    if isinstance(table, Mapping):
        return [[key, result] for key, result in table.items()]
    return [list(pair) for pair in table]


def _call_back(function, *args):
    """Call a callback, turning its "cannot" errors into :class:`_Fail`."""
    try:
        return function(*args)
    except MappingError as exc:
        raise _Fail(exc.detail) from exc
    except ValueError as exc:
        raise _Fail(str(exc) or type(exc).__name__) from exc


def _build_xref(params, tables):
    model, create = params["model"], params["create"]
    external_model = params["external_model"]

    def xref(value, runtime):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _Fail(
                f"an external id must be a text or an integer, not {_show(value)}"
            )
        external_id = str(value)
        if runtime.resolver is None:
            raise _Fail("needs a cross-reference resolver, none was given")
        result = _call_back(
            runtime.resolver, model, external_id, create, external_model
        )
        if result is None:
            raise _Fail(f"no {model} found for external id {_show(external_id)}")
        return result

    return xref


def builtin_convert(value, from_unit, to_unit):
    """Convert ``value`` between two units of :data:`BUILTIN_UNITS`.

    :param value: a number or numeric text
    :param from_unit: the unit of ``value``
    :param to_unit: the wanted unit
    :return: the converted value as a float
    :raise ValueError: when a unit is unknown, the units are of different
        categories or ``value`` is not a number
    """
    try:
        amount = _to_decimal(value)
    except _Fail as exc:
        raise ValueError(exc.message) from exc
    for unit in (from_unit, to_unit):
        if unit not in BUILTIN_UNITS:
            raise ValueError(f"unknown unit {_show(unit)}")
    (from_category, from_size), (to_category, to_size) = (
        BUILTIN_UNITS[from_unit],
        BUILTIN_UNITS[to_unit],
    )
    if from_category != to_category:
        raise ValueError(
            f"cannot convert {from_unit} ({from_category}) to {to_unit} ({to_category})"
        )
    return _finite_float(Fraction(amount) * from_size / to_size)


def _build_uom(params, tables):
    from_unit, to_unit = params["from"], params["to"]

    def uom(value, runtime):
        if value is None:
            return None
        number = _to_decimal(value)
        if runtime.uom_converter is None:
            return _call_back(builtin_convert, number, from_unit, to_unit)
        plain = value if _is_number(value) and not isinstance(value, Decimal) else None
        if plain is None:
            plain = (
                int(number) if number == number.to_integral_value() else float(number)
            )
        result = _call_back(runtime.uom_converter, plain, from_unit, to_unit)
        if not _is_number(result):
            raise _Fail(f"the unit converter returned {_show(result)}, not a number")
        return float(result)

    return uom


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


def _build_datetime(params, tables):
    input_format, output_format = params["input_format"], params["output_format"]
    input_tz, output_tz = params["input_tz"], params["output_tz"]
    ambiguous = params["ambiguous"]
    input_zone, output_zone = _zone(input_tz), _zone(output_tz)

    def parse(value):
        if input_format == "epoch":
            return _parse_epoch(value, 1_000_000)
        if input_format == "epoch_ms":
            return _parse_epoch(value, 1_000)
        if not isinstance(value, str):
            raise _Fail(f"{_show(value)} is not a date/time text")
        if input_format == "iso":
            return _parse_iso(value)
        try:
            return datetime.strptime(value, input_format)
        except ValueError as exc:
            raise _Fail(
                f"{_show(value)} does not match the format {_show(input_format)}"
            ) from exc

    def convert(value, runtime):
        if value is None:
            return None
        moment = parse(value)
        if moment.tzinfo is None:
            moment = _localize(moment, input_zone, input_tz, ambiguous)
        if output_format == "epoch":
            return _epoch_number(moment, 1_000_000)
        if output_format == "epoch_ms":
            return _epoch_number(moment, 1_000)
        try:
            local = moment.astimezone(output_zone)
            if output_format != "iso":
                return local.strftime(output_format)
        except (OverflowError, ValueError) as exc:
            raise _Fail(f"cannot write {_show(value)}: {exc}") from exc
        text = local.isoformat()
        if output_tz in _UTC_NAMES and text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text

    return convert


def _build_round(params, tables):
    digits = params["digits"]
    rounding = ROUND_HALF_EVEN if params["mode"] == "half_even" else ROUND_HALF_UP
    quantum = Decimal(1).scaleb(-digits)

    def round_(value, runtime):
        if value is None:
            return None
        number = _to_decimal(value)
        try:
            rounded = number.quantize(
                quantum, rounding=rounding, context=_DECIMAL_CONTEXT
            )
            return int(rounded) if digits <= 0 else _finite_float(rounded)
        except (InvalidOperation, ValueError) as exc:
            raise _Fail(
                f"cannot round {_show(value)}: the number is too large"
            ) from exc

    return round_


def _build_number(params, tables):
    def number(value, runtime):
        if value is None or _is_number(value):
            return value
        if not isinstance(value, str):
            raise _Fail(f"{_show(value)} is not a number text")
        text = value.strip()
        try:
            if _INTEGER_TEXT.match(text):
                return int(text)
            if _FLOAT_TEXT.match(text):
                result = float(text)
                if math.isfinite(result):
                    return result
        except ValueError:
            pass
        raise _Fail(f"{_show(value)} is not a number")

    return number


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return "" if value is None else str(value)


def _build_string(params, tables):
    def to_string(value, runtime):
        if value is None:
            return None
        if isinstance(value, (dict, list, tuple)):
            raise _Fail(f"{_show(value)} is not a scalar")
        return _as_text(value)

    return to_string


def _text_operation(operation):
    def build(params, tables):
        def apply_text(value, runtime):
            if value is None:
                return None
            if not isinstance(value, str):
                raise _Fail(f"{_show(value)} is not a text")
            return operation(value)

        return apply_text

    return build


def _render_field(item, field, spec):
    if not spec:
        return _as_text(item)
    if not _is_number(item):
        item = _as_text(item)
    try:
        return format(item, spec)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Fail(f"cannot format field {{{field}}} with ':{spec}': {exc}") from exc


def _build_template(params, tables):
    parts = _parse_template(params["template"])

    def template(value, runtime):
        if value is None:
            return None
        chunks = []
        for literal, field, spec in parts:
            chunks.append(literal)
            if field is None:
                continue
            if isinstance(value, dict):
                if field not in value:
                    raise _Fail(f"the value has no field {{{field}}}")
                item = value[field]
            elif field == "value":
                item = value
            else:
                raise _Fail(
                    f"field {{{field}}} needs an object value; use {{value}} for a "
                    f"single value, got {_show(value)}"
                )
            chunks.append(_render_field(item, field, spec))
        return "".join(chunks)

    return template


#: transform type -> (parameters in export order, builder)
_TRANSFORMS = {
    "constant": ((_Param("value", _json_problem, required=True),), _build_constant),
    "default": ((_Param("value", _json_problem, required=True),), _build_default),
    "required": ((), _build_required),
    "value_map": (
        (
            _Param("map", _check_pairs),
            _Param("table", _check_text),
            _Param("default", _json_problem),
            _Param("strict", _check_bool, default=True),
        ),
        _build_value_map,
    ),
    "xref": (
        (
            _Param("model", _check_text, required=True),
            _Param("create", _check_bool, default=False),
            _Param("external_model", _check_optional_text, default=None),
        ),
        _build_xref,
    ),
    "uom": (
        (
            _Param("from", _check_text, required=True),
            _Param("to", _check_text, required=True),
        ),
        _build_uom,
    ),
    "datetime": (
        (
            _Param("input_format", _check_datetime_format, default="iso"),
            _Param("input_tz", _check_zone_name, default="UTC"),
            _Param("output_tz", _check_zone_name, default="UTC"),
            _Param("output_format", _check_datetime_format, default="iso"),
            _Param("ambiguous", _choice("raise", "earlier", "later"), default="raise"),
        ),
        _build_datetime,
    ),
    "round": (
        (
            _Param("digits", _check_digits, default=0),
            _Param("mode", _choice("half_up", "half_even"), default="half_up"),
        ),
        _build_round,
    ),
    "number": ((), _build_number),
    "string": ((), _build_string),
    "template": (
        (_Param("template", _check_template, required=True),),
        _build_template,
    ),
    "lowercase": ((), _text_operation(str.lower)),
    "uppercase": ((), _text_operation(str.upper)),
    "strip": ((), _text_operation(str.strip)),
}
#: the transform types, in documentation order
TRANSFORM_TYPES = tuple(_TRANSFORMS)


# -- validation ---------------------------------------------------------------------


class _Problems:
    """Collects ``{"pointer", "message"}`` problems."""

    def __init__(self):
        self.items = []

    def add(self, pointer, message):
        self.items.append({"pointer": pointer, "message": message})


def _line_label(number, target):
    if isinstance(target, str) and target:
        return f"Line {number} ({_one_line(target, 80)})"
    return f"Line {number}"


def _parse_target(target):
    """Return the segments of a target path (names as text, indexes as int).

    :raise _Fail: when the path is not valid
    """
    if not isinstance(target, str) or not target:
        raise _Fail("the target must be a non-empty dotted path")
    segments = []
    for position, segment in enumerate(target.split(".")):
        if _NAME_SEGMENT.match(segment):
            segments.append(segment)
        elif position and _INDEX_SEGMENT.match(segment):
            segments.append(int(segment))
        elif not position and _INDEX_SEGMENT.match(segment):
            raise _Fail("the target must start with a name, not a list index")
        else:
            raise _Fail(
                f"the target segment {_show(segment)} is neither a name "
                f"([a-zA-Z_][a-zA-Z0-9_]*) nor a list index (0 to {MAX_LIST_INDEX})"
            )
    return tuple(segments)


def _check_references(kind, params, known_units, known_value_maps):
    """Return ``(parameter, message)`` problems of references to units and tables."""
    problems = []
    if kind == "uom":
        units = BUILTIN_UNITS if known_units is None else known_units
        unknown = False
        for name in ("from", "to"):
            if params[name] not in units:
                problems.append((name, f"unknown unit {_show(params[name])}"))
                unknown = True
        if known_units is None and not unknown:
            try:
                builtin_convert(1, params["from"], params["to"])
            except ValueError as exc:
                problems.append(("to", str(exc)))
    elif kind == "value_map" and "table" in params:
        name = params["table"]
        if known_value_maps is None or name not in known_value_maps:
            problems.append(("table", f"unknown value map {_show(name)}"))
        elif isinstance(known_value_maps, Mapping):
            table = known_value_maps[name]
            if isinstance(table, Mapping):
                table = _pairs_of(table)
            problem = _check_pairs(table)
            if problem:
                problems.append(("table", f"value map {_show(name)}: {problem}"))
    return problems


def _normalize_transform(transform, label, pointer, problems, references):
    """Check one transform; return it with its defaults filled, or ``None``."""
    if not isinstance(transform, dict) or not isinstance(transform.get("type"), str):
        problems.add(pointer, f"{label}: a transform must be an object with a 'type'")
        return None
    kind = transform["type"]
    if kind not in _TRANSFORMS:
        problems.add(
            _pointer_join(pointer, "type"),
            f"{label}: unknown transform type {_show(kind)} "
            f"(known: {', '.join(TRANSFORM_TYPES)})",
        )
        return None
    label = f"{label} ({kind})"
    spec, _builder = _TRANSFORMS[kind]
    allowed = {param.name: param for param in spec}
    count = len(problems.items)
    for key in transform:
        if key != "type" and key not in allowed:
            names = ", ".join(allowed) or "none"
            problems.add(
                _pointer_join(pointer, key),
                f"{label}: unknown parameter {_show(key)} (allowed: {names})",
            )
    normalized = {"type": kind}
    for param in spec:
        if param.name not in transform:
            if param.required:
                problems.add(
                    _pointer_join(pointer, param.name),
                    f"{label}: parameter '{param.name}' is required",
                )
            elif param.default is not _MISSING:
                normalized[param.name] = param.default
            continue
        value = transform[param.name]
        problem = param.check(value)
        if problem:
            problems.add(
                _pointer_join(pointer, param.name),
                f"{label}: parameter '{param.name}': {problem}",
            )
        else:
            normalized[param.name] = _copy_json(value)
    if kind == "value_map" and ("map" in transform) == ("table" in transform):
        problems.add(
            pointer, f"{label}: give either 'map' or 'table', not both or none"
        )
    if len(problems.items) > count:
        return None
    if references is not None:
        for name, message in _check_references(kind, normalized, *references):
            problems.add(_pointer_join(pointer, name), f"{label}: {message}")
    return normalized


def _pointer_join(pointer, token):
    return pointer + _pointer(token)


def _normalize_line(index, line, problems, references):
    """Check one line; return its normalized form and its target's segments.

    Either is ``None`` when invalid.
    """
    number, base = index + 1, _pointer("lines", index)
    if not isinstance(line, dict):
        problems.add(base, f"Line {number}: a line must be an object")
        return None, None
    target = line.get("target")
    label = _line_label(number, target)
    count = len(problems.items)
    for key in line:
        if key not in _LINE_KEYS:
            problems.add(
                _pointer_join(base, key),
                f"{label}: unknown key {_show(key)} (allowed: {', '.join(_LINE_KEYS)})",
            )
    segments = None
    try:
        segments = _parse_target(target)
    except _Fail as exc:
        problems.add(_pointer_join(base, "target"), f"{label}: {exc.message}")
    source = line.get("source")
    if isinstance(source, str) and not source.strip():
        source = None
    if source is not None:
        problem = (
            _expression_problem(source)
            if isinstance(source, str)
            else "must be a text (a JMESPath expression) or null"
        )
        if problem:
            problems.add(
                _pointer_join(base, "source"), f"{label}: the source {problem}"
            )
    transforms = line.get("transforms")
    if transforms is None:
        transforms = ()
    normalized_transforms = []
    if not isinstance(transforms, (list, tuple)):
        problems.add(
            _pointer_join(base, "transforms"), f"{label}: transforms must be a list"
        )
        transforms = ()
    for position, transform in enumerate(transforms):
        normalized_transforms.append(
            _normalize_transform(
                transform,
                f"{label}: transform {position + 1}",
                _pointer_join(base, "transforms") + _pointer(position),
                problems,
                references,
            )
        )
    if len(problems.items) > count:
        return None, segments
    normalized = {
        "target": target,
        "source": source,
        "transforms": normalized_transforms,
    }
    return normalized, segments


def _check_targets(entries, problems):
    """Report lines whose targets collide with the target of an earlier line."""
    values = {}  # path -> line number setting a value there
    containers = {}  # path -> ("list" | "object", line number)
    for number, target, segments in entries:
        label = f"{_line_label(number, target)}: the target"
        pointer = _pointer("lines", number - 1, "target")
        if segments in values:
            problems.add(pointer, f"{label} is already set by line {values[segments]}")
            continue
        if segments in containers:
            other = containers[segments][1]
            problems.add(pointer, f"{label} is a path that line {other} writes into")
            continue
        prefix = next(
            (
                segments[:size]
                for size in range(1, len(segments))
                if segments[:size] in values
            ),
            None,
        )
        if prefix is not None:
            problems.add(
                pointer,
                f"{label} is under {'.'.join(map(str, prefix))}, "
                f"which line {values[prefix]} sets",
            )
            continue
        clash = None
        for size in range(1, len(segments)):
            kind = "list" if isinstance(segments[size], int) else "object"
            known = containers.get(segments[:size])
            if known and known[0] != kind:
                clash = (segments[:size], known)
                break
        if clash:
            path, (kind, other) = clash
            problems.add(
                pointer,
                f"{label} uses {'.'.join(map(str, path))} differently from line "
                f"{other}, which uses it as a{'' if kind == 'list' else 'n'} {kind}",
            )
            continue
        values[segments] = number
        for size in range(1, len(segments)):
            kind = "list" if isinstance(segments[size], int) else "object"
            containers.setdefault(segments[:size], (kind, number))


def _check_top(definition, problems):
    """Check the top-level keys; return the normalized header (without lines)."""
    for key in definition:
        if key not in _TOP_KEYS:
            problems.add(
                _pointer(key),
                f"Mapping: unknown key {_show(key)} (allowed: {', '.join(_TOP_KEYS)})",
            )
    header = {"format": FORMAT}
    marker = definition.get("format", FORMAT)
    if marker != FORMAT:
        problems.add("/format", f"Mapping: unsupported format {_show(marker)}")
    for key, default in (("name", ""), ("description", "")):
        value = definition.get(key, default)
        if isinstance(value, str):
            header[key] = value
        else:
            problems.add(_pointer(key), f"Mapping: '{key}' must be a text")
    event_type = definition.get("event_type")
    if event_type is None or (isinstance(event_type, str) and event_type):
        header["event_type"] = event_type
    else:
        problems.add("/event_type", "Mapping: 'event_type' must be a non-empty text")
    direction = definition.get("direction", "inbound")
    if direction in DIRECTIONS:
        header["direction"] = direction
    else:
        problems.add(
            "/direction",
            'Mapping: \'direction\' must be "inbound", "outbound" or "upcast"',
        )
    return header


def _analyse(definition, references):
    """Validate ``definition``; return ``(problems, normalized definition or None)``.

    :param references: ``(known_units, known_value_maps)`` to check references, or
        ``None`` to check the structure only
    """
    problems = _Problems()
    if not isinstance(definition, dict):
        problems.add("", "Mapping: a mapping definition must be a JSON object")
        return problems.items, None
    normalized = _check_top(definition, problems)
    lines = definition.get("lines", _MISSING)
    if lines is _MISSING or not isinstance(lines, (list, tuple)):
        problems.add("/lines", "Mapping: 'lines' must be a list")
        return problems.items, None
    normalized_lines, entries = [], []
    for index, line in enumerate(lines):
        normalized_line, segments = _normalize_line(index, line, problems, references)
        normalized_lines.append(normalized_line)
        if segments is not None:
            entries.append((index + 1, line["target"], segments))
    _check_targets(entries, problems)
    if problems.items:
        return sorted(problems.items, key=_line_order), None
    normalized["lines"] = normalized_lines
    return [], normalized


def _line_order(problem):
    """Sort key of a problem: top-level problems first, then by line."""
    match = _LINE_POINTER.match(problem["pointer"])
    return int(match.group(1)) if match else -1


def _invalid(problems):
    first = problems[0]["message"]
    more = len(problems) - 1
    if more:
        first += f" (and {more} more problem{'s' if more > 1 else ''})"
    return MappingError(first, errors=problems)


def validate(definition, known_units=None, known_value_maps=None):
    """Return the problems of a mapping definition, without raising.

    :param definition: the mapping definition (any value)
    :param known_units: the unit names a ``uom`` transform may use; ``None`` checks
        against :data:`BUILTIN_UNITS`, including their categories
    :param known_value_maps: the names of the shared tables a ``value_map``
        transform may reference (a collection, or a mapping of name to pairs whose
        content is checked too); ``None`` means that no table is known
    :return: a list of ``{"pointer": ..., "message": ...}``, empty when valid; each
        message names its line ("Line 2 (quantity.value): ...")
    """
    problems, _normalized = _analyse(definition, (known_units, known_value_maps))
    return problems


# -- compiled mappings ---------------------------------------------------------------


class _Line:
    __slots__ = ("number", "target", "path", "expression", "transforms")

    def __init__(self, number, target, path, expression, transforms):
        self.number = number
        self.target = target
        self.path = path
        self.expression = expression
        self.transforms = transforms


def _assign(result, path, value):
    """Write ``value`` at ``path`` in ``result``, creating objects and lists."""
    node = result
    for segment, following in zip(path[:-1], path[1:], strict=True):
        if isinstance(segment, int):
            _grow(node, segment)
            child = node[segment]
        else:
            child = node.get(segment)
        if child is None:
            child = [] if isinstance(following, int) else {}
            node[segment] = child
        node = child
    last = path[-1]
    if isinstance(last, int):
        _grow(node, last)
    node[last] = value


def _grow(items, index):
    while len(items) <= index:
        items.append(None)


class CompiledMapping:
    """A validated mapping, ready to apply. Build it with :func:`compile_mapping`.

    It is immutable and may be applied concurrently from several threads.
    """

    def __init__(self, definition, value_maps=None):
        """Build the lines of an already normalized definition (internal).

        :param definition: the normalized definition made by :func:`compile_mapping`
        :param value_maps: the shared tables referenced by ``value_map`` transforms
        """
        self._definition = definition
        tables = {
            name: _pairs_of(table) for name, table in dict(value_maps or {}).items()
        }
        lines = []
        for index, line in enumerate(definition["lines"]):
            source = line["source"]
            transforms = tuple(
                (
                    position,
                    transform["type"],
                    _TRANSFORMS[transform["type"]][1](transform, tables),
                )
                for position, transform in enumerate(line["transforms"], 1)
            )
            lines.append(
                _Line(
                    index + 1,
                    line["target"],
                    _parse_target(line["target"]),
                    _compile_expression(source) if source is not None else None,
                    transforms,
                )
            )
        self._lines = tuple(lines)

    @property
    def name(self):
        """The mapping's name."""
        return self._definition["name"]

    @property
    def event_type(self):
        """The canonical event type code, or ``None``."""
        return self._definition["event_type"]

    @property
    def direction(self):
        """``"inbound"`` or ``"outbound"``."""
        return self._definition["direction"]

    def __len__(self):
        return len(self._lines)

    def __repr__(self):
        return f"<CompiledMapping {self.name!r}: {len(self._lines)} line(s)>"

    def export_definition(self):
        """Return the normalized definition (see :func:`export_definition`)."""
        return _copy_json(self._definition)

    def apply(self, payload, resolver=None, uom_converter=None):
        """Map ``payload`` line by line into a new object.

        :param payload: the input (any JSON value); it is never modified
        :param resolver: ``resolver(model, external_id, create, external_model)``
            for ``xref`` transforms; returns the Odoo value or ``None``
        :param uom_converter: ``uom_converter(value, from, to) -> float`` for
            ``uom`` transforms; ``None`` uses :data:`BUILTIN_UNITS`
        :return: the mapped object (a new dict sharing nothing with ``payload``)
        :raise MappingError: on the first failing line: ``detail`` is
            "Line N (target): ..." and ``errors`` holds ``/lines/<N-1>``
        """
        runtime = _Runtime(resolver, uom_converter)
        result = {}
        for line in self._lines:
            _assign(result, line.path, self._evaluate(line, payload, runtime))
        return result

    @staticmethod
    def _evaluate(line, payload, runtime):
        label = _line_label(line.number, line.target)
        value = None
        if line.expression is not None:
            try:
                value = _copy_json(line.expression.search(payload))
            except jmespath.exceptions.JMESPathError as exc:
                message = f"{label}: the source failed: {_one_line(exc)}"
                raise _line_error(line, message) from exc
        for position, kind, transform in line.transforms:
            try:
                value = transform(value, runtime)
            except _Fail as exc:
                prefix = (
                    label if exc.bare else f"{label}: transform {position} ({kind})"
                )
                raise _line_error(line, f"{prefix}: {exc.message}") from exc
        return value


def _line_error(line, message):
    return MappingError(
        message,
        errors=[{"pointer": _pointer("lines", line.number - 1), "message": message}],
    )


def compile_mapping(definition, *, known_units=None, value_maps=None):
    """Validate a definition and compile it.

    JMESPath expressions are compiled once per process and cached by their text.

    :param definition: the mapping definition (see the module documentation)
    :param known_units: the unit names ``uom`` transforms may use (for example the
        names of Odoo's units); ``None`` checks against :data:`BUILTIN_UNITS`
    :param value_maps: the shared tables ``value_map`` transforms may reference,
        as a mapping of name to ``[[from, to], ...]`` (or to an object)
    :return: a :class:`CompiledMapping`
    :raise MappingError: when the definition is invalid; ``errors`` lists every
        problem and ``detail`` names the first one ("Line N (target): ...")
    """
    problems, normalized = _analyse(definition, (known_units, value_maps or {}))
    if problems:
        raise _invalid(problems)
    return CompiledMapping(normalized, value_maps)


def export_definition(compiled_or_definition):
    """Return the normalized, JSON-serialisable definition of a mapping.

    Every default is written explicitly (``format``, ``description``, ``source``,
    ``transforms`` and the transforms' parameters), in a fixed key order, so that
    exporting what was imported gives the same document.

    :param compiled_or_definition: a :class:`CompiledMapping` or a definition
    :return: a new dict
    :raise MappingError: when a definition is given and its structure is invalid
        (references to units and tables are not checked here)
    """
    if isinstance(compiled_or_definition, CompiledMapping):
        return compiled_or_definition.export_definition()
    problems, normalized = _analyse(compiled_or_definition, None)
    if problems:
        raise _invalid(problems)
    return normalized


def import_definition(data):
    """Read an exported definition, refusing other format versions.

    :param data: the exported definition, as a dict or as JSON text
    :return: the normalized definition, to give to :func:`compile_mapping`
    :raise MappingError: when ``data`` is not an export of this format version or
        its structure is invalid
    """
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MappingError(f"The mapping export is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "format" not in data:
        raise MappingError(
            f"Not a mapping export: the 'format' marker {FORMAT!r} is missing",
            errors=[{"pointer": "/format", "message": "the format marker is missing"}],
        )
    marker = data["format"]
    if marker != FORMAT:
        if isinstance(marker, str) and marker.startswith(_FORMAT_FAMILY):
            message = (
                f"Unsupported mapping format version {_show(marker)}: this version "
                f"reads {FORMAT!r} only"
            )
        else:
            message = f"Not a mapping export: unknown format {_show(marker)}"
        raise MappingError(message, errors=[{"pointer": "/format", "message": message}])
    return export_definition(data)


def apply_mapping(
    definition,
    payload,
    *,
    resolver=None,
    uom_converter=None,
    known_units=None,
    value_maps=None,
):
    """Compile ``definition`` and apply it to ``payload`` in one call.

    :param definition: the mapping definition
    :param payload: the input
    :param resolver: see :meth:`CompiledMapping.apply`
    :param uom_converter: see :meth:`CompiledMapping.apply`
    :param known_units: see :func:`compile_mapping`
    :param value_maps: see :func:`compile_mapping`
    :return: the mapped object
    :raise MappingError: when the definition is invalid or a line fails
    """
    compiled = compile_mapping(
        definition, known_units=known_units, value_maps=value_maps
    )
    return compiled.apply(payload, resolver=resolver, uom_converter=uom_converter)
