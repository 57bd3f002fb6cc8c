"""The fast check must agree with jsonschema: on the whole catalogue, its examples and
many mutations of them, and on the corner cases of JSON Schema's semantics."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mfg_integration import schemas
from mfg_integration.fastschema import compile_check, json_equal

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = sorted(ROOT.glob("addons/*/data/schemas/*.json"))
SCHEMAS = {path.name: json.loads(path.read_text()) for path in CATALOGUE}


def reference(schema, instance):
    validator = Draft202012Validator(
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(instance)


def test_the_whole_catalogue_compiles_and_accepts_its_examples():
    assert len(SCHEMAS) == 15
    for name, schema in SCHEMAS.items():
        check = compile_check(schema)
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
    assert compile_check(schema)(instance) is reference(schema, instance)


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
    assert compile_check(schema)(instance) is reference(schema, instance)


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
    check = compile_check(schema)
    assert check({"name": "a", "children": [{"name": "b", "children": []}]})
    assert not check({"name": "a", "children": [{"children": []}]})


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {"^x": {}}, "additionalProperties": False},
        {"prefixItems": [{}], "items": False},
        {"multipleOf": 0.1},
        {"unevaluatedProperties": False},
    ],
)
def test_unsupported_keywords_fall_back_to_jsonschema(schema):
    assert compile_check(schema) is None
    # validate() still answers, through jsonschema alone
    assert isinstance(schemas.validate(schema, {"x": 1}), list)


def test_remote_references_are_not_compiled():
    assert compile_check({"$ref": "https://example.com/other.json"}) is None


def test_json_equal():
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal([1], [True])
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal("1", 1)


def test_validate_uses_the_fast_path_and_still_names_pointers():
    schema = SCHEMAS["work_order.progress_reported.v1.json"]
    example = schema["examples"][0]
    assert schemas.validate(schema, example) == []
    broken = dict(example)
    broken.pop(schema["required"][0])
    assert schemas.validate(schema, broken, base="/data")[0].pointer.startswith("/data")
