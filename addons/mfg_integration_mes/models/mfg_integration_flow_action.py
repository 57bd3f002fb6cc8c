from odoo import models

from mfg_integration import errors

from .mrp_production import RELEASED


class MfgIntegrationFlowAction(models.AbstractModel):
    """The steps of the production release gate: each works on the run's
    manufacturing order, with Odoo's own methods, and is idempotent."""

    _inherit = "mfg.integration.flow.action"

    def _mfg_production(self, run):
        return run._record_of(
            "mrp.production",
            "a manufacturing order (a release gate on its operation type or product)",
        )

    def _flow_mes_check_availability(self, run, step):
        """Check that the order's components are reserved"""
        production = self._mfg_production(run)
        production._mfg_check_open()
        if production.reservation_state != "assigned":
            production.action_assign()
        if production.reservation_state != "assigned":
            missing = production.move_raw_ids.filtered(
                lambda m: m.state not in ("assigned", "done", "cancel")
            )
            # stock may arrive: tried again with backoff, an incident at the end
            raise errors.TransientError(
                f"Components of {production.name} not reserved yet: "
                + ", ".join(missing.product_id.mapped("display_name"))
                + "."
            )
        return {"components_reserved": True}

    def _flow_mes_check_component_holds(self, run, step):
        """Check that no reserved component lot is on hold"""
        production = self._mfg_production(run)
        lots = production.move_raw_ids.move_line_ids.lot_id
        holds = lots._mfg_integration_holds()
        if holds:
            raise errors.BusinessRuleError(
                f"Components of {production.name} are on hold: "
                + "; ".join(
                    f"lot {lot.name} of {lot.product_id.display_name}: {why}"
                    for lot, why in holds.items()
                )
                + ". Release or replace them, then retry."
            )
        return {"component_lots_checked": lots.mapped("name")}

    def _flow_mes_release(self, run, step):
        """Release the order to the MES"""
        production = self._mfg_production(run)
        production._mfg_check_open()
        EventType = self.env["mfg.integration.event.type"]
        if not EventType._has_subscribers(RELEASED):
            raise errors.BusinessRuleError(
                f"No system subscribes to {RELEASED}: subscribe the MES's endpoint, "
                "then retry."
            )
        production._mfg_release("gate")
        production.with_context(
            mfg_integration_releasing=True
        ).mfg_integration_plan_released = True
        return {"released_to_mes": True}

    def _flow_mes_refused(self, run, step):
        """Stop on the MES's refusal"""
        production = self._mfg_production(run)
        answer = run._data().get("events", {}).get("acknowledged", {})
        raise errors.BusinessRuleError(
            f"The MES refused {production.name}: "
            f"{answer.get('reason') or 'no reason given'}. Fix the routing and "
            "retry from the release, or cancel the run."
        )

    def _flow_mes_mark_released(self, run, step):
        """Mark the order released"""
        production = self._mfg_production(run)
        production.with_context(
            mfg_integration_releasing=True
        ).mfg_release_state = "released"
        production.message_post(
            body=self.env._(
                "Released through the release gate (%(run)s).", run=run.display_name
            ),
            subtype_xmlid="mail.mt_note",
        )
        return {"released": True}
