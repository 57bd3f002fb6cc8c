from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from odoo import api, fields, models
from odoo.modules import module as odoo_module
from odoo.tools import SQL

from mfg_integration.batching import BATCH_CONTENT_TYPE, batch_id
from mfg_integration.brokers import Publisher, render_destination
from mfg_integration.errors import MappingError
from mfg_integration.retry import schedule_delay
from mfg_integration.throttle import Pacer
from mfg_integration.transport import (
    GONE,
    SUCCESS,
    AddressGuard,
    ConnectionPool,
    build_request,
    deliver,
)

from ..tools import (
    DELIVERY_LOCK_NAMESPACE,
    delay_once,
    take_job_lock,
    try_job_lock,
)

#: why a batch stopped: another job took the endpoint between two commits
YIELDED = "yielded"
#: why a batch stopped: the throttle's next turn is later (a job is planned for it)
THROTTLED = "throttled"
#: headers of an HTTP request that a broker message carries as properties instead
BROKER_PROPERTIES = frozenset({"content-type", "user-agent"})

#: one delivery attempt, ready to send: the signed body and headers, and the broker
#: destination (routing key, topic or subject; None over HTTP)
Request = namedtuple("Request", "body headers destination msg_id")


class MfgIntegrationDelivery(models.AbstractModel):
    """Outbound delivery: drains an endpoint's pending messages in batches.

    One queue_job job per endpoint at a time (a PostgreSQL advisory lock: a second
    job for a busy endpoint is postponed), on the endpoint's own channel, claims due
    messages with ``FOR UPDATE SKIP LOCKED``, signs each per Standard Webhooks and
    POSTs it. The outcome of each request (each wave of parallel requests) is
    committed as soon as it is known, so that a later failure of the same job never
    sends a delivered message again: after a crash, only the requests in flight can
    be sent twice, with the same ``webhook-id``. Outcomes follow Standard Webhooks:
    2xx delivered; 410 disables the endpoint; everything else is retried on the
    endpoint's schedule (honouring ``Retry-After``), then becomes a dead letter. A
    circuit breaker pauses deliveries to an endpoint that keeps failing, and
    messages sharing an ordering key are delivered strictly in emission order.
    """

    _name = "mfg.integration.delivery"
    _description = "Integration Outbound Delivery"

    @api.model
    def _enqueue(self, endpoint, eta=None, handover=False):
        """Make sure a delivery job will drain ``endpoint`` (at ``eta`` or now).
        Events are emitted in business transactions, which may last (confirming
        many orders at once): a job asked for now is asked for again once the
        transaction committed (see :func:`delay_once`)."""
        delay_once(
            self,
            "_job_deliver",
            "deliver",
            endpoint,
            f"root.mfg_integration.outbound.{endpoint._channel_name()}",
            f"Deliver messages to {endpoint.display_name}",
            eta=eta,
            after_commit=eta is None,
            bring_forward=handover,
        )

    def _job_deliver(self, endpoint_id):
        """Job: deliver one batch of due messages of an endpoint.

        :raise RetryableJobError: when another job is delivering to the endpoint
            (this one is postponed, without counting as a retry)
        """
        take_job_lock(
            self.env,
            DELIVERY_LOCK_NAMESPACE,
            endpoint_id,
            "Another job is delivering to this endpoint.",
        )
        return self._deliver_batch(endpoint_id)

    def _checkpoint(self, endpoint):
        """Commit the outcomes recorded so far, then take the endpoint's lock again
        for the next transaction: a delivered message must never be sent again
        because a later write of the same job failed. The job function allows
        commits (``allow_commit``): queue_job then runs the job on a cursor of its
        own and keeps the job's lock on another. (Tests run in one transaction
        that they roll back: nothing is committed there.)

        :return: False when another job took the endpoint meanwhile (stop then)
        """
        if odoo_module.current_test:
            return True
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return try_job_lock(self.env, DELIVERY_LOCK_NAMESPACE, endpoint.id)

    def _deliver_batch(self, endpoint_id):
        endpoint = self.env["mfg.integration.endpoint"].sudo().browse(endpoint_id)
        if not endpoint.exists() or not endpoint.active:
            return "endpoint inactive"
        now = fields.Datetime.now()
        if not endpoint._circuit_allows(now):
            self._enqueue(endpoint, eta=endpoint.circuit_open_until)
            return "circuit open"
        Message = self.env["mfg.integration.message"].sudo()
        Message.flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM mfg_integration_message
                 WHERE endpoint_id = %s AND direction = 'outbound'
                   AND state IN ('queued', 'failed')
                   AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                 ORDER BY id
                 LIMIT %s
                   FOR UPDATE SKIP LOCKED
                """,
                endpoint.id,
                now,
                endpoint.delivery_batch_size,
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        claimed = len(ids)
        messages = Message.browse(ids)
        batches = self._gather_batches(messages, endpoint)
        for batch in batches:
            ids += [i for i in batch.ids if i not in ids]
        # a batch subscription's messages go in batches only (those beyond this
        # job's batches wait for the next job)
        messages = messages.filtered(
            lambda m: m.subscription_id.delivery_mode != "batch"
        )
        context = {
            "secrets": endpoint._get_signing_secrets(),
            "credential": endpoint._get_credential(),
            "schedule": endpoint._schedule(),
            "pacer": endpoint.delivery_rate_limit
            and Pacer(endpoint.delivery_rate_limit, endpoint.throttle_next_at),
        }
        guard = AddressGuard(endpoint._outbound_allowed_networks())
        with self._sender(endpoint, context, guard) as send:
            context["send"] = send
            stopped = self._deliver_batches(batches, endpoint, context)
            if stopped is None:
                stopped = self._deliver_each(messages, endpoint, context)
        if stopped == YIELDED:
            return "another job took over the endpoint"
        if stopped == THROTTLED:
            resume = datetime.fromtimestamp(context["resume_at"], timezone.utc)
            self._enqueue(endpoint, eta=resume.replace(tzinfo=None))
        delivered = Message.browse(ids).filtered(lambda m: m.state == "done")
        if delivered:
            endpoint.sudo().last_success_at = max(delivered.mapped("processed_at"))
        if not endpoint.active:
            return "endpoint disabled"
        if endpoint.circuit_state == "open":
            self._enqueue(endpoint, eta=endpoint.circuit_open_until)
            return "circuit opened"
        if stopped is None and claimed == endpoint.delivery_batch_size:
            # more may be due: hand over to a new job
            self._enqueue(endpoint, handover=True)
        self._schedule_retry(endpoint)
        return f"{len(ids)} message(s) handled"

    @contextmanager
    def _sender(self, endpoint, context, guard):
        """A function that sends one :data:`Request` to the endpoint and returns
        its :class:`~mfg_integration.transport.DeliveryResult`: an HTTP POST over a
        pool of keep-alive connections, or a publication on one broker connection,
        counted only once the broker acknowledged it (which is why broker endpoints
        publish one message after the other)."""
        if endpoint.transport == "http":
            with ConnectionPool(guard=guard) as pool:
                yield lambda request: deliver(
                    endpoint.url,
                    request.body,
                    request.headers,
                    endpoint.timeout,
                    pool=pool,
                )
            return
        with Publisher(
            endpoint.url,
            credential=context["credential"],
            timeout=endpoint.timeout,
            guard=guard,
            exchange=endpoint.broker_exchange or "",
        ) as publisher:
            yield lambda request: publisher.publish(
                request.destination, request.body, request.headers, request.msg_id
            )

    def _gather_batches(self, messages, endpoint):
        """The batches to send with the due messages: for each batch subscription
        among them, every message of it that is waiting (due or not), in emission
        order, up to the endpoint's batch size. A batch is the unit of retry: its
        messages are sent, retried and kept in order together."""
        batches = []
        for subscription in messages.subscription_id.filtered(
            lambda s: s.delivery_mode == "batch"
        ):
            self.env.cr.execute(
                """
                SELECT id FROM mfg_integration_message
                 WHERE subscription_id = %s AND endpoint_id = %s
                   AND direction = 'outbound' AND state IN ('queued', 'failed')
                 ORDER BY id
                 LIMIT %s
                   FOR UPDATE SKIP LOCKED
                """,
                [subscription.id, endpoint.id, endpoint.delivery_batch_size],
            )
            batch = messages.browse([row[0] for row in self.env.cr.fetchall()])
            batches.append(batch)
        return [batch for batch in batches if batch]

    def _deliver_batches(self, batches, endpoint, context):
        """Send each batch as one CloudEvents batch request and record its outcome
        on each of its messages."""
        for messages in batches:
            request, batch = self._prepare_batch(messages, endpoint, context)
            if request is None:
                continue
            result = context["send"](request)
            outcome = self._record_batch(batch, endpoint, result, context)
            if not self._checkpoint(endpoint):
                return YIELDED
            if outcome == GONE or endpoint.circuit_state == "open":
                return outcome
        return None

    def _deliver_each(self, messages, endpoint, context):
        """Send messages one request each: one after the other where order, a
        broker or a throttle needs it, otherwise in parallel waves."""
        if (
            endpoint.transport != "http"
            or context["pacer"]
            or any(messages.mapped("ordering_key"))
            or endpoint.delivery_concurrency <= 1
        ):
            return self._deliver_in_order(messages, endpoint, context)
        return self._deliver_concurrently(messages, endpoint, context)

    def _deliver_in_order(self, messages, endpoint, context):
        """Send the messages one after the other (needed when ordering keys apply,
        and for a throttle): each message waits for the outcome of the previous
        one."""
        pacer = context["pacer"]
        for message in messages:
            blocker = message._ordering_blocker()
            if blocker:
                message.blocked_by_id = blocker
                continue
            if pacer:
                context["resume_at"] = pacer.wait()
                if context["resume_at"] is not None:
                    return THROTTLED
                endpoint.throttle_next_at = pacer.next_free
            request = self._prepare(message, endpoint, context)
            if request is None:
                continue
            result = context["send"](request)
            outcome = self._record(message, endpoint, result, context)
            if not self._checkpoint(endpoint):
                return YIELDED
            if outcome == GONE or endpoint.circuit_state == "open":
                return outcome
        return None

    def _deliver_concurrently(self, messages, endpoint, context):
        """Send the messages in waves of ``delivery_concurrency`` parallel requests (no
        ordering key in the batch). Only the HTTP calls run in threads; outcomes are
        recorded here, in emission order, after each wave, so that a 410 or an
        opening circuit stops the batch within one wave."""
        width = endpoint.delivery_concurrency
        send = context["send"]
        with ThreadPoolExecutor(max_workers=width) as pool:
            for start in range(0, len(messages), width):
                wave = [
                    (message, request)
                    for message in messages[start : start + width]
                    if (request := self._prepare(message, endpoint, context))
                ]
                results = pool.map(send, [request for _m, request in wave])
                outcomes = [
                    self._record(message, endpoint, result, context)
                    for (message, _request), result in zip(wave, results, strict=True)
                ]
                if not self._checkpoint(endpoint):
                    return YIELDED
                if GONE in outcomes:
                    return GONE
                if endpoint.circuit_state == "open":
                    return "circuit open"
        return None

    def _prepare(self, message, endpoint, context):
        """The signed request of a message, or None when the message cannot be sent
        (a mapping error or an unusable endpoint configuration: it becomes a dead
        letter that a replay retries once the cause is fixed)."""
        return self._unless_dead(
            message,
            endpoint,
            lambda: self._request(
                message._outbound_event(), message.ce_id, endpoint, context
            ),
        )

    def _prepare_batch(self, batch, endpoint, context):
        """The signed CloudEvents batch request of some messages, and the messages
        it carries: a message whose event cannot be built becomes a dead letter on
        its own and stays out of the batch. The ``webhook-id`` is the
        :func:`~mfg_integration.batching.batch_id` of the messages."""
        events = []
        kept = batch.browse()
        for message in batch:
            event = self._unless_dead(message, endpoint, message._outbound_event)
            if event is not None:
                events.append(event)
                kept |= message
        if not kept:
            return None, kept
        request = self._unless_dead(
            kept,
            endpoint,
            lambda: self._request(
                events,
                batch_id(kept.mapped("ce_id")),
                endpoint,
                context,
                content_type=BATCH_CONTENT_TYPE,
            ),
        )
        return request, kept

    def _request(self, body, msg_id, endpoint, context, content_type=None):
        """Sign ``body`` (an event, or a list of events) as one :data:`Request`."""
        if endpoint.transport == "http":
            body, headers = build_request(
                body,
                context["secrets"],
                endpoint.auth_kind,
                context["credential"],
                endpoint.auth_header_name,
                msg_id=msg_id,
            )
            if content_type:
                headers["Content-Type"] = content_type
            return Request(body, headers, None, msg_id)
        # the broker credential opens the connection: it is no message header
        destination = render_destination(
            endpoint.transport, endpoint._broker_destination(), body
        )
        body, headers = build_request(
            body, context["secrets"], "none", None, None, msg_id=msg_id
        )
        headers = {
            name: value
            for name, value in headers.items()
            if name.lower() not in BROKER_PROPERTIES
        }
        return Request(body, headers, destination, msg_id)

    def _unless_dead(self, messages, endpoint, build):
        """``build()``, or None after making ``messages`` dead letters when it
        fails on a mapping error or an unusable endpoint configuration."""
        try:
            return build()
        except MappingError as exc:
            error_class, detail = exc.slug, exc.detail
        except ValueError as exc:
            error_class, detail = "configuration-error", str(exc)
            endpoint.system_id._notify_responsible(
                self.env._("Endpoint %(name)s is misconfigured", name=endpoint.name),
                detail,
            )
        for message in messages:
            text = message._scrub(detail)
            self._count_attempt(message, endpoint, "dead", error_class)
            message.write(
                {
                    "attempts": message.attempts + 1,
                    "last_attempt_at": fields.Datetime.now(),
                    "state": "dead",
                    "next_attempt_at": False,
                    "error_class": error_class,
                    "error_message": text,
                }
            )
            message.message_post(body=self.env._("Dead letter: %(error)s", error=text))
        self.env["mfg.integration.incident"]._file(messages)
        return None

    def _record_batch(self, batch, endpoint, result, context):
        """Record the outcome of one batch request on each of its messages. A
        failure counts once for the circuit breaker, and the messages still to
        retry get the same next attempt (from the schedule of the batch's most
        tried message), so they go again together; each message becomes a dead
        letter on its own when its retries are spent."""
        retry_at = None
        if result.outcome not in (SUCCESS, GONE):
            now = fields.Datetime.now()
            endpoint._record_delivery_failure(now, result.error_class)
            delays = [
                schedule_delay(attempts + 2, context["schedule"])
                for attempts in sorted(set(batch.mapped("attempts")), reverse=True)
            ]
            delay = next((d for d in delays if d is not None), 0)
            retry_at = now + timedelta(seconds=int(max(delay, result.retry_after or 0)))
        for message in batch:
            self._record(message, endpoint, result, context, retry_at=retry_at)
        return result.outcome

    def _record(self, message, endpoint, result, context, retry_at=None):
        """Record one delivery attempt and apply the outcome rules; return the
        transport outcome. ``retry_at``: the next attempt of a failed batch (its
        failure is already recorded on the endpoint)."""
        now = fields.Datetime.now()
        attempts = message.attempts + 1
        # the redacted values are looked up only for texts to scrub: a receiver
        # answering 2xx with an empty body (the usual case) costs no lookup
        hidden = (
            message._sensitive_values()
            if result.response_excerpt or result.error_message
            else ()
        )
        values = {
            "attempts": attempts,
            "last_attempt_at": now,
            "response_code": result.status_code or 0,
            # a receiver may echo the event: no redacted value is kept
            "response_excerpt": message._scrub(result.response_excerpt, hidden),
            "duration_ms": result.duration_ms,
            "blocked_by_id": False,
        }
        if result.outcome == SUCCESS:
            values.update(
                state="done",
                processed_at=now,
                next_attempt_at=False,
                error_class=False,
                error_message=False,
            )
            message.write(values)
            if message.incident_id:
                message.incident_id._update_state()
            endpoint._record_delivery_success(now)
            self._count_attempt(message, endpoint, "delivered")
            self.env["mfg.integration.metric"]._observe(
                "delivery_latency_seconds",
                (now - message.create_date).total_seconds(),
                system=endpoint.system_id.code,
                endpoint=endpoint.code,
                event_type=message.event_code,
            )
            return result.outcome
        values.update(
            error_class=result.error_class,
            error_message=message._scrub(result.error_message, hidden),
        )
        if result.outcome == GONE:
            values.update(state="failed", next_attempt_at=False)
            message.write(values)
            self._count_attempt(message, endpoint, "gone", result.error_class)
            if endpoint.active:
                endpoint._disable_gone(result.status_code)
            return result.outcome
        if retry_at is None:
            endpoint._record_delivery_failure(now, result.error_class)
        delay = schedule_delay(attempts + 1, context["schedule"])
        if delay is None:
            values.update(state="dead", next_attempt_at=False)
            message.write(values)
            self._count_attempt(message, endpoint, "dead", result.error_class)
            self.env["mfg.integration.incident"]._file(message)
            message.message_post(
                body=self.env._(
                    "Dead letter: %(n)s delivery attempts failed, last: %(error)s",
                    n=attempts,
                    error=values["error_message"],
                )
            )
            endpoint.system_id._notify_responsible(
                self.env._("Undelivered messages on %(name)s", name=endpoint.name),
                self.env._(
                    "Messages to %(name)s could not be delivered after every retry. "
                    "Review them under Integration > Dead Letters.",
                    name=endpoint.name,
                ),
            )
            return result.outcome
        if retry_at is None:
            retry_at = now + timedelta(seconds=int(max(delay, result.retry_after or 0)))
        values.update(state="failed", next_attempt_at=retry_at)
        message.write(values)
        self._count_attempt(message, endpoint, "retry", result.error_class)
        return result.outcome

    def _count_attempt(self, message, endpoint, outcome, error_class=None):
        self.env["mfg.integration.metric"]._count(
            "deliveries",
            system=endpoint.system_id.code,
            endpoint=endpoint.code,
            event_type=message.event_code,
            outcome=outcome,
            error_class=error_class,
        )

    def _schedule_retry(self, endpoint):
        """Plan the job that delivers the endpoint's next retries and batches."""
        self.env["mfg.integration.message"].flush_model()
        self.env.cr.execute(
            """
            SELECT min(next_attempt_at) FROM mfg_integration_message
             WHERE endpoint_id = %s AND direction = 'outbound'
               AND state IN ('queued', 'failed') AND next_attempt_at IS NOT NULL
            """,
            [endpoint.id],
        )
        eta = self.env.cr.fetchone()[0]
        if eta:
            self._enqueue(endpoint, eta=eta)
