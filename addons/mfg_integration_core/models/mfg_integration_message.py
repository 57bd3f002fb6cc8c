import json
import logging
import time
import traceback
from datetime import timedelta

from psycopg2 import Error as DatabaseError
from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.modules import module as odoo_module
from odoo.tools import SQL

from mfg_integration import errors
from mfg_integration.redaction import (
    redact,
    redact_json_text,
    scrub,
    sensitive_values,
)
from mfg_integration.retry import backoff_delay
from mfg_integration.schemas import validate

from ..tools import (
    DRAIN_LOCK_NAMESPACE,
    delay_once,
    iso_utc,
    take_job_lock,
    targets_with_live_jobs,
    utc_naive,
)

_logger = logging.getLogger(__name__)

#: how many messages one processing job claims at most
DRAIN_BATCH = 200
#: how long one processing job goes on before it hands over to a new job (seconds):
#: the records its messages change (a stock quant, an order) stay locked no longer
#: than that (and one message) for the other systems' jobs and for users
DRAIN_SECONDS = 2
#: how many due messages a processing job claims (locks) at a time
CLAIM_CHUNK = 20
#: when another job looks again at due messages that another transaction holds
RECHECK_SECONDS = 2

#: PostgreSQL errors that a new transaction may not meet again (queue_job retries them)
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
)

#: exceptions a handler raises for a message that cannot succeed as it is
PERMANENT_EXCEPTIONS = (
    errors.PermanentError,
    errors.ValidationFailed,
    UserError,
    ValidationError,
    ValueError,
    LookupError,
    TypeError,
)

#: how many failing places of an error a message keeps (the rest are alike)
MAX_ERROR_DETAILS = 20

#: exceptions a handler raises for a condition that may go away
TRANSIENT_EXCEPTIONS = (errors.TransientError, OSError, TimeoutError)

STATES = [
    ("received", "Received"),
    ("queued", "Queued"),
    ("done", "Done"),
    ("failed", "Failed (will retry)"),
    ("dead", "Dead letter"),
    ("discarded", "Discarded"),
]


class MfgIntegrationMessage(models.Model):
    """One inbound or outbound message, and its processing log.

    A dead letter is a message in state ``dead``: it keeps its payload, the error class,
    message and traceback, and can be edited, replayed or discarded.
    """

    _name = "mfg.integration.message"
    _description = "Integration Message"
    _inherit = ["mail.thread"]
    _order = "id desc"
    _rec_name = "ce_id"
    _mail_post_access = "read"

    # Few indexes on purpose: every one of them costs on each ingested event; the
    # composite ones below serve the hot queries.
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")],
        required=True,
        readonly=True,
    )
    system_id = fields.Many2one("mfg.integration.system", required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    endpoint_id = fields.Many2one("mfg.integration.endpoint", readonly=True)
    api_key_id = fields.Many2one(
        "mfg.integration.api.key", string="API Key", readonly=True
    )
    event_type_id = fields.Many2one("mfg.integration.event.type", readonly=True)
    event_code = fields.Char(string="Event Type Code", readonly=True)
    schema_version = fields.Integer(readonly=True)
    ce_id = fields.Char(string="Event ID", required=True, readonly=True)
    ce_source = fields.Char(string="Source", readonly=True)
    ce_time = fields.Datetime(string="Event Time", readonly=True)
    ce_subject = fields.Char(string="Subject", readonly=True)
    correlation_id = fields.Char(readonly=True, index=True)
    payload = fields.Text(
        string="Raw Payload",
        readonly=True,
        groups="base.group_system",
        help="The event data as received (or as edited before a replay).",
    )
    original_payload = fields.Text(
        string="Raw Original Payload",
        readonly=True,
        groups="base.group_system",
        help="The payload as first received, kept when the payload is edited.",
    )
    payload_display = fields.Text(
        string="Payload", compute="_compute_payload_display", compute_sudo=True
    )
    original_payload_display = fields.Text(
        string="Original Payload", compute="_compute_payload_display", compute_sudo=True
    )
    payload_edited = fields.Boolean(readonly=True)
    state = fields.Selection(STATES, required=True, default="received", readonly=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(string="Next Attempt", readonly=True)
    processed_at = fields.Datetime(readonly=True)
    duration_ms = fields.Integer(string="Duration (ms)", readonly=True)
    error_class = fields.Char(readonly=True)
    error_message = fields.Text(readonly=True)
    error_traceback = fields.Text(readonly=True, groups="base.group_system")
    error_details = fields.Json(
        readonly=True,
        help="The failing places of the last error: JSON pointer, message and, for "
        "a reference, its kind and value (sensitive values removed).",
    )
    discard_reason = fields.Text(readonly=True)
    subscription_id = fields.Many2one(
        "mfg.integration.subscription",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
    )
    ce_dataschema = fields.Char(string="Data Schema", readonly=True)
    ordering_key = fields.Char(
        readonly=True,
        help="Outbound messages sharing an ordering key are delivered in order.",
    )
    blocked_by_id = fields.Many2one(
        "mfg.integration.message",
        string="Blocked By",
        readonly=True,
        # the foreign key is checked for each deleted message (purge): without an
        # index, each check scans the whole table; the rows that are set are few
        index="btree_not_null",
        help="An earlier message with the same ordering key that is not delivered yet.",
    )
    incident_id = fields.Many2one(
        "mfg.integration.incident",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
        help="The incident (dead letters of one cause) this message was last filed "
        "under as a dead letter.",
    )
    last_attempt_at = fields.Datetime(readonly=True)
    response_code = fields.Integer(readonly=True)
    response_excerpt = fields.Text(readonly=True)
    result_model = fields.Char(readonly=True)
    result_id = fields.Many2oneReference(model_field="result_model", readonly=True)

    _inbound_event_uniq = models.UniqueIndex(
        "(system_id, ce_id) WHERE direction = 'inbound'",
        "This system already sent an event with this ID.",
    )
    # serves every lookup by system, and a system's latest message (silence alarm,
    # overview) and its messages of a time window without a scan
    _system_date_idx = models.Index("(system_id, direction, create_date)")
    # what waits: the processing jobs' claims, and the backlog of the metrics and
    # the health check (read from the index alone)
    _waiting_idx = models.Index(
        "(system_id, direction, next_attempt_at) INCLUDE (create_date) "
        "WHERE state IN ('received', 'queued', 'failed')"
    )
    # the dead letters, for the metrics (read from the index alone)
    _dead_idx = models.Index(
        "(system_id, direction, error_class) INCLUDE (write_date) WHERE state = 'dead'"
    )
    _state_date_idx = models.Index("(state, create_date)")
    _outbound_due_idx = models.Index(
        "(endpoint_id, id) WHERE direction = 'outbound' "
        "AND state IN ('queued', 'failed')"
    )
    _ordering_idx = models.Index(
        "(endpoint_id, ordering_key, id) WHERE ordering_key IS NOT NULL"
    )

    @api.depends(
        "payload",
        "original_payload",
        "event_type_id.redact_pointers",
        "system_id.redact_pointers",
    )
    def _compute_payload_display(self):
        for message in self:
            pointers = message._display_pointers()
            message.payload_display = redact_json_text(message.payload or "", pointers)
            message.original_payload_display = (
                redact_json_text(message.original_payload, pointers)
                if message.original_payload
                else False
            )

    def _display_pointers(self):
        """The redaction pointers of the stored payload: the event type's (the
        canonical data) and, inbound, the system's (the system's own format)."""
        self.ensure_one()
        pointers = self.event_type_id._redaction_pointers()
        if self.direction == "inbound":
            pointers += self.system_id._redaction_pointers()
        return pointers

    def _sensitive_values(self):
        """The texts of every redacted value of this message: in the stored payload
        and, when an inbound mapping translates it, in the canonical data."""
        self.ensure_one()
        display_pointers = self._display_pointers()
        if not display_pointers:
            return ()  # the usual case: nothing is redacted
        try:
            payload = json.loads(self.sudo().payload or "null")
        except ValueError:
            return ()
        found = set(sensitive_values(payload, display_pointers))
        pointers = self.event_type_id._redaction_pointers()
        if self.direction == "inbound" and pointers:
            try:
                canonical = self._canonical_data(payload)
            except errors.IntegrationError as exc:
                canonical = getattr(exc, "mapped_data", None)
            if canonical is not payload:  # mapped: values the payload did not show
                found.update(sensitive_values(canonical, pointers))
        return tuple(sorted(found, key=lambda text: (-len(text), text)))

    def _scrub(self, text, values=None):
        """``text`` without any redacted value of this message (see
        :meth:`_sensitive_values`, which ``values`` may give already)."""
        if not text:
            return text
        return scrub(text, self._sensitive_values() if values is None else values)

    # ------------------------------------------------------------------
    # Processing
    # ------------------------------------------------------------------

    @api.model
    def _enqueue_drain(self, system, eta=None, handover=False):
        """Make sure a processing job will drain ``system``'s pending messages
        (``handover``: a processing job asks for the next one, see
        :func:`~odoo.addons.mfg_integration_core.tools.delay_once`)."""
        delay_once(
            self,
            "_job_drain",
            "drain",
            system,
            f"root.mfg_integration.inbound.{system.code}",
            f"Process inbound messages of {system.code}",
            eta=eta,
            bring_forward=handover,
        )

    @api.model
    def _cron_requeue_stranded(self):
        """Give a job to every backlog that has none: due messages whose job was
        lost (it failed while the database restarted, or was deleted) would wait
        for the next event of their system or endpoint otherwise."""
        self.flush_model()
        now = fields.Datetime.now()
        horizon = now + timedelta(minutes=1)
        found = {}
        for direction, target, states in (
            ("inbound", "system_id", ("received", "queued", "failed")),
            ("outbound", "endpoint_id", ("queued", "failed")),
        ):
            self.env.cr.execute(
                SQL(
                    """
                    SELECT DISTINCT %s FROM mfg_integration_message
                     WHERE direction = %s AND state IN %s
                       AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                    """,
                    SQL.identifier(target),
                    direction,
                    states,
                    now,
                )
            )
            found[direction] = {row[0] for row in self.env.cr.fetchall()}
        systems = (
            self.env["mfg.integration.system"]
            .sudo()
            .browse(
                sorted(
                    found["inbound"]
                    - targets_with_live_jobs(self.env, "drain", horizon)
                )
            )
        )
        for system in systems:
            self._enqueue_drain(system)
        endpoints = (
            self.env["mfg.integration.endpoint"]
            .sudo()
            .browse(
                sorted(
                    found["outbound"]
                    - targets_with_live_jobs(self.env, "deliver", horizon)
                )
            )
            .filtered("active")
        )
        Delivery = self.env["mfg.integration.delivery"]
        for endpoint in endpoints:
            Delivery._enqueue(endpoint)
        if systems or endpoints:
            _logger.info(
                "Re-enqueued the stranded backlog of %s system(s) and %s endpoint(s)",
                len(systems),
                len(endpoints),
            )
        return len(systems) + len(endpoints)

    @api.model
    def _create_outbound(self, event, event_type, version, subscriptions, record=None):
        """Write one outbound message per subscription (transactional outbox) and make
        sure each endpoint's delivery job will run once the transaction commits.

        The messages are linked to ``record`` (what the event is about) and carry the
        correlation id of the inbound message being processed, if any."""
        if not subscriptions:
            return self.browse()
        data_json = json.dumps(event["data"], ensure_ascii=False, separators=(",", ":"))
        link = {}
        if record is not None and len(record) == 1:
            link = {"result_model": record._name, "result_id": record.id}
        correlation_id = self.env.context.get("mfg_integration_correlation_id")
        values = []
        for subscription in subscriptions:
            endpoint = subscription.endpoint_id
            values.append(
                {
                    "direction": "outbound",
                    "system_id": endpoint.system_id.id,
                    "company_id": endpoint.company_id.id,
                    "endpoint_id": endpoint.id,
                    "subscription_id": subscription.id,
                    "event_type_id": event_type.id,
                    "event_code": event["type"],
                    "schema_version": version,
                    "ce_id": event["id"],
                    "ce_source": event["source"],
                    "ce_time": utc_naive(event["time"]),
                    "ce_subject": event.get("subject"),
                    "ce_dataschema": event.get("dataschema"),
                    "payload": data_json,
                    "ordering_key": subscription._ordering_value(event["data"]),
                    "correlation_id": correlation_id,
                    "state": "queued",
                    "next_attempt_at": subscription.delivery_mode == "batch"
                    and self._batch_due(subscription),
                    **link,
                }
            )
        # the outbox rows are a log, not documents: no "created" note in a chatter
        messages = (
            self.sudo()
            .with_context(mail_create_nolog=True, tracking_disable=True)
            .create(values)
        )
        for endpoint in subscriptions.endpoint_id:
            # a job now, unless every new message waits for its batch
            waits = messages.filtered(lambda m, e=endpoint: m.endpoint_id == e)
            due = waits.mapped("next_attempt_at")
            eta = min(due) if all(due) else None
            self.env["mfg.integration.delivery"]._enqueue(endpoint, eta=eta)
        return messages.sudo(False)

    def _batch_due(self, subscription):
        """When a new message of a batch subscription is to go: at the next
        scheduled time, or now (``False``: due) when it makes the set number of
        waiting messages (its batch takes every waiting message along)."""
        if subscription.batch_max_messages:
            self.flush_model(["subscription_id", "state"])
            self.env.cr.execute(
                """
                SELECT count(*) FROM mfg_integration_message
                 WHERE subscription_id = %s AND direction = 'outbound'
                   AND state IN ('queued', 'failed')
                """,
                [subscription.id],
            )
            if self.env.cr.fetchone()[0] + 1 >= subscription.batch_max_messages:
                return False
        return subscription._next_flush(fields.Datetime.now())

    def _outbound_event(self):
        """The CloudEvent delivered for this outbound message (stable across retries:
        every value comes from the stored message)."""
        self.ensure_one()
        sudo = self.sudo()
        event = {
            "specversion": "1.0",
            "id": sudo.ce_id,
            "source": sudo.ce_source,
            "type": sudo.event_code,
            "time": iso_utc(sudo.ce_time),
            "datacontenttype": "application/json",
            "data": json.loads(sudo.payload),
        }
        if sudo.ce_subject:
            event["subject"] = sudo.ce_subject
        if sudo.ce_dataschema:
            event["dataschema"] = sudo.ce_dataschema
        mapping = sudo.subscription_id.mapping_id
        if mapping:
            event["data"] = mapping.apply(event["data"], system=sudo.system_id)
        return event

    def _ordering_blocker(self):
        """The earliest undelivered message sharing this one's ordering key, if any."""
        self.ensure_one()
        if not self.ordering_key:
            return self.browse()
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT id FROM mfg_integration_message
             WHERE endpoint_id = %s AND direction = 'outbound' AND ordering_key = %s
               AND id < %s AND state NOT IN ('done', 'discarded')
             ORDER BY id
             LIMIT 1
            """,
            (self.endpoint_id.id, self.ordering_key, self.id),
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0] if row else [])

    def _job_drain(self, system_id):
        """Job: process a system's due messages in the order they arrived: up to
        ``DRAIN_BATCH`` of them, for about ``DRAIN_SECONDS``, then hand over to a
        new job when more may be due. Each job is a transaction of its own, short
        whatever the backlog: a burst of 50,000 events never becomes one
        transaction that a worker's time limit would kill (and roll back) over and
        over, and the records the messages change are not held locked for long.

        A message accepted while this job was starting may be invisible to its
        snapshot while the ingress, seeing this job already running, added none:
        the job looks once more through a fresh connection and, when a due message
        it did not see exists, makes sure another job processes it (at once, or a
        little later when another transaction holds it).

        One job per system at a time (a PostgreSQL advisory lock): a system's
        messages are processed in the order they arrived, and two jobs never
        update the same records at once. A second job finds the system busy and
        is postponed.

        :raise RetryableJobError: when another job is processing the system (this
            one is postponed, without counting as a retry)
        """
        take_job_lock(
            self.env,
            DRAIN_LOCK_NAMESPACE,
            system_id,
            "Another job is processing this system's messages.",
        )
        deadline = self._drain_deadline()
        done, claimed, cut_short = [], [], False
        while len(done) < DRAIN_BATCH and not cut_short:
            # claimed a few at a time: a job that hands over early has not locked
            # (and written) rows it will not process
            ids = self._claim_due(system_id, min(CLAIM_CHUNK, DRAIN_BATCH - len(done)))
            if not ids:
                break
            claimed += ids
            for message in self.browse(ids):
                try:
                    message._process()
                except DatabaseError as exc:
                    if not isinstance(exc, CONCURRENCY_ERRORS):
                        raise
                    # Another transaction changed a record this message changes
                    # (two lines booking the same component): its work is rolled
                    # back to its savepoint, the messages before it stay processed,
                    # and a new job, with a fresh snapshot, takes it again at once.
                    self.env.invalidate_all()
                    cut_short = True
                    break
                done.append(message.id)
                if deadline is not None and time.monotonic() >= deadline:
                    cut_short = True
                    break
        system = self.env["mfg.integration.system"].browse(system_id)
        if cut_short or len(done) >= DRAIN_BATCH:
            # more may be due: hand over to a new job
            self._enqueue_drain(system, handover=True)
        elif self._unseen_due_messages(system_id, claimed, skip_locked=True):
            self._enqueue_drain(system, handover=True)  # accepted meanwhile
        elif self._unseen_due_messages(system_id, claimed):
            # due, but another transaction holds them: look again a little later
            self._enqueue_drain(
                system, eta=fields.Datetime.now() + timedelta(seconds=RECHECK_SECONDS)
            )
        self._schedule_next_retry(system_id)
        return f"{len(done)} message(s) processed"

    def _drain_deadline(self):
        """When a processing job hands over: ``DRAIN_SECONDS`` from now, or what
        the context key ``mfg_integration_drain_seconds`` says. Tests run in one
        transaction that they roll back, where no lock is released before the end
        anyway: there a job processes its whole batch (None), whatever the speed
        of the machine, unless the test gives the key."""
        seconds = self.env.context.get("mfg_integration_drain_seconds")
        if seconds is None:
            if odoo_module.current_test:
                return None
            seconds = DRAIN_SECONDS
        return time.monotonic() + seconds

    def _claim_due(self, system_id, limit):
        """Lock and return the ids of up to ``limit`` due messages of the system,
        oldest first (rows another transaction holds are skipped)."""
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM mfg_integration_message
                 WHERE system_id = %s AND direction = 'inbound'
                   AND state IN ('received', 'queued', 'failed')
                   AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                 ORDER BY id
                 LIMIT %s
                   FOR UPDATE SKIP LOCKED
                """,
                system_id,
                fields.Datetime.now(),
                limit,
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]

    def _unseen_due_messages(self, system_id, seen_ids, skip_locked=False):
        """Whether committed due messages of the system exist that are not among
        ``seen_ids``, as a new transaction sees them (with ``skip_locked``: only
        those no other transaction holds)."""
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    SELECT 1 FROM mfg_integration_message
                     WHERE system_id = %s AND direction = 'inbound'
                       AND state IN ('received', 'queued', 'failed')
                       AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                       AND NOT (id = ANY(%s::int[]))
                     LIMIT 1
                    %s
                    """,
                    system_id,
                    fields.Datetime.now(),
                    seen_ids,
                    SQL("FOR UPDATE SKIP LOCKED") if skip_locked else SQL(),
                )
            )
            return bool(cr.fetchone())

    def _schedule_next_retry(self, system_id):
        self.flush_model()
        self.env.cr.execute(
            """
            SELECT min(next_attempt_at) FROM mfg_integration_message
             WHERE system_id = %s AND direction = 'inbound' AND state = 'failed'
            """,
            [system_id],
        )
        eta = self.env.cr.fetchone()[0]
        if eta:
            system = self.env["mfg.integration.system"].browse(system_id)
            self._enqueue_drain(system, eta=eta)

    def _process(self):
        """Hand one inbound message to its handler and record the outcome."""
        self.ensure_one()
        if self.state not in ("received", "queued", "failed"):
            return  # replayed, discarded or processed meanwhile: nothing to do
        started = time.monotonic()
        sudo = self.sudo()
        try:
            handler, as_system = self._handler()
            data = self._canonical_data(json.loads(sudo.payload))
            with self.env.cr.savepoint():
                result = handler(as_system, data)
                # the flows it starts or moves on go with the message's outcome
                self.env["mfg.integration.flow"]._on_processed(self, data, result)
        except DatabaseError as exc:
            if isinstance(exc, CONCURRENCY_ERRORS):
                raise  # queue_job retries the whole job in a new transaction
            self.env.invalidate_all()
            _logger.error(
                "Database error while processing message %s:\n%s",
                self.id,
                self._scrub("".join(traceback.format_exception(exc))),
            )
            self._record_failure(exc, permanent=True, started=started)
        except TRANSIENT_EXCEPTIONS as exc:
            self.env.invalidate_all()
            self._record_failure(exc, permanent=False, started=started)
        except PERMANENT_EXCEPTIONS as exc:
            self.env.invalidate_all()
            self._record_failure(exc, permanent=True, started=started)
        else:
            values = {
                "state": "done",
                "attempts": self.attempts + 1,
                "processed_at": fields.Datetime.now(),
                "duration_ms": int((time.monotonic() - started) * 1000),
                "next_attempt_at": False,
                "error_class": False,
                "error_message": False,
                "error_traceback": False,
                "error_details": False,
            }
            if isinstance(result, models.BaseModel) and len(result) == 1:
                values.update(result_model=result._name, result_id=result.id)
            sudo.write(values)
            if self.incident_id:
                self.incident_id._update_state()
            labels = {"system": self.system_id.code, "event_type": self.event_code}
            Metric = self.env["mfg.integration.metric"]
            Metric._count("messages_processed", outcome="done", **labels)
            Metric._observe(
                "processing_latency_seconds",
                (values["processed_at"] - self.create_date).total_seconds(),
                **labels,
            )

    def _handler(self):
        """The handler of this message's event type, bound to the sending system's
        technical user (its rights, its company, its plant), and this message in the
        same environment. Events that the handler emits carry this message's
        correlation id.

        :raise NoHandler: no installed module handles the event type
        """
        self.ensure_one()
        system = self.system_id
        env = self.env(
            user=system.user_id.id or self.env.uid,
            context=dict(
                self.env.context,
                allowed_company_ids=[system.company_id.id],
                mfg_integration_correlation_id=self.correlation_id,
            ),
            su=False,
        )
        handler = env["mfg.integration.handler"]._get_handler(self.event_code)
        if handler is None:
            raise errors.NoHandler(
                f"No handler processes '{self.event_code}' events: install the "
                "domain module that handles them."
            )
        return handler, self.with_env(env)

    def _post_note(self, record, summary):
        """Post one concise note on ``record`` (a business document with a chatter)
        about this processed message: its event type, system, summary and
        correlation id. Nothing is posted when there is no such record.

        The note is logged the way Odoo logs its own tracking notes
        (``_message_log``): an internal note that notifies nobody, without the
        follower and notification work of ``message_post``, which would cost a
        busy line more than the business operation itself. The handler already
        changed ``record`` as the system's user: its access is checked."""
        self.ensure_one()
        if not record or not hasattr(record, "_message_log"):
            return
        record._message_log(
            body=self.env._(
                "%(event)s from %(system)s: %(summary)s (correlation id %(corr)s, "
                "message %(id)s)",
                event=self.event_code,
                system=self.system_id.name,
                summary=self._scrub(summary),
                corr=self.correlation_id or "-",
                id=self.id,
            ),
        )

    def _canonical_data(self, data):
        """Apply the inbound mapping of the message's system (or endpoint), if any,
        and check the result against the event type's schema.

        :raise MappingError: naming the failing mapping line
        :raise ValidationFailed: when the mapped data does not match the schema
        """
        self.ensure_one()
        Mapping = self.env["mfg.integration.mapping"]
        mapping_id = Mapping._inbound_mapping_id(
            self.system_id.id, self.endpoint_id.id or None, self.event_type_id.id
        )
        if not mapping_id:
            if self.endpoint_id.transport not in (False, "http"):
                self._check_fed_data(data)
            return self._upcast(data)
        mapping = Mapping.sudo().browse(mapping_id)
        data = mapping.apply(data, system=self.system_id)
        schema = self.event_type_id.current_schema_id
        violations = validate(schema.schema_json, data, base="/data") if schema else []
        if violations:
            exc = errors.ValidationFailed(
                f"The data mapped by '{mapping.name}' does not match the schema: "
                + "; ".join(f"{v.pointer} {v.message}" for v in violations[:10]),
                errors=[v.as_dict() for v in violations],
            )
            exc.mapped_data = data  # its redacted values are scrubbed from the texts
            raise exc
        return data

    def _check_fed_data(self, data):
        """Check the data of a broker feed's message against the schema of its
        version: the feed stored it unchecked, so that a message that does not fit
        becomes a dead letter here rather than a message the consumer drops.

        :raise ValidationFailed: naming the failing JSON pointers
        """
        schema = self.event_type_id.with_context(active_test=False).schema_ids.filtered(
            lambda s: s.version == self.schema_version
        )[:1]
        violations = validate(schema.schema_json, data, base="/data") if schema else []
        if violations:
            exc = errors.ValidationFailed(
                f"The data does not match the schema of '{self.event_code}' "
                f"v{self.schema_version}: "
                + "; ".join(f"{v.pointer} {v.message}" for v in violations[:10]),
                errors=[v.as_dict() for v in violations],
            )
            exc.mapped_data = data
            raise exc

    def _upcast(self, data):
        """The data of an event sent in an older schema version, turned into the
        current version's: each version's upcast mapping (if any) is applied in
        turn, and the result must match the current schema.

        :raise MappingError: naming the failing line of an upcast mapping
        :raise ValidationFailed: when the result does not match the current schema
        """
        self.ensure_one()
        current = self.event_type_id.current_schema_id
        version = self.schema_version
        if not current or not version or version >= current.version:
            return data
        steps = (
            self.event_type_id.with_context(active_test=False)
            .schema_ids.filtered(lambda s: version <= s.version < current.version)
            .sorted("version")
        )
        for step in steps.filtered("upcast_mapping_id"):
            data = step.upcast_mapping_id.sudo().apply(data, system=self.system_id)
        violations = validate(current.schema_json, data, base="/data")
        if violations:
            exc = errors.ValidationFailed(
                f"The data of version {version}, upcast to version {current.version}, "
                "does not match its schema (set or fix the upcast mapping of the "
                "older version): "
                + "; ".join(f"{v.pointer} {v.message}" for v in violations[:10]),
                errors=[v.as_dict() for v in violations],
            )
            exc.mapped_data = data
            raise exc
        return data

    @api.model
    def _error_class(self, exc):
        if isinstance(exc, errors.IntegrationError):
            return exc.slug
        if isinstance(exc, DatabaseError):
            return f"database.{type(exc).__name__}"
        if isinstance(exc, (UserError, ValidationError)):
            return "business-rule"
        return f"{type(exc).__module__}.{type(exc).__name__}"

    def _scrub_details(self, details, hidden):
        """The first :data:`MAX_ERROR_DETAILS` entries of an error's ``errors``
        (pointer, message, kind, value), their texts without redacted values."""
        kept = []
        for entry in (details or [])[:MAX_ERROR_DETAILS]:
            if isinstance(entry, dict):
                # numbers too become texts: a redacted value may be a number
                kept.append(
                    {
                        key: self._scrub(str(value), hidden)
                        for key, value in entry.items()
                        if isinstance(value, (str, int, float))
                        and not isinstance(value, bool)
                    }
                )
        return kept or False

    def _record_failure(self, exc, permanent, started):
        """Write the error on the message: retry later, or make it a dead letter."""
        self.ensure_one()
        system = self.system_id
        attempts = self.attempts + 1
        exhausted = attempts >= system.retry_max_attempts
        hidden = self._sensitive_values()
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        detail = self._scrub(detail, hidden)
        values = {
            "attempts": attempts,
            "error_class": self._error_class(exc),
            "error_message": detail[:2000],
            "error_details": self._scrub_details(getattr(exc, "errors", None), hidden),
            "error_traceback": self._scrub(
                "".join(traceback.format_exception(exc)), hidden
            )[-20000:],
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        if permanent or exhausted:
            values.update(state="dead", next_attempt_at=False)
            note = self.env._(
                "Dead letter after %(n)s attempt(s): %(error)s",
                n=attempts,
                error=detail[:500],
            )
        else:
            delay = backoff_delay(
                attempts,
                base=system.retry_base_seconds,
                cap=system.retry_max_seconds,
            )
            values.update(
                state="failed",
                next_attempt_at=fields.Datetime.now() + timedelta(seconds=delay),
            )
            note = self.env._(
                "Attempt %(n)s failed, retrying in %(s)s s: %(error)s",
                n=attempts,
                s=int(delay),
                error=detail[:500],
            )
        self.sudo().write(values)
        self.env["mfg.integration.metric"]._count(
            "messages_processed",
            system=system.code,
            event_type=self.event_code,
            outcome="dead" if values["state"] == "dead" else "retry",
            error_class=values["error_class"],
        )
        self.message_post(body=note)
        if values["state"] == "dead":
            self.env["mfg.integration.incident"]._file(self)
            system._check_dead_letter_threshold()

    # ------------------------------------------------------------------
    # Dead-letter actions
    # ------------------------------------------------------------------

    def action_replay(self):
        """Process the messages again (dead, failed or discarded ones)."""
        replayable = self.filtered(lambda m: m.state in ("dead", "failed", "discarded"))
        if not replayable:
            raise UserError(
                self.env._("Only failed, dead or discarded messages can be replayed.")
            )
        replayable.sudo().write(
            {"state": "queued", "next_attempt_at": False, "discard_reason": False}
        )
        replayable._count_user_action("replays")
        for message in replayable:
            message.message_post(
                body=self.env._(
                    "Replay requested by %(user)s.", user=self.env.user.name
                )
            )
        replayable._enqueue_processing()
        return True

    def _count_user_action(self, metric):
        """Count these messages in the ``replays`` or ``discards`` metric."""
        Metric = self.env["mfg.integration.metric"]
        for message in self:
            Metric._count(
                metric, system=message.system_id.code, direction=message.direction
            )

    def _enqueue_processing(self):
        """Make sure jobs will process these messages: per system for inbound ones,
        per endpoint for outbound ones."""
        inbound = self.filtered(lambda m: m.direction == "inbound")
        for system in inbound.system_id:
            self._enqueue_drain(system)
        outbound = self - inbound
        for endpoint in outbound.endpoint_id:
            self.env["mfg.integration.delivery"]._enqueue(endpoint)

    def action_discard(self, reason):
        """Give up on the messages, with a reason kept on each."""
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("A reason is required to discard a message."))
        discardable = self.filtered(
            lambda m: m.state in ("dead", "failed", "received", "queued")
        )
        discardable.sudo().write(
            {"state": "discarded", "discard_reason": reason, "next_attempt_at": False}
        )
        discardable._count_user_action("discards")
        # a discarded outbound message no longer holds its ordered successors
        discardable.filtered(lambda m: m.ordering_key)._enqueue_processing()
        discardable.incident_id._update_state()
        for message in discardable:
            message.message_post(
                body=self.env._(
                    "Discarded by %(user)s: %(reason)s",
                    user=self.env.user.name,
                    reason=reason,
                )
            )
        return True

    def _edit_payload(self, new_text):
        """Replace the payload, keeping the original and restoring masked values.

        Values masked by the event type's redaction rules that come back unchanged
        (still the mask) keep their real value.
        """
        self.ensure_one()
        if self.state not in ("dead", "failed", "discarded"):
            raise UserError(
                self.env._("Only failed, dead or discarded messages can be edited.")
            )
        try:
            new_data = json.loads(new_text)
        except ValueError as exc:
            raise UserError(
                self.env._("The payload is not valid JSON: %(error)s", error=str(exc))
            ) from None
        sudo = self.sudo()
        pointers = self.event_type_id._redaction_pointers()
        new_data = _restore_masked(json.loads(sudo.payload), new_data, pointers)
        schema = self.event_type_id.current_schema_id
        if schema:
            violations = validate(schema.schema_json, new_data, base="/data")
            if violations:
                raise UserError(
                    self.env._(
                        "The edited payload does not match the schema: %(v)s",
                        v="; ".join(
                            f"{v.pointer} {v.message}" for v in violations[:10]
                        ),
                    )
                )
        values = {
            "payload": json.dumps(new_data, ensure_ascii=False),
            "payload_edited": True,
        }
        if not sudo.original_payload:
            values["original_payload"] = sudo.payload
        sudo.write(values)
        self.message_post(
            body=self.env._(
                "Payload edited by %(user)s; the original is kept.",
                user=self.env.user.name,
            )
        )

    @api.model
    def _cron_purge(self):
        """Delete done messages after the retention period, dead ones later."""
        params = self.env["ir.config_parameter"].sudo()
        done_days = int(params.get_param("mfg_integration.retention_done_days", 30))
        dead_days = int(params.get_param("mfg_integration.retention_dead_days", 180))
        now = fields.Datetime.now()
        domain = [
            "|",
            "&",
            ("state", "=", "done"),
            ("create_date", "<", now - timedelta(days=done_days)),
            "&",
            ("state", "in", ["dead", "discarded"]),
            ("create_date", "<", now - timedelta(days=dead_days)),
        ]
        Cron = self.env["ir.cron"]
        while True:
            batch = self.sudo().search(domain, limit=1000, order="id")
            if not batch:
                break
            remaining = self.sudo().search_count(domain) - len(batch)
            batch.unlink()
            if not Cron._commit_progress(len(batch), remaining=remaining):
                break


def _restore_masked(old, new, pointers, mask="***"):
    """Put back the real value wherever ``new`` still holds the mask of ``old``."""
    if not pointers:
        return new
    masked_old = redact(old, pointers, mask=mask)

    def walk(masked, original, edited):
        if masked == mask and edited == mask:
            return original
        if (
            isinstance(masked, dict)
            and isinstance(edited, dict)
            and isinstance(original, dict)
        ):
            return {
                k: walk(masked.get(k), original.get(k), v) if k in original else v
                for k, v in edited.items()
            }
        if (
            isinstance(masked, list)
            and isinstance(edited, list)
            and isinstance(original, list)
        ):
            return [
                walk(masked[i], original[i], v) if i < len(original) else v
                for i, v in enumerate(edited)
            ]
        return edited

    return walk(masked_old, old, new)
