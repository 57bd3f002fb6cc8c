from datetime import timedelta

from odoo import fields, models

SCAR = "supplier_corrective_action.opened"


class MgmtsystemAction(models.Model):
    _inherit = "mgmtsystem.action"

    mfg_scar = fields.Boolean(
        string="Supplier Corrective Action",
        readonly=True,
        copy=False,
        help="A corrective action requested from the supplier (SCAR), sent to the "
        "systems subscribed to supplier_corrective_action.opened.",
    )
    mfg_methodology = fields.Selection(
        [("8d", "8D"), ("5_why", "5 why"), ("a3", "A3"), ("other", "Other")],
        string="Answer Format",
        default="8d",
    )
    mfg_containment_due = fields.Date(string="Containment Due")

    def _mfg_announce(self, nonconformity):
        """Emit supplier_corrective_action.opened for this request."""
        self.ensure_one()
        EventType = self.env["mfg.integration.event.type"]
        if EventType._has_subscribers(SCAR):
            EventType.emit(
                SCAR,
                self._mfg_scar_data(nonconformity),
                subject=self.reference,
                record=nonconformity,
            )

    def _mfg_scar_data(self, nonconformity):
        self.ensure_one()
        opened = nonconformity._mfg_opened_data()
        data = {
            "corrective_action": self.reference,
            "supplier": opened["supplier"],
            "nonconformance": nonconformity.ref,
            "title": self.name[:256],
            "problem_description": (nonconformity.description or self.name)[:4000],
            "severity": opened["severity"],
            "methodology": self.mfg_methodology or "8d",
            "opened_at": opened["opened_at"],
            "response_due": fields.Date.to_string(self.date_deadline),
        }
        if self.mfg_containment_due:
            data["containment_due"] = fields.Date.to_string(self.mfg_containment_due)
        for key in ("product", "lots", "quantity_affected", "receipt"):
            if key in opened:
                data[key] = opened[key]
        user = nonconformity.responsible_user_id
        if user.email and "@" in user.email:
            data["contact"] = {"name": user.name[:256], "email": user.email}
        return data

    def _mfg_scar_values(self, nonconformity):
        today = fields.Date.context_today(self)
        return {
            "name": self.env._(
                "Corrective action requested from %(supplier)s: %(nc)s",
                supplier=nonconformity.partner_id.name,
                nc=nonconformity.name or nonconformity.ref,
            ),
            "type_action": "correction",
            "mfg_scar": True,
            "date_deadline": today + timedelta(days=30),
            "mfg_containment_due": today + timedelta(days=2),
            "user_id": nonconformity.responsible_user_id.id,
            "company_id": nonconformity.company_id.id,
            "nonconformity_ids": [fields.Command.link(nonconformity.id)],
        }
