"""The AsyncAPI 3.0 document of the hub's events, built from the catalogue.

``GET /api/mfg/v1/asyncapi.json`` is to serve :func:`build_asyncapi` for the event
types of the catalogue, the same list of dicts that :func:`.openapi.build_openapi`
takes. The document describes each event type as:

* a channel whose ``address`` is the event type code (the CloudEvent ``type``);
* a message, in ``components.messages``, whose payload is the CloudEvent envelope
  of that type;
* an operation of the hub: ``receive`` for an inbound type (external systems POST
  it to the ingress ``/api/mfg/v1/events`` with an API key), ``send`` for an
  outbound type (the hub POSTs it to each subscribed outbound endpoint as a
  webhook signed per Standard Webhooks).

The schemas of the catalogue are JSON Schema draft 2020-12 (``$defs``,
``dependentRequired``…), which AsyncAPI's own Schema Object (a superset of draft-07)
does not describe. So every schema of an event is a Multi Format Schema Object
whose ``schemaFormat`` is :data:`JSON_SCHEMA_2020_12` and whose ``schema`` is the
JSON Schema; references inside point at the ``schema`` member of other such
objects, so they keep resolving and always reach a schema of the same format, as
AsyncAPI requires. AsyncAPI 3.0 lists only draft-07 among its JSON Schema formats
and allows custom values; this one is the name that Swagger's ApiDOM gives to
2020-12 schemas.

AsyncAPI 3.0 defines ``deprecated`` for schemas only: a deprecated event type has
``deprecated: true`` on its two schemas, and ``x-deprecated: true`` with a note in
the description on its message and operation.

The document only uses JSON values, so it can be served with ``json.dumps``.
"""

import copy
from urllib.parse import urlsplit

from .openapi import API_PREFIX, check_code, cloudevent_schema, event_components
from .schemas import json_pointer, schema_urn

ASYNCAPI_VERSION = "3.0.0"
#: ``schemaFormat`` of the catalogue's schemas (JSON Schema draft 2020-12)
JSON_SCHEMA_2020_12 = "application/schema+json;version=2020-12"
#: content type of the events that systems send to the ingress
CLOUDEVENTS_JSON = "application/cloudevents+json"
#: content type of the webhooks that the hub sends (see ``transport.build_request``)
WEBHOOK_CONTENT_TYPE = "application/json"
#: the hub's operation for each direction of an event type
ACTIONS = {"inbound": "receive", "outbound": "send"}
#: direction of an event type that does not give one (the model's default)
DEFAULT_DIRECTION = "inbound"
HUB_SERVER = "hub"
SUBSCRIBER_SERVER = "subscriber"
_HTTP_BINDING = {"http": {"method": "POST", "bindingVersion": "0.3.0"}}
_EXAMPLE_SOURCE = "urn:mfg-integration:example"
_DEPRECATED_NOTE = (
    "**Deprecated**: this event type is being retired; do not build new "
    "integrations on it."
)


def _pointer(*parts):
    return "#" + json_pointer(parts)


def _schema_pointer(name):
    """JSON pointer of the JSON Schema of a Multi Format Schema Object component."""
    return json_pointer(["components", "schemas", name, "schema"])


def _schema_ref(name):
    return {"$ref": "#" + _schema_pointer(name)}


def _multi_format(schema):
    return {"schemaFormat": JSON_SCHEMA_2020_12, "schema": schema}


def _hub_server(server_url):
    if not isinstance(server_url, str):
        raise ValueError("The server URL must be a string.")
    parts = urlsplit(server_url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise ValueError(f"The server URL {server_url!r} has a bad port.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"The server URL {server_url!r} must be an absolute http(s) URL."
        )
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError(
            f"The server URL {server_url!r} must have no credentials, query or "
            "fragment."
        )
    host = parts.netloc.rpartition("@")[2]
    base_path = parts.path.rstrip("/")
    server = {
        "host": host,
        "protocol": parts.scheme,
        "pathname": f"{base_path}{API_PREFIX}/events",
        "title": "Manufacturing Integration hub",
        "summary": "The ingress of the hub (Odoo).",
        "description": (
            "External systems POST inbound events here, one CloudEvent "
            f"(`{CLOUDEVENTS_JSON}` or `application/json`) or a batch "
            "(`application/cloudevents-batch+json`), with the API key of their "
            "system as a bearer token. The hub answers 202 when it accepts an event "
            "and 200 for a duplicate; errors are RFC 9457 problem documents. "
            f"The HTTP API is described by `{base_path}{API_PREFIX}/openapi.json`."
        ),
        "security": [{"$ref": _pointer("components", "securitySchemes", "bearerAuth")}],
    }
    external_docs = {
        "description": "The OpenAPI 3.1 document of the hub's HTTP API.",
        "url": f"{parts.scheme}://{host}{base_path}{API_PREFIX}/openapi.json",
    }
    return server, external_docs


def _subscriber_server():
    return {
        "host": "{host}",
        "protocol": "https",
        "pathname": "{path}",
        "title": "Subscribed outbound endpoint",
        "summary": "The URL of an outbound endpoint configured in Odoo.",
        "description": (
            "The hub POSTs outbound events to the URL of every active outbound "
            "endpoint subscribed to their type. https is recommended; http is "
            "accepted for endpoints on networks that an administrator allows. "
            "Besides the Standard Webhooks signature, an endpoint may ask for a "
            "bearer token, basic authentication or a header of its own."
        ),
        "variables": {
            "host": {
                "description": "Host and port of the endpoint's URL.",
                "examples": ["mes.example.com", "cmms.example.com:8443"],
            },
            "path": {
                "description": "Path of the endpoint's URL.",
                "examples": ["/hooks/odoo"],
            },
        },
    }


def _ingress_headers():
    return {
        "type": "object",
        "description": "Optional HTTP headers of a request to the ingress.",
        "properties": {
            "Idempotency-Key": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "A key that makes a resent request return the "
                "first result.",
            },
            "X-Correlation-ID": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "Correlation id to carry through processing; the "
                "hub makes one when it is missing and returns it.",
            },
        },
    }


def _webhook_headers():
    return {
        "type": "object",
        "description": (
            "The Standard Webhooks headers of every delivery attempt. The signed "
            "content is `{webhook-id}.{webhook-timestamp}.{body}`, with the exact "
            "body bytes; receivers refuse a timestamp more than 5 minutes away "
            "from their clock and drop a webhook-id they have seen."
        ),
        "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "properties": {
            "webhook-id": {
                "type": "string",
                "minLength": 1,
                "pattern": r"^[^.]+$",
                "description": "Id of the message, the same on every retry.",
            },
            "webhook-timestamp": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "Unix time in seconds of this attempt.",
            },
            "webhook-signature": {
                "type": "string",
                "pattern": r"^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$",
                "description": (
                    "Space-separated `v1,<base64 HMAC-SHA256>` signatures, one per "
                    "valid secret of the endpoint (two during a secret rotation)."
                ),
            },
        },
    }


def _security_schemes():
    return {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "`Authorization: Bearer <API key>`: the API key of the sending "
                "system, scoped to the event types it may send."
            ),
        }
    }


def _direction(event_type, code):
    direction = event_type.get("direction")
    if direction is None:
        return DEFAULT_DIRECTION
    if direction not in ACTIONS:
        raise ValueError(
            f"The event type {code} has the direction {direction!r}; expected "
            "'inbound' or 'outbound'."
        )
    return direction


def _event_schemas(event_type, direction, older=None):
    """The name, data schema and envelope schema of an event type's current
    version, or of an older version still accepted, in 2020-12."""
    return event_components(
        {**event_type, "direction": direction}, older, locate=_schema_pointer
    )


def _examples(code, schema, older=None):
    """Message examples: the ``examples`` of the data schema inside an envelope."""
    examples = schema.get("examples")
    if not isinstance(examples, list):
        return []
    found = []
    for index, example in enumerate(examples, start=1):
        payload = {
            "specversion": "1.0",
            "id": f"{code}-example-{index}",
            "source": _EXAMPLE_SOURCE,
            "type": code,
            "datacontenttype": "application/json",
            "data": copy.deepcopy(example),
        }
        if older is not None:
            payload["dataschema"] = schema_urn(code, older["version"])
        found.append({"name": f"example-{index}", "payload": payload})
    return found


def _with_note(text, deprecated):
    parts = [part for part in (_DEPRECATED_NOTE if deprecated else "", text) if part]
    return "\n\n".join(parts)


def _message(event_type, code, direction, deprecated, older=None):
    """The message of an event type's current version, or of an older version
    still accepted (named ``<code>.v<n>``; its events name it in ``dataschema``)."""
    source = older if older is not None else event_type
    key = code if older is None else f"{code}.v{older['version']}"
    name = event_type.get("name") or code
    if older is not None:
        name = f"{name} (version {older['version']})"
    if direction == "inbound":
        summary = f"A {code} CloudEvent that an external system sends to the hub."
        headers = "IngressHeaders"
        content_type = CLOUDEVENTS_JSON
    else:
        summary = f"A {code} CloudEvent that the hub sends as a signed webhook."
        headers = "WebhookHeaders"
        content_type = WEBHOOK_CONTENT_TYPE
    message = {
        "name": key,
        "title": name,
        "summary": summary,
        "contentType": content_type,
        "headers": {"$ref": _pointer("components", "schemas", headers)},
        "payload": {"$ref": _pointer("components", "schemas", f"{key}.event")},
    }
    description = _with_note(event_type.get("description") or "", deprecated)
    if description:
        message["description"] = description
    if direction == "inbound":
        message["correlationId"] = {
            "$ref": _pointer("components", "correlationIds", "correlationId")
        }
    examples = _examples(code, source["schema"], older)
    if examples:
        message["examples"] = examples
    message["x-event-direction"] = direction
    if source.get("version") is not None:
        message["x-schema-version"] = copy.deepcopy(source["version"])
    if deprecated:
        message["x-deprecated"] = True
    return message


def _channel(event_type, code, direction, keys):
    server = HUB_SERVER if direction == "inbound" else SUBSCRIBER_SERVER
    channel = {
        "address": code,
        "title": event_type.get("name") or code,
        "summary": f"CloudEvents whose type is {code}.",
        "servers": [{"$ref": _pointer("servers", server)}],
        "messages": {
            key: {"$ref": _pointer("components", "messages", key)} for key in keys
        },
    }
    if event_type.get("description"):
        channel["description"] = event_type["description"]
    return channel


def _operation(event_type, code, direction, deprecated, keys):
    action = ACTIONS[direction]
    if direction == "inbound":
        summary = "The hub receives this event from external systems."
        description = (
            f"A system POSTs the event to the ingress `{API_PREFIX}/events` with "
            "its API key as a bearer token, alone or in a batch. The hub checks "
            "the envelope and the data against the schema, stores the event and "
            "processes it asynchronously; `GET "
            f"{API_PREFIX}/messages/{{id}}` tells its processing state."
        )
    else:
        summary = "The hub sends this event to the subscribed outbound endpoints."
        description = (
            "For every active outbound endpoint subscribed to this type, the hub "
            "POSTs the CloudEvent (or the payload of the endpoint's mapping) as "
            f"`{WEBHOOK_CONTENT_TYPE}`, signed per Standard Webhooks with the "
            "endpoint's secret (headers webhook-id, webhook-timestamp and "
            "webhook-signature). A failed delivery is retried with the same "
            "webhook-id, so receivers must drop an id they have processed."
        )
    operation = {
        "action": action,
        "channel": {"$ref": _pointer("channels", code)},
        "title": event_type.get("name") or code,
        "summary": summary,
        "description": _with_note(description, deprecated),
        "messages": [
            {"$ref": _pointer("channels", code, "messages", key)} for key in keys
        ],
        "bindings": copy.deepcopy(_HTTP_BINDING),
        "tags": [{"name": direction}],
    }
    if deprecated:
        operation["x-deprecated"] = True
    return operation


def build_asyncapi(
    event_types,
    server_url="http://localhost:8069",
    title="Manufacturing Integration events",
    version="1.0.0",
):
    """Build the AsyncAPI 3.0 document of the hub's events.

    :param event_types: iterable of dicts with ``code``, ``name``, ``description``,
        ``direction`` (``inbound`` or ``outbound``; ``inbound`` when missing),
        ``version``, ``schema`` (the Draft 2020-12 JSON Schema of the event's
        ``data``) and ``deprecated``, and optionally ``versions`` (the older versions
        an inbound type still accepts, as for :func:`.openapi.build_openapi`);
        they are not modified
    :param server_url: the absolute http(s) URL of Odoo, e.g.
        ``https://erp.example.com``; the ingress is ``/api/mfg/v1/events`` below it
    :param title: the title of the document
    :param version: the version of the document
    :return: the AsyncAPI document as a JSON-serialisable dict
    :raise ValueError: when a code is not usable as a component name, is given
        twice, clashes with a built-in component, or has no schema; when a
        direction is unknown; when the server URL is not an absolute http(s) URL
    """
    hub, external_docs = _hub_server(server_url)
    checked = [(check_code(event_type), event_type) for event_type in event_types]
    schemas = {
        "CloudEvent": _multi_format(cloudevent_schema()),
        "IngressHeaders": _ingress_headers(),
        "WebhookHeaders": _webhook_headers(),
    }
    builtin = set(schemas)
    channels, operations, messages = {}, {}, {}
    for code, event_type in sorted(checked, key=lambda item: item[0]):
        direction = _direction(event_type, code)
        # Odoo emits only the current version of an outbound type; it accepts the
        # older live versions of an inbound one
        older_versions = (
            event_type.get("versions", ()) if direction == "inbound" else ()
        )
        keys = []
        for older in (None, *older_versions):
            key, data_schema, envelope = _event_schemas(event_type, direction, older)
            envelope_name = f"{key}.event"
            if key in schemas or envelope_name in schemas:
                what = (
                    "a built-in component" if key in builtin else "another event type"
                )
                raise ValueError(f"The event type code {key} clashes with {what}.")
            deprecated = bool((older or event_type).get("deprecated"))
            schemas[key] = _multi_format(data_schema)
            schemas[envelope_name] = _multi_format(envelope)
            messages[key] = _message(event_type, code, direction, deprecated, older)
            keys.append(key)
        deprecated = bool(event_type.get("deprecated"))
        channels[code] = _channel(event_type, code, direction, keys)
        operations[f"{ACTIONS[direction]}.{code}"] = _operation(
            event_type, code, direction, deprecated, keys
        )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Canonical manufacturing events in and out of Odoo, as CloudEvents "
                "1.0 in structured JSON mode. Each channel is one event type of the "
                "catalogue (its address is the CloudEvent `type`); the `data` of an "
                "event follows the JSON Schema (draft 2020-12) of the current "
                "version of its type. Inbound events are received by the hub from "
                "external systems; outbound events are sent by the hub to "
                "subscribed endpoints as signed webhooks."
            ),
            "license": {
                "name": "LGPL-3.0-or-later",
                "url": "https://www.gnu.org/licenses/lgpl-3.0.html",
            },
            "tags": [
                {
                    "name": "inbound",
                    "description": "Events that external systems send to Odoo.",
                },
                {
                    "name": "outbound",
                    "description": "Events that Odoo sends to external systems.",
                },
            ],
            "externalDocs": external_docs,
        },
        "defaultContentType": CLOUDEVENTS_JSON,
        "servers": {HUB_SERVER: hub, SUBSCRIBER_SERVER: _subscriber_server()},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": _security_schemes(),
            "correlationIds": {
                "correlationId": {
                    "description": "The X-Correlation-ID header of the request.",
                    "location": "$message.header#/X-Correlation-ID",
                }
            },
        },
    }
