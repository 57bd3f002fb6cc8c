from odoo import api, models


class MfgIntegrationFlowAction(models.AbstractModel):
    """Extension point: the Odoo actions that process flow steps may run.

    Domain modules inherit this model and add one method per action, named
    ``_flow_<code>``; its docstring's first line is the label an administrator picks
    from::

        class MfgIntegrationFlowAction(models.AbstractModel):
            _inherit = "mfg.integration.flow.action"

            def _flow_quarantine_lot(self, run, step):
                \"\"\"Quarantine the lot of the nonconformity\"\"\"
                ...
                return {"quarantined": True}  # optional: merged into the run's data

    An action runs inside a savepoint, as the user who advances the run (the job
    runner's user, or whoever resolves an incident). It raises
    :class:`mfg_integration.errors.TransientError` (or lets an ``OSError`` through)
    for a condition that may go away: the step is tried again with backoff. Anything
    else is permanent: the run becomes an incident, or is compensated when its step
    says so. Actions must be idempotent: an incident's retry calls them again.
    The same methods serve as compensations (undo what an earlier step did).
    """

    _name = "mfg.integration.flow.action"
    _description = "Integration Flow Actions"

    PREFIX = "_flow_"

    @api.model
    def _functions(self):
        """The registered actions: ``[(code, label)]`` sorted by label."""
        found = []
        for name in dir(type(self)):
            if not name.startswith(self.PREFIX):
                continue
            method = getattr(type(self), name)
            if not callable(method):
                continue
            doc = (method.__doc__ or "").strip().splitlines()
            code = name[len(self.PREFIX) :]
            found.append((code, doc[0].rstrip(".") if doc else code))
        return sorted(found, key=lambda item: item[1])

    @api.model
    def _get(self, code):
        """The bound action ``code``, or None when no installed module has it."""
        if not code:
            return None
        method = getattr(self, self.PREFIX + code, None)
        return method if callable(method) else None
