from odoo.tests import TransactionCase, tagged

from odoo.addons.mfg_integration_core.tests.common import CatalogueMixin


@tagged("post_install", "-at_install")
class TestMaintenanceCatalogue(CatalogueMixin, TransactionCase):
    module = "mfg_integration_maintenance"
    events = {
        "machine.downtime_started": "inbound",
        "machine.downtime_ended": "inbound",
        "maintenance.work_order_created": "outbound",
        "maintenance.work_order_completed": "inbound",
        "spare_part.consumed": "inbound",
    }
