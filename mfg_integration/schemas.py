"""JSON Schema (Draft 2020-12) checking and validation with JSON pointers.

Event types carry JSON Schemas written by people. :func:`check_schema` refuses a
document that is not a valid Draft 2020-12 schema, that refers to anything but its
own parts, or whose ``examples`` do not validate, and names where the problem is.
:func:`validate` returns one :class:`Violation` per failing JSON pointer of an
instance, ready for an RFC 9457 ``errors`` list. Compiled validators are cached by
schema text, so validating many payloads against the same schema does not recompile
it."""

import json
import re
from dataclasses import dataclass
from functools import lru_cache

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import SchemaInvalid, ValidationFailed

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
#: the formats that jsonschema-rs asserts (Draft 2020-12's, and a few more)
_RS_FORMATS = frozenset(
    {
        "date",
        "date-time",
        "duration",
        "email",
        "hostname",
        "idn-email",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "iri",
        "iri-reference",
        "json-pointer",
        "regex",
        "relative-json-pointer",
        "time",
        "uri",
        "uri-reference",
        "uri-template",
        "uuid",
    }
)


def _any_value(_value):
    return True


#: jsonschema asserts a format only when the package that checks it is installed
#: (``duration`` needs isoduration, ``uri`` rfc3987…); jsonschema-rs asserts all of
#: them. The fast check must not be stricter either (under ``not``, stricter means
#: accepting what jsonschema refuses): the formats jsonschema leaves unchecked here
#: are unchecked there too.
_UNCHECKED_FORMATS = {
    name: _any_value for name in _RS_FORMATS - set(_FORMAT_CHECKER.checkers)
}

#: keywords whose value is one subschema, a list of subschemas, a map of subschemas
_ONE_SUBSCHEMA = frozenset(
    {
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset(
    {"$defs", "dependentSchemas", "patternProperties", "properties"}
)


@dataclass(frozen=True, order=True)
class Violation:
    """One failing place of an instance: an RFC 6901 ``pointer`` and a ``message``."""

    pointer: str
    message: str

    def as_dict(self):
        return {"pointer": self.pointer, "message": self.message}


_SCHEMA_URN = re.compile(
    r"^urn:mfg-integration:event:(?P<code>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)"
    r":v(?P<version>[1-9][0-9]{0,5})$"
)


def schema_urn(code, version):
    """The ``dataschema`` of version ``version`` of event type ``code``, as the
    schema's ``$id`` and CloudEvents name it:
    ``urn:mfg-integration:event:<code>:v<n>``."""
    return f"urn:mfg-integration:event:{code}:v{int(version)}"


def parse_schema_urn(text):
    """``(code, version)`` of a :func:`schema_urn`, or None for any other text."""
    match = _SCHEMA_URN.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    return match["code"], int(match["version"])


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


def resolve_local_ref(root, ref):
    """Return the part of the schema document ``root`` that ``ref`` points to, when
    ``ref`` is a plain JSON pointer fragment of the same document that does not go
    through a nested resource (a subschema with its own ``$id``).

    :param root: the schema document
    :param ref: a reference such as ``#/$defs/quantity``
    :raise LookupError: when ``ref`` is another kind of reference (an anchor,
        another document, a percent-encoded pointer), goes through a nested
        resource, or points nowhere
    """
    if not isinstance(ref, str) or "%" in ref or (ref != "#" and ref[:2] != "#/"):
        raise LookupError(ref)
    target = root
    for part in ref[2:].split("/") if ref != "#" else ():
        if target is not root and isinstance(target, dict) and "$id" in target:
            raise LookupError(ref)  # a nested resource: its own base
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        elif isinstance(target, dict) and part in target:
            target = target[part]
        else:
            raise LookupError(ref)
    return target


def _subschemas(schema, path=()):
    """Yield ``(path, subschema)`` for ``schema`` and every schema below it."""
    yield path, schema
    if not isinstance(schema, dict):
        return
    for name, value in schema.items():
        if name in _ONE_SUBSCHEMA:
            yield from _subschemas(value, (*path, name))
        elif name in _SUBSCHEMA_LISTS and isinstance(value, list):
            for index, item in enumerate(value):
                yield from _subschemas(item, (*path, name, index))
        elif name in _SUBSCHEMA_MAPS and isinstance(value, dict):
            for key, item in value.items():
                yield from _subschemas(item, (*path, name, key))


def _reference_problems(schema):
    """What makes references unusable: a nested resource (``$id`` or ``$schema``
    below the root, which jsonschema resolves inconsistently under ``not``, ``if``
    and ``contains``), or a ``$ref`` that is not a JSON pointer into this very
    document, or points nowhere (nothing is ever fetched from elsewhere)."""
    for path, subschema in _subschemas(schema):
        if not isinstance(subschema, dict):
            continue
        for keyword in ("$id", "$schema"):
            if path and keyword in subschema:
                yield (
                    json_pointer([*path, keyword]),
                    f"'{keyword}' is only supported at the root of an event schema",
                )
        for keyword in ("$ref", "$dynamicRef"):
            if keyword not in subschema:
                continue
            try:
                resolve_local_ref(schema, subschema[keyword])
            except LookupError:
                yield (
                    json_pointer([*path, keyword]),
                    "must be a JSON pointer to a part of this schema, such as "
                    "'#/$defs/quantity'",
                )


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
    problems = [
        {"pointer": pointer, "message": message}
        for pointer, message in _reference_problems(schema)
    ]
    if problems:
        first = problems[0]
        raise SchemaInvalid(
            f"The schema is not valid at {first['pointer']}: {first['message']}.",
            errors=problems,
        )
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


def fast_check(schema):
    """Return a yes/no check of instances against ``schema``, or None.

    ``jsonschema`` walks a schema generically for every instance: validating
    thousands of events a second spends most of its time there. The check is
    ``jsonschema-rs`` (Draft 2020-12, compiled to native code, with format
    assertions and no network access), about 150 times faster on the catalogue
    (``bench/`` measures it). Only its "valid" is final: on "not valid"
    :func:`validate` asks ``jsonschema``, which names the failing pointers, so a
    difference between the two (Python and ECMA regular expressions differ on
    Unicode classes, say) can only cost time, never accept what ``jsonschema``
    refuses (the test suite checks that on generated schemas).

    :param schema: a Draft 2020-12 schema (a dict)
    :return: ``check(instance) -> bool``, or None when ``jsonschema-rs`` cannot
        compile the schema or answers otherwise than ``jsonschema`` by design
        (``multipleOf`` with a fraction): ``jsonschema`` alone validates then
    """
    if any(
        isinstance(subschema, dict) and isinstance(subschema.get("multipleOf"), float)
        for _path, subschema in _subschemas(schema)
    ):
        return None  # jsonschema divides floats (0.3 is no multiple of 0.1 there)
    try:
        validator = jsonschema_rs.Draft202012Validator(
            schema, validate_formats=True, offline=True, formats=_UNCHECKED_FORMATS
        )
    except (jsonschema_rs.ValidationError, ValueError, TypeError):
        return None
    return validator.is_valid


@lru_cache(maxsize=512)
def _compiled(schema_text):
    schema = json.loads(schema_text)
    validator = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    return validator, fast_check(schema)


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
