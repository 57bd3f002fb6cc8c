"""JSON Schema (Draft 2020-12) checking and validation with JSON pointers.

Event types carry JSON Schemas written by people. :func:`check_schema` refuses a
document that is not a valid Draft 2020-12 schema, or whose ``examples`` do not
validate, and names where the problem is. :func:`validate` returns one
:class:`Violation` per failing JSON pointer of an instance, ready for an RFC 9457
``errors`` list. Compiled validators are cached by schema text, so validating many
payloads against the same schema does not recompile it."""

import json
from dataclasses import dataclass
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import SchemaInvalid, ValidationFailed
from .fastschema import compile_check

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


@dataclass(frozen=True, order=True)
class Violation:
    """One failing place of an instance: an RFC 6901 ``pointer`` and a ``message``."""

    pointer: str
    message: str

    def as_dict(self):
        return {"pointer": self.pointer, "message": self.message}


def json_pointer(parts, base=""):
    """Build an RFC 6901 pointer from path parts, escaping ``~`` and ``/``."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return base + "".join("/" + p for p in escaped)


def load_schema_text(text):
    """Parse a schema document given as JSON text.

    :raise SchemaInvalid: when the text is not JSON or not a JSON object
    """
    try:
        schema = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise SchemaInvalid(f"The schema is not valid JSON: {exc}.") from None
    if not isinstance(schema, dict):
        raise SchemaInvalid("A JSON Schema document must be a JSON object.")
    return schema


def check_schema(schema):
    """Check that ``schema`` is a usable Draft 2020-12 schema whose examples validate.

    :param schema: the schema as a dict, or as JSON text
    :return: the schema as a dict
    :raise SchemaInvalid: naming the JSON pointer of the problem in the schema document
    """
    if isinstance(schema, str):
        schema = load_schema_text(schema)
    dialect = schema.get("$schema", DRAFT_2020_12)
    if dialect.rstrip("#") != DRAFT_2020_12:
        raise SchemaInvalid(
            f"Only JSON Schema Draft 2020-12 is supported ('$schema' is '{dialect}')."
        )
    if schema.get("type") not in (None, "object"):
        raise SchemaInvalid("An event schema must describe a JSON object ('type').")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        pointer = json_pointer(exc.absolute_path) or "/"
        raise SchemaInvalid(
            f"The schema is not valid at {pointer}: {exc.message}",
            errors=[{"pointer": pointer, "message": exc.message}],
        ) from None
    problems = []
    for index, example in enumerate(schema.get("examples", [])):
        for violation in validate(schema, example, base=f"/examples/{index}"):
            problems.append(violation.as_dict())
    if problems:
        first = problems[0]
        raise SchemaInvalid(
            f"Example {first['pointer']} does not match the schema: {first['message']}",
            errors=problems,
        )
    return schema


@lru_cache(maxsize=512)
def _compiled(schema_text):
    schema = json.loads(schema_text)
    validator = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    return validator, compile_check(schema)


def _compiled_pair(schema):
    if not isinstance(schema, str):
        schema = json.dumps(schema, sort_keys=True)
    return _compiled(schema)


def compiled_validator(schema):
    """Return a (cached) validator for a schema given as a dict or as JSON text."""
    return _compiled_pair(schema)[0]


def _violations(error, base):
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                yield Violation(
                    json_pointer([*error.absolute_path, name], base),
                    "is required",
                )
        return
    if error.validator in ("anyOf", "oneOf") and error.context:
        # Report the alternative that went deepest: it is the one the sender meant.
        best = max(error.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > len(error.absolute_path):
            yield from _violations(best, base)
            return
    yield Violation(json_pointer(error.absolute_path, base), error.message)


def validate(schema, instance, base=""):
    """Validate ``instance`` and list what fails, one entry per JSON pointer.

    :param schema: the schema as a dict or as JSON text (the compiled form is cached)
    :param instance: the decoded JSON value to check
    :param base: a pointer prefix, e.g. ``/data`` when ``instance`` is an event's data
    :return: a sorted list of :class:`Violation`, empty when the instance is valid
    """
    validator, fast_check = _compiled_pair(schema)
    if fast_check is not None and fast_check(instance):
        return []  # valid: the fast check says so in a fraction of the time
    found = set()
    for error in validator.iter_errors(instance):
        found.update(_violations(error, base))
    return sorted(found)


def assert_valid(schema, instance, base=""):
    """Like :func:`validate`, but raise :class:`ValidationFailed` with the pointers."""
    violations = validate(schema, instance, base)
    if violations:
        raise ValidationFailed(
            f"{len(violations)} value(s) do not match the schema.",
            errors=[v.as_dict() for v in violations],
        )
