"""The JSON export format: :func:`export_definition` and :func:`import_definition`.

The format marker :data:`FORMAT` is defined in :mod:`._common`, since validation
checks it too, and is re-exported here.
"""

import json

from mfg_integration.errors import MappingError

from ._common import _FORMAT_FAMILY, FORMAT, _show
from .checks import _analyse, _invalid
from .engine import CompiledMapping


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
