import json
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import MaintenanceCase


@tagged("post_install", "-at_install")
class TestDowntime(MaintenanceCase):
    def test_breakdown_blocks_the_work_center_and_opens_a_request(self):
        message = self.started(
            "D-1", reason_code="HYD-LEAK", comment="oil under the press"
        )
        self.assertDone(message)
        downtime = self.Downtime.browse(message.result_id)
        self.assertEqual(message.result_model, "mfg.integration.downtime")
        self.assertEqual(downtime.state, "open")
        self.assertEqual(self.workcenter.working_state, "blocked")
        line = downtime.productivity_id
        self.assertEqual(line.workcenter_id, self.workcenter)
        self.assertEqual(line.loss_id, self.env.ref("mrp.block_reason1"))
        self.assertEqual(str(line.date_start), "2026-11-30 08:00:00")
        self.assertFalse(line.date_end)
        # an unmapped code falls back to its category's loss and is flagged
        self.assertTrue(downtime.reason_unknown)
        request = downtime.request_id
        self.assertEqual(request.equipment_id, self.press)
        self.assertEqual(request.maintenance_type, "corrective")
        self.assertEqual(request.priority, "3")
        self.assertEqual(request.maintenance_team_id, self.team)
        self.assertEqual(request.mfg_downtime_id, downtime)
        # the request is announced to the CMMS with the downtime and the correlation
        (created,) = self.created_messages(request)
        data = json.loads(created.sudo().payload)
        self.assertEqual(data["downtime_id"], "D-1")
        self.assertEqual(data["maintenance_request"], f"MR-{request.id}")
        self.assertEqual(data["equipment"]["code"], "T-PRESS-07")
        self.assertEqual(data["priority"], "very_high")
        self.assertEqual(created.correlation_id, "corr-mnt")
        self.assertEqual(
            self.env["mfg.integration.xref"].lookup(
                self.cmms, "maintenance_request", f"MR-{request.id}"
            ),
            request,
        )
        # ended: the duration comes from the event, the work center runs again
        closing = self.ended("D-1", ended_at="2026-11-30T08:45:00Z")
        self.assertDone(closing)
        self.assertEqual(downtime.state, "closed")
        self.assertEqual(str(line.date_end), "2026-11-30 08:45:00")
        self.assertAlmostEqual(line.duration, 45)
        self.assertAlmostEqual(downtime.duration_minutes, 45)
        self.assertEqual(self.workcenter.working_state, "normal")
        # the equipment shows its messages and the chatter notes
        self.assertEqual(self.press.mfg_integration_message_count, 3)
        notes = [m.body for m in self.press.message_ids if "machine." in (m.body or "")]
        self.assertEqual(len(notes), 2)

    def test_mapped_reason_and_no_request_for_a_changeover(self):
        loss = self.env.ref("mrp.block_reason2")
        self.env["mfg.integration.downtime.reason"].create(
            {"reason_category": "changeover", "reason_code": "DIE", "loss_id": loss.id}
        )
        downtime = self.Downtime.browse(
            self.started("D-2", "changeover", reason_code="DIE").result_id
        )
        self.assertFalse(downtime.reason_unknown)
        self.assertEqual(downtime.loss_id, loss)
        self.assertFalse(downtime.request_id)
        # reclassified when it ends
        self.assertDone(self.ended("D-2", reason_category="material_shortage"))
        self.assertEqual(
            downtime.productivity_id.loss_id, self.env.ref("mrp.block_reason0")
        )
        self.assertEqual(downtime.reason_category, "material_shortage")

    def test_out_of_order_and_repeated_events(self):
        early_end = self.ended(
            "D-3", ended_at="2026-11-30T09:10:00Z", started_at="2026-11-30T09:00:00Z"
        )
        self.assertDone(early_end)
        downtime = self.Downtime.browse(early_end.result_id)
        self.assertEqual(downtime.state, "ended_first")
        self.assertNotEqual(self.workcenter.working_state, "blocked")
        self.assertDone(self.started("D-3", "other", started_at="2026-11-30T09:00:00Z"))
        self.assertEqual(downtime.state, "closed")
        self.assertAlmostEqual(downtime.productivity_id.duration, 10)
        self.assertNotEqual(self.workcenter.working_state, "blocked")
        # repeated start and end change nothing
        self.assertDone(self.started("D-3", "other", started_at="2026-11-30T09:00:00Z"))
        self.assertDone(self.ended("D-3", ended_at="2026-11-30T09:30:00Z"))
        self.assertEqual(self.Downtime.search_count([("downtime_id", "=", "D-3")]), 1)
        self.assertAlmostEqual(downtime.productivity_id.duration, 10)
        # a second end of a closed downtime is idempotent too
        self.assertDone(self.started("D-4", "other"))
        self.assertDone(self.ended("D-4"))
        self.assertDone(self.ended("D-4", ended_at="2026-11-30T11:00:00Z"))
        self.assertEqual(
            str(self.Downtime.search([("downtime_id", "=", "D-4")]).ended_at),
            "2026-11-30 08:45:00",
        )

    def test_refusals_name_their_pointer(self):
        self.assertDead(
            self.started("D-5", code="NOPE"),
            "reference.not-found",
            "/data/equipment/code",
        )
        lonely = self.env["maintenance.equipment"].create(
            {"name": "Lonely", "mfg_code": "LONE"}
        )
        self.assertDead(
            self.started("D-6", code="LONE"), "business-rule", "/data/work_center"
        )
        self.assertDead(
            self.started("D-7", work_center="NO-WC"),
            "reference.not-found",
            "/data/work_center",
        )
        self.assertFalse(self.Downtime.search([("equipment_id", "=", lonely.id)]))
        self.assertNotEqual(self.workcenter.working_state, "blocked")
        self.assertDone(self.started("D-8", "other"))
        self.assertDead(
            self.ended(
                "D-8",
                ended_at="2026-11-30T07:00:00Z",
                started_at="2026-11-30T08:00:00Z",
            ),
            "business-rule",
            "/data/ended_at",
        )

    def test_serial_number_and_cross_reference_find_the_equipment(self):
        self.assertDone(
            self.started(
                "D-9", "other", code="X", equipment={"code": "X", "serial_no": "SN-T7"}
            )
        )
        self.env["mfg.integration.xref"].bind(
            self.machine, "equipment", "PLC-7", self.press
        )
        message = self.started("D-10", "other", code="PLC-7")
        self.assertDone(message)
        self.assertEqual(
            self.Downtime.browse(message.result_id).equipment_id, self.press
        )

    def test_nothing_is_half_written_when_a_step_fails(self):
        Downtime = type(self.Downtime)
        lines_before = self.env["mrp.workcenter.productivity"].search_count([])
        with patch.object(
            Downtime, "_mfg_open_request", side_effect=ValueError("boom"), autospec=True
        ):
            message = self.started("D-11")
        self.assertEqual(message.state, "dead")
        self.assertFalse(self.Downtime.search([("downtime_id", "=", "D-11")]))
        self.assertEqual(
            self.env["mrp.workcenter.productivity"].search_count([]), lines_before
        )
        self.assertNotEqual(self.workcenter.working_state, "blocked")
        # fixed, the replayed message opens it all
        with trap_jobs():
            message.action_replay()
            self.Message._job_drain(self.machine.id)
        self.assertDone(message)
        self.assertEqual(self.workcenter.working_state, "blocked")
