"""The AsyncAPI 3.0 document of the hub's events, checked against the official schema.

The official JSON Schema of AsyncAPI 3.0.0 comes from the npm package
``@asyncapi/specs`` (no PyPI package ships it): its bundled ``schemas/3.0.0.json``
(draft-07, every definition under its own ``$id``) is loaded into a
``referencing.Registry`` and nothing is fetched from the network. Point
``MFG_ASYNCAPI_SPECS`` at the installed package (the folder holding ``schemas/``) or
at that file, or install it in ``node_modules`` at the root of the repository:

    npm install --no-save @asyncapi/specs@6.11.1

Without it the tests that need the official schema are skipped, except under CI
(``CI`` set), where they fail.
"""

import copy
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from mfg_integration.asyncapi import JSON_SCHEMA_2020_12, build_asyncapi
from mfg_integration.webhooks import generate_webhook_secret, sign_headers

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILES = sorted(REPO_ROOT.glob("addons/*/data/schemas/*.json"))
EVENT_TYPE_FILES = sorted(REPO_ROOT.glob("addons/*/data/*event_type*.xml"))
SPECS_ENV = "MFG_ASYNCAPI_SPECS"
ASYNCAPI_ID = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
DOC_URI = "urn:test:asyncapi"
KEY_PATTERN = re.compile(r"^[a-zA-Z0-9\.\-_]+$")
BUILTIN_SCHEMAS = {"CloudEvent", "IngressHeaders", "WebhookHeaders"}


# -- the official schema -------------------------------------------------------------


def _specs_file():
    given = os.environ.get(SPECS_ENV)
    candidates = [Path(given)] if given else []
    candidates.append(REPO_ROOT / "node_modules" / "@asyncapi" / "specs")
    for candidate in candidates:
        path = candidate if candidate.is_file() else candidate / "schemas/3.0.0.json"
        if path.is_file():
            return path
    if given:
        pytest.fail(f"{SPECS_ENV}={given} holds no AsyncAPI 3.0.0 schema.")
    return None


def official_validator():
    """A draft-07 validator of the official AsyncAPI 3.0.0 schema, offline; the
    test is skipped without it (failed under CI). The e2e tier uses it too."""
    path = _specs_file()
    if path is None:
        message = (
            "The official AsyncAPI schema is missing: npm install --no-save "
            f"@asyncapi/specs@6.11.1, or set {SPECS_ENV}."
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$id"] == ASYNCAPI_ID
    resource = Resource.from_contents(schema, default_specification=DRAFT7)
    # crawl: every bundled definition becomes retrievable under its own $id; the
    # registry has no retrieve function, so an unknown reference fails, offline
    registry = Registry().with_resource(ASYNCAPI_ID, resource).crawl()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(
        schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def spec_validator():
    return official_validator()


def spec_errors(validator, document):
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
        for error in validator.iter_errors(document)
    ]


def assert_valid(validator, document):
    assert spec_errors(validator, document) == []
    assert json.loads(json.dumps(document)) == document


# -- the document as a JSON Schema resource -------------------------------------------


def schema_validator(document, pointer):
    """A 2020-12 validator of the schema at ``pointer``, resolving in ``document``."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOC_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def resolve(document, ref):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node):
    """Every ``$ref`` of a document, except inside examples (data)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key not in ("examples", "const", "enum", "default"):
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def assert_refs_resolve(document):
    found = list(refs(document))
    assert found
    for ref in found:
        resolve(document, ref)
    return found


# -- catalogues ----------------------------------------------------------------------


def event_type_metadata():
    """Name, description and direction of each code, from the addons' data files."""
    metadata = {}
    for path in EVENT_TYPE_FILES:
        for record in ET.parse(path).getroot().iter("record"):
            if record.get("model") != "mfg.integration.event.type":
                continue
            fields = {field.get("name"): field.text for field in record.iter("field")}
            metadata[fields["code"]] = fields
    return metadata


def load_catalogue():
    """The real catalogue, loaded as in test_openapi, with the data files' fields."""
    metadata = event_type_metadata()
    event_types = []
    for path in SCHEMA_FILES:
        code = path.name.removesuffix(".v1.json")
        fields = metadata[code]
        event_types.append(
            {
                "code": code,
                "name": fields["name"],
                "description": fields["description"],
                "direction": fields["direction"],
                "version": 1,
                "schema": json.loads(path.read_text()),
                "deprecated": code == "batch.disposition_approved",
            }
        )
    return event_types


CATALOGUE = load_catalogue()

WIDGET_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:test:widget.made",
    "type": "object",
    "required": ["widget", "quantity"],
    "properties": {
        "widget": {"$ref": "#/$defs/code", "description": "The widget."},
        "quantity": {"$ref": "#/$defs/quantity"},
        "lot": {"type": "string"},
        "expiry": {"type": "string"},
    },
    "dependentRequired": {"expiry": ["lot"]},
    "$defs": {
        "code": {"type": "string", "pattern": "^W[0-9]+$"},
        "quantity": {
            "type": "object",
            "required": ["value", "uom"],
            "properties": {
                "value": {"type": "number", "exclusiveMinimum": 0},
                "uom": {"$ref": "#/$defs/code"},
            },
        },
    },
    "examples": [
        {"widget": "W1", "quantity": {"value": 2, "uom": "W9"}},
        {"widget": "W2", "quantity": {"value": 1, "uom": "W9"}, "lot": "L1"},
    ],
}


def mixed_catalogue():
    return [
        {
            "code": "widget.shipped",
            "name": "Widget shipped",
            "description": "Odoo tells that a widget left.",
            "direction": "outbound",
            "version": 2,
            "schema": {"type": "object", "properties": {"ref": {"type": "string"}}},
            "deprecated": False,
        },
        {
            "code": "widget.made",
            "name": "Widget made",
            "description": "A machine made widgets.",
            "direction": "inbound",
            "version": 1,
            "schema": copy.deepcopy(WIDGET_SCHEMA),
            "deprecated": False,
        },
        {
            "code": "widget.scrapped",
            "name": "Widget scrapped",
            "description": "",
            "direction": "outbound",
            "version": 1,
            "schema": {"type": "object", "examples": [{}]},
            "deprecated": True,
        },
        {
            # no direction: the model's default, inbound
            "code": "widget-legacy_v0",
            "schema": {"type": "object"},
            "deprecated": True,
        },
    ]


# -- validity ------------------------------------------------------------------------


def test_empty_catalogue_is_valid(spec_validator):
    document = build_asyncapi([])
    assert_valid(spec_validator, document)
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"] == {} and document["operations"] == {}
    assert document["components"]["messages"] == {}
    assert set(document["components"]["schemas"]) == BUILTIN_SCHEMAS
    assert_refs_resolve(document)


def test_mixed_catalogue_is_valid(spec_validator):
    document = build_asyncapi(mixed_catalogue(), server_url="https://erp.example.com")
    assert_valid(spec_validator, document)
    assert_refs_resolve(document)
    assert {
        name: operation["action"] for name, operation in document["operations"].items()
    } == {
        "receive.widget.made": "receive",
        "receive.widget-legacy_v0": "receive",
        "send.widget.shipped": "send",
        "send.widget.scrapped": "send",
    }


def test_real_catalogue_is_valid(spec_validator):
    # 16 domain event types, 6 meta-events, 2 onboarding tests
    assert len(CATALOGUE) == 24
    document = build_asyncapi(CATALOGUE, server_url="https://erp.example.com")
    assert_valid(spec_validator, document)
    assert_refs_resolve(document)
    assert sorted(document["channels"]) == sorted(e["code"] for e in CATALOGUE)
    actions = {"inbound": "receive", "outbound": "send"}
    directions = {e["direction"] for e in CATALOGUE}
    assert directions == {"inbound", "outbound"}
    for event_type in CATALOGUE:
        code = event_type["code"]
        action = actions[event_type["direction"]]
        operation = document["operations"][f"{action}.{code}"]
        assert operation["action"] == action
        assert resolve(document, operation["channel"]["$ref"])["address"] == code


def test_validator_refuses_broken_documents(spec_validator):
    # guard: the official schema does reject wrong documents, so the tests above
    # can fail
    document = build_asyncapi(mixed_catalogue())
    assert spec_errors(spec_validator, document) == []
    wrong_action = copy.deepcopy(document)
    wrong_action["operations"]["send.widget.shipped"]["action"] = "publish"
    assert any(
        error.startswith("operations/send.widget.shipped")
        for error in spec_errors(spec_validator, wrong_action)
    )
    no_title = copy.deepcopy(document)
    del no_title["info"]["title"]
    assert any(
        "'title' is a required property" in error
        for error in spec_errors(spec_validator, no_title)
    )
    # a field of AsyncAPI 2 that 3.0 removed (the schema does not check the key
    # pattern of components: test_component_and_object_names_... does)
    v2_field = copy.deepcopy(document)
    v2_field["components"]["messages"]["widget.made"]["messageId"] = "made"
    assert any(
        error.startswith("components/messages/widget.made")
        for error in spec_errors(spec_validator, v2_field)
    )
    no_host = copy.deepcopy(document)
    del no_host["servers"]["hub"]["host"]
    assert any(
        error.startswith("servers/hub")
        for error in spec_errors(spec_validator, no_host)
    )
    old_version = dict(document, asyncapi="2.6.0")
    assert spec_errors(spec_validator, old_version)


# -- content -------------------------------------------------------------------------


def test_info_and_top_level():
    document = build_asyncapi([], title="T", version="2.1.0")
    assert document["info"]["title"] == "T"
    assert document["info"]["version"] == "2.1.0"
    assert document["info"]["license"]["name"] == "LGPL-3.0-or-later"
    assert document["info"]["description"]
    assert document["defaultContentType"] == "application/cloudevents+json"
    default = build_asyncapi([])
    assert default["info"]["title"] == "Manufacturing Integration events"
    assert default["info"]["version"] == "1.0.0"


def test_servers_and_security():
    document = build_asyncapi([])
    hub = document["servers"]["hub"]
    assert (hub["protocol"], hub["host"], hub["pathname"]) == (
        "http",
        "localhost:8069",
        "/api/mfg/v1/events",
    )
    assert hub["security"] == [{"$ref": "#/components/securitySchemes/bearerAuth"}]
    assert resolve(document, hub["security"][0]["$ref"]) == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"][
            "description"
        ],
    }
    other = build_asyncapi([], server_url="https://erp.example.com:8443/odoo/")
    hub = other["servers"]["hub"]
    assert (hub["protocol"], hub["host"], hub["pathname"]) == (
        "https",
        "erp.example.com:8443",
        "/odoo/api/mfg/v1/events",
    )
    assert other["info"]["externalDocs"]["url"] == (
        "https://erp.example.com:8443/odoo/api/mfg/v1/openapi.json"
    )
    subscriber = other["servers"]["subscriber"]
    assert subscriber["host"] == "{host}" and subscriber["pathname"] == "{path}"
    assert set(subscriber["variables"]) == {"host", "path"}
    assert "security" not in subscriber


def test_channels_messages_and_operations():
    document = build_asyncapi(mixed_catalogue(), server_url="https://erp.example.com")
    channel = document["channels"]["widget.made"]
    assert channel["address"] == "widget.made"
    assert channel["servers"] == [{"$ref": "#/servers/hub"}]
    assert channel["messages"] == {
        "widget.made": {"$ref": "#/components/messages/widget.made"}
    }
    assert document["channels"]["widget.shipped"]["servers"] == [
        {"$ref": "#/servers/subscriber"}
    ]
    inbound = document["components"]["messages"]["widget.made"]
    assert inbound["name"] == "widget.made" and inbound["title"] == "Widget made"
    assert inbound["contentType"] == "application/cloudevents+json"
    assert inbound["payload"] == {"$ref": "#/components/schemas/widget.made.event"}
    assert inbound["headers"] == {"$ref": "#/components/schemas/IngressHeaders"}
    assert resolve(document, inbound["correlationId"]["$ref"])["location"] == (
        "$message.header#/X-Correlation-ID"
    )
    outbound = document["components"]["messages"]["widget.shipped"]
    assert outbound["contentType"] == "application/json"
    assert outbound["headers"] == {"$ref": "#/components/schemas/WebhookHeaders"}
    assert "correlationId" not in outbound
    assert outbound["x-schema-version"] == 2
    operation = document["operations"]["send.widget.shipped"]
    assert operation["channel"] == {"$ref": "#/channels/widget.shipped"}
    assert operation["messages"] == [
        {"$ref": "#/channels/widget.shipped/messages/widget.shipped"}
    ]
    assert operation["bindings"]["http"]["method"] == "POST"
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert header in operation["description"]


def test_schemas_are_2020_12_multi_format_objects():
    document = build_asyncapi(mixed_catalogue())
    schemas = document["components"]["schemas"]
    for name in ("CloudEvent", "widget.made", "widget.made.event"):
        assert schemas[name]["schemaFormat"] == JSON_SCHEMA_2020_12
    assert JSON_SCHEMA_2020_12 == "application/schema+json;version=2020-12"
    data = schemas["widget.made"]["schema"]
    assert "$schema" not in data and "$id" not in data
    assert data["dependentRequired"] == {"expiry": ["lot"]}
    assert data["x-event-direction"] == "inbound" and data["x-schema-version"] == 1
    assert data["properties"]["widget"] == {
        "$ref": "#/components/schemas/widget.made/schema/$defs/code",
        "description": "The widget.",
    }
    envelope = schemas["widget.made.event"]["schema"]
    assert envelope["allOf"] == [
        {"$ref": "#/components/schemas/CloudEvent/schema"},
        {
            "type": "object",
            "properties": {
                "type": {"const": "widget.made"},
                "data": {"$ref": "#/components/schemas/widget.made/schema"},
            },
        },
    ]
    # every reference inside a 2020-12 schema reaches a 2020-12 schema
    for name, component in schemas.items():
        if component.get("schemaFormat") != JSON_SCHEMA_2020_12:
            continue
        for ref in refs(component["schema"]):
            target = ref.split("/")[3]
            assert schemas[target]["schemaFormat"] == JSON_SCHEMA_2020_12, name
            assert ref.startswith(f"#/components/schemas/{target}/schema"), ref


def test_refs_inside_schemas_resolve_and_validate():
    document = build_asyncapi(mixed_catalogue())
    envelope = schema_validator(
        document, "/components/schemas/widget.made.event/schema"
    )
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "urn:machine:7",
        "type": "widget.made",
        "data": {"widget": "W1", "quantity": {"value": 2, "uom": "W9"}},
    }
    assert list(envelope.iter_errors(event)) == []
    # $defs reached through two references are checked
    bad_uom = copy.deepcopy(event)
    bad_uom["data"]["quantity"]["uom"] = "kg"
    assert not envelope.is_valid(bad_uom)
    # a 2020-12 keyword applies: expiry needs lot
    assert not envelope.is_valid({**event, "data": {**event["data"], "expiry": "x"}})
    assert not envelope.is_valid({**event, "type": "widget.shipped"})
    assert not envelope.is_valid({**event, "specversion": "0.3"})


def test_message_examples_validate_against_their_payload():
    for catalogue in (mixed_catalogue(), CATALOGUE):
        document = build_asyncapi(catalogue)
        checked = 0
        for code, message in document["components"]["messages"].items():
            pointer = message["payload"]["$ref"][1:] + "/schema"
            validator = schema_validator(document, pointer)
            for example in message.get("examples", []):
                assert example["payload"]["type"] == code
                assert list(validator.iter_errors(example["payload"])) == [], code
                checked += 1
        assert checked
    real = build_asyncapi(CATALOGUE)
    assert all(m.get("examples") for m in real["components"]["messages"].values())


def test_webhook_headers_schema_matches_real_signatures():
    document = build_asyncapi([])
    schema = document["components"]["schemas"]["WebhookHeaders"]
    validator = Draft7Validator(schema)
    secrets = [generate_webhook_secret(), generate_webhook_secret(64)]
    headers = sign_headers(secrets, "msg_2a9f", b'{"a": 1}', timestamp=1700000000)
    assert list(validator.iter_errors(headers)) == []
    assert len(headers["webhook-signature"].split()) == 2
    assert not validator.is_valid({**headers, "webhook-id": "a.b"})
    assert not validator.is_valid({**headers, "webhook-signature": "v2,abc"})
    assert not validator.is_valid({**headers, "webhook-timestamp": "soon"})
    missing = dict(headers)
    del missing["webhook-signature"]
    assert not validator.is_valid(missing)


def test_deprecated_types_are_marked():
    document = build_asyncapi(mixed_catalogue())
    messages = document["components"]["messages"]
    operations = document["operations"]
    schemas = document["components"]["schemas"]
    for code, operation_name in (
        ("widget.scrapped", "send.widget.scrapped"),
        ("widget-legacy_v0", "receive.widget-legacy_v0"),
    ):
        assert messages[code]["x-deprecated"] is True
        assert messages[code]["description"].startswith("**Deprecated**")
        assert "deprecated" not in messages[code]  # not a field of AsyncAPI 3.0
        assert operations[operation_name]["x-deprecated"] is True
        assert operations[operation_name]["description"].startswith("**Deprecated**")
        assert schemas[code]["schema"]["deprecated"] is True
        assert schemas[f"{code}.event"]["schema"]["deprecated"] is True
    assert "x-deprecated" not in messages["widget.made"]
    assert "x-deprecated" not in operations["receive.widget.made"]
    assert "deprecated" not in schemas["widget.made"]["schema"]
    assert "**Deprecated**" not in operations["receive.widget.made"]["description"]


def test_component_and_object_names_match_the_key_pattern():
    document = build_asyncapi(CATALOGUE + mixed_catalogue())
    for section in ("schemas", "messages", "securitySchemes", "correlationIds"):
        for name in document["components"][section]:
            assert KEY_PATTERN.match(name), (section, name)
    for name in (*document["channels"], *document["operations"]):
        assert KEY_PATTERN.match(name), name
    for name in document["servers"]:  # the Servers Object's own pattern
        assert re.fullmatch(r"[A-Za-z0-9_\-]+", name), name


# -- input handling and errors -------------------------------------------------------


def test_input_is_not_modified_nor_shared():
    catalogue = mixed_catalogue() + load_catalogue()
    before = copy.deepcopy(catalogue)
    document = build_asyncapi(catalogue)
    assert catalogue == before
    # changing the document does not reach the catalogue
    made = document["components"]["schemas"]["widget.made"]["schema"]
    made["$defs"]["code"]["pattern"] = "changed"
    made["examples"][0]["widget"] = "changed"
    message = document["components"]["messages"]["widget.made"]
    message["examples"][0]["payload"]["data"]["quantity"]["value"] = -1
    assert catalogue == before
    # nor another document
    assert build_asyncapi(catalogue) == build_asyncapi(copy.deepcopy(before))


def test_input_may_be_any_iterable_and_order_does_not_matter():
    catalogue = mixed_catalogue()
    forward = build_asyncapi(iter(catalogue))
    backward = build_asyncapi(tuple(reversed(catalogue)))
    assert forward == backward
    assert list(forward["channels"]) == sorted(forward["channels"])


@pytest.mark.parametrize(
    "code", [None, "", 42, "a/b", "with space", "é.vent", "a#b", ["x"]]
)
def test_bad_codes_are_refused(code):
    event_type = {"code": code, "direction": "inbound", "schema": {}}
    with pytest.raises(ValueError, match="letters, digits"):
        build_asyncapi([event_type])


def test_missing_code_and_non_dict_are_refused():
    with pytest.raises(ValueError, match="letters, digits"):
        build_asyncapi([{"schema": {}}])
    with pytest.raises(ValueError, match="must be a dict"):
        build_asyncapi(["widget.made"])


def test_duplicate_and_clashing_codes_are_refused():
    made = {"code": "widget.made", "schema": {}}
    with pytest.raises(ValueError, match="clashes with another event type"):
        build_asyncapi([made, dict(made)])
    with pytest.raises(ValueError, match="clashes with another event type"):
        build_asyncapi([made, {"code": "widget.made.event", "schema": {}}])
    for builtin in sorted(BUILTIN_SCHEMAS):
        with pytest.raises(ValueError, match="clashes with a built-in component"):
            build_asyncapi([{"code": builtin, "schema": {}}])


@pytest.mark.parametrize("schema", [None, "{}", [], True])
def test_missing_or_non_object_schema_is_refused(schema):
    event_type = {"code": "widget.made", "direction": "inbound"}
    if schema is not None:
        event_type["schema"] = schema
    with pytest.raises(ValueError, match="no JSON Schema object"):
        build_asyncapi([event_type])


@pytest.mark.parametrize("direction", ["in", "Inbound", "both", "", 1])
def test_unknown_direction_is_refused(direction):
    event_type = {"code": "widget.made", "direction": direction, "schema": {}}
    with pytest.raises(ValueError, match="expected 'inbound' or 'outbound'"):
        build_asyncapi([event_type])


@pytest.mark.parametrize(
    "server_url",
    [
        "/",
        "",
        "erp.example.com",
        "ftp://erp.example.com",
        "https://",
        "https://user:secret@erp.example.com",
        "https://erp.example.com/?db=prod",
        "https://erp.example.com/#top",
        "https://erp.example.com:port",
        "https://erp.example.com:99999",
        None,
    ],
)
def test_bad_server_urls_are_refused(server_url):
    with pytest.raises(ValueError, match="server URL"):
        build_asyncapi([], server_url=server_url)


def test_older_versions_of_inbound_types_are_messages_of_their_channel(
    spec_validator,
):
    catalogue = mixed_catalogue()
    made = catalogue[1]
    made["versions"] = [
        {
            "version": 0,
            "schema": {"type": "object", "examples": [{"legacy": True}]},
            "deprecated": True,
            "sunset": "2027-06-30",
        }
    ]
    document = build_asyncapi(catalogue)
    assert_valid(spec_validator, document)
    assert_refs_resolve(document)
    channel = document["channels"]["widget.made"]
    assert sorted(channel["messages"]) == ["widget.made", "widget.made.v0"]
    message = document["components"]["messages"]["widget.made.v0"]
    assert message["x-deprecated"] is True
    example = message["examples"][0]["payload"]
    assert example["dataschema"] == "urn:mfg-integration:event:widget.made:v0"
    operation = document["operations"]["receive.widget.made"]
    assert len(operation["messages"]) == 2
