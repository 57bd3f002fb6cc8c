import json
import re

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools.mail import plaintext2html

from odoo.addons.queue_job.exception import RetryableJobError

from mfg_integration.errors import MappingError
from mfg_integration.incidents import error_pointers, error_signature, fingerprint
from mfg_integration.schemas import validate
from mfg_integration.suggestions import (
    Suggestion,
    apply_to_definition,
    enum_candidates,
    failing_places,
    pointer_target,
    rank_records,
    schema_at,
    source_candidates,
    unit_candidates,
    value_at,
)

from ..tools import form_action, notify

#: how many subjects (business references) an incident lists
SUBJECTS_SHOWN = 20
#: how many of its latest dead letters the repair suggestions look at
SUGGESTION_SAMPLE = 500
#: how many distinct failing values of one place get suggestions
VALUES_PER_PLACE = 5
#: how many records are compared with an unresolved reference
REFERENCE_CANDIDATES = 20
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")


class MfgIntegrationIncident(models.Model):
    """The dead letters of one cause: same system, direction, event type, error class
    and error signature (the error text with its values masked, see
    :mod:`mfg_integration.incidents`).

    Every message that becomes a dead letter is filed under its incident; a new (or
    reopened) incident gives the system's responsible person one to-do, however many
    messages it gathers. The incident is resolved when each of its messages is
    processed or discarded (a replayed message still waiting keeps it open), and
    reopens, notifying again, when the cause comes back.
    """

    _name = "mfg.integration.incident"
    _description = "Integration Incident"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "state, last_seen desc, id desc"
    _mail_post_access = "read"

    name = fields.Char(compute="_compute_name", store=True)
    fingerprint = fields.Char(required=True, readonly=True, copy=False)
    system_id = fields.Many2one(
        "mfg.integration.system", required=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="system_id.company_id", store=True)
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")],
        required=True,
        readonly=True,
    )
    event_type_id = fields.Many2one("mfg.integration.event.type", readonly=True)
    event_code = fields.Char(string="Event Type Code", readonly=True)
    error_class = fields.Char(readonly=True)
    signature = fields.Text(
        readonly=True,
        help="The error text with its values (quoted strings, numbers, ids, dates, "
        "URLs) masked and its JSON pointers kept: what the grouped dead letters "
        "have in common.",
    )
    pointers = fields.Char(
        string="JSON Pointers",
        readonly=True,
        help="The places in the event that the error names.",
    )
    sample_error = fields.Text(
        string="Latest Error",
        readonly=True,
        help="The error text of the latest dead letter filed here (its sensitive "
        "values removed).",
    )
    state = fields.Selection(
        [("open", "Open"), ("resolved", "Resolved")],
        required=True,
        default="open",
        readonly=True,
        tracking=True,
    )
    first_seen = fields.Datetime(readonly=True)
    last_seen = fields.Datetime(readonly=True)
    resolved_at = fields.Datetime(readonly=True)
    occurrences = fields.Integer(
        readonly=True,
        help="How many times a message became a dead letter of this cause (a message "
        "replayed and dead again counts again).",
    )
    integration_message_ids = fields.One2many(
        "mfg.integration.message",
        "incident_id",
        string="Integration Messages",
        readonly=True,
    )
    dead_count = fields.Integer(string="Dead Letters", compute="_compute_counts")
    pending_count = fields.Integer(
        string="Being Replayed",
        compute="_compute_counts",
        help="Messages replayed and not processed yet.",
    )
    done_count = fields.Integer(string="Repaired", compute="_compute_counts")
    discarded_count = fields.Integer(string="Discarded", compute="_compute_counts")
    message_count = fields.Integer(string="Messages Filed", compute="_compute_counts")
    subject_count = fields.Integer(
        string="Affected Subjects",
        compute="_compute_subjects",
        help="Distinct business references (CloudEvents subject) of its dead letters.",
    )
    subjects = fields.Text(
        string="Affected Records",
        compute="_compute_subjects",
        help="The business references (CloudEvents subject: order, work order, lot, "
        "equipment…) of its dead letters.",
    )
    mapping_id = fields.Many2one(
        "mfg.integration.mapping",
        compute="_compute_mapping_id",
        help="The mapping that shapes these messages, when there is one.",
    )

    _fingerprint_uniq = models.UniqueIndex(
        "(fingerprint)", "This incident already exists."
    )
    _state_idx = models.Index("(state, system_id)")

    @api.depends("event_code", "error_class", "system_id.code")
    def _compute_name(self):
        for incident in self:
            incident.name = (
                f"{incident.system_id.code or '?'} · {incident.event_code or '?'} · "
                f"{incident.error_class or '?'}"
            )

    def _compute_counts(self):
        groups = self.env["mfg.integration.message"]._read_group(
            [("incident_id", "in", self.ids)], ["incident_id", "state"], ["__count"]
        )
        counts = {}
        for incident, state, count in groups:
            counts.setdefault(incident.id, {})[state] = count
        for incident in self:
            by_state = counts.get(incident.id, {})
            incident.dead_count = by_state.get("dead", 0)
            incident.pending_count = sum(
                by_state.get(s, 0) for s in ("received", "queued", "failed")
            )
            incident.done_count = by_state.get("done", 0)
            incident.discarded_count = by_state.get("discarded", 0)
            incident.message_count = sum(by_state.values())

    def _compute_subjects(self):
        Message = self.env["mfg.integration.message"]
        for incident in self:
            groups = Message._read_group(
                [
                    ("incident_id", "=", incident.id),
                    ("state", "=", "dead"),
                    ("ce_subject", "!=", False),
                ],
                ["ce_subject"],
                ["__count"],
                order="ce_subject",
            )
            incident.subject_count = len(groups)
            shown = [
                f"{subject} ({count})" for subject, count in groups[:SUBJECTS_SHOWN]
            ]
            if len(groups) > SUBJECTS_SHOWN:
                shown.append(
                    self.env._("… and %(n)s more", n=len(groups) - SUBJECTS_SHOWN)
                )
            incident.subjects = "\n".join(shown)

    def _compute_mapping_id(self):
        Mapping = self.env["mfg.integration.mapping"]
        for incident in self:
            incident.mapping_id = Mapping.browse(incident._mapping_id())

    def _mapping_id(self):
        """The id of the mapping its latest message went through, or None."""
        self.ensure_one()
        message = self.integration_message_ids.sorted("id", reverse=True)[:1]
        if not message:
            return None
        if self.direction == "outbound":
            return message.subscription_id.mapping_id.id or None
        return self.env["mfg.integration.mapping"]._inbound_mapping_id(
            self.system_id.id, message.endpoint_id.id or None, self.event_type_id.id
        )

    # ------------------------------------------------------------------
    # Filing dead letters
    # ------------------------------------------------------------------

    @api.model
    def _file(self, messages):
        """File each of ``messages`` (just made dead letters) under the incident of
        its cause, creating or reopening incidents as needed; each new or reopened
        incident notifies the system's responsible person once.

        :raise RetryableJobError: another job created the same incident meanwhile
            (the job is retried and then finds it)
        """
        by_key = {}
        for message in messages.sudo():
            signature = error_signature(message.error_message or "")
            key = fingerprint(
                message.system_id.id,
                message.direction,
                message.event_code,
                message.error_class,
                signature,
            )
            by_key.setdefault(key, (signature, []))[1].append(message.id)
        Message = self.env["mfg.integration.message"].sudo()
        now = fields.Datetime.now()
        for key, (signature, ids) in by_key.items():
            filed = Message.browse(ids)
            latest = filed[-1]
            incident = self.sudo().search([("fingerprint", "=", key)], limit=1)
            if not incident:
                incident = self._open(key, signature, latest, now)
            elif incident.state == "resolved":
                incident.write({"state": "open", "resolved_at": False})
                incident._notify()
            filed.write({"incident_id": incident.id})
            incident.write(
                {
                    "last_seen": now,
                    "occurrences": incident.occurrences + len(filed),
                    "sample_error": latest.error_message,
                }
            )

    @api.model
    def _open(self, key, signature, message, now):
        try:
            with self.env.cr.savepoint():
                incident = self.sudo().create(
                    {
                        "fingerprint": key,
                        "system_id": message.system_id.id,
                        "direction": message.direction,
                        "event_type_id": message.event_type_id.id,
                        "event_code": message.event_code,
                        "error_class": message.error_class,
                        "signature": signature,
                        "pointers": ", ".join(error_pointers(signature)) or False,
                        "first_seen": now,
                        "last_seen": now,
                    }
                )
        except pg_errors.UniqueViolation:
            raise RetryableJobError(
                "Another job filed a dead letter of the same cause meanwhile.",
                seconds=1,
            ) from None
        incident._notify()
        return incident

    def _notify(self):
        """One to-do for the system's responsible person (the administrator when the
        system has none), on the incident itself."""
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        for incident in self.sudo():
            system = incident.system_id
            # due today: failing messages wait for it
            incident.activity_schedule(
                activity_type_id=activity_type.id,
                date_deadline=fields.Date.context_today(incident),
                summary=self.env._("New integration incident"),
                note=plaintext2html(
                    self.env._(
                        "%(direction)s %(event)s messages of %(system)s fail with "
                        "%(error)s: %(signature)s. Open the incident to see the "
                        "affected records, fix the cause, then replay them all at "
                        "once.",
                        direction=dict(
                            self._fields["direction"]._description_selection(self.env)
                        )[incident.direction],
                        event=incident.event_code or "?",
                        system=system.name,
                        error=incident.error_class or "?",
                        signature=incident.signature or "",
                    )
                ),
                user_id=(system.responsible_id or self.env.ref("base.user_admin")).id,
            )

    def _update_state(self):
        """Resolve the open incidents whose messages are all processed or discarded
        (a replayed message still waiting keeps its incident open)."""
        now = fields.Datetime.now()
        Message = self.env["mfg.integration.message"].sudo()
        for incident in self.sudo().filtered(lambda i: i.state == "open"):
            unsettled = Message.search_count(
                [
                    ("incident_id", "=", incident.id),
                    ("state", "in", ["dead", "received", "queued", "failed"]),
                ],
                limit=1,
            )
            if not unsettled:
                incident.write({"state": "resolved", "resolved_at": now})
                incident.activity_ids.action_feedback(
                    feedback=self.env._("Resolved: every message is settled.")
                )

    # ------------------------------------------------------------------
    # UI actions
    # ------------------------------------------------------------------

    def _dead_messages(self):
        return self.env["mfg.integration.message"].search(
            [("incident_id", "in", self.ids), ("state", "=", "dead")]
        )

    def action_replay_all(self):
        """Replay every dead letter of the incidents (after the cause is fixed)."""
        messages = self._dead_messages()
        if not messages:
            raise UserError(self.env._("These incidents have no dead letter left."))
        messages.action_replay()
        return notify(
            self.env._("%(n)s dead letter(s) queued for replay.", n=len(messages)),
            next_action={"type": "ir.actions.client", "tag": "soft_reload"},
        )

    def action_discard_all(self):
        """Ask for a reason, then discard every dead letter of the incidents."""
        messages = self._dead_messages()
        if not messages:
            raise UserError(self.env._("These incidents have no dead letter left."))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Discard %(n)s Dead Letter(s)", n=len(messages)),
            "res_model": "mfg.integration.message.discard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_message_ids": [fields.Command.set(messages.ids)]},
        }

    def action_view_messages(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Messages of %(name)s", name=self.name),
            "res_model": "mfg.integration.message",
            "view_mode": "list,form",
            "domain": [("incident_id", "=", self.id)],
            "context": {"search_default_dead": 1},
        }

    def action_open_mapping(self):
        """Open the mapping these messages go through, or a new one for them."""
        self.ensure_one()
        mapping_id = self._mapping_id()
        if mapping_id:
            return form_action(self.env["mfg.integration.mapping"].browse(mapping_id))
        if self.direction != "inbound":
            raise UserError(
                self.env._(
                    "These messages go through no mapping: set one on the "
                    "subscription if the receiver needs another shape."
                )
            )
        # the sample shows the payload as users see it: its sensitive values masked
        sample = self._dead_messages()[:1].payload_display
        return {
            "type": "ir.actions.act_window",
            "res_model": "mfg.integration.mapping",
            "view_mode": "form",
            "name": self.env._("New Mapping"),
            "context": {
                "default_name": f"{self.system_id.code} {self.event_code}",
                "default_direction": "inbound",
                "default_system_id": self.system_id.id,
                "default_event_type_id": self.event_type_id.id,
                "default_sample_payload": sample or False,
            },
        }

    # ------------------------------------------------------------------
    # Repair suggestions
    # ------------------------------------------------------------------

    def action_suggest(self):
        """Open the repair suggestions of the incident, each tested on its failing
        payloads."""
        self.ensure_one()
        repair = self.env["mfg.integration.incident.repair"].create(
            {"incident_id": self.id}
        )
        repair._fill()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Suggested Fixes"),
            "res_model": repair._name,
            "res_id": repair.id,
            "view_mode": "form",
            "target": "new",
        }

    def _failing_sample(self):
        """``(messages, payloads)``: the latest dead letters (at most
        :data:`SUGGESTION_SAMPLE`) and their payloads as received."""
        messages = (
            self.env["mfg.integration.message"]
            .sudo()
            .search(
                [("incident_id", "=", self.id), ("state", "=", "dead")],
                order="id desc",
                limit=SUGGESTION_SAMPLE,
            )
        )
        kept, payloads = messages.browse(), []
        for message in messages:
            try:
                payloads.append(json.loads(message.payload or "null"))
            except ValueError:
                continue
            kept |= message
        return kept, payloads

    def _suggestions(self):
        """The repair suggestions, best first, each with what it would repair:
        a list of ``(suggestion, repaired, tested)``, where ``repaired`` of the
        ``tested`` failing payloads would go through the mapping and the schema
        with the change (or, for a cross-reference, name the bound value)."""
        self.ensure_one()
        messages, payloads = self._failing_sample()
        if not messages:
            return []
        schema_record = self.event_type_id.current_schema_id
        schema = schema_record.get_schema() if schema_record else {}
        mapping = self.env["mfg.integration.mapping"].sudo().browse(self._mapping_id())
        definition = mapping.export_definition() if mapping else None
        places = failing_places(messages.mapped("error_details"))
        found = []
        if definition:
            for pointer in sorted(places.missing):
                target = pointer_target(pointer)
                used = {
                    line.get("source")
                    for line in definition["lines"]
                    if line.get("source") and line["target"] != target
                }
                found += source_candidates(pointer, schema, payloads, used)
            for pointer, counts in sorted(places.values.items()):
                allowed = schema_at(schema, pointer_target(pointer) or "").get(
                    "enum", []
                )
                for value, _n in counts.most_common(VALUES_PER_PLACE):
                    found += enum_candidates(pointer, value, allowed)
            known = (
                self.env["uom.uom"]
                .sudo()
                .search([("name", "!=", False)])
                .mapped("name")
            )
            for pointer, counts in sorted(places.units.items()):
                for value, _n in counts.most_common(VALUES_PER_PLACE):
                    found += unit_candidates(pointer, value, known)
        for (pointer, kind), counts in sorted(places.references.items()):
            for value, _n in counts.most_common(VALUES_PER_PLACE):
                records = self._reference_candidates(kind, value)
                found += rank_records(pointer, kind, value, records)
        tested = []
        for suggestion in found:
            repaired = self._trial(
                suggestion, definition, mapping, schema, messages, payloads
            )
            if repaired is None:
                continue  # cannot be applied to this mapping
            tested.append((suggestion, repaired, len(payloads)))
        tested.sort(key=lambda t: (-t[1], -t[0].score, t[0].title))
        return tested

    def _trial(self, suggestion, definition, mapping, schema, messages, payloads):
        """How many of ``payloads`` the suggestion repairs, or None when it cannot
        be applied."""
        if suggestion.kind == "xref":
            value = suggestion.change["value"]
            return sum(
                1
                for message in messages
                if any(
                    d.get("value") == value and d.get("pointer") == suggestion.pointer
                    for d in message.error_details or []
                )
            )
        try:
            changed = apply_to_definition(definition, suggestion)
        except ValueError:
            return None
        old_value = suggestion.change.get("from")

        def repaired(data):
            if validate(schema, data) if schema else False:
                return False
            return old_value is None or value_at(data, suggestion.target) != old_value

        try:
            return mapping._trial(changed, payloads, repaired, system=self.system_id)
        except MappingError:
            return None

    def _reference_candidates(self, kind, value):
        """``(id, label, keys)`` of the records of ``kind`` the system may use whose
        business keys or name contain ``value``'s letters and digits."""
        Resolver = self.env["mfg.integration.resolver"]
        spec = Resolver._reference_kinds().get(kind)
        if not spec or not isinstance(value, str):
            return []
        Model = self.env[spec["model"]].sudo()
        keys = list(spec["keys"])
        if Model._rec_name and Model._rec_name not in keys:
            keys.append(Model._rec_name)
        keys = [k for k in keys if k in Model._fields and Model._fields[k].store]
        pattern = "%" + "%".join(p for p in _NOT_ALNUM.split(value) if p) + "%"
        if pattern == "%" or not keys:
            return []
        domain = Resolver._scope_domain(self.system_id, kind)
        domain += ["|"] * (len(keys) - 1) + [(key, "=ilike", pattern) for key in keys]
        records = Model.search(domain, limit=REFERENCE_CANDIDATES, order="id")
        return [
            (
                record.id,
                record.display_name,
                {key: record[key] for key in keys if isinstance(record[key], str)},
            )
            for record in records
        ]

    def _apply_suggestion(self, data):
        """Apply one suggestion (as :meth:`Suggestion.as_dict` gives it): change the
        mapping, or bind the reference with a cross-reference of the system."""
        self.ensure_one()
        suggestion = Suggestion(
            kind=data["kind"],
            pointer=data["pointer"],
            target=data["target"],
            score=data["score"],
            reason=data["reason"],
            change=data["change"],
        )
        if suggestion.kind == "xref":
            spec = self.env["mfg.integration.resolver"]._reference_kinds()[
                suggestion.change["kind"]
            ]
            self.env["mfg.integration.xref"].create(
                {
                    "system_id": self.system_id.id,
                    "external_model": suggestion.change["kind"],
                    "external_id": suggestion.change["value"],
                    "res_model": spec["model"],
                    "res_id": suggestion.change["record_id"],
                    "note": self.env._(
                        "Suggested by incident %(name)s", name=self.name
                    ),
                }
            )
        else:
            mapping = self.env["mfg.integration.mapping"].browse(self._mapping_id())
            if not mapping:
                raise UserError(self.env._("These messages go through no mapping."))
            try:
                changed = apply_to_definition(mapping.export_definition(), suggestion)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            mapping.import_definition(changed)
        self.message_post(
            body=self.env._(
                "Fix applied by %(user)s: %(title)s (%(reason)s)",
                user=self.env.user.name,
                title=suggestion.title,
                reason=suggestion.reason,
            )
        )
