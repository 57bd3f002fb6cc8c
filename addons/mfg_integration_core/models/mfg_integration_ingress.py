import hashlib
import json
import logging
import time
import uuid
from collections import Counter, namedtuple
from datetime import datetime, timezone

from odoo import api, fields, models, tools
from odoo.sql_db import Cursor
from odoo.tools import SQL

from odoo.addons.queue_job.jobrunner.runner import PG_ADVISORY_LOCK_ID as RUNNER_LOCK_ID

from mfg_integration import errors
from mfg_integration.asyncapi import build_asyncapi
from mfg_integration.cloudevents import (
    decode_json,
    may_hold_unstorable,
    parse_batch,
    parse_event,
)
from mfg_integration.networks import address_allowed, parse_networks
from mfg_integration.openapi import (
    API_PREFIX,
    MAX_IDEMPOTENCY_KEY,
    build_openapi,
)
from mfg_integration.ratelimit import decide, window_start
from mfg_integration.schemas import parse_schema_urn, schema_urn, validate
from mfg_integration.webhooks import verify_webhook

from ..tools import iso_utc, utc_naive
from .mfg_integration_endpoint import CODE_RE as ENDPOINT_CODE_RE

#: media types of POST /events
SINGLE_TYPES = ("application/cloudevents+json", "application/json")
BATCH_TYPE = "application/cloudevents-batch+json"
RATE_WINDOW = 60
#: system parameter: networks that may read metrics and health details without a key
METRICS_NETWORKS_PARAM = "mfg_integration.metrics_allowed_networks"

_logger = logging.getLogger(__name__)

#: what the ingress needs of one version of an event type (cached per worker)
Contract = namedtuple(
    "Contract",
    [
        "event_type_id",
        "version",
        "schema_json",
        "deprecation",  # date from which senders are told, or None
        "sunset",  # date from which events are refused, or None
        "direction",
        "current_version",
        "retired",  # archived version: refused
        "documentation",  # the Link of the deprecation headers
        "live_versions",  # versions that are not retired
    ],
)


class MfgIntegrationIngress(models.AbstractModel):
    """The service behind the inbound HTTP API.

    Controllers read the request and call one method here; everything else (keys,
    limits, validation, deduplication, persistence, enqueueing) happens in this model.
    Methods return ``(status, body, headers)`` or raise
    :class:`mfg_integration.errors.IntegrationError` subclasses.
    """

    _name = "mfg.integration.ingress"
    _description = "Integration Ingress Service"

    # ------------------------------------------------------------------
    # Limits
    # ------------------------------------------------------------------

    @api.model
    def _body_limit(self, batch):
        params = self.env["ir.config_parameter"].sudo()
        if batch:
            return int(params.get_param("mfg_integration.max_batch_bytes", 10 << 20))
        return int(params.get_param("mfg_integration.max_event_bytes", 1 << 20))

    @api.model
    def _check_rate_limit(self, key):
        """Count the request against the API key's per-minute limit.

        :raise RateLimited: with the seconds to wait
        """
        self._count_request(key.id, key.rate_limit, "This API key")

    @api.model
    def _check_endpoint_rate_limit(self, endpoint):
        """Count a signed webhook request against its inbound endpoint's limit,
        whether it turns out to be well signed or not.

        :raise RateLimited: with the seconds to wait
        """
        self._count_request(-endpoint.id, endpoint.rate_limit, "This endpoint")

    @api.model
    def _count_request(self, counter_id, limit, who):
        """Count one request in the sliding window of ``counter_id`` (an API key id,
        or minus an inbound endpoint id), across all workers.

        Counters live in an unlogged table updated in a short transaction of their
        own, so concurrent requests never wait on the request transactions.

        :raise RateLimited: with the seconds to wait
        """
        if limit <= 0:
            return
        now = time.time()
        start = window_start(now, RATE_WINDOW)
        with self.env.registry.cursor() as cr:
            if isinstance(cr, Cursor):  # a fresh transaction (not a test cursor)
                # no serialization failures between concurrent counters, and no
                # wait for the disk: a lost count only forgives a few requests
                cr.execute(
                    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; "
                    "SET LOCAL synchronous_commit TO OFF"
                )
            cr.execute(
                """
                INSERT INTO mfg_integration_rate_counter AS c
                    (key_id, window_start, hits)
                VALUES (%s, %s, 1)
                ON CONFLICT (key_id, window_start)
                DO UPDATE SET hits = c.hits + 1
                RETURNING hits,
                    (SELECT hits FROM mfg_integration_rate_counter
                      WHERE key_id = %s AND window_start = %s)
                """,
                (counter_id, start, counter_id, start - RATE_WINDOW),
            )
            current, previous = cr.fetchone()
        decision = decide(
            limit, current, previous or 0, now, RATE_WINDOW, max_wait=2 * RATE_WINDOW
        )
        if not decision.allowed:
            raise errors.RateLimited(
                f"{who} is limited to {limit} requests per minute.",
                retry_after=decision.retry_after,
            )

    @api.model
    def _cron_purge_rate_counters(self):
        """Delete the request counters of the windows no rate limit reads any more
        (all but the current and the previous one)."""
        oldest_read = window_start(time.time(), RATE_WINDOW) - RATE_WINDOW
        self.env.cr.execute(
            "DELETE FROM mfg_integration_rate_counter WHERE window_start < %s",
            (oldest_read,),
        )

    # ------------------------------------------------------------------
    # Contracts
    # ------------------------------------------------------------------

    @api.model
    @tools.ormcache("code", "version")
    def _contract(self, code, version=None):
        """The contract of version ``version`` of event type ``code`` (None: the
        current version), or None for an unknown event type or version.

        Its deprecation and retirement dates are the earliest of the event type's
        and the version's.

        :rtype: Contract
        """
        event_type = self.env["mfg.integration.event.type"].sudo().get_by_code(code)
        current = event_type.current_schema_id
        if not event_type or not current:
            return None
        schemas = event_type.with_context(active_test=False).schema_ids
        schema = (
            current
            if version is None
            else schemas.filtered(lambda s: s.version == version)
        )
        if not schema:
            return None

        def earliest(*dates):
            return min((d for d in dates if d), default=None)

        return Contract(
            event_type_id=event_type.id,
            version=schema.version,
            schema_json=schema.schema_json,
            deprecation=earliest(event_type.deprecation_date, schema.deprecation_date),
            sunset=earliest(event_type.sunset_date, schema.sunset_date),
            direction=event_type.direction,
            current_version=current.version,
            retired=not schema.active,
            documentation=schema.documentation_url
            or f"{API_PREFIX}/openapi.json#/components/schemas/"
            + (code if schema == current else f"{code}.v{schema.version}"),
            live_versions=tuple(
                s.version
                for s in schemas.sorted("version")
                if s.lifecycle_state != "retired"
            ),
        )

    @api.model
    def _event_contract(self, event, base):
        """The contract an event asks for: the version its ``dataschema`` names, or
        the current one.

        :raise UnknownEventType: unknown or outbound event type, unknown version,
            retired event type or version (naming what to send instead)
        """
        requested = None
        if event.dataschema is not None:
            parsed = parse_schema_urn(event.dataschema)
            if parsed is None or parsed[0] != event.type:
                raise errors.UnknownEventType(
                    f"'dataschema' must name a version of '{event.type}', like "
                    f"{schema_urn(event.type, 1)}, or be left out (the current "
                    "version).",
                    errors=[
                        {"pointer": f"{base}/dataschema", "message": "not a version"}
                    ],
                )
            requested = parsed[1]
        contract = self._contract(event.type, requested)
        if contract is None:
            if self._contract(event.type) is None:
                raise errors.UnknownEventType(
                    f"'{event.type}' is not an event type of the catalogue.",
                    errors=[
                        {"pointer": f"{base}/type", "message": "unknown event type"}
                    ],
                )
            live = self._contract(event.type).live_versions
            raise errors.UnknownEventType(
                f"'{event.type}' has no version {requested}; live versions: "
                + ", ".join(str(v) for v in live)
                + ".",
                errors=[
                    {"pointer": f"{base}/dataschema", "message": "unknown version"}
                ],
            )
        today = fields.Date.today()
        if contract.retired or (contract.sunset and contract.sunset <= today):
            current = self._contract(event.type)
            when = (
                f"on {contract.sunset}"
                if contract.sunset and not contract.retired
                else "already"
            )
            if current.sunset and current.sunset <= today:
                raise errors.UnknownEventType(
                    f"'{event.type}' was retired {when}.",
                    errors=[
                        {"pointer": f"{base}/type", "message": "retired event type"}
                    ],
                )
            pointer = "dataschema" if event.dataschema is not None else "type"
            raise errors.UnknownEventType(
                f"Version {contract.version} of '{event.type}' was retired {when}: "
                f"send version {current.version} (dataschema "
                f"{schema_urn(event.type, current.version)}).",
                errors=[
                    {
                        "pointer": f"{base}/{pointer}",
                        "message": "retired version; replaced by "
                        + schema_urn(event.type, current.version),
                    }
                ],
            )
        return contract

    @api.model
    def _check_event(
        self, event, base, system, key=None, endpoint=None, check_data=True
    ):
        """Check one parsed event: known, live, inbound event type and version,
        allowed for the key, data valid against the version's schema.

        The data is not checked here when the system has an inbound mapping for the
        event type (it is then the system's own format, which the mapping translates
        when the message is processed), nor when ``check_data`` is False (broker
        feeds: it is checked when the message is processed).

        :return: the :class:`Contract` the event used
        """
        contract = self._event_contract(event, base)
        if contract.direction == "outbound":
            raise errors.UnknownEventType(
                f"'{event.type}' is an outbound event type: Odoo emits it, no system "
                "may send it to Odoo.",
                errors=[{"pointer": f"{base}/type", "message": "outbound event type"}],
            )
        if key is not None:
            key._check_scope(event.type)
        mapped = self.env["mfg.integration.mapping"]._inbound_mapping_id(
            system.id, endpoint.id if endpoint else None, contract.event_type_id
        )
        if mapped or not check_data:
            return contract
        violations = validate(contract.schema_json, event.data, base=f"{base}/data")
        if violations:
            raise errors.ValidationFailed(
                f"{len(violations)} value(s) of the event data do not match the "
                f"schema of '{event.type}' v{contract.version}.",
                errors=[v.as_dict() for v in violations],
            )
        return contract

    # ------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------

    @api.model
    def _persist(self, system, accepted, correlation_id, key=None, endpoint=None):
        """Insert the accepted events as queued messages, skipping the ones the
        system already sent (the unique index decides, not a prior read).

        :param accepted: list of ``(event, contract)``
        :return: ``{ce_id: (message_id, is_new)}``
        """
        if not accepted:
            return {}
        now = fields.Datetime.now()
        uid = self.env.uid
        rows = [
            SQL(
                "(%s, %s, %s, %s, 'inbound', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, 'queued', 0, false)",
                uid,
                now,
                uid,
                now,
                system.id,
                system.company_id.id,
                endpoint.id if endpoint else None,
                key.id if key else None,
                contract.event_type_id,
                event.type,
                contract.version,
                event.id,
                event.source,
                utc_naive(event.time),
                event.subject,
                event.dataschema,
                correlation_id,
                json.dumps(event.data, ensure_ascii=False, separators=(",", ":")),
            )
            for event, contract in accepted
        ]
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO mfg_integration_message (
                    create_uid, create_date, write_uid, write_date, direction,
                    system_id, company_id, endpoint_id, api_key_id, event_type_id,
                    event_code, schema_version, ce_id, ce_source, ce_time, ce_subject,
                    ce_dataschema, correlation_id, payload, state, attempts,
                    payload_edited)
                VALUES %s
                ON CONFLICT (system_id, ce_id) WHERE direction = 'inbound' DO NOTHING
                RETURNING ce_id, id
                """,
                SQL(", ").join(rows),
            ),
            # Concurrent identical events end in a serialization failure that Odoo
            # retries (the retry then sees the first one): not an error to log.
            log_exceptions=False,
        )
        result = {ce_id: (msg_id, True) for ce_id, msg_id in self.env.cr.fetchall()}
        missing = [e.id for e, _c in accepted if e.id not in result]
        if missing:
            self.env.cr.execute(
                """
                SELECT ce_id, id FROM mfg_integration_message
                 WHERE direction = 'inbound' AND system_id = %s AND ce_id = ANY(%s)
                """,
                (system.id, missing),
            )
            result.update(
                {ce_id: (msg_id, False) for ce_id, msg_id in self.env.cr.fetchall()}
            )
        if any(is_new for _id, is_new in result.values()):
            self.env["mfg.integration.message"]._enqueue_drain(system)
        return result

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------

    @api.model
    def receive_events(self, key, media_type, read_body, correlation_id, idem_key):
        """``POST /api/mfg/v1/events``: one CloudEvent, or a batch.

        :param key: the authenticated ``mfg.integration.api.key`` (sudo)
        :param media_type: the request's media type, without parameters
        :param read_body: ``read_body(limit)`` returns the body or raises
            :class:`~mfg_integration.errors.PayloadTooLarge`
        :param correlation_id: the request's correlation id
        :param idem_key: the ``Idempotency-Key`` header (batches), or None
        :return: ``(status, body, headers)``
        """
        if media_type == BATCH_TYPE:
            body = read_body(self._body_limit(batch=True))
            return self._receive_batch(key, body, correlation_id, idem_key)
        if media_type not in SINGLE_TYPES:
            raise errors.UnsupportedMediaType(
                "Send application/cloudevents+json or application/json (one event), "
                f"or {BATCH_TYPE} (a batch)."
            )
        body = read_body(self._body_limit(batch=False))
        event = parse_event(decode_json(body), check_strings=may_hold_unstorable(body))
        contract = self._check_event(event, "", key.system_id, key=key)
        msg_id, is_new = self._persist(
            key.system_id, [(event, contract)], correlation_id, key=key
        )[event.id]
        return self._accepted(
            key.system_id, event, msg_id, is_new, correlation_id, contract
        )

    @api.model
    def _accepted(self, system, event, msg_id, is_new, correlation_id, contract):
        """The answer to one stored event (new, or a duplicate), counted."""
        outcome = "accepted" if is_new else "duplicate"
        self._count_received(system, {(event.type, outcome): 1})
        body = {"id": msg_id, "correlation_id": correlation_id}
        if is_new:
            body["status"] = "accepted"
            return 202, body, self._lifecycle_headers(contract)
        body.update(status="duplicate", duplicate=True)
        return 200, body, self._lifecycle_headers(contract)

    @api.model
    def _receive_batch(self, key, body, correlation_id, idempotency_key):
        system = key.system_id
        digest = hashlib.sha256(body).hexdigest()
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise errors.MalformedRequest(
                f"The Idempotency-Key header is {len(idempotency_key)} characters "
                f"long; it may have at most {MAX_IDEMPOTENCY_KEY}."
            )
        if idempotency_key:
            stored = self.env["mfg.integration.idempotency"]._lookup(
                system, idempotency_key, digest
            )
            if stored is not None:
                return 200, stored, {"Idempotent-Replayed": "true"}
        items = parse_batch(decode_json(body))
        check_strings = may_hold_unstorable(body)
        results = [None] * len(items)
        # the metric label of each item: the type of an item that parsed and names
        # a catalogue event type; "" otherwise (an unknown type is any string, and
        # an unparsed one may not even be storable)
        labels = [""] * len(items)
        accepted, positions, first_index = [], [], {}
        for index, item in enumerate(items):
            base = f"/{index}"
            try:
                event = parse_event(item, base=base, check_strings=check_strings)
                if self._contract(event.type) is not None:
                    labels[index] = event.type
                if event.id in first_index:
                    results[index] = {
                        "index": index,
                        "status": "duplicate",
                        "duplicate_of_index": first_index[event.id],
                    }
                    continue
                contract = self._check_event(event, base, system, key=key)
            except errors.IntegrationError as exc:
                results[index] = {
                    "index": index,
                    "status": "rejected",
                    "problem": exc.to_problem(),
                }
                continue
            first_index[event.id] = index
            accepted.append((event, contract))
            positions.append(index)
        persisted = self._persist(system, accepted, correlation_id, key=key)
        lifecycle = {}
        for (event, contract), index in zip(accepted, positions, strict=True):
            msg_id, is_new = persisted[event.id]
            results[index] = {
                "index": index,
                "status": "accepted" if is_new else "duplicate",
                "id": msg_id,
            }
            headers = self._lifecycle_headers(contract)
            if headers:
                # the answer carries the headers of the first deprecated version
                # used; each item names its own
                lifecycle = lifecycle or headers
                results[index]["deprecation"] = {
                    "dataschema": schema_urn(event.type, contract.version),
                    "deprecated_since": contract.deprecation
                    and contract.deprecation.isoformat(),
                    "sunset": contract.sunset and contract.sunset.isoformat(),
                    "link": contract.documentation,
                }
        for result in results:
            if "duplicate_of_index" in result:
                first = results[result.pop("duplicate_of_index")]
                result["id"] = first.get("id")
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        outcomes = Counter()
        for label, result in zip(labels, results, strict=True):
            counts[result["status"]] += 1
            outcomes[label, result["status"]] += 1
        self._count_received(system, outcomes)
        response = {
            "correlation_id": correlation_id,
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        }
        if idempotency_key:
            self.env["mfg.integration.idempotency"]._store(
                system, idempotency_key, digest, response
            )
        return 200, response, lifecycle

    @api.model
    def receive_webhook(self, code, media_type, headers, read_body, correlation_id):
        """``POST /api/mfg/v1/webhooks/<code>``: a Standard Webhooks signed event.

        The body is ``{"type", "timestamp", "data"}``; the ``webhook-id`` is the event
        ID, so a replayed delivery is answered as a duplicate without reprocessing.
        The message is stored as the endpoint's system's technical user.
        """
        endpoint, msg_id, payload = self._signed_body(
            code, media_type, headers, read_body, feed=False
        )
        self._require(payload, ("type", "data"), "The webhook body needs")
        envelope = {
            "specversion": "1.0",
            "id": msg_id,
            "source": f"urn:mfg-integration:endpoint:{endpoint.code}",
            "type": payload["type"],
            "data": payload["data"],
        }
        if payload.get("timestamp") is not None:
            envelope["time"] = payload["timestamp"]
        return self._receive_signed(endpoint, envelope, correlation_id)

    @api.model
    def receive_feed(self, code, media_type, headers, read_body, correlation_id):
        """``POST /api/mfg/v1/feeds/<code>``: one broker message, forwarded by the
        feed's consumer (``mfg-integration consume``), Standard Webhooks signed with
        the endpoint's secret.

        The body is ``{"topic", "data", "properties", "timestamp"}``: the topic (or
        routing key, or subject) the message came from, its payload, its broker
        headers and when it was received. The ``webhook-id`` is the broker message's
        stable id, so a redelivered message is a duplicate. The event type is the
        endpoint's, or its expression's value over the body; the topic becomes the
        event's subject. The data is checked against the schema when the message
        is processed (after the endpoint's mapping, if any): a message that does not
        fit becomes a dead letter to repair, never a message the consumer would have
        to drop.
        """
        endpoint, msg_id, payload = self._signed_body(
            code, media_type, headers, read_body, feed=True
        )
        self._require(payload, ("topic", "data"), "A feed message needs")
        if not isinstance(payload["topic"], str):
            raise errors.ValidationFailed(
                "The topic of a feed message is a string.",
                errors=[{"pointer": "/topic", "message": "not a string"}],
            )
        event_type = endpoint._feed_event_type(payload)
        if event_type is None:
            raise errors.UnknownEventType(
                f"The event type expression of feed '{endpoint.code}' gives no event "
                "type for this message: fix the expression, or the publisher.",
                errors=[{"pointer": "", "message": "no event type"}],
            )
        envelope = {
            "specversion": "1.0",
            "id": msg_id,
            "source": f"urn:mfg-integration:feed:{endpoint.code}",
            "type": event_type,
            "subject": payload["topic"],
            "data": payload["data"],
        }
        if payload.get("timestamp") is not None:
            envelope["time"] = payload["timestamp"]
        return self._receive_signed(endpoint, envelope, correlation_id, feed=True)

    @api.model
    def _signed_body(self, code, media_type, headers, read_body, feed):
        """The endpoint, verified ``webhook-id`` and JSON object body of a signed
        request to a webhook (``feed`` False) or a broker feed (True)."""
        endpoint = self._webhook_endpoint(code)
        if (endpoint.transport != "http") != feed:
            route = "feeds" if endpoint.transport != "http" else "webhooks"
            raise errors.NotFound(
                f"The inbound endpoint '{code}' takes its messages at "
                f"{API_PREFIX}/{route}/{code}."
            )
        self._check_endpoint_rate_limit(endpoint)
        if media_type not in SINGLE_TYPES:
            raise errors.UnsupportedMediaType("Send the body as application/json.")
        body = read_body(endpoint.max_body_bytes)
        msg_id = verify_webhook(endpoint._get_signing_secrets(), headers, body)
        payload = decode_json(body)
        if not isinstance(payload, dict):
            raise errors.MalformedRequest("The body must be a JSON object.")
        return endpoint, msg_id, payload

    @api.model
    def _require(self, payload, names, what):
        problems = [
            {"pointer": f"/{name}", "message": "is required"}
            for name in names
            if name not in payload
        ]
        if problems:
            raise errors.ValidationFailed(
                f"{what} " + " and ".join(f"'{name}'" for name in names) + ".",
                errors=problems,
            )

    @api.model
    def _receive_signed(self, endpoint, envelope, correlation_id, feed=False):
        """Check and store the event of a signed webhook or feed message, as the
        endpoint's system's technical user."""
        event = parse_event(envelope)
        system = endpoint.system_id
        contract = self._check_event(
            event, "", system, endpoint=endpoint, check_data=not feed
        )
        as_system = self.with_user(system.user_id)
        msg, is_new = as_system._persist(
            system, [(event, contract)], correlation_id, endpoint=endpoint
        )[event.id]
        return self._accepted(system, event, msg, is_new, correlation_id, contract)

    @api.model
    def _count_received(self, system, outcomes):
        """Count received events: ``outcomes`` maps ``(event type, outcome)`` to a
        number of events."""
        Metric = self.env["mfg.integration.metric"]
        for (event_type, outcome), amount in outcomes.items():
            Metric._count(
                "events_received",
                amount,
                system=system.code,
                event_type=event_type,
                outcome=outcome,
            )

    @api.model
    def _webhook_endpoint(self, code):
        if not ENDPOINT_CODE_RE.match(code):
            # no endpoint can have such a code, and the database may not even
            # take it in a query (NUL); the code is not echoed
            raise errors.NotFound(
                "No inbound endpoint has this code: codes are lower-case letters, "
                "digits, '_' and '-'."
            )
        endpoint = (
            self.env["mfg.integration.endpoint"]
            .sudo()
            .search([("code", "=", code), ("direction", "=", "inbound")], limit=1)
        )
        if not endpoint or not endpoint.system_id.active:
            raise errors.NotFound(f"No inbound endpoint is named '{code}'.")
        return endpoint

    @api.model
    def _lifecycle_headers(self, contract):
        """RFC 9745 ``Deprecation`` and RFC 8594 ``Sunset`` headers of a contract,
        and a ``Link`` to its documentation (relation ``deprecation``, and
        ``sunset`` when a retirement date is set)."""
        headers = {}
        deprecation, sunset = contract.deprecation, contract.sunset
        deprecated = bool(deprecation and deprecation <= fields.Date.today())
        if deprecated:
            moment = datetime.combine(deprecation, datetime.min.time(), timezone.utc)
            headers["Deprecation"] = f"@{int(moment.timestamp())}"
        if sunset:
            moment = datetime.combine(sunset, datetime.min.time(), timezone.utc)
            headers["Sunset"] = moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
        relations = [
            r for r, on in (("deprecation", deprecated), ("sunset", sunset)) if on
        ]
        if relations:
            headers["Link"] = ", ".join(
                f'<{contract.documentation}>; rel="{relation}"'
                for relation in relations
            )
        return headers

    @api.model
    def message_status(self, key, message_id):
        """``GET /api/mfg/v1/messages/<id>`` for a message of the key's system."""
        message = (
            self.env["mfg.integration.message"]
            .sudo()
            .search(
                [("id", "=", message_id), ("system_id", "=", key.system_id.id)],
                limit=1,
            )
        )
        if not message:
            raise errors.NotFound(f"No message {message_id} for this API key's system.")
        error = None
        if message.error_class:
            error = {"class": message.error_class, "message": message.error_message}
        return (
            200,
            {
                "id": message.id,
                "state": message.state,
                "event_type": message.event_code,
                "cloudevent_id": message.ce_id,
                "correlation_id": message.correlation_id,
                "attempts": message.attempts,
                "received_at": iso_utc(message.create_date),
                "processed_at": iso_utc(message.processed_at),
                "next_attempt_at": iso_utc(message.next_attempt_at),
                "error": error,
            },
            {},
        )

    @api.model
    def _catalogue(self):
        """The event types of the catalogue as the API documents take them (see
        :func:`mfg_integration.openapi.build_openapi`): each with its current
        schema and the older versions it still accepts."""
        catalogue = []
        types = self.env["mfg.integration.event.type"].search(
            [("schema_ids", "!=", False)]
        )
        for event_type in types.filtered("current_schema_id"):
            current = event_type.current_schema_id
            older = event_type.schema_ids.filtered(
                lambda s, current=current: s != current
                and s.lifecycle_state != "retired"
            )
            type_deprecated = event_type.lifecycle_state != "live"
            catalogue.append(
                {
                    "code": event_type.code,
                    "name": event_type.name,
                    "description": event_type.description or "",
                    "direction": event_type.direction,
                    "version": event_type.current_version,
                    "schema": current.get_schema(),
                    "deprecated": type_deprecated or current.lifecycle_state != "live",
                    "versions": [
                        {
                            "version": schema.version,
                            "schema": schema.get_schema(),
                            "deprecated": type_deprecated
                            or schema.lifecycle_state != "live",
                            "sunset": schema.sunset_date
                            and schema.sunset_date.isoformat(),
                        }
                        for schema in older.sorted("version")
                    ],
                }
            )
        return catalogue

    @api.model
    def openapi_document(self, server_url):
        """``GET /api/mfg/v1/openapi.json``, generated from the catalogue."""
        catalogue = self._catalogue()
        return 200, build_openapi(catalogue, server_url=server_url), {}

    @api.model
    def asyncapi_document(self, server_url):
        """``GET /api/mfg/v1/asyncapi.json``: the AsyncAPI 3.0 document of the
        events, generated from the catalogue."""
        return 200, build_asyncapi(self._catalogue(), server_url=server_url), {}

    @api.model
    def _metrics_address_allowed(self, remote_addr):
        """Whether ``remote_addr`` lies in ``mfg_integration.metrics_allowed_networks``
        (networks that may read metrics without an API key; none by default)."""
        text = self.env["ir.config_parameter"].sudo().get_param(METRICS_NETWORKS_PARAM)
        try:
            networks = parse_networks(text)
        except ValueError:
            _logger.error(
                "System parameter %s is not a list of networks: nobody may read "
                "metrics without a key until it is fixed.",
                METRICS_NETWORKS_PARAM,
            )
            return False
        return bool(networks) and address_allowed(remote_addr, networks)

    @api.model
    def health(self, details=False):
        """``GET /api/mfg/v1/health``: the database answers and accepts writes, the
        job runner is alive, and inbound processing keeps up (no due message
        waiting longer than the stall threshold). A database that cannot be
        reached at all does not get here: the controller answers 503 then (see
        ``MfgIntegrationApi._serve``).

        :param details: add the figures (latency, backlog, jobs): only for a caller
            allowed to read metrics
        """
        params = self.env["ir.config_parameter"].sudo()
        stall = int(params.get_param("mfg_integration.health_stall_seconds", 900))
        database, latency_ms = self._database_status()
        self.env.cr.execute(
            """
            SELECT state, count(*), min(coalesce(next_attempt_at, create_date))
              FROM mfg_integration_message
             WHERE state IN ('received', 'queued', 'failed', 'dead')
             GROUP BY state
            """
        )
        now = fields.Datetime.now()
        states, oldest = {}, None
        for state, count, due in self.env.cr.fetchall():
            states[state] = count
            if state != "dead" and due and (oldest is None or due < oldest):
                oldest = due
        self.env.cr.execute(
            "SELECT state, count(*) FROM queue_job "
            "WHERE channel LIKE 'root.mfg_integration%%' GROUP BY state"
        )
        jobs = dict(self.env.cr.fetchall())
        lag = int((now - oldest).total_seconds()) if oldest and oldest < now else 0
        runner = self._job_runner_status()
        processing = "ok" if lag <= stall else "stalled"
        healthy = database == "ok" and runner == "alive" and processing == "ok"
        body = {
            "status": "ok" if healthy else "degraded",
            "database": database,
            "job_runner": runner,
            "processing": processing,
        }
        if details:
            body["database_latency_ms"] = latency_ms
            body["queue"] = {
                "pending_messages": sum(
                    states.get(s, 0) for s in ("received", "queued", "failed")
                ),
                "dead_letters": states.get("dead", 0),
                "oldest_due_seconds": lag,
                "jobs": jobs,
            }
        return (200 if healthy else 503), body, {}

    def _job_runner_status(self):
        """Whether queue_job's job runner serves this database: the runner that
        was elected holds queue_job's advisory lock on it for as long as it lives
        (``pg_try_advisory_lock(PG_ADVISORY_LOCK_ID)`` in its jobrunner), and
        PostgreSQL releases the lock when its connection ends.

        :return: ``"alive"`` or ``"down"``
        """
        key = RUNNER_LOCK_ID
        self.env.cr.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM pg_locks l
                  JOIN pg_database d ON d.oid = l.database
                 WHERE l.locktype = 'advisory' AND l.granted
                   AND d.datname = current_database()
                   AND l.classid::bigint = %s AND l.objid::bigint = %s
                   AND l.objsubid = 1
            )
            """,
            [key >> 32, key & 0xFFFFFFFF],
        )
        return "alive" if self.env.cr.fetchone()[0] else "down"

    def _database_status(self):
        """Ask the database whether it takes writes: not when it is a standby in
        recovery, nor when an administrator set it read-only
        (``ALTER DATABASE … SET default_transaction_read_only = on``, as for
        maintenance). The API's own requests run in read-only transactions, so
        the session's setting says nothing; the database's settings do.

        :return: ``("ok" | "read-only", round-trip milliseconds)``
        """
        start = time.monotonic()
        self.env.cr.execute(
            """
            SELECT pg_is_in_recovery(),
                   EXISTS (
                       SELECT 1 FROM pg_db_role_setting s
                         JOIN pg_database d ON d.oid = s.setdatabase
                        WHERE d.datname = current_database() AND s.setrole = 0
                          AND 'default_transaction_read_only=on' = ANY(s.setconfig)
                   )
            """
        )
        in_recovery, read_only = self.env.cr.fetchone()
        latency_ms = round((time.monotonic() - start) * 1000, 1)
        return ("read-only" if in_recovery or read_only else "ok"), latency_ms

    @api.model
    def new_correlation_id(self):
        return str(uuid.uuid4())
