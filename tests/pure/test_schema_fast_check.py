"""The fast check (jsonschema-rs) must never say "valid" where jsonschema says "not
valid": on the whole catalogue, its examples and many mutations of them, on generated
schemas and instances, and on the corner cases of JSON Schema's semantics. And
validate() must answer exactly as jsonschema does."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mfg_integration import schemas
from mfg_integration.errors import SchemaInvalid

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = sorted(ROOT.glob("addons/*/data/schemas/*.json"))
SCHEMAS = {path.name: json.loads(path.read_text()) for path in CATALOGUE}


def reference(schema, instance):
    validator = Draft202012Validator(
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(instance)


def assert_sound(schema, instance):
    """The fast check says "valid" only where jsonschema does, and validate()
    answers as jsonschema."""
    expected = reference(schema, instance)
    check = schemas.fast_check(schema)
    if check is not None and check(instance):
        assert expected, (schema, instance)
    assert (schemas.validate(schema, instance) == []) is expected
    return check


def test_the_whole_catalogue_compiles_and_accepts_its_examples():
    # 16 domain event types, 6 meta-events, 2 onboarding tests
    assert len(SCHEMAS) == 24
    for name, schema in SCHEMAS.items():
        check = schemas.fast_check(schema)
        assert check is not None, name
        for example in schema["examples"]:
            assert check(example), name


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, 1.0, 1.5, -0.5, 1e9]),
    st.sampled_from(
        ["", "x", "WH/MO/00042", "2026-11-24T08:00:00Z", "2026-13-45T99:00:00Z", "kg"]
    ),
    st.just([]),
    st.just({}),
    st.lists(st.sampled_from(["a", 1, None]), max_size=3),
)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SCHEMAS)))
    schema = SCHEMAS[name]
    instance = copy.deepcopy(draw(st.sampled_from(schema["examples"])))
    for _step in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(paths(instance))))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                instance = draw(odd_values)
            continue
        parent = instance
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if action == "replace":
            parent[last] = draw(odd_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent["unexpected_" + str(last)] = draw(odd_values)
    return name, instance


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_agrees_with_jsonschema_on_mutated_examples(case):
    name, instance = case
    schema = SCHEMAS[name]
    assert schemas.fast_check(schema)(instance) is reference(schema, instance)


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"type": "integer"}, 1.0),
        ({"type": "integer"}, True),
        ({"type": "number"}, False),
        ({"enum": [1]}, True),
        ({"enum": [True]}, 1),
        ({"const": 1}, 1.0),
        ({"const": {"a": [1, 2]}}, {"a": [1.0, 2]}),
        ({"uniqueItems": True}, [1, True]),
        ({"uniqueItems": True}, [1, 1.0]),
        ({"minLength": 2}, "é"),
        ({"pattern": "b"}, "abc"),
        ({"minimum": 0}, "not a number"),
        ({"format": "date-time"}, "yesterday"),
        ({"format": "date-time"}, 17),
        ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
        ({"if": {"required": ["a"]}, "else": {"required": ["b"]}}, {}),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1}),
        ({"contains": {"const": 2}}, [1, 3]),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 5),
        ({"not": {"type": "string"}}, 5),
        (
            {"$defs": {"n": {"type": "integer"}}, "items": {"$ref": "#/$defs/n"}},
            [1, "2"],
        ),
    ],
)
def test_corner_cases_agree(schema, instance):
    assert schemas.fast_check(schema)(instance) is reference(schema, instance)


def test_recursive_references():
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"items": {"$ref": "#/$defs/node"}}},
                "required": ["name"],
            }
        },
        "$ref": "#/$defs/node",
    }
    check = schemas.fast_check(schema)
    assert check({"name": "a", "children": [{"name": "b", "children": []}]})
    assert not check({"name": "a", "children": [{"children": []}]})


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"patternProperties": {"^x": {}}, "additionalProperties": False}, {"y": 1}),
        ({"prefixItems": [{"type": "string"}], "items": False}, ["a", 1]),
        ({"multipleOf": 0.1}, 0.3),
        ({"unevaluatedProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
        ({"pattern": "^\\d+$"}, "\u0661\u0662"),  # Arabic-Indic digits: re vs ECMA
        ({"format": "email"}, "not-an-email"),
    ],
)
def test_other_keywords_are_sound(schema, instance):
    assert_sound(schema, instance)


def test_remote_references_are_never_fetched():
    assert schemas.fast_check({"$ref": "http://127.0.0.1:9/other.json"}) is None


def test_validate_uses_the_fast_path_and_still_names_pointers():
    schema = SCHEMAS["work_order.progress_reported.v1.json"]
    example = schema["examples"][0]
    assert schemas.validate(schema, example) == []
    broken = dict(example)
    broken.pop(schema["required"][0])
    assert schemas.validate(schema, broken, base="/data")[0].pointer.startswith("/data")


# -- nested resources, anchors, references -------------------------------------

NESTED_ID = {
    "$defs": {"x": {"type": "integer"}},
    "properties": {
        "a": {
            "$id": "https://e/inner",
            "$defs": {"x": {"type": "string"}},
            "$ref": "#/$defs/x",
        }
    },
}


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (NESTED_ID, {"a": 5}),
        (
            {
                "$defs": {"x": {"type": "integer"}},
                "$ref": "#/properties/a/properties/b",
                "properties": {
                    "a": {
                        "$id": "https://e/inner",
                        "$defs": {"x": {"type": "string"}},
                        "properties": {"b": {"$ref": "#/$defs/x"}},
                    }
                },
            },
            5,
        ),
        ({"$defs": {"x": {"$anchor": "x", "type": "string"}}, "$ref": "#x"}, 5),
        ({"$defs": {"a b": {"type": "string"}}, "$ref": "#/$defs/a%20b"}, 5),
        (
            {
                "$defs": {"n": {"$dynamicAnchor": "node", "type": "string"}},
                "$dynamicRef": "#node",
            },
            5,
        ),
        (
            {
                "properties": {
                    "a": {"$schema": "http://json-schema.org/draft-07/schema#"}
                }
            },
            {},
        ),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, 5),
        ({"unevaluatedItems": False, "prefixItems": [{}]}, [1, 2]),
    ],
)
def test_nested_resources_anchors_and_dynamic_references_are_sound(schema, instance):
    assert_sound(schema, instance)


def test_the_issue_example_is_refused_as_jsonschema_refuses_it():
    assert not schemas.fast_check(NESTED_ID)({"a": 5})
    assert schemas.validate(NESTED_ID, {"a": 5})[0].pointer == "/a"


@pytest.mark.parametrize("name", sorted(schemas._RS_FORMATS))
@pytest.mark.parametrize("text", ["", "P1D", "x y", "2026-11-24T08:00:00Z"])
def test_formats_are_asserted_as_jsonschema_asserts_them_here(name, text):
    # jsonschema checks a format only when its package is installed: under "not",
    # a stricter fast check would accept what jsonschema refuses
    for schema in ({"format": name}, {"not": {"format": name}}):
        if schemas.fast_check(schema)(text):
            assert reference(schema, text), (schema, text)


# -- generated schemas and instances ---------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c"])
FORMATS = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uuid",
    "json-pointer",
    "regex",
]
STRINGS = [
    "",
    "a",
    "ab1",
    "b",
    "2026-11-24T08:00:00Z",
    "2026-11-24T08:00:00+01:00",
    "2026-11-24t08:00:00z",
    "2026-11-24T23:59:60Z",
    "2026-02-29",
    "2026-11-24",
    "08:00:00Z",
    "08:00:00",
    "P1D",
    "PT1.5H",
    "P1W2D",
    "x@y.org",
    "a..b@y.org",
    "@y",
    "plant-1.example.com",
    "-bad-.example",
    "10.0.0.1",
    "10.0.0.256",
    "::1",
    "https://example.com/a b",
    "urn:mes:line1",
    "/a/b",
    "/a~2",
    "550e8400-e29b-41d4-a716-446655440000",
    "550E8400E29B41D4A716446655440000",
    "[a-",
    "\\d+",
]
TYPES = ["null", "boolean", "object", "array", "string", "number", "integer"]
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-3, max_value=3),
        st.sampled_from([0.0, 1.0, 1.5, -0.5]),
        st.sampled_from(STRINGS),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)
    ),
    max_leaves=6,
)
small = st.integers(min_value=0, max_value=3)
bound = st.one_of(st.integers(min_value=-2, max_value=2), st.just(0.5))


def keyword(name, values):
    return values.map(lambda value: {name: value})


plain_leaves = st.one_of(
    st.booleans(),
    keyword("type", st.sampled_from(TYPES)),
    keyword(
        "type", st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)
    ),
    *(keyword(k, bound) for k in ("minimum", "maximum", "exclusiveMinimum")),
    keyword("exclusiveMaximum", bound),
    *(keyword(k, small) for k in ("minLength", "maxLength", "minItems", "maxItems")),
    *(keyword(k, small) for k in ("minProperties", "maxProperties")),
    keyword("pattern", st.sampled_from(["^a", "b$", "[0-9]"])),
    keyword("format", st.sampled_from(FORMATS)),
    keyword("multipleOf", st.sampled_from([2, 0.5, 0.1])),
    keyword("enum", st.lists(json_values, min_size=1, max_size=3)),
    keyword("const", json_values),
    keyword("uniqueItems", st.booleans()),
    keyword("required", st.lists(NAMES, max_size=2, unique=True)),
    keyword(
        "dependentRequired",
        st.dictionaries(NAMES, st.lists(NAMES, max_size=2, unique=True), max_size=2),
    ),
)


def merged(pair):
    first, second = pair
    if isinstance(first, dict) and isinstance(second, dict):
        return {**first, **second}
    return first


def compound(children):
    return st.one_of(
        st.tuples(children, children).map(merged),
        keyword("properties", st.dictionaries(NAMES, children, max_size=2)),
        st.tuples(st.dictionaries(NAMES, children, max_size=2), children).map(
            lambda p: {"properties": p[0], "additionalProperties": p[1]}
        ),
        keyword("items", children),
        keyword("contains", children),
        keyword("not", children),
        *(keyword(k, st.lists(children, min_size=1, max_size=3)) for k in ("allOf",)),
        keyword("anyOf", st.lists(children, min_size=1, max_size=3)),
        keyword("oneOf", st.lists(children, min_size=1, max_size=3)),
        st.tuples(children, children, children).map(
            lambda t: {"if": t[0], "then": t[1], "else": t[2]}
        ),
        # a nested resource: its "#/$defs/d" is its own, not the root's
        plain_leaves.map(
            lambda c: {"$id": "https://e/inner", "$defs": {"d": c}, "$ref": "#/$defs/d"}
        ),
    )


plain_schemas = st.recursive(plain_leaves, compound, max_leaves=6)
body_schemas = st.recursive(
    st.one_of(plain_leaves, st.just({"$ref": "#/$defs/d"})), compound, max_leaves=6
)


def numbered_ids(schema):
    """Give each nested resource its own $id: the same $id twice means nothing."""
    counter = iter(range(1_000_000))

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {name: walk(value) for name, value in node.items()}
        if node.get("$id") == "https://e/inner":
            node["$id"] = f"https://e/inner/{next(counter)}"
        return node

    return walk(schema)


generated_schemas = st.tuples(plain_schemas, body_schemas, st.booleans()).map(
    lambda t: numbered_ids(
        {
            **({"$id": "https://e/root"} if t[2] else {}),
            "$defs": {"d": t[0]},
            "allOf": [t[1]],
        }
    )
)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated_schemas, json_values)
def test_agrees_with_jsonschema_on_generated_schemas(schema, instance):
    try:
        schemas.check_schema(schema)
    except SchemaInvalid as exc:
        # nested resources are refused when saved: jsonschema itself resolves
        # them against the wrong base under not/if/contains
        assert "https://e/inner" in json.dumps(schema)
        assert "only supported at the root" in exc.detail
        return
    if assert_sound(schema, instance) is None:  # only where it is left to jsonschema
        assert '"multipleOf": 0.' in json.dumps(schema)


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        (NESTED_ID, "/properties/a/$id"),
        ({"not": {"$schema": schemas.DRAFT_2020_12}}, "/not/$schema"),
        ({"$ref": "https://example.com/other.json"}, "/$ref"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "/properties/a/$ref"),
        ({"$defs": {"x": {"$anchor": "x"}}, "items": {"$ref": "#x"}}, "/items/$ref"),
        ({"allOf": [{"$dynamicRef": "#/$defs/nope"}]}, "/allOf/0/$dynamicRef"),
    ],
)
def test_check_schema_refuses_what_cannot_be_resolved_here(schema, pointer):
    with pytest.raises(SchemaInvalid) as info:
        schemas.check_schema(schema)
    assert [e["pointer"] for e in info.value.errors] == [pointer]


def test_check_schema_accepts_plain_local_references():
    schema = {
        "$id": "https://example.com/event.json",
        "$defs": {"q": {"type": "number"}, "list": {"items": {"$ref": "#/$defs/q"}}},
        "properties": {"q": {"$ref": "#/$defs/q"}, "all": {"$ref": "#"}},
    }
    assert schemas.check_schema(schema) is schema
