from odoo.tests import TransactionCase, tagged

from odoo.addons.mfg_integration_core.tests.common import CatalogueMixin


@tagged("post_install", "-at_install")
class TestQualityCatalogue(CatalogueMixin, TransactionCase):
    module = "mfg_integration_quality"
    events = {
        "inspection.result_recorded": "inbound",
        "inspection.failed": "inbound",
        "nonconformance.opened": "outbound",
        "supplier_corrective_action.opened": "outbound",
        "batch.disposition_approved": "inbound",
    }
