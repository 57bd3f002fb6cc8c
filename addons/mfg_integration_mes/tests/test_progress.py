import json
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.queue_job.tests.common import trap_jobs

from .common import MesCase


@tagged("post_install", "-at_install")
class TestProgress(MesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.order = cls.make_order(qty=10)
        cls.ref = cls.refs(cls.order)
        cls.machining = cls.order.workorder_ids.filtered(
            lambda w: w.name == "Machining"
        )

    def test_reports_without_a_duration_keep_the_timer_running(self):
        self.progress(self.order, self.ref["Machining"], "started", 0)
        wo = self.machining
        timer = wo.time_ids.filtered(lambda t: not t.date_end)
        self.assertEqual(len(timer), 1)
        for good, minute in ((3, 5), (7, 9)):
            report = self.progress(
                self.order,
                self.ref["Machining"],
                "in_progress",
                good,
                reported_at=f"2026-11-30T08:{minute:02d}:00Z",
            )
            self.assertDone(report)
            self.assertEqual(wo.qty_produced, good)
            # the same time line goes on: no stop and start on each report
            self.assertEqual(wo.time_ids, timer)
            self.assertFalse(timer.date_end)
            self.assertEqual(wo.state, "progress")

    def test_start_report_finish_through_odoo_methods(self):
        started = self.progress(self.order, self.ref["Machining"], "started", 0)
        self.assertDone(started)
        wo = self.machining
        self.assertEqual(wo.state, "progress")
        self.assertEqual(len(wo.time_ids.filtered(lambda t: not t.date_end)), 1)
        self.assertEqual(wo.time_ids.user_id, self.system.user_id)
        self.assertEqual(started.result_model, "mrp.workorder")
        self.assertEqual(started.result_id, wo.id)

        middle = self.progress(
            self.order,
            self.ref["Machining"],
            "in_progress",
            4,
            duration_minutes=12,
            reported_at="2026-11-30T08:12:00Z",
        )
        self.assertDone(middle)
        self.assertEqual(wo.qty_produced, 4)
        # the timer runs again: Odoo's duration adds the open time line, computed at
        # another moment than the closed ones (seconds apart on a busy machine)
        self.assertAlmostEqual(wo.duration, 12, delta=0.25)
        self.assertEqual(len(wo.time_ids.filtered(lambda t: not t.date_end)), 1)

        paused = self.progress(
            self.order,
            self.ref["Machining"],
            "paused",
            6,
            duration_minutes=20,
            reported_at="2026-11-30T08:20:00Z",
        )
        self.assertDone(paused)
        self.assertFalse(wo.time_ids.filtered(lambda t: not t.date_end))
        self.assertAlmostEqual(wo.duration, 20, delta=0.1)

        finished = self.progress(
            self.order,
            self.ref["Machining"],
            "finished",
            9,
            duration_minutes=31.5,
            quantity_scrap={"value": 1, "uom": "Units"},
            scrap_reason="dimension_out_of_tolerance",
            reported_at="2026-11-30T08:40:00Z",
        )
        self.assertDone(finished)
        self.assertEqual(wo.state, "done")
        self.assertEqual(wo.qty_produced, 9)
        self.assertAlmostEqual(wo.duration, 31.5, delta=0.1)
        scrap = wo.scrap_ids
        self.assertEqual(scrap.scrap_qty, 1)
        self.assertEqual(scrap.product_id, self.pump)
        self.assertEqual(scrap.scrap_reason_tag_ids.name, "Dimension out of tolerance")
        self.assertEqual(scrap.state, "done")
        # one note per processed event on the order, with the correlation id
        notes = self.order.message_ids.filtered(
            lambda m: "work_order.progress_reported" in (m.body or "")
        )
        self.assertEqual(len(notes), 4)
        self.assertIn("corr-mes-test", notes[0].body)
        # the work order shows its messages
        self.assertEqual(wo.mfg_integration_message_count, 4)
        self.assertEqual(self.order.mfg_integration_message_count, 5)

    def test_repeated_and_out_of_order_reports_count_once(self):
        args = (self.order, self.ref["Machining"], "in_progress", 5)
        kw = {
            "duration_minutes": 10,
            "quantity_scrap": {"value": 2, "uom": "Units"},
            "scrap_reason": "setup",
            "reported_at": "2026-11-30T09:00:00Z",
        }
        self.assertDone(self.progress(*args, **kw))
        self.assertDone(self.progress(*args, **kw))  # same report, new event id
        wo = self.machining
        self.assertEqual(wo.qty_produced, 5)
        self.assertEqual(sum(wo.scrap_ids.mapped("scrap_qty")), 2)
        self.assertAlmostEqual(wo.duration, 10, delta=0.1)
        # an older report arriving late changes nothing
        late = self.progress(
            self.order,
            self.ref["Machining"],
            "in_progress",
            3,
            duration_minutes=4,
            reported_at="2026-11-30T08:30:00Z",
        )
        self.assertDone(late)
        self.assertEqual(wo.qty_produced, 5)
        self.assertAlmostEqual(wo.duration, 10, delta=0.1)
        # the same event id twice is one message (ingress deduplication)
        data = {
            "production_order": self.order.name,
            "work_order": self.ref["Machining"],
            "work_center": "T-CNC",
            "status": "finished",
            "reported_at": "2026-11-30T10:00:00Z",
            "quantity_good": {"value": 8, "uom": "Units"},
        }
        first = self.send("work_order.progress_reported", data, event_id="dup-1")
        second = self.send("work_order.progress_reported", data, event_id="dup-1")
        self.assertEqual(first, second)
        self.assertEqual(wo.state, "done")
        repeated_finish = self.progress(
            self.order,
            self.ref["Machining"],
            "finished",
            8,
            reported_at="2026-11-30T10:05:00Z",
        )
        self.assertDone(repeated_finish)
        self.assertEqual(wo.qty_produced, 8)

    def test_rerouted_work_center_is_recorded(self):
        self.assertDone(
            self.progress(
                self.order, self.ref["Machining"], "started", 0, work_center="T-ASM"
            )
        )
        self.assertEqual(self.machining.workcenter_id, self.wc_asm)

    def test_refusals_name_their_pointer(self):
        ref = self.ref["Machining"]
        self.assertDead(
            self.progress(self.order, "WO-999999", "started", 0),
            "reference.not-found",
            "/data/work_order",
        )
        other = self.make_order()
        self.assertDead(
            self.progress(other, ref, "started", 0),
            "reference.not-found",
            "/data/work_order",
        )
        unknown = self.send(
            "work_order.progress_reported",
            {
                "production_order": "NO/SUCH/MO",
                "work_order": ref,
                "work_center": "T-CNC",
                "status": "started",
                "reported_at": "2026-11-30T08:00:00Z",
                "quantity_good": {"value": 0, "uom": "Units"},
            },
        )
        self.assertDead(unknown, "reference.not-found", "/data/production_order")
        self.assertIn("NO/SUCH/MO", unknown.error_message)
        self.assertDead(
            self.progress(self.order, ref, "started", 1, uom="furlongs"),
            "uom.unknown",
            "/data/quantity_good/uom",
        )
        self.assertDead(
            self.progress(self.order, ref, "started", 1, uom="kg"),
            "uom.unknown",
            "/data/quantity_good/uom",
        )
        self.assertDead(
            self.progress(self.order, ref, "started", 1, work_center="NOPE"),
            "reference.not-found",
            "/data/work_center",
        )
        self.assertEqual(self.machining.state, "ready")
        self.order.action_cancel()
        self.assertDead(
            self.progress(self.order, ref, "started", 0),
            "business-rule",
            "/data/production_order",
        )

    def test_nothing_is_half_written_when_a_step_fails(self):
        wo = self.machining
        WorkOrder = type(wo)
        with patch.object(
            WorkOrder, "button_start", side_effect=ValueError("boom"), autospec=True
        ):
            message = self.progress(
                self.order,
                self.ref["Machining"],
                "in_progress",
                4,
                duration_minutes=12,
                quantity_scrap={"value": 1, "uom": "Units"},
                scrap_reason="setup",
            )
        self.assertEqual(message.state, "dead")
        wo.invalidate_recordset()
        self.assertEqual(wo.qty_produced, 0)
        self.assertFalse(wo.time_ids)
        self.assertFalse(wo.scrap_ids)
        self.assertFalse(wo.mfg_integration_reported_at)

    def test_a_dead_letter_edited_and_replayed_is_processed(self):
        message = self.progress(
            self.order, self.ref["Machining"], "started", 2, uom="pcs"
        )
        self.assertDead(message, "uom.unknown", "/data/quantity_good/uom")
        payload = json.loads(message.sudo().payload)
        payload["quantity_good"]["uom"] = "Units"
        message._edit_payload(json.dumps(payload))
        with trap_jobs():
            message.action_replay()
            self.Message._job_drain(self.system.id)
        self.assertDone(message)
        self.assertEqual(self.machining.qty_produced, 2)
        self.assertEqual(self.machining.state, "progress")
