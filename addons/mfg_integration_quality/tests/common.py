import uuid

from odoo.tests import TransactionCase

from odoo.addons.mfg_integration_core.tests.common import DomainFlowMixin


class QualityCase(DomainFlowMixin, TransactionCase):
    """A lot-tracked raw material from a supplier, with one lot in stock, a QMS with
    an API key and an outbound endpoint subscribed to nonconformance.opened."""

    correlation_id = "corr-q"

    def send(self, code, data, event_id=None):
        return self.send_event(self.key, code, data, event_id)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        env = cls.env
        cls.warehouse = env.ref("stock.warehouse0")
        cls.stock = cls.warehouse.lot_stock_id
        cls.quarantine = cls.warehouse.mfg_quarantine_location_id
        cls.supplier = env["res.partner"].create(
            {"name": "Castings Ltd", "ref": "SUP-T1", "is_company": True}
        )
        cls.casting = env["product.product"].create(
            {
                "name": "Casting Q",
                "default_code": "Q-CAST",
                "is_storable": True,
                "tracking": "lot",
            }
        )
        cls.lot = env["stock.lot"].create(
            {"name": "Q-LOT-1", "product_id": cls.casting.id}
        )
        env["stock.quant"]._update_available_quantity(
            cls.casting, cls.stock, 40, lot_id=cls.lot
        )
        env["mfg.integration.subscription"].search([]).active = False
        cls.system = env["mfg.integration.system"].create(
            {"name": "QMS Q", "code": "qms_q", "kind": "qms"}
        )
        cls.key, _token = env["mfg.integration.api.key"].generate(cls.system, "qms")
        cls.endpoint = env["mfg.integration.endpoint"].create(
            {
                "system_id": cls.system.id,
                "direction": "outbound",
                "code": "qms-q",
                "url": "http://127.0.0.1:9/qms",
            }
        )
        cls.Types = env["mfg.integration.event.type"]
        env["mfg.integration.subscription"].create(
            {
                "event_type_id": cls.Types.get_by_code("nonconformance.opened").id,
                "endpoint_id": cls.endpoint.id,
            }
        )
        cls.Message = env["mfg.integration.message"]
        cls.Inspection = env["qc.inspection"]

    def characteristics(self, passing=True):
        return [
            {
                "code": "WALL-THK",
                "name": "Wall thickness",
                "kind": "variable",
                "measured_value": 4.02 if passing else 3.71,
                "nominal": 4.0,
                "lower_tolerance": -0.1,
                "upper_tolerance": 0.1,
                "uom": "mm",
                "result": "pass" if passing else "fail",
            },
            {
                "code": "VISUAL",
                "name": "Porosity",
                "kind": "attribute",
                "defects_found": 0,
                "result": "pass",
            },
        ]

    def recorded(self, inspection_id="INSP-1", passing=True, lot="Q-LOT-1", **extra):
        data = {
            "inspection_id": inspection_id,
            "inspection_type": "incoming",
            "product": {"default_code": "Q-CAST"},
            "lot": lot,
            "quantity_inspected": {"value": 40, "uom": "Units"},
            "result": "pass" if passing else "fail",
            "inspected_at": "2026-11-30T08:00:00Z",
            "characteristics": self.characteristics(passing),
        }
        data.update(extra)
        return self.send("inspection.result_recorded", data)

    def failed(self, inspection_id="INSP-2", lot="Q-LOT-1", **extra):
        data = {
            "inspection_id": inspection_id,
            "inspection_type": "incoming",
            "product": {"default_code": "Q-CAST"},
            "lot": lot,
            "supplier": {"code": "SUP-T1"},
            "quantity_inspected": {"value": 40, "uom": "Units"},
            "quantity_rejected": {"value": 12, "uom": "Units"},
            "severity": "major",
            "failed_characteristics": [
                {
                    "code": "WALL-THK",
                    "name": "Wall thickness",
                    "measured_value": 3.71,
                    "nominal": 4.0,
                    "lower_tolerance": -0.1,
                    "upper_tolerance": 0.1,
                    "uom": "mm",
                }
            ],
            "inspected_at": "2026-11-30T08:10:00Z",
        }
        data.update(extra)
        data = {key: value for key, value in data.items() if value is not None}
        return self.send("inspection.failed", data)

    def disposition(self, decision, lot="Q-LOT-1", **extra):
        data = {
            "disposition_id": extra.pop(
                "disposition_id", f"DISP-{uuid.uuid4().hex[:6]}"
            ),
            "product": {"default_code": "Q-CAST"},
            "lot": lot,
            "disposition": decision,
            "approved_at": "2026-11-30T12:00:00Z",
            "approved_by": "QA-0001",
        }
        data.update(extra)
        return self.send("batch.disposition_approved", data)

    def qty(self, location, lot=None):
        quants = self.env["stock.quant"]._gather(
            self.casting, location, lot_id=lot or self.lot, strict=True
        )
        return sum(quants.mapped("quantity"))
