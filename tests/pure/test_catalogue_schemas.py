"""Pure checks of the canonical event catalogue shipped by the domain addons.

Every ``addons/*/data/schemas/*.json`` file must be a JSON Schema Draft 2020-12
document for the CloudEvent ``data`` of one event type, whose examples validate
against it with format checking on. The ``data/mfg_integration_event_type_data.xml``
files must declare exactly the seed catalogue of the architecture, each event type
with a schema record pointing to an existing schema file.

This module never imports odoo: it runs in the pure tier.
"""

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDONS_DIR = REPO_ROOT / "addons"

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE_NAME = re.compile(
    r"^(?P<code>[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.json$"
)
SCHEMA_ID = "urn:mfg-integration:event:{code}:v{version}"
EVENT_TYPE_DATA = "data/mfg_integration_event_type_data.xml"
SYSTEM_DEMO = "demo/mfg_integration_system_demo.xml"
SYSTEM_KINDS = {"mes", "qms", "cmms", "wms", "iot", "supplier_portal", "other"}

CORE = "mfg_integration_core"
MES = "mfg_integration_mes"
MAINTENANCE = "mfg_integration_maintenance"
QUALITY = "mfg_integration_quality"

# The seed catalogue of ARCHITECTURE.md and the hub's meta-events: event type code ->
# (owning addon, direction).
EXPECTED_EVENTS = {
    "production_order.released": (MES, "outbound"),
    "production_order.cancelled": (MES, "outbound"),
    "work_order.progress_reported": (MES, "inbound"),
    "production_order.completed": (MES, "inbound"),
    "material.consumed": (MES, "inbound"),
    "machine.downtime_started": (MAINTENANCE, "inbound"),
    "machine.downtime_ended": (MAINTENANCE, "inbound"),
    "maintenance.work_order_created": (MAINTENANCE, "outbound"),
    "maintenance.work_order_completed": (MAINTENANCE, "inbound"),
    "spare_part.consumed": (MAINTENANCE, "inbound"),
    "inspection.result_recorded": (QUALITY, "inbound"),
    "inspection.failed": (QUALITY, "inbound"),
    "nonconformance.opened": (QUALITY, "outbound"),
    "supplier_corrective_action.opened": (QUALITY, "outbound"),
    "batch.disposition_approved": (QUALITY, "inbound"),
    # the MES's answer to an order released behind a release gate (process flows)
    "production_order.release_acknowledged": (MES, "inbound"),
    # operational events of the hub itself (meta-events), for a plant's alerting
    "integration.endpoint_disabled": (CORE, "outbound"),
    "integration.circuit_opened": (CORE, "outbound"),
    "integration.dead_letter_threshold": (CORE, "outbound"),
    "integration.slo_breached": (CORE, "outbound"),
    "integration.slo_recovered": (CORE, "outbound"),
    "integration.system_silent": (CORE, "outbound"),
    # the two tests of a system's onboarding
    "integration.ping": (CORE, "inbound"),
    "integration.connection_test": (CORE, "outbound"),
}

SCHEMA_FILES = sorted(ADDONS_DIR.glob("*/data/schemas/*.json"))
EVENT_TYPE_DATA_FILES = sorted(ADDONS_DIR.glob(f"*/{EVENT_TYPE_DATA}"))


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_path(code, version=1):
    addon = EXPECTED_EVENTS[code][0]
    return ADDONS_DIR / addon / "data" / "schemas" / f"{code}.v{version}.json"


def _validator(schema):
    return Draft202012Validator(
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _iter_refs(node):
    """Yield every ``$ref`` value found anywhere in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _iter_refs(value)


def _iter_properties(node, pointer="#"):
    """Yield (JSON pointer, subschema) of every declared property.

    Follows ``properties``, ``items`` and ``$defs``: the places where the catalogue
    declares payload fields. Conditional subschemas (``if``/``then``) only constrain
    properties declared elsewhere, so they are not followed.
    """
    for name, sub in node.get("properties", {}).items():
        sub_pointer = f"{pointer}/properties/{name}"
        yield sub_pointer, sub
        yield from _iter_properties(sub, sub_pointer)
    for name, sub in node.get("$defs", {}).items():
        yield from _iter_properties(sub, f"{pointer}/$defs/{name}")
    items = node.get("items")
    if isinstance(items, dict):
        yield from _iter_properties(items, f"{pointer}/items")


def _has_type(schema, sub):
    """True when a subschema states its type, directly or through a local $ref."""
    if "type" in sub:
        return True
    ref = sub.get("$ref", "")
    if ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return _has_type(schema, target)
    return False


def _header_problems(file_name, schema):
    problems = []
    if schema.get("$schema") != DRAFT_2020_12:
        problems.append(f"$schema is {schema.get('$schema')!r}, not {DRAFT_2020_12}")
    match = SCHEMA_FILE_NAME.match(file_name)
    if not match:
        problems.append("file name is not <event type code>.v<version>.json")
    elif schema.get("$id") != SCHEMA_ID.format(**match.groupdict()):
        problems.append(f"$id {schema.get('$id')!r} does not match the file name")
    for key in ("title", "description"):
        if not schema.get(key):
            problems.append(f"{key} is missing")
    return problems


def _structure_problems(schema):
    problems = []
    if schema.get("type") != "object":
        problems.append("the data of an event must be an object")
    if schema.get("additionalProperties", True) is False:
        problems.append("top-level additionalProperties must not be false")
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not required:
        problems.append("required is empty")
    problems.extend(
        f"required property {name!r} is not in properties"
        for name in required
        if name not in properties
    )
    problems.extend(
        f"$ref {ref!r} leaves the document"
        for ref in _iter_refs(schema)
        if not ref.startswith("#")
    )
    for pointer, sub in _iter_properties(schema):
        if not sub.get("description"):
            problems.append(f"{pointer} has no description")
        if not _has_type(schema, sub):
            problems.append(f"{pointer} has no type")
    return problems


def _example_problems(schema):
    examples = schema.get("examples", [])
    if not examples:
        return ["examples is empty"]
    validator = _validator(schema)
    return [
        f"examples[{index}] {error.json_path}: {error.message}"
        for index, example in enumerate(examples)
        for error in sorted(validator.iter_errors(example), key=str)
    ]


def schema_problems(file_name, schema):
    """Return the list of catalogue rules a schema document breaks (empty if none).

    :param file_name: name of the schema file, e.g. ``inspection.failed.v1.json``
    :param schema: the parsed schema document
    :return: human-readable problems, one per broken rule
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"not a valid Draft 2020-12 schema: {exc.message}"]
    return (
        _header_problems(file_name, schema)
        + _structure_problems(schema)
        + _example_problems(schema)
    )


def _records(xml_path):
    """Map model -> list of (xml id, {field name: field element}) of an XML file."""
    root = ET.parse(xml_path).getroot()
    assert root.tag == "odoo", f"{xml_path}: root element is <{root.tag}>"
    records = {}
    for record in root.iter("record"):
        fields = {field.get("name"): field for field in record.iter("field")}
        records.setdefault(record.get("model"), []).append((record.get("id"), fields))
    return records


# --- schema files ----------------------------------------------------------------


def test_format_checker_checks_date_time():
    """Without rfc3339-validator, jsonschema silently skips the date-time format."""
    checkers = Draft202012Validator.FORMAT_CHECKER.checkers
    assert "date-time" in checkers, "install rfc3339-validator"
    assert "date" in checkers


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_file(path):
    schema = _load(path)
    assert schema_problems(path.name, schema) == []


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_rejects_example_without_a_required_property(path):
    schema = _load(path)
    validator = _validator(schema)
    for name in schema["required"]:
        for example in schema["examples"]:
            mutated = {key: value for key, value in example.items() if key != name}
            errors = list(validator.iter_errors(mutated))
            assert any(error.validator == "required" for error in errors), (
                f"an example without {name!r} is accepted"
            )
    broken = copy.deepcopy(schema)
    del broken["examples"][0][schema["required"][0]]
    problems = schema_problems(path.name, broken)
    assert any(problem.startswith("examples[0]") for problem in problems)


def _is_date_time(schema, sub):
    """True when a subschema is a date-time string, directly or through a local $ref."""
    if sub.get("format") == "date-time":
        return True
    ref = sub.get("$ref", "")
    if ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return target.get("format") == "date-time"
    return False


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_rejects_malformed_timestamp(path):
    schema = _load(path)
    validator = _validator(schema)
    example = schema["examples"][0]
    timestamps = [
        name
        for name, sub in schema["properties"].items()
        if name in example and _is_date_time(schema, sub)
    ]
    assert timestamps, "the first example has no top-level timestamp"
    for name in timestamps:
        for bad in ("2025-02-30T08:00:00Z", "2025-03-14 08:00", "2025-03-14T08:00"):
            mutated = dict(example, **{name: bad})
            errors = list(validator.iter_errors(mutated))
            assert any(error.validator == "format" for error in errors), (
                f"{name}={bad!r} is accepted"
            )


def _drop_required(schema):
    schema["required"] = []


def _unknown_required(schema):
    schema["required"].append("no_such_property")


def _bad_type(schema):
    schema["type"] = "objekt"


def _wrong_id(schema):
    schema["$id"] = "urn:mfg-integration:event:something.else:v1"


def _old_draft(schema):
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"


def _no_examples(schema):
    schema["examples"] = []


def _closed_top_level(schema):
    schema["additionalProperties"] = False


def _untyped_property(schema):
    schema["properties"]["extra"] = {"description": "A property without a type."}


def _undescribed_property(schema):
    schema["properties"]["extra"] = {"type": "string"}


def _external_ref(schema):
    schema["properties"]["extra"] = {
        "$ref": "https://example.com/schemas/extra.json",
        "description": "Points outside the document.",
    }


def _invalid_example(schema):
    schema["examples"][0]["reported_at"] = "2025-03-14T25:61:00Z"


@pytest.mark.parametrize(
    ("mutate", "expected_problem"),
    [
        pytest.param(_drop_required, "required is empty", id="empty-required"),
        pytest.param(_unknown_required, "is not in properties", id="unknown-required"),
        pytest.param(_bad_type, "not a valid Draft 2020-12", id="invalid-schema"),
        pytest.param(_wrong_id, "does not match the file name", id="wrong-id"),
        pytest.param(_old_draft, "$schema is", id="old-draft"),
        pytest.param(_no_examples, "examples is empty", id="no-examples"),
        pytest.param(_closed_top_level, "additionalProperties", id="closed-top"),
        pytest.param(_untyped_property, "/properties/extra has no type", id="no-type"),
        pytest.param(
            _undescribed_property,
            "/properties/extra has no description",
            id="no-description",
        ),
        pytest.param(_external_ref, "leaves the document", id="external-ref"),
        pytest.param(
            _invalid_example, "examples[0] $.reported_at", id="invalid-example"
        ),
    ],
)
def test_schema_checks_detect_broken_schema(mutate, expected_problem):
    path = _schema_path("work_order.progress_reported")
    schema = _load(path)
    assert schema_problems(path.name, schema) == []
    mutate(schema)
    problems = schema_problems(path.name, schema)
    assert any(expected_problem in problem for problem in problems), problems


def test_failed_inspection_must_name_a_failed_characteristic():
    schema = _load(_schema_path("inspection.result_recorded"))
    failed = next(e for e in schema["examples"] if e["result"] == "fail")
    all_passed = copy.deepcopy(failed)
    for characteristic in all_passed["characteristics"]:
        characteristic["result"] = "pass"
        characteristic.pop("defect_code", None)
    assert not _validator(schema).is_valid(all_passed)


def test_return_to_supplier_disposition_needs_the_supplier():
    schema = _load(_schema_path("batch.disposition_approved"))
    example = next(
        e for e in schema["examples"] if e["disposition"] == "return_to_supplier"
    )
    without_supplier = {k: v for k, v in example.items() if k != "supplier"}
    assert not _validator(schema).is_valid(without_supplier)


def test_nested_quantities_are_closed():
    schema = _load(_schema_path("material.consumed"))
    example = copy.deepcopy(schema["examples"][0])
    example["quantity"] = {"value": 25, "unit": "Units"}
    assert not _validator(schema).is_valid(example)
    example["quantity"] = {"value": 0, "uom": "Units"}
    assert not _validator(schema).is_valid(example)


# --- catalogue ---------------------------------------------------------------------


def test_catalogue_has_exactly_the_seed_event_types():
    found = {}
    for path in SCHEMA_FILES:
        match = SCHEMA_FILE_NAME.match(path.name)
        assert match, f"{path.relative_to(REPO_ROOT)}: unexpected file name"
        assert match["version"] == "1", f"{path.name}: only v1 exists so far"
        addon = path.relative_to(ADDONS_DIR).parts[0]
        found.setdefault(match["code"], []).append(addon)
    assert sorted(found) == sorted(EXPECTED_EVENTS)
    for code, addons in found.items():
        assert addons == [EXPECTED_EVENTS[code][0]], f"{code} is in {addons}"


def test_event_type_data_matches_schema_files():
    assert EVENT_TYPE_DATA_FILES, "no event type data file found"
    declared = {}
    referenced_files = set()
    for xml_path in EVENT_TYPE_DATA_FILES:
        addon = xml_path.relative_to(ADDONS_DIR).parts[0]
        records = _records(xml_path)
        assert set(records) <= {
            "mfg.integration.event.type",
            "mfg.integration.event.schema",
        }, f"{xml_path.name} of {addon}: unexpected models {sorted(records)}"
        schemas_by_type = {}
        for xml_id, fields in records.get("mfg.integration.event.schema", []):
            ref = fields["event_type_id"].get("ref").removeprefix(f"{addon}.")
            schemas_by_type.setdefault(ref, []).append((xml_id, fields))
        type_ids = set()
        for xml_id, fields in records.get("mfg.integration.event.type", []):
            code = fields["code"].text
            assert code in EXPECTED_EVENTS, f"{addon}: unknown event type {code}"
            assert code not in declared, f"{code} is declared twice"
            declared[code] = addon
            expected_addon, expected_direction = EXPECTED_EVENTS[code]
            assert addon == expected_addon, f"{code} belongs to {expected_addon}"
            assert fields["direction"].text == expected_direction, code
            assert (fields["name"].text or "").strip(), f"{code} has no name"
            assert (fields["description"].text or "").strip(), f"{code}: description"
            slug = code.replace(".", "_")
            assert xml_id == f"event_type_{slug}"
            type_ids.add(xml_id)
            versions = schemas_by_type.get(xml_id, [])
            assert versions, f"{code} has no schema record"
            for schema_id, schema_fields in versions:
                version = schema_fields["version"].text
                assert schema_id == f"event_schema_{slug}_v{version}"
                file_attr = schema_fields["schema_json"].get("file")
                expected_file = f"{addon}/data/schemas/{code}.v{version}.json"
                assert file_attr == expected_file, f"{schema_id}: file={file_attr!r}"
                schema_path = ADDONS_DIR / file_attr
                assert schema_path.is_file(), f"{file_attr} does not exist"
                schema = _load(schema_path)
                assert schema["$id"] == SCHEMA_ID.format(code=code, version=version)
                referenced_files.add(schema_path)
        orphans = set(schemas_by_type) - type_ids
        assert not orphans, f"{addon}: schema records of unknown types {orphans}"
    assert sorted(declared) == sorted(EXPECTED_EVENTS)
    assert referenced_files == set(SCHEMA_FILES), "a schema file has no record"


def test_demo_systems_are_well_formed():
    demo_files = [
        ADDONS_DIR / addon / SYSTEM_DEMO for addon in (MES, MAINTENANCE, QUALITY)
    ]
    codes = []
    for demo_path in demo_files:
        records = _records(demo_path)
        assert set(records) <= {
            "mfg.integration.system",
            "mfg.integration.endpoint",
            "mfg.integration.subscription",
        }, demo_path
        for _xml_id, fields in records.get("mfg.integration.endpoint", []):
            code = fields["code"].text
            assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", code), code
            assert fields["direction"].text in ("inbound", "outbound"), code
            if fields["direction"].text == "outbound":
                assert fields["url"].text.startswith("http://127.0.0.1:"), code
        for _xml_id, fields in records["mfg.integration.system"]:
            code = fields["code"].text
            assert re.fullmatch(r"[a-z0-9_]+", code), code
            assert fields["kind"].text in SYSTEM_KINDS, code
            assert (fields["name"].text or "").strip(), code
            assert (fields["description"].text or "").strip(), code
            codes.append(code)
    assert sorted(codes) == sorted(
        ["line1_mes", "plant_cmms", "press_iot", "plant_qms", "supplier_portal"]
    )
