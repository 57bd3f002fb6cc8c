from odoo.tests import HttpCase, tagged

from odoo.addons.mfg_integration_core.tests.common import TourMixin

from .common import MesCase


@tagged("post_install", "-at_install")
class TestMesTours(TourMixin, MesCase, HttpCase):
    tour_login = "admin"

    def test_what_the_mes_reported_shows_on_the_order(self):
        order = self.make_order()
        machining = self.refs(order)["Machining"]
        self.assertDone(self.progress(order, machining, "started", 0))
        self.assertDone(
            self.progress(
                order,
                machining,
                "in_progress",
                4,
                duration_minutes=12,
                reported_at="2026-11-30T08:12:00Z",
            )
        )
        self.tour(
            "mfg_integration_mes_progress",
            url=f"/odoo/action-mrp.mrp_production_action/{order.id}",
        )
