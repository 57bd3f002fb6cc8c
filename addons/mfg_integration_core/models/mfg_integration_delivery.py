from datetime import timedelta

import requests

from odoo import api, fields, models
from odoo.tools import SQL

from mfg_integration.errors import MappingError
from mfg_integration.retry import schedule_delay
from mfg_integration.transport import GONE, SUCCESS, build_request, deliver


class MfgIntegrationDelivery(models.AbstractModel):
    """Outbound delivery: drains an endpoint's pending messages in batches.

    One queue_job job per endpoint at a time, on the endpoint's own channel, claims due
    messages with ``FOR UPDATE SKIP LOCKED``, signs each per Standard Webhooks and
    POSTs it. Outcomes follow Standard Webhooks: 2xx delivered; 410 disables the
    endpoint; everything else is retried on the endpoint's schedule (honouring
    ``Retry-After``), then becomes a dead letter. A circuit breaker pauses deliveries to
    an endpoint that keeps failing, and messages sharing an ordering key are delivered
    strictly in emission order.
    """

    _name = "mfg.integration.delivery"
    _description = "Integration Outbound Delivery"

    @api.model
    def _enqueue(self, endpoint, eta=None):
        """Make sure a delivery job will drain ``endpoint`` (at ``eta`` or now)."""
        stamp = int(eta.timestamp()) if eta else 0
        self.with_delay(
            channel=f"root.mfg_integration.outbound.{endpoint._channel_name()}",
            eta=eta,
            identity_key=f"mfg_integration_deliver_{endpoint.id}_{stamp}",
            description=f"Deliver messages to {endpoint.display_name}",
        )._job_deliver(endpoint.id)

    def _job_deliver(self, endpoint_id):
        """Job: deliver one batch of due messages of an endpoint."""
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
        secrets = endpoint._get_signing_secrets()
        credential = endpoint._get_credential()
        schedule = endpoint._schedule()
        stopped = None
        with requests.Session() as session:
            # receivers are configured URLs: no proxy or .netrc look-up per request
            session.trust_env = False
            for message in Message.browse(ids):
                blocker = message._ordering_blocker()
                if blocker:
                    message.blocked_by_id = blocker
                    continue
                outcome = self._deliver_one(
                    message, endpoint, session, secrets, credential, schedule
                )
                if outcome == GONE or endpoint.circuit_state == "open":
                    stopped = outcome
                    break
        delivered = Message.browse(ids).filtered(lambda m: m.state == "done")
        if delivered:
            endpoint.sudo().last_success_at = max(delivered.mapped("processed_at"))
        if not endpoint.active:
            return "endpoint disabled"
        if endpoint.circuit_state == "open":
            self._enqueue(endpoint, eta=endpoint.circuit_open_until)
            return "circuit opened"
        if stopped is None and len(ids) == endpoint.delivery_batch_size:
            self._enqueue(endpoint)  # more may be due: hand over to a new job
        self._schedule_retry(endpoint)
        return f"{len(ids)} message(s) handled"

    def _deliver_one(self, message, endpoint, session, secrets, credential, schedule):
        """Send one message and record the attempt; return the transport outcome."""
        now = fields.Datetime.now()
        attempts = message.attempts + 1
        try:
            event = message._outbound_event()
        except MappingError as exc:
            message.write(
                {
                    "attempts": attempts,
                    "last_attempt_at": now,
                    "state": "dead",
                    "next_attempt_at": False,
                    "error_class": exc.slug,
                    "error_message": exc.detail,
                }
            )
            message.message_post(
                body=self.env._("Dead letter: %(error)s", error=exc.detail)
            )
            return exc.slug
        try:
            body, headers = build_request(
                event,
                secrets,
                endpoint.auth_kind,
                credential,
                endpoint.auth_header_name,
                msg_id=message.ce_id,
            )
        except ValueError as exc:
            # No signing secret, or an unusable credential: nothing can be sent until
            # an administrator fixes the endpoint; replaying the message then works.
            message.write(
                {
                    "attempts": attempts,
                    "last_attempt_at": now,
                    "state": "dead",
                    "next_attempt_at": False,
                    "error_class": "configuration-error",
                    "error_message": str(exc),
                }
            )
            endpoint.system_id._notify_responsible(
                self.env._("Endpoint %(name)s is misconfigured", name=endpoint.name),
                str(exc),
            )
            return "configuration-error"
        result = deliver(endpoint.url, body, headers, endpoint.timeout, session=session)
        values = {
            "attempts": attempts,
            "last_attempt_at": now,
            "response_code": result.status_code or 0,
            "response_excerpt": result.response_excerpt,
            "duration_ms": result.duration_ms,
            "blocked_by_id": False,
        }
        if result.outcome == SUCCESS:
            values.update(
                state="done",
                processed_at=fields.Datetime.now(),
                next_attempt_at=False,
                error_class=False,
                error_message=False,
            )
            message.write(values)
            endpoint._record_delivery_success(now)
            return result.outcome
        values.update(
            error_class=result.error_class, error_message=result.error_message
        )
        if result.outcome == GONE:
            values.update(state="failed", next_attempt_at=False)
            message.write(values)
            endpoint._disable_gone(result.status_code)
            return result.outcome
        endpoint._record_delivery_failure(now)
        delay = schedule_delay(attempts + 1, schedule)
        if delay is None:
            values.update(state="dead", next_attempt_at=False)
            message.write(values)
            message.message_post(
                body=self.env._(
                    "Dead letter: %(n)s delivery attempts failed, last: %(error)s",
                    n=attempts,
                    error=result.error_message,
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
        wait = max(delay, result.retry_after or 0)
        values.update(
            state="failed", next_attempt_at=now + timedelta(seconds=int(wait))
        )
        message.write(values)
        return result.outcome

    def _schedule_retry(self, endpoint):
        """Plan the job that delivers the endpoint's next retries."""
        self.env["mfg.integration.message"].flush_model()
        self.env.cr.execute(
            """
            SELECT min(next_attempt_at) FROM mfg_integration_message
             WHERE endpoint_id = %s AND direction = 'outbound' AND state = 'failed'
               AND next_attempt_at IS NOT NULL
            """,
            [endpoint.id],
        )
        eta = self.env.cr.fetchone()[0]
        if eta:
            self._enqueue(endpoint, eta=eta)
