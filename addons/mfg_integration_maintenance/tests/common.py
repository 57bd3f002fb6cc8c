from odoo.tests import TransactionCase

from odoo.addons.mfg_integration_core.tests.common import DomainFlowMixin


class MaintenanceCase(DomainFlowMixin, TransactionCase):
    """A press on a work center, a maintenance team, spare parts (one lot-tracked)
    in stock, a machine gateway and a CMMS with API keys, the CMMS subscribed to
    maintenance.work_order_created."""

    correlation_id = "corr-mnt"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        env = cls.env
        cls.stock = env.ref("stock.warehouse0").lot_stock_id
        cls.workcenter = env["mrp.workcenter"].create(
            {"name": "Press T", "code": "T-PRESS"}
        )
        cls.team = env["maintenance.team"].create({"name": "Team T"})
        cls.other_team = env["maintenance.team"].create({"name": "Team U"})
        cls.press = env["maintenance.equipment"].create(
            {
                "name": "Press T7",
                "mfg_code": "T-PRESS-07",
                "serial_no": "SN-T7",
                "mfg_workcenter_id": cls.workcenter.id,
                "maintenance_team_id": cls.team.id,
            }
        )
        Product = env["product.product"]
        cls.hose = Product.create(
            {"name": "Hose T", "default_code": "T-HOSE", "is_storable": True}
        )
        cls.valve = Product.create(
            {
                "name": "Valve T",
                "default_code": "T-VALVE",
                "is_storable": True,
                "tracking": "lot",
            }
        )
        cls.valve_lot = env["stock.lot"].create(
            {"name": "V-1", "product_id": cls.valve.id}
        )
        Quant = env["stock.quant"]
        Quant._update_available_quantity(cls.hose, cls.stock, 5)
        Quant._update_available_quantity(cls.valve, cls.stock, 2, lot_id=cls.valve_lot)
        env["mfg.integration.subscription"].search([]).active = False
        System = env["mfg.integration.system"]
        cls.machine = System.create(
            {"name": "Gateway T", "code": "gateway_t", "kind": "iot"}
        )
        cls.cmms = System.create({"name": "CMMS T", "code": "cmms_t", "kind": "cmms"})
        Key = env["mfg.integration.api.key"]
        cls.machine_key, _t = Key.generate(cls.machine, "gw")
        cls.cmms_key, _t = Key.generate(cls.cmms, "cmms")
        cls.endpoint = env["mfg.integration.endpoint"].create(
            {
                "system_id": cls.cmms.id,
                "direction": "outbound",
                "code": "cmms-t",
                "url": "http://127.0.0.1:9/cmms",
            }
        )
        cls.Types = env["mfg.integration.event.type"]
        cls.subscription = env["mfg.integration.subscription"].create(
            {
                "event_type_id": cls.Types.get_by_code(
                    "maintenance.work_order_created"
                ).id,
                "endpoint_id": cls.endpoint.id,
            }
        )
        cls.Message = env["mfg.integration.message"]
        cls.Downtime = env["mfg.integration.downtime"]

    def started(self, downtime_id, category="breakdown", **extra):
        data = {
            "downtime_id": downtime_id,
            "equipment": {"code": extra.pop("code", "T-PRESS-07")},
            "started_at": extra.pop("started_at", "2026-11-30T08:00:00Z"),
            "reason_category": category,
        }
        data.update(extra)
        return self.send_event(self.machine_key, "machine.downtime_started", data)

    def ended(self, downtime_id, ended_at="2026-11-30T08:45:00Z", **extra):
        data = {
            "downtime_id": downtime_id,
            "equipment": {"code": extra.pop("code", "T-PRESS-07")},
            "ended_at": ended_at,
        }
        data.update(extra)
        return self.send_event(self.machine_key, "machine.downtime_ended", data)

    def created_messages(self, request):
        return self.Message.search(
            [
                ("endpoint_id", "=", self.endpoint.id),
                ("result_model", "=", "maintenance.request"),
                ("result_id", "=", request.id),
            ]
        )

    def completed(self, reference, **extra):
        data = {
            "cmms_work_order": extra.pop("cmms_work_order", "CMMS-1"),
            "equipment": {"code": extra.pop("code", "T-PRESS-07")},
            "outcome": extra.pop("outcome", "repaired"),
            "completed_at": extra.pop("completed_at", "2026-11-30T10:00:00Z"),
        }
        if reference:
            data["maintenance_request"] = reference
        data.update(extra)
        return self.send_event(self.cmms_key, "maintenance.work_order_completed", data)

    def spare(self, code, qty, **extra):
        data = {
            "cmms_work_order": extra.pop("cmms_work_order", "CMMS-1"),
            "product": {"default_code": code},
            "quantity": {"value": qty, "uom": "Units"},
            "consumed_at": "2026-11-30T09:30:00Z",
        }
        data.update(extra)
        return self.send_event(self.cmms_key, "spare_part.consumed", data)

    def on_hand(self, product, lot=None):
        quants = self.env["stock.quant"]._gather(
            product, self.stock, lot_id=lot, strict=True
        )
        return sum(quants.mapped("quantity"))
