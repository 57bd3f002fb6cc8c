"""The transforms: their parameter checks, their builders and :data:`_TRANSFORMS`.

Each transform type maps to its parameters (name, check, default) and to a
builder that turns the normalized parameters into ``transform(value, runtime)``.
Date/time parsing lives in :mod:`.datetimes`, the built-in units in :mod:`.units`.
"""

import json
import math
import re
import string
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation

from mfg_integration.errors import MappingError

from ._common import (
    _FLOAT_TEXT,
    _MISSING,
    _copy_json,
    _Fail,
    _finite_float,
    _is_number,
    _json_problem,
    _map_key,
    _show,
    _to_decimal,
)
from .datetimes import (
    _UTC_NAMES,
    _epoch_number,
    _localize,
    _parse_epoch,
    _parse_iso,
    _zone,
)
from .units import builtin_convert

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+\Z")
_DATE_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_TEMPLATE_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEMPLATE_SPEC = re.compile(
    r"(?:[^{}]?[<>^=])?[+\- ]?#?0?(?:[1-9][0-9]?)?[,_]?(?:\.[0-9]{1,2})?"
    r"[bdeEfFgGosxX%]?\Z"
)
_DECIMAL_CONTEXT = Context(prec=1000, Emax=999999, Emin=-999999)


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
