from odoo.tests import HttpCase, tagged

from odoo.addons.mfg_integration_core.tests.common import TourMixin

from .common import QualityCase


@tagged("post_install", "-at_install")
class TestQualityTours(TourMixin, QualityCase, HttpCase):
    tour_login = "admin"

    def test_a_failed_inspection_shows_as_a_nonconformity_in_quarantine(self):
        message = self.failed()
        self.assertDone(message)
        nonconformity = self.env["mgmtsystem.nonconformity"].browse(message.result_id)
        self.assertIn("WALL-THK", nonconformity.description)
        self.tour(
            "mfg_integration_quality_nonconformity",
            url="/odoo/action-mgmtsystem_nonconformity.open_mgmtsystem_nonconformity_list"
            f"/{message.result_id}",
        )
