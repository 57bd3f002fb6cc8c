from odoo.tests import HttpCase, tagged

from odoo.addons.mfg_integration_core.tests.common import TourMixin

from .common import MaintenanceCase


@tagged("post_install", "-at_install")
class TestMaintenanceTours(TourMixin, MaintenanceCase, HttpCase):
    tour_login = "admin"

    def test_a_downtime_signal_shows_as_a_downtime_and_its_request(self):
        message = self.started(
            "D-1", reason_code="HYD-LEAK", comment="oil under the press"
        )
        self.assertDone(message)
        self.tour("mfg_integration_maintenance_downtime")
