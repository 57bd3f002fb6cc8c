import json

from odoo.tests import tagged

from .common import MaintenanceCase


@tagged("post_install", "-at_install")
class TestCmms(MaintenanceCase):
    def new_request(self, **values):
        values = {
            "name": "Noise on press",
            "equipment_id": self.press.id,
            "maintenance_team_id": self.team.id,
            **values,
        }
        return self.env["maintenance.request"].create(values)

    def test_request_created_in_odoo_is_announced_per_subscription_filter(self):
        request = self.new_request(priority="1", description="<p>Rattling</p>")
        (created,) = self.created_messages(request)
        data = json.loads(created.sudo().payload)
        self.assertEqual(data["title"], "Noise on press")
        self.assertEqual(data["maintenance_team"], "Team T")
        self.assertEqual(data["priority"], "normal")
        self.assertEqual(data["description"], "Rattling")
        self.assertNotIn("downtime_id", data)
        # a subscription filtered on a team gets only that team's requests
        team_filter = f"[('maintenance_team_id', '=', {self.other_team.id})]"
        self.subscription.write(
            {"filter_model": "maintenance.request", "filter_domain": team_filter}
        )
        self.assertFalse(self.created_messages(self.new_request()))
        other = self.new_request(maintenance_team_id=self.other_team.id)
        self.assertEqual(len(self.created_messages(other)), 1)

    def test_equipment_without_code_gets_a_reference_the_cmms_can_echo(self):
        bare = self.env["maintenance.equipment"].create(
            {"name": "Bare", "mfg_workcenter_id": self.workcenter.id}
        )
        request = self.new_request(equipment_id=bare.id)
        data = json.loads(self.created_messages(request).sudo().payload)
        self.assertEqual(data["equipment"]["code"], f"EQ-{bare.id}")
        done = self.completed(f"MR-{request.id}", code=f"EQ-{bare.id}")
        self.assertDone(done)
        self.assertTrue(request.stage_id.done)

    def test_completion_closes_the_request_with_the_cmms_report(self):
        request = self.new_request()
        reference = f"MR-{request.id}"
        done = self.completed(
            reference,
            started_at="2026-11-30T09:00:00Z",
            labour_hours=2.5,
            technicians=["MT-1", "MT-2"],
            failure_code="LEAK",
            cause_code="HOSE-WEAR",
            remedy_code="REPLACE",
            notes="Hose replaced.",
        )
        self.assertDone(done)
        self.assertEqual(done.result_id, request.id)
        self.assertTrue(request.stage_id.done)
        self.assertEqual(request.mfg_outcome, "repaired")
        self.assertEqual(request.mfg_labour_hours, 2.5)
        self.assertEqual(request.mfg_technicians, "MT-1, MT-2")
        self.assertEqual(
            (request.mfg_failure_code, request.mfg_cause_code, request.mfg_remedy_code),
            ("LEAK", "HOSE-WEAR", "REPLACE"),
        )
        self.assertAlmostEqual(request.duration, 1.0)
        self.assertIn("Hose replaced.", request.message_ids[0].body)
        # completing twice changes nothing
        self.assertDone(self.completed(reference, notes="again"))
        self.assertNotIn("again", request.message_ids[0].body or "")

    def test_unavailable_equipment_keeps_the_work_center_blocked(self):
        request = self.new_request()
        self.assertDone(
            self.completed(
                f"MR-{request.id}", equipment_available=False, notes="wait for part"
            )
        )
        self.assertEqual(self.workcenter.working_state, "blocked")
        self.assertIn("wait for part", request.mfg_block_id.description)
        # a later job making it available lifts the block
        request.stage_id = self.env.ref("maintenance.stage_0")
        self.assertDone(self.completed(f"MR-{request.id}", cmms_work_order="CMMS-2"))
        self.assertNotEqual(self.workcenter.working_state, "blocked")

    def test_not_repairable_leaves_the_request_open_for_a_decision(self):
        request = self.new_request()
        self.assertDone(self.completed(f"MR-{request.id}", outcome="not_repairable"))
        self.assertFalse(request.stage_id.done)
        self.assertEqual(
            request.activity_ids.summary, "Equipment not repairable: decide"
        )

    def test_a_job_of_the_cmms_alone_is_recorded_on_the_equipment(self):
        done = self.completed(None, cmms_work_order="CMMS-99", outcome="serviced")
        self.assertDone(done)
        request = self.env["maintenance.request"].browse(done.result_id)
        self.assertEqual(request.equipment_id, self.press)
        self.assertEqual(request.maintenance_type, "preventive")
        self.assertTrue(request.stage_id.done)
        self.assertFalse(self.created_messages(request), "not echoed to the CMMS")

    def test_spare_parts_leave_stock_linked_to_the_request(self):
        request = self.new_request()
        reference = f"MR-{request.id}"
        consumption = self.env.ref(
            "mfg_integration_maintenance.stock_location_maintenance_consumption"
        )
        hose = self.spare("T-HOSE", 2, maintenance_request=reference)
        self.assertDone(hose)
        self.assertEqual(self.on_hand(self.hose), 3)
        move = request.mfg_spare_move_ids
        self.assertEqual(move.state, "done")
        self.assertEqual(move.location_dest_id, consumption)
        # the CMMS work order number is now bound: later bookings find the request
        self.assertDone(self.spare("T-VALVE", 1, lot="V-1"))
        self.assertEqual(len(request.mfg_spare_move_ids), 2)
        self.assertEqual(self.on_hand(self.valve, self.valve_lot), 1)
        self.assertEqual(
            request.mfg_spare_move_ids.move_line_ids.lot_id, self.valve_lot
        )

    def test_spare_part_refusals_leave_stock_untouched(self):
        self.assertDead(self.spare("T-HOSE", 9), "business-rule", "/data/quantity")
        self.assertIn("only 5", self.Message.search([], limit=1).error_message)
        self.assertDead(self.spare("T-VALVE", 1), "business-rule", "/data/lot")
        self.assertDead(
            self.spare("T-VALVE", 1, lot="NOPE"), "reference.not-found", "/data/lot"
        )
        self.assertDead(
            self.spare("T-HOSE", 1, maintenance_request="MR-0"),
            "reference.not-found",
            "/data/maintenance_request",
        )
        self.assertDead(
            self.spare("T-HOSE", 1, source_location="WH/Nowhere"),
            "reference.not-found",
            "/data/source_location",
        )
        self.assertEqual(self.on_hand(self.hose), 5)
        self.assertEqual(self.on_hand(self.valve, self.valve_lot), 2)

    def test_technical_users_have_the_maintenance_group(self):
        group = self.env.ref(
            "mfg_integration_maintenance.group_mfg_integration_maintenance"
        )
        for system in (self.machine, self.cmms):
            self.assertIn(group, system.user_id.group_ids)
            self.assertFalse(system.user_id.has_group("base.group_system"))
        portal = self.env["mfg.integration.system"].create(
            {"name": "Portal", "code": "portal_t", "kind": "supplier_portal"}
        )
        self.assertNotIn(group, portal.user_id.group_ids)

    def test_spare_parts_beyond_stock_when_the_system_allows_it(self):
        self.cmms.mfg_spare_negative_stock = True
        message = self.spare("T-HOSE", 7)
        self.assertDone(message)
        self.assertEqual(self.on_hand(self.hose), -2)
