"""Mapping engine: turn one JSON payload into another, line by line, without code.

Plants differ: one MES calls a work order ``WO-17/3``, sends grams and local time,
while the canonical event wants the Odoo reference, kilograms and UTC. A *mapping*
adapts such payloads. It is plain data, edited in the Odoo UI, exported to JSON for
version control, and evaluated here, in the pure package, without ``eval``: sources
are JMESPath expressions and every other step is one of a closed set of transforms.

Modules
=======

The package keeps one concern per submodule; import from the package itself:

``_common``
    Shared helpers: the format marker :data:`FORMAT`, the ``_Fail`` error of a
    transform, message, JSON and number helpers, and the JMESPath helpers
    :func:`compile_expression` and :func:`expression_problem`.
``units``
    :data:`BUILTIN_UNITS` and :func:`builtin_convert`.
``datetimes``
    Time zones and date/time parsing and formatting of the ``datetime`` transform.
``transforms``
    Each transform's parameter checks and builder, and :data:`TRANSFORM_TYPES`.
``checks``
    Validation of definitions: :func:`validate`, :data:`DIRECTIONS`,
    :data:`MAX_LIST_INDEX`.
``engine``
    :class:`CompiledMapping`, :func:`compile_mapping` and :func:`apply_mapping`.
``fileformat``
    The export format: :func:`export_definition` and :func:`import_definition`.

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

from ._common import (
    FORMAT,
    _compile_expression,  # imported by the tests
    compile_expression,
    expression_problem,
)
from .checks import DIRECTIONS, MAX_LIST_INDEX, validate
from .engine import CompiledMapping, apply_mapping, compile_mapping
from .fileformat import export_definition, import_definition
from .transforms import TRANSFORM_TYPES
from .units import BUILTIN_UNITS, builtin_convert

__all__ = [
    "BUILTIN_UNITS",
    "DIRECTIONS",
    "FORMAT",
    "MAX_LIST_INDEX",
    "TRANSFORM_TYPES",
    "CompiledMapping",
    "apply_mapping",
    "builtin_convert",
    "compile_expression",
    "compile_mapping",
    "expression_problem",
    "export_definition",
    "import_definition",
    "validate",
]
