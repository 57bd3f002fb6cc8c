import json

import pytest

from mfg_integration import schemas
from mfg_integration.errors import SchemaInvalid, ValidationFailed

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order", "quantity", "time"],
    "properties": {
        "order": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "quantity": {
            "type": "object",
            "required": ["value", "uom"],
            "properties": {
                "value": {"type": "number", "exclusiveMinimum": 0},
                "uom": {"type": "string"},
            },
        },
        "lots": {"type": "array", "items": {"type": "string", "pattern": "^L"}},
        "a/b~c": {"type": "integer"},
    },
    "examples": [
        {
            "order": "WH/MO/00042",
            "time": "2026-11-24T08:00:00Z",
            "quantity": {"value": 3, "uom": "Units"},
        }
    ],
}


def test_valid_schema_passes_and_text_is_accepted():
    assert schemas.check_schema(SCHEMA) is SCHEMA
    assert schemas.check_schema(json.dumps(SCHEMA)) == SCHEMA


def test_not_json_or_not_object():
    with pytest.raises(SchemaInvalid, match="not valid JSON"):
        schemas.check_schema("{nope")
    with pytest.raises(SchemaInvalid, match="JSON object"):
        schemas.check_schema("[1, 2]")


def test_other_dialect_refused():
    bad = dict(SCHEMA, **{"$schema": "http://json-schema.org/draft-07/schema#"})
    with pytest.raises(SchemaInvalid, match="2020-12"):
        schemas.check_schema(bad)


def test_invalid_keyword_value_names_the_pointer():
    bad = json.loads(json.dumps(SCHEMA))
    bad["properties"]["quantity"]["properties"]["value"]["type"] = "decimal"
    with pytest.raises(SchemaInvalid) as info:
        schemas.check_schema(bad)
    assert "/properties/quantity/properties/value/type" in info.value.detail
    assert info.value.errors[0]["pointer"].startswith("/properties/quantity")


def test_non_object_event_schema_refused():
    with pytest.raises(SchemaInvalid, match="object"):
        schemas.check_schema({"type": "array"})


def test_invalid_example_is_refused_with_its_pointer():
    bad = json.loads(json.dumps(SCHEMA))
    bad["examples"].append({"order": "", "time": "yesterday", "quantity": {"uom": 1}})
    with pytest.raises(SchemaInvalid) as info:
        schemas.check_schema(bad)
    pointers = {e["pointer"] for e in info.value.errors}
    assert pointers == {
        "/examples/1/order",
        "/examples/1/time",
        "/examples/1/quantity/value",
        "/examples/1/quantity/uom",
    }


def test_examples_must_be_a_list():
    bad = dict(SCHEMA, examples={"order": "x"})
    with pytest.raises(SchemaInvalid, match="/examples"):
        schemas.check_schema(bad)


def test_validate_lists_each_pointer_once_sorted():
    instance = {
        "time": "2026-13-45T99:00:00Z",
        "quantity": {"value": 0},
        "lots": ["L1", "X2"],
        "a/b~c": "x",
    }
    violations = schemas.validate(SCHEMA, instance, base="/data")
    assert [v.pointer for v in violations] == [
        "/data/a~1b~0c",
        "/data/lots/1",
        "/data/order",
        "/data/quantity/uom",
        "/data/quantity/value",
        "/data/time",
    ]
    assert dict((v.pointer, v.message) for v in violations)["/data/order"] == (
        "is required"
    )


def test_valid_instance_has_no_violations():
    assert schemas.validate(SCHEMA, SCHEMA["examples"][0]) == []


def test_root_type_error_points_at_base():
    violations = schemas.validate(SCHEMA, [1], base="/data")
    assert [v.pointer for v in violations] == ["/data"]


def test_assert_valid_raises_with_errors():
    with pytest.raises(ValidationFailed) as info:
        schemas.assert_valid(SCHEMA, {}, base="/data")
    assert info.value.status == 422
    assert {e["pointer"] for e in info.value.errors} == {
        "/data/order",
        "/data/quantity",
        "/data/time",
    }


def test_compiled_validator_is_cached():
    text = json.dumps(SCHEMA)
    assert schemas.compiled_validator(text) is schemas.compiled_validator(text)
    assert schemas.compiled_validator(SCHEMA) is schemas.compiled_validator(
        json.loads(text)
    )


def test_one_of_reports_the_deepest_branch():
    schema = {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["code"],
                "properties": {"code": {"type": "string"}},
            },
        ]
    }
    violations = schemas.validate(schema, {"code": 5})
    assert [v.pointer for v in violations] == ["/code"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("urn:mfg-integration:event:inspection.failed:v1", ("inspection.failed", 1)),
        ("urn:mfg-integration:event:a.b_c.d:v12", ("a.b_c.d", 12)),
        ("urn:mfg-integration:event:inspection.failed:v0", None),
        ("urn:mfg-integration:event:inspection.failed", None),
        ("urn:mfg-integration:event:Inspection.failed:v1", None),
        ("https://example.com/schemas/inspection.failed.json", None),
        ("urn:mfg-integration:event:inspection.failed:v1 ", None),
        (None, None),
        (7, None),
    ],
)
def test_schema_urn_round_trip(text, expected):
    assert schemas.parse_schema_urn(text) == expected
    if expected:
        assert schemas.schema_urn(*expected) == text
