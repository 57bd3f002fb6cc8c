import json

from odoo import Command
from odoo.tests import TransactionCase

from odoo.addons.mfg_integration_core.tests.common import DomainFlowMixin
from odoo.addons.queue_job.tests.common import trap_jobs


class MesCase(DomainFlowMixin, TransactionCase):
    """A pump made in three operations from a lot-tracked casting, a motor and a
    sealant (in kg), an MES system with an API key and an outbound endpoint subscribed
    to the MES's outbound events, and helpers to send it events as the MES would."""

    correlation_id = "corr-mes-test"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        env = cls.env
        cls.warehouse = env.ref("stock.warehouse0")
        cls.stock = cls.warehouse.lot_stock_id
        cls.unit = env.ref("uom.product_uom_unit")
        cls.kg = env.ref("uom.product_uom_kgm")
        cls.gram = env.ref("uom.product_uom_gram")
        Product = env["product.product"]
        cls.pump = Product.create(
            {"name": "Pump T", "default_code": "T-PUMP", "is_storable": True}
        )
        cls.casting = Product.create(
            {
                "name": "Casting T",
                "default_code": "T-CAST",
                "is_storable": True,
                "tracking": "lot",
            }
        )
        cls.motor = Product.create(
            {"name": "Motor T", "default_code": "T-MOTOR", "is_storable": True}
        )
        cls.sealant = Product.create(
            {
                "name": "Sealant T",
                "default_code": "T-SEAL",
                "is_storable": True,
                "uom_id": cls.kg.id,
            }
        )
        cls.gasket = Product.create(
            {"name": "Gasket T", "default_code": "T-GASKET", "is_storable": True}
        )
        Workcenter = env["mrp.workcenter"]
        cls.wc_cnc = Workcenter.create({"name": "CNC T", "code": "T-CNC"})
        cls.wc_asm = Workcenter.create({"name": "ASM T", "code": "T-ASM"})
        cls.wc_test = Workcenter.create({"name": "TEST T", "code": "T-TEST"})
        cls.bom = env["mrp.bom"].create(
            {
                "product_tmpl_id": cls.pump.product_tmpl_id.id,
                "product_qty": 1,
                "consumption": "flexible",
                "operation_ids": [
                    Command.create(
                        {
                            "name": "Machining",
                            "workcenter_id": cls.wc_cnc.id,
                            "sequence": 1,
                        }
                    ),
                    Command.create(
                        {
                            "name": "Assembly",
                            "workcenter_id": cls.wc_asm.id,
                            "sequence": 2,
                        }
                    ),
                    Command.create(
                        {
                            "name": "Leak test",
                            "workcenter_id": cls.wc_test.id,
                            "sequence": 3,
                        }
                    ),
                ],
            }
        )
        machining, assembly, _test = cls.bom.operation_ids.sorted("sequence")
        cls.bom.bom_line_ids = [
            Command.create(
                {
                    "product_id": cls.casting.id,
                    "product_qty": 1,
                    "operation_id": machining.id,
                }
            ),
            Command.create(
                {
                    "product_id": cls.motor.id,
                    "product_qty": 1,
                    "operation_id": assembly.id,
                }
            ),
            Command.create(
                {
                    "product_id": cls.sealant.id,
                    "product_qty": 0.02,
                    "product_uom_id": cls.kg.id,
                    "operation_id": assembly.id,
                }
            ),
        ]
        cls.lot_a = env["stock.lot"].create(
            {"name": "T-LOT-A", "product_id": cls.casting.id}
        )
        Quant = env["stock.quant"]
        Quant._update_available_quantity(cls.casting, cls.stock, 100, lot_id=cls.lot_a)
        Quant._update_available_quantity(cls.motor, cls.stock, 100)
        Quant._update_available_quantity(cls.sealant, cls.stock, 10)
        Quant._update_available_quantity(cls.gasket, cls.stock, 50)

        cls.system = env["mfg.integration.system"].create(
            {"name": "Line T MES", "code": "line_t_mes", "kind": "mes"}
        )
        cls.key, _token = env["mfg.integration.api.key"].generate(cls.system, "mes")
        cls.endpoint = env["mfg.integration.endpoint"].create(
            {
                "name": "Line T orders",
                "code": "line-t-orders",
                "system_id": cls.system.id,
                "direction": "outbound",
                "url": "http://127.0.0.1:9/odoo/events",
            }
        )
        # only this test's endpoint: the demo data subscribes its own
        env["mfg.integration.subscription"].search([]).active = False
        Types = env["mfg.integration.event.type"]
        cls.Types = Types
        for code in ("production_order.released", "production_order.cancelled"):
            env["mfg.integration.subscription"].create(
                {
                    "event_type_id": Types.get_by_code(code).id,
                    "endpoint_id": cls.endpoint.id,
                }
            )
        cls.Message = env["mfg.integration.message"]
        cls.Ingress = env["mfg.integration.ingress"]

    # -- helpers ----------------------------------------------------------------

    @classmethod
    def make_order(self, qty=10, confirm=True):
        order = self.env["mrp.production"].create(
            {"product_id": self.pump.id, "product_qty": qty, "bom_id": self.bom.id}
        )
        if confirm:
            with trap_jobs():
                order.action_confirm()
        return order

    @classmethod
    def released(self, order, code="production_order.released"):
        """The outbound messages of ``code`` about ``order`` to the test endpoint."""
        return self.Message.search(
            [
                ("endpoint_id", "=", self.endpoint.id),
                ("event_code", "=", code),
                ("result_model", "=", "mrp.production"),
                ("result_id", "=", order.id),
            ],
            order="id",
        )

    @classmethod
    def refs(self, order):
        """Work order references as sent to the MES, by operation name."""
        data = json.loads(self.released(order)[-1].sudo().payload)
        return {wo["operation"]: wo["reference"] for wo in data["work_orders"]}

    def send(self, code, data, event_id=None):
        return self.send_event(self.key, code, data, event_id)

    def progress(self, order, ref, status, good, **extra):
        data = {
            "production_order": order.name,
            "work_order": ref,
            "work_center": extra.pop("work_center", "T-CNC"),
            "status": status,
            "reported_at": extra.pop("reported_at", "2026-11-30T08:00:00Z"),
            "quantity_good": {"value": good, "uom": extra.pop("uom", "Units")},
        }
        data.update(extra)
        return self.send("work_order.progress_reported", data)

    def consume(self, order, code, qty, uom="Units", **extra):
        data = {
            "production_order": order.name,
            "product": {"default_code": code},
            "quantity": {"value": qty, "uom": uom},
            "consumed_at": "2026-11-30T08:05:00Z",
        }
        data.update(extra)
        return self.send("material.consumed", data)

    def complete(self, order, qty, **extra):
        data = {
            "production_order": order.name,
            "product": {"default_code": "T-PUMP"},
            "quantity_produced": {"value": qty, "uom": "Units"},
            "completed_at": "2026-11-30T12:00:00Z",
        }
        data.update(extra)
        return self.send("production_order.completed", data)

    def on_hand(self, product, location=None, lot=None):
        quants = self.env["stock.quant"]._gather(
            product, location or self.stock, lot_id=lot, strict=True
        )
        return sum(quants.mapped("quantity"))
