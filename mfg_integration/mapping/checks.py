"""Validation of mapping definitions: top-level keys, lines, targets, transforms
and their references to units and shared tables.

:func:`validate` lists the problems; ``_analyse`` also returns the normalized
definition that :mod:`.engine` compiles and :mod:`.fileformat` exports.
"""

import re
from collections.abc import Mapping

from mfg_integration.errors import MappingError

from ._common import (
    _MISSING,
    FORMAT,
    _copy_json,
    _expression_problem,
    _Fail,
    _one_line,
    _pointer,
    _show,
)
from .transforms import _TRANSFORMS, TRANSFORM_TYPES, _check_pairs, _pairs_of
from .units import BUILTIN_UNITS, builtin_convert

#: allowed ``direction`` values (``upcast``: an older schema version's data to the
#: next version's, before handlers run)
DIRECTIONS = ("inbound", "outbound", "upcast")
#: the largest list index a target may address
MAX_LIST_INDEX = 9999
_TOP_KEYS = ("format", "name", "description", "event_type", "direction", "lines")
_LINE_KEYS = ("target", "source", "transforms")

_NAME_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INDEX_SEGMENT = re.compile(r"(?:0|[1-9][0-9]{0,3})\Z")
_LINE_POINTER = re.compile(r"/lines/([0-9]+)(?:/|\Z)")


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
