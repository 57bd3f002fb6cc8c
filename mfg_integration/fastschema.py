"""A fast yes/no JSON Schema check for the hot path of ingestion.

``jsonschema`` walks a schema generically for every instance; validating thousands of
events a second spends most of its time there. :func:`compile_check` turns a Draft
2020-12 schema into nested Python closures that only answer "valid or not". It
supports the keywords event schemas use; for a schema with any other keyword it
returns ``None`` and callers keep using ``jsonschema`` alone. A "not valid" answer is
always followed by ``jsonschema`` itself, which names the failing JSON pointers, so the
fast check decides nothing on its own but acceptance, and the test suite checks that
it agrees with ``jsonschema`` on the whole catalogue.
"""

import re

from jsonschema import Draft202012Validator

_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER

#: keywords that only annotate, and do not change what is valid
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format_description",
    }
)

_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


class _Unsupported(Exception):
    pass


def json_equal(a, b):
    """Equality as JSON Schema defines it: ``1 == 1.0``, but ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            json_equal(x, y) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Compiler:
    def __init__(self, root):
        self.root = root
        self.refs = {}

    def ref(self, pointer):
        if pointer in self.refs:
            return lambda v: self.refs[pointer](v)
        if not pointer.startswith("#"):
            raise _Unsupported(pointer)
        target = self.root
        for part in filter(None, pointer[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, list):
                target = target[int(part)]
            elif isinstance(target, dict) and part in target:
                target = target[part]
            else:
                raise _Unsupported(pointer)
        self.refs[pointer] = None
        self.refs[pointer] = self.compile(target)
        return lambda v: self.refs[pointer](v)

    def compile(self, schema):
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported("schema")
        checks = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            build = getattr(self, "k_" + keyword.replace("$", "dollar_"), None)
            if build is None:
                raise _Unsupported(keyword)
            check = build(value, schema)
            if check is not None:
                checks.append(check)
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    # -- keywords --------------------------------------------------------------------

    def k_dollar_ref(self, value, schema):
        return self.ref(value)

    def k_type(self, value, schema):
        tests = [_TYPES[t] for t in ([value] if isinstance(value, str) else value)]
        return lambda v: any(test(v) for test in tests)

    def k_enum(self, value, schema):
        return lambda v: any(json_equal(v, option) for option in value)

    def k_const(self, value, schema):
        return lambda v: json_equal(v, value)

    def k_minimum(self, value, schema):
        return lambda v: not _is_number(v) or v >= value

    def k_maximum(self, value, schema):
        return lambda v: not _is_number(v) or v <= value

    def k_exclusiveMinimum(self, value, schema):  # noqa: N802 - JSON Schema keyword
        return lambda v: not _is_number(v) or v > value

    def k_exclusiveMaximum(self, value, schema):  # noqa: N802
        return lambda v: not _is_number(v) or v < value

    def k_multipleOf(self, value, schema):  # noqa: N802
        raise _Unsupported("multipleOf")  # float semantics: leave it to jsonschema

    def k_minLength(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, str) or len(v) >= value

    def k_maxLength(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, str) or len(v) <= value

    def k_pattern(self, value, schema):
        regex = re.compile(value)
        return lambda v: not isinstance(v, str) or regex.search(v) is not None

    def k_format(self, value, schema):
        return lambda v: _FORMAT_CHECKER.conforms(v, value)

    def k_minItems(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) >= value

    def k_maxItems(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) <= value

    def k_uniqueItems(self, value, schema):  # noqa: N802
        if not value:
            return None

        def unique(v):
            if not isinstance(v, list):
                return True
            return not any(
                json_equal(v[i], v[j])
                for i in range(len(v))
                for j in range(i + 1, len(v))
            )

        return unique

    def k_items(self, value, schema):
        if "prefixItems" in schema:
            raise _Unsupported("prefixItems")
        check = self.compile(value)
        return lambda v: not isinstance(v, list) or all(check(item) for item in v)

    def k_contains(self, value, schema):
        if "minContains" in schema or "maxContains" in schema:
            raise _Unsupported("minContains")
        check = self.compile(value)
        return lambda v: not isinstance(v, list) or any(check(item) for item in v)

    def k_properties(self, value, schema):
        checks = {name: self.compile(sub) for name, sub in value.items()}

        def properties(v):
            if not isinstance(v, dict):
                return True
            return all(check(v[name]) for name, check in checks.items() if name in v)

        return properties

    def k_additionalProperties(self, value, schema):  # noqa: N802
        if "patternProperties" in schema:
            raise _Unsupported("patternProperties")
        known = frozenset(schema.get("properties", ()))
        check = self.compile(value)

        def additional(v):
            if not isinstance(v, dict):
                return True
            return all(check(v[name]) for name in v if name not in known)

        return additional

    def k_required(self, value, schema):
        return lambda v: not isinstance(v, dict) or all(name in v for name in value)

    def k_minProperties(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) >= value

    def k_maxProperties(self, value, schema):  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) <= value

    def k_dependentRequired(self, value, schema):  # noqa: N802
        def dependent(v):
            if not isinstance(v, dict):
                return True
            return all(
                all(needed in v for needed in needs)
                for name, needs in value.items()
                if name in v
            )

        return dependent

    def k_allOf(self, value, schema):  # noqa: N802
        checks = [self.compile(sub) for sub in value]
        return lambda v: all(check(v) for check in checks)

    def k_anyOf(self, value, schema):  # noqa: N802
        checks = [self.compile(sub) for sub in value]
        return lambda v: any(check(v) for check in checks)

    def k_oneOf(self, value, schema):  # noqa: N802
        checks = [self.compile(sub) for sub in value]
        return lambda v: sum(1 for check in checks if check(v)) == 1

    def k_not(self, value, schema):
        check = self.compile(value)
        return lambda v: not check(v)

    def k_if(self, value, schema):
        condition = self.compile(value)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda v: then(v) if condition(v) else otherwise(v)

    def k_then(self, value, schema):
        return None  # compiled with "if"

    def k_else(self, value, schema):
        return None  # compiled with "if"


def compile_check(schema):
    """Compile ``schema`` into ``check(instance) -> bool``.

    :param schema: a Draft 2020-12 schema (a dict)
    :return: the check, or ``None`` when the schema uses a keyword the fast path does
        not support (validate with ``jsonschema`` then)
    """
    try:
        return _Compiler(schema).compile(schema)
    except (_Unsupported, re.error, KeyError, TypeError, ValueError, IndexError):
        return None
