from odoo import api, models


class MfgIntegrationHandler(models.AbstractModel):
    """Extension point: the Odoo side of each inbound event type.

    Domain modules inherit this model and add one method per event type they handle,
    named after the event code with ``.`` written ``__``::

        class MfgIntegrationHandler(models.AbstractModel):
            _inherit = "mfg.integration.handler"

            def _handle_work_order__progress_reported(self, message, data):
                workorder = ...  # find and update Odoo records from ``data``
                return workorder  # optional: linked on the message as its result

    A handler runs inside a savepoint, as the sending system's technical user. It
    raises :class:`mfg_integration.errors.TransientError` (or lets an ``OSError``
    through) for a condition that may go away: the message is retried with backoff.
    Anything permanent (``UserError``, ``ValidationError``, ``ValueError``,
    :class:`mfg_integration.errors.PermanentError`…) makes the message a dead letter at
    once. Handlers must be idempotent: a replay calls them again with the same data.
    """

    _name = "mfg.integration.handler"
    _description = "Integration Event Handlers"

    @api.model
    def _handler_method_name(self, event_code):
        return "_handle_" + (event_code or "").replace(".", "__")

    @api.model
    def _get_handler(self, event_code):
        """Return the bound handler of ``event_code``, or None when none exists."""
        return getattr(self, self._handler_method_name(event_code), None)

    def _handle_integration__ping(self, message, data):
        """A system's ping (the inbound test of its onboarding): it only has to
        arrive; no record changes."""
        return None
