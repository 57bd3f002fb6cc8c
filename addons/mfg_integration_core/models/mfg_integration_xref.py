from odoo import api, fields, models
from odoo.exceptions import ValidationError


class MfgIntegrationXref(models.Model):
    """A cross-reference: an external system's identifier of an Odoo record.

    ``(system, external model, external id)`` is unique: the MES's work order
    ``WO-17/3`` is bound to exactly one Odoo record. Mappings look references up (and
    may create them), domain handlers bind the records they create.
    """

    _name = "mfg.integration.xref"
    _description = "Integration Cross-Reference"
    _order = "system_id, external_model, external_id"
    _check_company_auto = True

    system_id = fields.Many2one(
        "mfg.integration.system",
        required=True,
        ondelete="cascade",
        index=True,
        check_company=True,
    )
    company_id = fields.Many2one(related="system_id.company_id", store=True)
    external_model = fields.Char(
        required=True,
        help="What the identifier names in the external system, e.g. work_order.",
    )
    external_id = fields.Char(string="External ID", required=True)
    res_model = fields.Char(string="Odoo Model", required=True, index=True)
    res_id = fields.Many2oneReference(
        string="Odoo Record ID", model_field="res_model", required=True
    )
    record_name = fields.Char(compute="_compute_record_name", string="Odoo Record")
    note = fields.Char()

    _external_uniq = models.Constraint(
        "unique(system_id, external_model, external_id)",
        "This external identifier is already bound to a record for this system.",
    )
    _record_idx = models.Index("(res_model, res_id)")

    @api.depends("res_model", "res_id")
    def _compute_record_name(self):
        for xref in self:
            record = xref._record()
            xref.record_name = record.display_name if record else False

    @api.constrains("res_model", "res_id")
    def _check_record(self):
        for xref in self:
            if xref.res_model not in self.env:
                raise ValidationError(
                    self.env._("'%(model)s' is not a model.", model=xref.res_model)
                )
            if not xref._record():
                raise ValidationError(
                    self.env._(
                        "%(model)s %(id)s does not exist.",
                        model=xref.res_model,
                        id=xref.res_id,
                    )
                )

    def _record(self):
        """The bound Odoo record (empty when it was deleted)."""
        self.ensure_one()
        if self.res_model not in self.env or not self.res_id:
            return None
        return self.env[self.res_model].browse(self.res_id).exists()

    @api.model
    def lookup(self, system, external_model, external_id):
        """Return the Odoo record bound to an external identifier, or None."""
        xref = self.search(
            [
                ("system_id", "=", system.id),
                ("external_model", "=", external_model),
                ("external_id", "=", str(external_id)),
            ],
            limit=1,
        )
        return xref._record() if xref else None

    @api.model
    def bind(self, system, external_model, external_id, record):
        """Bind ``record`` to an external identifier (idempotent for the same
        record; a different record raises a ``ValidationError``)."""
        record.ensure_one()
        current = self.lookup(system, external_model, external_id)
        if current is not None:
            if current != record:
                raise ValidationError(
                    self.env._(
                        "%(system)s's %(model)s '%(id)s' is already bound to "
                        "%(record)s.",
                        system=system.name,
                        model=external_model,
                        id=external_id,
                        record=current.display_name,
                    )
                )
            return current
        self.create(
            {
                "system_id": system.id,
                "external_model": external_model,
                "external_id": str(external_id),
                "res_model": record._name,
                "res_id": record.id,
            }
        )
        return record

    @api.model
    def _bind_by_name(self, system, model, external_model, external_id):
        """Create the missing cross-reference of ``external_id`` when exactly one
        record of ``model`` has that name; return the record, or None."""
        if model not in self.env:
            return None
        Model = self.env[model]
        candidates = Model.search(
            [(Model._rec_name or "id", "=", external_id)], limit=2
        )
        if len(candidates) != 1:
            return None
        return self.bind(system, external_model or model, external_id, candidates)

    def action_open_record(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
        }
