from odoo.tests import TransactionCase, tagged

from odoo.addons.mfg_integration_core.tests.common import CatalogueMixin


@tagged("post_install", "-at_install")
class TestMesCatalogue(CatalogueMixin, TransactionCase):
    module = "mfg_integration_mes"
    events = {
        "production_order.released": "outbound",
        "production_order.cancelled": "outbound",
        "work_order.progress_reported": "inbound",
        "production_order.completed": "inbound",
        "material.consumed": "inbound",
    }
