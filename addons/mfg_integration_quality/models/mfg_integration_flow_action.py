from odoo import Command, models

from mfg_integration import errors


class MfgIntegrationFlowAction(models.AbstractModel):
    """The steps of the nonconformance containment flow: each works on the run's
    nonconformity (opened by the inspection.failed handler), and is idempotent."""

    _inherit = "mfg.integration.flow.action"

    def _mfg_nonconformity(self, run):
        return run._record_of(
            "mgmtsystem.nonconformity",
            "an event whose handler opens a nonconformity (inspection.failed)",
        )

    def _mfg_system(self, run):
        system = run.start_message_id.system_id
        if not system:
            raise errors.ConfigurationError(
                "This step needs the system that reported the nonconformity: start "
                "the flow on its event."
            )
        return system

    def _flow_quality_quarantine(self, run, step):
        """Quarantine the nonconformity's lots"""
        nonconformity = self._mfg_nonconformity(run)
        system = self._mfg_system(run)
        held = []
        for lot in nonconformity.mfg_lot_ids:
            already = lot.mfg_quarantine_pending or nonconformity._mfg_lot_quants(
                lot, system, quarantined=True
            )
            if not already:
                nonconformity._mfg_quarantine(lot, system)
            held.append(lot.name)
        return {"quarantined_lots": held}

    def _flow_quality_release_quarantine(self, run, step):
        """Release the nonconformity's lots from quarantine"""
        nonconformity = self._mfg_nonconformity(run)
        system = self._mfg_system(run)
        for lot in nonconformity.mfg_lot_ids:
            quants = nonconformity._mfg_lot_quants(lot, system, quarantined=True)
            for warehouse, held in quants.grouped("warehouse_id").items():
                picking = nonconformity._mfg_transfer(
                    held, warehouse.lot_stock_id, warehouse.int_type_id
                )
                nonconformity.mfg_quarantine_picking_ids = [Command.link(picking.id)]
            if lot.mfg_hold_nonconformity_id == nonconformity:
                lot.write(
                    {
                        "mfg_quarantine_pending": False,
                        "mfg_hold_nonconformity_id": False,
                    }
                )
        nonconformity.message_post(
            body=self.env._(
                "Quarantine released: the containment flow %(run)s was cancelled.",
                run=run.display_name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return {}

    def _flow_quality_inspect_equipment(self, run, step):
        """Ask maintenance to inspect the equipment that made the goods"""
        nonconformity = self._mfg_nonconformity(run)
        workcenters = nonconformity.mfg_production_id.workorder_ids.workcenter_id
        equipment = self.env["maintenance.equipment"].search(
            [("mfg_workcenter_id", "in", workcenters.ids)]
        )
        requests = self.env["maintenance.request"]
        for machine in equipment:
            # created through Odoo's own model: the maintenance module announces
            # it to the CMMS (maintenance.work_order_created)
            requests |= requests.create(
                {
                    "name": self.env._(
                        "Inspect %(equipment)s after nonconformity %(nc)s",
                        equipment=machine.name,
                        nc=nonconformity.ref,
                    ),
                    "equipment_id": machine.id,
                    "maintenance_type": "corrective",
                    "description": nonconformity.name,
                    "company_id": nonconformity.company_id.id,
                }
            )
        if requests:
            nonconformity.message_post(
                body=self.env._(
                    "Equipment inspection requested: %(requests)s",
                    requests=", ".join(requests.mapped("display_name")),
                ),
                subtype_xmlid="mail.mt_note",
            )
        return {"equipment_inspections": requests.ids}

    def _flow_quality_request_scar(self, run, step):
        """Request a corrective action from the supplier"""
        nonconformity = self._mfg_nonconformity(run)
        if not nonconformity.action_ids.filtered("mfg_scar"):
            nonconformity.action_mfg_request_scar()
        scar = nonconformity.action_ids.filtered("mfg_scar")[:1]
        return {"supplier_corrective_action": scar.reference or scar.name}

    def _flow_quality_close_nonconformity(self, run, step):
        """Close the nonconformity once its disposition is applied

        A corrective action under way keeps it open: the management system closes
        it with its last action.
        """
        nonconformity = self._mfg_nonconformity(run)
        if nonconformity.state == "done":
            return {"closed": True}
        if not nonconformity.mfg_disposition:
            raise errors.BusinessRuleError(
                f"Nonconformity {nonconformity.ref} has no disposition yet."
            )
        system = self._mfg_system(run)
        held = [
            lot.name
            for lot in nonconformity.mfg_lot_ids
            if lot.mfg_quarantine_pending
            or nonconformity._mfg_lot_quants(lot, system, quarantined=True)
        ]
        if held:
            raise errors.BusinessRuleError(
                f"Lot(s) {', '.join(held)} of {nonconformity.ref} are still in "
                "quarantine: approve a disposition of the rest, then retry."
            )
        closed = nonconformity._mfg_close(
            self.env._(
                "Disposition %(decision)s applied.",
                decision=nonconformity.mfg_disposition,
            )
        )
        # containment ends here; a corrective action under way keeps the
        # nonconformity open until the management system closes it
        return {
            "closed": closed,
            "open_actions": nonconformity._mfg_open_actions().mapped("display_name"),
        }
