"""Compiled mappings: :func:`compile_mapping` builds a :class:`CompiledMapping`
from a validated definition, and applying it writes each line's value at its
target. The definition format is described in :mod:`mfg_integration.mapping`."""

import jmespath

from mfg_integration.errors import MappingError

from ._common import _compile_expression, _copy_json, _Fail, _one_line, _pointer
from .checks import _analyse, _invalid, _line_label, _parse_target
from .transforms import _TRANSFORMS, _pairs_of, _Runtime

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

    :param definition: the mapping definition (see the documentation of the
        :mod:`mfg_integration.mapping` package)
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
