"""The OpenAPI 3.1 document of the hub's HTTP API v1, built from the catalogue.

``GET /api/mfg/v1/openapi.json`` serves :func:`build_openapi` for the event types
of the catalogue. Each event type contributes two component schemas:

* ``<code>``: the JSON Schema of its ``data``, as written in the catalogue but
  without ``$schema`` and ``$id``; its local references (``#/$defs/...``) are
  rewritten to point inside the OpenAPI document, so they keep resolving;
* ``<code>.event``: the CloudEvent envelope whose ``type`` is that code and whose
  ``data`` is the schema above.

The document only uses JSON values, so it can be served with ``json.dumps``.
"""

import copy
import re

from .cloudevents import MAX_BATCH_ITEMS
from .schemas import DRAFT_2020_12, json_pointer, schema_urn

API_PREFIX = "/api/mfg/v1"
#: the longest Idempotency-Key header a batch may carry
MAX_IDEMPOTENCY_KEY = 255
MESSAGE_STATES = ("received", "queued", "done", "failed", "dead", "discarded")

_COMPONENT_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Keywords whose values are instances, not schemas: a "$ref" inside them is data.
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "example", "examples"})
# Keywords whose values map names (data) to schemas.
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
DROPPED_KEYWORDS = ("$schema", "$id")


def schema_location(name):
    """JSON pointer of a component schema of the OpenAPI document."""
    return json_pointer(["components", "schemas", name])


def _ref(name, locate=schema_location):
    return {"$ref": "#" + locate(name)}


def _response_ref(name):
    return {"$ref": "#" + json_pointer(["components", "responses", name])}


def _header_ref(name):
    return {"$ref": "#" + json_pointer(["components", "headers", name])}


def _parameter_ref(name):
    return {"$ref": "#" + json_pointer(["components", "parameters", name])}


def rewrite_local_refs(node, target):
    """Return a copy of a schema whose document-local references point at ``target``.

    A reference ``#/$defs/x`` of a schema that is embedded at ``target`` (a JSON
    pointer such as ``/components/schemas/inspection.failed``) becomes
    ``#/components/schemas/inspection.failed/$defs/x``. References to other
    documents and anchors (``#name``) are kept. Values of ``const``, ``enum``,
    ``default`` and ``examples`` are data and are copied unchanged.

    :param node: a JSON Schema (or part of one)
    :param target: the JSON pointer where the schema is embedded
    :return: the rewritten copy; ``node`` is not modified
    """
    if isinstance(node, list):
        return [rewrite_local_refs(item, target) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            result[key] = copy.deepcopy(value)
        elif key in ("$ref", "$dynamicRef") and isinstance(value, str):
            if value == "#" or value.startswith("#/"):
                value = "#" + target + value[1:]
            result[key] = value
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            # the names are data, even "const" or "$ref"; the values are schemas
            result[key] = {
                name: rewrite_local_refs(sub, target) for name, sub in value.items()
            }
        else:
            result[key] = rewrite_local_refs(value, target)
    return result


def check_code(event_type):
    """The code of an event type of the catalogue, usable as a component name.

    :raise ValueError: when it is not
    """
    if not isinstance(event_type, dict):
        raise ValueError("An event type must be a dict.")
    code = event_type.get("code")
    if not isinstance(code, str) or not _COMPONENT_NAME.fullmatch(code):
        raise ValueError(
            "An event type code must be made of letters, digits, '.', '_' and '-'."
        )
    return code


def event_components(event_type, older=None, locate=schema_location):
    """The data schema and CloudEvent envelope of an event type's current version,
    or of its older live version ``older`` (a dict with ``version``, ``schema``,
    ``deprecated`` and ``sunset``): that one is named ``<code>.v<n>`` and its
    envelope requires the ``dataschema`` that asks for it.

    :param locate: ``locate(component name)`` is the JSON pointer of a component
        schema in the document (the AsyncAPI document nests them one level deeper)
    :return: ``(component name, data schema, envelope)``
    """
    code = check_code(event_type)
    source = older if older is not None else event_type
    name = code if older is None else f"{code}.v{older.get('version')}"
    schema = source.get("schema")
    if not isinstance(schema, dict):
        raise ValueError(f"The event type {name} has no JSON Schema object.")
    data_schema = {k: v for k, v in schema.items() if k not in DROPPED_KEYWORDS}
    data_schema = rewrite_local_refs(data_schema, locate(name))
    deprecated = bool(source.get("deprecated"))
    marks = {}
    if event_type.get("direction") is not None:
        marks["x-event-direction"] = event_type["direction"]
    if source.get("version") is not None:
        marks["x-schema-version"] = source["version"]
    if source.get("sunset"):
        marks["x-sunset"] = source["sunset"]
    if deprecated:
        marks["deprecated"] = True
    data_schema.update(marks)
    properties = {"type": {"const": code}, "data": _ref(name, locate)}
    envelope_part = {"type": "object", "properties": properties}
    if older is not None:
        # an older version is asked for by its dataschema
        properties["dataschema"] = {"const": schema_urn(code, older.get("version"))}
        envelope_part["required"] = ["dataschema"]
    elif isinstance(event_type.get("version"), int) and event_type.get("versions"):
        # the current version: no dataschema, or its own (so that an event matches
        # exactly one version's envelope)
        properties["dataschema"] = {"const": schema_urn(code, event_type["version"])}
    title = event_type.get("name") or code
    envelope = {
        "title": title if older is None else f"{title} (version {older['version']})",
        "allOf": [_ref("CloudEvent", locate), envelope_part],
    }
    if event_type.get("description"):
        envelope["description"] = event_type["description"]
    envelope.update(marks)
    return name, data_schema, envelope


def _problem_schemas():
    return {
        "Problem": {
            "type": "object",
            "description": "An RFC 9457 problem document.",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "One entry per failing JSON pointer.",
                    "items": _ref("ProblemError"),
                },
            },
        },
        "ProblemError": {
            "type": "object",
            "required": ["pointer", "message"],
            "properties": {
                "pointer": {
                    "type": "string",
                    "description": "RFC 6901 JSON pointer into the request body.",
                },
                "message": {"type": "string"},
            },
        },
    }


def cloudevent_schema():
    return {
        "type": "object",
        "description": (
            "A CloudEvents 1.0 event in structured JSON mode. Extension attributes "
            "are top-level members named with 1 to 20 lower-case letters or digits."
        ),
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "minLength": 1, "maxLength": 255},
            "source": {"type": "string", "minLength": 1},
            "type": {"type": "string", "minLength": 1, "maxLength": 255},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string"},
            "dataschema": {"type": "string"},
            "datacontenttype": {
                "type": "string",
                "pattern": r"^(application/json|[^;]*\+json)(\s*;.*)?$",
            },
            "data": {"type": "object"},
        },
        "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    }


def _result_schemas():
    return {
        "EventResult": {
            "type": "object",
            "required": ["id", "status", "correlation_id"],
            "properties": {
                "id": {"type": "integer", "description": "Id of the message."},
                "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                "duplicate": {
                    "type": "boolean",
                    "description": "True when the event was received before.",
                },
                "correlation_id": {"type": "string"},
            },
        },
        "BatchResult": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "correlation_id": {"type": "string"},
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "rejected": {"type": "integer", "minimum": 0},
                "results": {
                    "type": "array",
                    "description": "One result per item, in the order of the batch.",
                    "items": _ref("BatchItemResult"),
                },
            },
        },
        "BatchItemResult": {
            "type": "object",
            "required": ["index", "status"],
            "properties": {
                "index": {"type": "integer", "minimum": 0},
                "status": {
                    "type": "string",
                    "enum": ["accepted", "duplicate", "rejected"],
                },
                "id": {"type": "integer", "description": "Id of the message."},
                "correlation_id": {"type": "string"},
                "problem": _ref("Problem"),
            },
        },
        "WebhookPayload": {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "minLength": 1, "maxLength": 255},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"type": "object"},
            },
        },
        "FeedMessage": {
            "type": "object",
            "required": ["topic", "data"],
            "properties": {
                "topic": {
                    "type": "string",
                    "description": "The topic, routing key or subject of the message.",
                },
                "data": {"description": "The message's payload (JSON)."},
                "properties": {
                    "type": "object",
                    "description": "The message's broker headers.",
                    "additionalProperties": {"type": "string"},
                },
                "timestamp": {"type": "string", "format": "date-time"},
            },
        },
        "MessageStatus": {
            "type": "object",
            "required": ["id", "state", "event_type", "correlation_id", "attempts"],
            "properties": {
                "id": {"type": "integer"},
                "state": {"type": "string", "enum": list(MESSAGE_STATES)},
                "event_type": {"type": ["string", "null"]},
                "cloudevent_id": {"type": ["string", "null"]},
                "correlation_id": {"type": "string"},
                "attempts": {"type": "integer", "minimum": 0},
                "received_at": {"type": "string", "format": "date-time"},
                "processed_at": {"type": ["string", "null"], "format": "date-time"},
                "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "error": {
                    "type": ["object", "null"],
                    "required": ["class", "message"],
                    "properties": {
                        "class": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "database", "job_runner", "processing"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "job_runner": {
                    "type": "string",
                    "enum": ["alive", "down"],
                    "description": "alive: queue_job's job runner serves this "
                    "database (it holds the runner's lock); down: nothing "
                    "processes or delivers messages (status is degraded).",
                },
                "processing": {
                    "type": "string",
                    "enum": ["ok", "stalled"],
                    "description": "stalled: a due message has waited longer than "
                    "the stall threshold (status is degraded).",
                },
                "database": {
                    "type": "string",
                    "enum": ["ok", "read-only"],
                    "description": "ok: the database answers and takes writes; "
                    "read-only: a standby, or set read-only by an administrator "
                    "(the hub cannot store events: status is degraded).",
                },
                "database_latency_ms": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Round trip of the database check (only for a "
                    "caller allowed to read metrics).",
                },
                "queue": {
                    "type": "object",
                    "description": "Counts of the queue, only for a caller allowed "
                    "to read metrics; more may be added.",
                    "properties": {
                        "pending_messages": {"type": "integer", "minimum": 0},
                        "dead_letters": {"type": "integer", "minimum": 0},
                        "oldest_due_seconds": {"type": "integer", "minimum": 0},
                        "jobs": {
                            "type": "object",
                            "description": "queue_job jobs of the hub by state.",
                            "additionalProperties": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
    }


def _headers():
    return {
        "X-Correlation-ID": {
            "description": "The caller's correlation id, or a new one.",
            "schema": {"type": "string"},
        },
        "Retry-After": {
            "description": "Seconds to wait before sending again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
        "WWW-Authenticate": {
            "description": "The authentication scheme to use (Bearer).",
            "required": True,
            "schema": {"type": "string"},
        },
    }


def _problem_response(description, **headers):
    headers = {"X-Correlation-ID": _header_ref("X-Correlation-ID"), **headers}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _responses():
    return {
        "BadRequest": _problem_response("The body is not JSON or has the wrong shape."),
        "Unauthorized": _problem_response(
            "The API key is missing, unknown, expired or revoked.",
            **{"WWW-Authenticate": _header_ref("WWW-Authenticate")},
        ),
        "SignatureRejected": _problem_response(
            "The webhook signature is missing, wrong or stale."
        ),
        "Forbidden": _problem_response(
            "The API key is not scoped for this event type (or, for metrics, has "
            "no metrics scope), or may not be used from this address."
        ),
        "NotFound": _problem_response("No such resource for this API key."),
        "PayloadTooLarge": _problem_response("The body is over the size limit."),
        "UnsupportedMediaType": _problem_response("The content type is not supported."),
        "UnprocessableContent": _problem_response(
            "Unknown event type, or the event does not match its schema "
            "(one entry in errors per failing JSON pointer)."
        ),
        "TooManyRequests": _problem_response(
            "Over the rate limit of the API key.",
            **{"Retry-After": _header_ref("Retry-After")},
        ),
    }


def _parameters():
    return {
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A key that makes a resent request return the first result.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IDEMPOTENCY_KEY,
            },
        },
        "CorrelationId": {
            "name": "X-Correlation-ID",
            "in": "header",
            "required": False,
            "description": "Correlation id to carry through processing.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
    }


def _json_response(description, schema, content_type="application/json"):
    return {
        "description": description,
        "headers": {"X-Correlation-ID": _header_ref("X-Correlation-ID")},
        "content": {content_type: {"schema": schema}},
    }


def _events_path(event_schema):
    batch_schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_BATCH_ITEMS,
        "items": copy.deepcopy(event_schema),
    }
    return {
        "post": {
            "tags": ["events"],
            "operationId": "postEvents",
            "summary": "Send one CloudEvent or a batch of CloudEvents.",
            "security": [{"bearerAuth": []}],
            "parameters": [
                _parameter_ref("IdempotencyKey"),
                _parameter_ref("CorrelationId"),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/cloudevents+json": {"schema": event_schema},
                    "application/json": {"schema": copy.deepcopy(event_schema)},
                    "application/cloudevents-batch+json": {"schema": batch_schema},
                },
            },
            "responses": {
                "200": _json_response(
                    "The event was received before (duplicate), or the result of "
                    "each item of a batch.",
                    {"oneOf": [_ref("EventResult"), _ref("BatchResult")]},
                ),
                "202": _json_response(
                    "The event is accepted for processing.", _ref("EventResult")
                ),
                "400": _response_ref("BadRequest"),
                "401": _response_ref("Unauthorized"),
                "403": _response_ref("Forbidden"),
                "413": _response_ref("PayloadTooLarge"),
                "415": _response_ref("UnsupportedMediaType"),
                "422": _response_ref("UnprocessableContent"),
                "429": _response_ref("TooManyRequests"),
            },
        }
    }


def _webhook_header(name, description, schema):
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _signature_headers(signature_note=""):
    """The three Standard Webhooks headers of a signed request."""
    return [
        _webhook_header(
            "webhook-id",
            "Unique id of the message, the same on every retry: deduplicate on it.",
            {"type": "string", "minLength": 1},
        ),
        _webhook_header(
            "webhook-timestamp",
            "Unix time in seconds of this attempt (tolerance 5 minutes).",
            {"type": "string", "pattern": "^[0-9]+$"},
        ),
        _webhook_header(
            "webhook-signature",
            "Space-separated signatures like v1,<base64 HMAC-SHA256>" + signature_note,
            {"type": "string", "minLength": 1},
        ),
    ]


def _signed_path(tag, operation_id, summary, payload, accepted):
    """An inbound route signed with an endpoint's secret (Standard Webhooks)."""
    return {
        "post": {
            "tags": [tag],
            "operationId": operation_id,
            "summary": summary,
            "security": [],
            "parameters": [
                {
                    "name": "endpoint",
                    "in": "path",
                    "required": True,
                    "description": "Code of the inbound endpoint.",
                    "schema": {"type": "string", "minLength": 1},
                },
                *_signature_headers("."),
                _parameter_ref("CorrelationId"),
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(payload)}},
            },
            "responses": {
                "200": _json_response(
                    "This webhook-id was received before.", _ref("EventResult")
                ),
                "202": _json_response(accepted, _ref("EventResult")),
                "400": _response_ref("BadRequest"),
                "401": _response_ref("SignatureRejected"),
                "404": _response_ref("NotFound"),
                "413": _response_ref("PayloadTooLarge"),
                "415": _response_ref("UnsupportedMediaType"),
                "422": _response_ref("UnprocessableContent"),
                "429": _response_ref("TooManyRequests"),
            },
        }
    }


def _webhook_sent(event_type, envelope_name):
    """What Odoo sends to the endpoints subscribed to an outbound event type."""
    operation = {
        "operationId": f"send.{event_type['code']}",
        "summary": f"Odoo sends {event_type.get('name') or event_type['code']}.",
        "description": (event_type.get("description") or "")
        + " Odoo POSTs the CloudEvent to each subscribed endpoint, signed per "
        "Standard Webhooks; any answer but 2xx is retried on the endpoint's "
        "schedule, and 410 Gone disables the endpoint.",
        "parameters": _signature_headers(" (two while a signing secret is rotated)."),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(envelope_name)}},
        },
        "responses": {
            "2XX": {"description": "Received: the delivery is done."},
            "410": {"description": "Gone: Odoo disables the endpoint."},
        },
    }
    if event_type.get("deprecated"):
        operation["deprecated"] = True
    return {"post": operation}


def _messages_path():
    return {
        "get": {
            "tags": ["messages"],
            "operationId": "getMessage",
            "summary": "Processing state of a message sent with this API key.",
            "security": [{"bearerAuth": []}],
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            ],
            "responses": {
                "200": _json_response("The message.", _ref("MessageStatus")),
                "401": _response_ref("Unauthorized"),
                "404": _response_ref("NotFound"),
            },
        }
    }


def _meta_paths():
    openapi = {
        "get": {
            "tags": ["meta"],
            "operationId": "getOpenapi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": _json_response("The OpenAPI document.", {"type": "object"})
            },
        }
    }
    health = {
        "get": {
            "tags": ["meta"],
            "operationId": "getHealth",
            "summary": "Database, job runner and processing status.",
            "description": "Anyone may ask; the figures (database latency, queue) "
            "are added for an API key with the metrics scope or a caller from a "
            "network allowed to read metrics.",
            "security": [{}, {"bearerAuth": []}],
            "responses": {
                "200": _json_response("The hub is healthy.", _ref("Health")),
                "401": _response_ref("Unauthorized"),
                "403": _response_ref("Forbidden"),
                "503": _json_response("The hub is degraded.", _ref("Health")),
            },
        }
    }
    metrics = {
        "get": {
            "tags": ["meta"],
            "operationId": "getMetrics",
            "summary": "Prometheus metrics of the hub.",
            "description": "The Prometheus text format 0.0.4, for an API key with "
            "the metrics scope or a caller from a network allowed to read metrics "
            "(system parameter mfg_integration.metrics_allowed_networks). Every "
            "server of a database answers the same values: they are read from the "
            "database.",
            "security": [{"bearerAuth": []}, {}],
            "responses": {
                "200": {
                    "description": "The metrics.",
                    "headers": {"X-Correlation-ID": _header_ref("X-Correlation-ID")},
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": _response_ref("Unauthorized"),
                "403": _response_ref("Forbidden"),
            },
        }
    }
    asyncapi = {
        "get": {
            "tags": ["meta"],
            "operationId": "getAsyncapi",
            "summary": "The AsyncAPI 3.0 document of the events (in and out).",
            "security": [],
            "responses": {
                "200": _json_response("The AsyncAPI document.", {"type": "object"})
            },
        }
    }
    return openapi, health, metrics, asyncapi


def build_openapi(
    event_types,
    server_url="/",
    title="Manufacturing Integration API",
    version="1.0.0",
):
    """Build the OpenAPI 3.1 document of the HTTP API v1.

    :param event_types: iterable of dicts with ``code``, ``name``, ``description``,
        ``direction``, ``version``, ``schema`` (the Draft 2020-12 JSON Schema of the
        event's ``data``) and ``deprecated``, and optionally ``versions``: the older
        versions still accepted, each a dict with ``version``, ``schema``,
        ``deprecated`` and ``sunset`` (an ISO date or None); they are not modified.
        Inbound event types are what ``POST /events`` accepts; outbound ones are
        listed under ``webhooks`` (what Odoo sends)
    :param server_url: the URL of the server, e.g. ``https://erp.example.com``
    :param title: the title of the document
    :param version: the version of the document
    :return: the OpenAPI document as a JSON-serialisable dict
    :raise ValueError: when a code is not usable as a component name, is given
        twice, clashes with a built-in component, or has no schema
    """
    schemas = {"CloudEvent": cloudevent_schema()}
    schemas.update(_problem_schemas())
    schemas.update(_result_schemas())
    builtin = set(schemas)
    event_refs, webhooks = [], {}
    for event_type in sorted(event_types, key=lambda e: str(e.get("code"))):
        versions = [None, *event_type.get("versions", ())]
        for older in versions:
            name, data_schema, envelope = event_components(event_type, older)
            envelope_name = f"{name}.event"
            if name in schemas or envelope_name in schemas:
                what = (
                    "a built-in component" if name in builtin else "another event type"
                )
                raise ValueError(f"The event type code {name} clashes with {what}.")
            schemas[name] = data_schema
            schemas[envelope_name] = envelope
            if event_type.get("direction") == "outbound":
                if older is None:
                    webhooks[name] = _webhook_sent(event_type, envelope_name)
            else:
                event_refs.append(_ref(envelope_name))
    event_schema = {"oneOf": event_refs} if event_refs else _ref("CloudEvent")
    openapi_path, health_path, metrics_path, asyncapi_path = _meta_paths()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "summary": "Canonical manufacturing events in and out of Odoo.",
            "license": {
                "name": "LGPL-3.0-or-later",
                "identifier": "LGPL-3.0-or-later",
            },
        },
        "jsonSchemaDialect": DRAFT_2020_12,
        "servers": [{"url": server_url}],
        "tags": [
            {"name": "events", "description": "CloudEvents sent by external systems."},
            {"name": "webhooks", "description": "Signed webhooks of systems."},
            {
                "name": "feeds",
                "description": "Broker messages forwarded by the feeds' consumers.",
            },
            {"name": "messages", "description": "Processing state of messages."},
            {"name": "meta", "description": "Health, metrics and the API documents."},
        ],
        "paths": {
            f"{API_PREFIX}/events": _events_path(event_schema),
            f"{API_PREFIX}/webhooks/{{endpoint}}": _signed_path(
                "webhooks",
                "postWebhook",
                "Receive a system's webhook, signed per Standard Webhooks.",
                "WebhookPayload",
                "The webhook is accepted for processing.",
            ),
            f"{API_PREFIX}/feeds/{{endpoint}}": _signed_path(
                "feeds",
                "postFeedMessage",
                "Receive one broker message from a feed's consumer "
                "(mfg-integration consume), signed per Standard Webhooks.",
                "FeedMessage",
                "The message is stored; its data is checked when it is processed "
                "(a message that does not fit becomes a dead letter).",
            ),
            f"{API_PREFIX}/messages/{{id}}": _messages_path(),
            f"{API_PREFIX}/openapi.json": openapi_path,
            f"{API_PREFIX}/asyncapi.json": asyncapi_path,
            f"{API_PREFIX}/health": health_path,
            f"{API_PREFIX}/metrics": metrics_path,
        },
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "responses": _responses(),
            "parameters": _parameters(),
            "headers": _headers(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Authorization: Bearer <API key of the hub>",
                }
            },
        },
    }
