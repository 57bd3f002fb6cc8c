"""The OpenAPI 3.1 document of the HTTP API v1, built from the real catalogue."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mfg_integration.openapi import build_openapi, rewrite_local_refs

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILES = sorted(REPO_ROOT.glob("addons/*/data/schemas/*.json"))
PREFIX = "/api/mfg/v1"
DOC_URI = "urn:test:openapi"


def load_catalogue():
    event_types = []
    for path in SCHEMA_FILES:
        code = path.name.removesuffix(".v1.json")
        event_types.append(
            {
                "code": code,
                "name": code.replace("_", " ").replace(".", ": "),
                "description": f"The {code} event.",
                "direction": "inbound",
                "version": 1,
                "schema": json.loads(path.read_text()),
                "deprecated": code == "batch.disposition_approved",
            }
        )
    return event_types


CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def document():
    return build_openapi(CATALOGUE, server_url="https://erp.example.com")


def resolver_for(document):
    """A validator factory that resolves references inside ``document``."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOC_URI, resource)

    def validator(pointer):
        return Draft202012Validator(
            {"$ref": f"{DOC_URI}#{pointer}"},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    return validator


def test_catalogue_has_the_seed_and_meta_event_schemas():
    # 15 seed event types of the domain addons and the release gate's
    # acknowledgement, 6 operational ones of the core, its 2 onboarding tests
    assert len(SCHEMA_FILES) == 24
    assert all(path.name.endswith(".v1.json") for path in SCHEMA_FILES)


def test_document_validates_with_the_real_catalogue(document):
    validate_spec(document)
    assert json.loads(json.dumps(document)) == document


def test_document_validates_with_an_empty_catalogue():
    document = build_openapi([])
    validate_spec(document)
    body = document["paths"][f"{PREFIX}/events"]["post"]["requestBody"]["content"]
    assert body["application/cloudevents+json"]["schema"] == {
        "$ref": "#/components/schemas/CloudEvent"
    }
    assert not any(
        name.endswith(".event") for name in document["components"]["schemas"]
    )


def test_validator_catches_a_broken_document(document):
    # guard: the validator used above does reject a wrong document
    broken = copy.deepcopy(document)
    broken["paths"][f"{PREFIX}/health"]["get"]["responses"]["200"].pop("description")
    with pytest.raises(Exception, match="description"):
        validate_spec(broken)


def test_top_level_fields(document):
    assert document["openapi"] == "3.1.0"
    assert (
        document["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    )
    assert document["servers"] == [{"url": "https://erp.example.com"}]
    assert document["info"]["title"] == "Manufacturing Integration API"
    assert document["info"]["version"] == "1.0.0"
    custom = build_openapi([], server_url="/", title="T", version="2.1.0")
    assert custom["info"]["title"] == "T" and custom["info"]["version"] == "2.1.0"
    assert custom["servers"] == [{"url": "/"}]


def test_paths_and_methods(document):
    assert {path: sorted(ops) for path, ops in document["paths"].items()} == {
        f"{PREFIX}/events": ["post"],
        f"{PREFIX}/webhooks/{{endpoint}}": ["post"],
        f"{PREFIX}/feeds/{{endpoint}}": ["post"],
        f"{PREFIX}/messages/{{id}}": ["get"],
        f"{PREFIX}/openapi.json": ["get"],
        f"{PREFIX}/asyncapi.json": ["get"],
        f"{PREFIX}/health": ["get"],
        f"{PREFIX}/metrics": ["get"],
    }


def test_security(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    paths = document["paths"]
    assert paths[f"{PREFIX}/events"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths[f"{PREFIX}/messages/{{id}}"]["get"]["security"] == [{"bearerAuth": []}]
    for path, method in (
        ("/webhooks/{endpoint}", "post"),
        ("/openapi.json", "get"),
        ("/asyncapi.json", "get"),
    ):
        assert paths[PREFIX + path][method]["security"] == []
    # anyone may ask for health; a metrics key adds the figures
    assert paths[f"{PREFIX}/health"]["get"]["security"] == [{}, {"bearerAuth": []}]
    # metrics: a key with the metrics scope, or an allowed network (no key)
    assert paths[f"{PREFIX}/metrics"]["get"]["security"] == [{"bearerAuth": []}, {}]
    assert "security" not in document


def resolve(document, ref):
    assert ref.startswith("#/")
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_events_operation(document):
    operation = document["paths"][f"{PREFIX}/events"]["post"]
    headers = [resolve(document, p["$ref"])["name"] for p in operation["parameters"]]
    assert headers == ["Idempotency-Key", "X-Correlation-ID"]
    content = operation["requestBody"]["content"]
    assert set(content) == {
        "application/cloudevents+json",
        "application/json",
        "application/cloudevents-batch+json",
    }
    single = content["application/cloudevents+json"]["schema"]
    assert single == content["application/json"]["schema"]
    assert single["oneOf"] == [
        {"$ref": f"#/components/schemas/{e['code']}.event"}
        for e in sorted(CATALOGUE, key=lambda e: e["code"])
    ]
    batch = content["application/cloudevents-batch+json"]["schema"]
    assert batch["type"] == "array" and batch["maxItems"] == 1000
    assert batch["items"] == single
    responses = operation["responses"]
    assert sorted(responses) == [
        "200",
        "202",
        "400",
        "401",
        "403",
        "413",
        "415",
        "422",
        "429",
    ]
    accepted = resolve(
        document, responses["202"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert {"id", "status", "correlation_id"} <= set(accepted["required"])
    unauthorized = resolve(document, responses["401"]["$ref"])
    assert "WWW-Authenticate" in unauthorized["headers"]
    too_many = resolve(document, responses["429"]["$ref"])
    assert "Retry-After" in too_many["headers"]
    for code in ("400", "403", "413", "415", "422"):
        problem = resolve(document, responses[code]["$ref"])
        assert problem["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_problem_schema(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "errors",
    }
    validator = resolver_for(document)("/components/schemas/Problem")
    good = {
        "type": "urn:mfg-integration:problem:validation-failed",
        "title": "Validation failed",
        "status": 422,
        "detail": "1 value(s) do not match the schema.",
        "errors": [{"pointer": "/data/lot", "message": "is required"}],
    }
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "errors": [{"pointer": "/x"}]})


@pytest.mark.parametrize("route", ["webhooks", "feeds"])
def test_signed_operations(document, route):
    operation = document["paths"][f"{PREFIX}/{route}/{{endpoint}}"]["post"]
    required = {p["name"] for p in operation["parameters"] if p.get("required")}
    assert {
        "endpoint",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    } <= required
    assert operation["security"] == []
    assert sorted(operation["responses"]) == [
        "200",
        "202",
        "400",
        "401",
        "404",
        "413",
        "415",
        "422",
        "429",
    ]


def test_signed_payloads(document):
    validator = resolver_for(document)("/components/schemas/WebhookPayload")
    assert validator.is_valid(
        {"type": "inspection.failed", "timestamp": "2025-03-15T08:20:41Z", "data": {}}
    )
    assert not validator.is_valid({"type": "inspection.failed", "data": {}})
    feed = resolver_for(document)("/components/schemas/FeedMessage")
    assert feed.is_valid({"topic": "plant/cnc-01/state", "data": {"state": "down"}})
    assert feed.is_valid({"topic": "t", "data": 3, "properties": {"k": "v"}})
    assert not feed.is_valid({"data": {}})
    assert not feed.is_valid({"topic": "t", "data": {}, "properties": {"k": 1}})


def test_message_status_schema(document):
    operation = document["paths"][f"{PREFIX}/messages/{{id}}"]["get"]
    assert sorted(operation["responses"]) == ["200", "401", "404"]
    schema = document["components"]["schemas"]["MessageStatus"]
    assert schema["properties"]["state"]["enum"] == [
        "received",
        "queued",
        "done",
        "failed",
        "dead",
        "discarded",
    ]
    validator = resolver_for(document)("/components/schemas/MessageStatus")
    message = {
        "id": 42,
        "state": "dead",
        "event_type": "inspection.failed",
        "cloudevent_id": "evt-1",
        "correlation_id": "c-1",
        "attempts": 10,
        "received_at": "2025-03-15T08:20:41Z",
        "processed_at": None,
        "next_attempt_at": "2025-03-16T08:20:41Z",
        "error": {"class": "MappingError", "message": "line 3 failed"},
    }
    assert validator.is_valid(message)
    assert validator.is_valid({**message, "error": None})
    assert not validator.is_valid({**message, "state": "lost"})


def test_health_schema(document):
    operation = document["paths"][f"{PREFIX}/health"]["get"]
    assert sorted(operation["responses"]) == ["200", "401", "403", "503"]
    validator = resolver_for(document)("/components/schemas/Health")
    health = {
        "status": "degraded",
        "database": "ok",
        "job_runner": "alive",
        "processing": "stalled",
        "queue": {
            "pending_messages": 3,
            "dead_letters": 1,
            "oldest_due_seconds": 1200,
            "jobs": {"pending": 2, "failed": 0},
        },
    }
    assert validator.is_valid(health)
    assert validator.is_valid({**health, "database": "read-only"})
    assert validator.is_valid({**health, "database_latency_ms": 0.4})
    assert not validator.is_valid({**health, "database": "unknown"})
    assert not validator.is_valid({**health, "status": "broken"})
    assert not validator.is_valid({**health, "queue": {"jobs": {"pending": -1}}})
    assert not validator.is_valid({**health, "job_runner": "sleeping"})
    assert not validator.is_valid({"status": "ok", "database": "ok"})
    # what anybody gets: no figures
    assert validator.is_valid(
        {"status": "ok", "database": "ok", "job_runner": "alive", "processing": "ok"}
    )


def test_batch_result_schema(document):
    validator = resolver_for(document)("/components/schemas/BatchResult")
    result = {
        "correlation_id": "c-1",
        "accepted": 1,
        "duplicates": 0,
        "rejected": 1,
        "results": [
            {"index": 0, "status": "accepted", "id": 7},
            {
                "index": 1,
                "status": "rejected",
                "problem": {"type": "urn:x", "title": "Bad", "status": 422},
            },
        ],
    }
    assert validator.is_valid(result)
    bad = copy.deepcopy(result)
    bad["results"][1]["status"] = "lost"
    assert not validator.is_valid(bad)


def test_event_components_are_the_schemas_without_schema_and_id(document):
    schemas = document["components"]["schemas"]
    for event_type in CATALOGUE:
        code, original = event_type["code"], event_type["schema"]
        component = schemas[code]
        assert "$schema" not in component and "$id" not in component
        assert component["required"] == original["required"]
        assert component["examples"] == original["examples"]
        assert component["$defs"].keys() == original["$defs"].keys()
        assert component["x-event-direction"] == "inbound"
        assert component["x-schema-version"] == 1
        assert component.get("deprecated", False) == event_type["deprecated"]
        envelope = schemas[f"{code}.event"]
        assert envelope["allOf"][0] == {"$ref": "#/components/schemas/CloudEvent"}
        assert envelope["allOf"][1]["properties"] == {
            "type": {"const": code},
            "data": {"$ref": f"#/components/schemas/{code}"},
        }
        assert envelope.get("deprecated", False) == event_type["deprecated"]


def test_input_catalogue_is_not_modified():
    catalogue = load_catalogue()
    before = copy.deepcopy(catalogue)
    build_openapi(catalogue)
    assert catalogue == before


def test_inspection_failed_examples(document):
    component = document["components"]["schemas"]["inspection.failed"]
    assert component["examples"]
    original = next(e["schema"] for e in CATALOGUE if e["code"] == "inspection.failed")
    file_validator = Draft202012Validator(
        original, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    doc_validator = resolver_for(document)("/components/schemas/inspection.failed")
    for example in component["examples"]:
        assert list(file_validator.iter_errors(example)) == []
        assert list(doc_validator.iter_errors(example)) == []
    # both validators do check the $defs reached through references
    broken = copy.deepcopy(component["examples"][0])
    broken["quantity_rejected"]["value"] = -1
    assert not file_validator.is_valid(broken)
    assert not doc_validator.is_valid(broken)


def test_every_example_validates_inside_the_document(document):
    validator = resolver_for(document)
    for event_type in CATALOGUE:
        code = event_type["code"]
        examples = document["components"]["schemas"][code]["examples"]
        assert examples, code
        for example in examples:
            assert validator(f"/components/schemas/{code}").is_valid(example), code


def test_nested_ref_is_rewritten_and_resolves(document):
    component = document["components"]["schemas"]["inspection.failed"]
    ref = component["$defs"]["quantity"]["properties"]["uom"]["$ref"]
    assert ref == "#/components/schemas/inspection.failed/$defs/uom"
    target = resolve(document, ref)
    original = next(e["schema"] for e in CATALOGUE if e["code"] == "inspection.failed")
    assert target == original["$defs"]["uom"]
    items = component["properties"]["failed_characteristics"]["items"]["$ref"]
    assert resolve(document, items)["properties"]["code"] == {
        "$ref": "#/components/schemas/inspection.failed/$defs/code",
        "description": original["$defs"]["failed_characteristic"]["properties"]["code"][
            "description"
        ],
    }


def test_no_local_ref_is_left_pointing_outside_components(document):
    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    yield value
                elif key != "examples":
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/"), ref
        resolve(document, ref)


def test_envelope_validates_a_full_event(document):
    example = next(e for e in CATALOGUE if e["code"] == "inspection.failed")["schema"]
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "urn:qms",
        "type": "inspection.failed",
        "data": example["examples"][0],
    }
    validator = resolver_for(document)
    assert validator("/components/schemas/inspection.failed.event").is_valid(event)
    wrong_type = {**event, "type": "inspection.result_recorded"}
    assert not validator("/components/schemas/inspection.failed.event").is_valid(
        wrong_type
    )
    assert not validator("/components/schemas/inspection.failed.event").is_valid(
        {**event, "data": {}}
    )
    assert not validator("/components/schemas/CloudEvent").is_valid(
        {**event, "Bad-Extension": 1}
    )
    assert not validator("/components/schemas/CloudEvent").is_valid(
        {**event, "data_base64": "AAAA"}
    )
    single = document["paths"][f"{PREFIX}/events"]["post"]["requestBody"]["content"][
        "application/cloudevents+json"
    ]["schema"]
    # the request body's oneOf, resolved inside the document
    body_validator = resolver_for({**document, "x-single": single})("/x-single")
    assert body_validator.is_valid(event)
    assert not body_validator.is_valid({**event, "type": "unknown.type"})


def test_rewrite_local_refs_rules():
    schema = {
        "$ref": "#",
        "properties": {
            "a": {"$ref": "#/$defs/x"},
            "examples": {"$ref": "#/$defs/y"},
            "$ref": {"type": "string"},
        },
        "items": [{"$ref": "other.json#/$defs/x"}, {"$ref": "#anchor"}],
        "const": {"$ref": "#/$defs/data"},
        "examples": [{"$ref": "#/$defs/data"}],
        "$defs": {"const": {"$dynamicRef": "#/$defs/x"}},
    }
    before = copy.deepcopy(schema)
    result = rewrite_local_refs(schema, "/components/schemas/a~1b")
    assert schema == before
    base = "#/components/schemas/a~1b"
    assert result["$ref"] == base
    assert result["properties"]["a"] == {"$ref": base + "/$defs/x"}
    assert result["properties"]["examples"] == {"$ref": base + "/$defs/y"}
    assert result["properties"]["$ref"] == {"type": "string"}
    assert result["items"] == [{"$ref": "other.json#/$defs/x"}, {"$ref": "#anchor"}]
    assert result["const"] == {"$ref": "#/$defs/data"}
    assert result["examples"] == [{"$ref": "#/$defs/data"}]
    assert result["$defs"]["const"] == {"$dynamicRef": base + "/$defs/x"}


def test_codes_are_escaped_in_references():
    schema = {
        "type": "object",
        "$defs": {"q": {"type": "number"}},
        "properties": {"q": {"$ref": "#/$defs/q"}},
    }
    document = build_openapi(
        [{"code": "odd-code_1.x", "schema": schema, "deprecated": False}]
    )
    ref = document["components"]["schemas"]["odd-code_1.x"]["properties"]["q"]["$ref"]
    assert ref == "#/components/schemas/odd-code_1.x/$defs/q"
    validate_spec(document)
    assert "x-schema-version" not in document["components"]["schemas"]["odd-code_1.x"]


@pytest.mark.parametrize(
    "event_types, message",
    [
        ([{"code": "a/b", "schema": {}}], "code"),
        ([{"code": None, "schema": {}}], "code"),
        ([{"code": "a.b", "schema": None}], "JSON Schema"),
        ([{"code": "a.b", "schema": {}}, {"code": "a.b", "schema": {}}], "clashes"),
        ([{"code": "Problem", "schema": {}}], "built-in"),
    ],
)
def test_bad_catalogue_entries(event_types, message):
    with pytest.raises(ValueError, match=message):
        build_openapi(event_types)


def versioned_catalogue():
    current = {
        "type": "object",
        "required": ["ref", "count"],
        "properties": {"ref": {"type": "string"}, "count": {"type": "integer"}},
    }
    older = {
        "type": "object",
        "required": ["ref"],
        "properties": {"ref": {"type": "string"}, "qty": {"type": "integer"}},
    }
    return [
        {
            "code": "widget.made",
            "name": "Widget made",
            "direction": "inbound",
            "version": 2,
            "schema": current,
            "deprecated": False,
            "versions": [
                {"version": 1, "schema": older, "deprecated": True, "sunset": None}
            ],
        },
        {
            "code": "widget.shipped",
            "name": "Widget shipped",
            "description": "Odoo tells that a widget left.",
            "direction": "outbound",
            "version": 1,
            "schema": {"type": "object", "properties": {"ref": {"type": "string"}}},
            "deprecated": False,
        },
    ]


def test_older_versions_are_listed_and_each_event_matches_one_version():
    document = build_openapi(versioned_catalogue())
    validate_spec(document)
    schemas = document["components"]["schemas"]
    assert schemas["widget.made.v1"]["deprecated"] is True
    assert schemas["widget.made.v1"]["x-schema-version"] == 1
    assert "deprecated" not in schemas["widget.made"]
    body = document["paths"][f"{PREFIX}/events"]["post"]["requestBody"]["content"]
    refs = [
        ref["$ref"] for ref in body["application/cloudevents+json"]["schema"]["oneOf"]
    ]
    assert refs == [
        "#/components/schemas/widget.made.event",
        "#/components/schemas/widget.made.v1.event",
    ]
    validator = resolver_for(document)(
        f"/paths/{PREFIX.replace('/', '~1')}~1events/post/requestBody/content/"
        "application~1cloudevents+json/schema"
    )
    envelope = {
        "specversion": "1.0",
        "id": "1",
        "source": "urn:x",
        "type": "widget.made",
    }
    assert validator.is_valid({**envelope, "data": {"ref": "A", "count": 1}})
    v1 = "urn:mfg-integration:event:widget.made:v1"
    assert validator.is_valid({**envelope, "dataschema": v1, "data": {"ref": "A"}})
    # v1 data without asking for v1 is the current version's, and does not match
    assert not validator.is_valid({**envelope, "data": {"ref": "A"}})
    v2 = "urn:mfg-integration:event:widget.made:v2"
    assert validator.is_valid(
        {**envelope, "dataschema": v2, "data": {"ref": "A", "count": 1}}
    )


def test_outbound_event_types_are_the_webhooks_odoo_sends():
    document = build_openapi(versioned_catalogue())
    validate_spec(document)
    assert list(document["webhooks"]) == ["widget.shipped"]
    operation = document["webhooks"]["widget.shipped"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/widget.shipped.event"
    }
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "2XX" in operation["responses"]
    # what Odoo sends is no request body of POST /events
    body = document["paths"][f"{PREFIX}/events"]["post"]["requestBody"]["content"]
    assert "widget.shipped" not in json.dumps(body)
