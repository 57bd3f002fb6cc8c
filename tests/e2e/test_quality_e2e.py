"""A failed incoming inspection sent over HTTP puts the lot in quarantine in Odoo,
opens a nonconformity that reaches the QMS signed, and the disposition the QMS
sends back releases the stock (the QMS simulator against a real server and its job
runner). The nonconformance containment flow runs alongside: the quality manager's
approval sends the supplier's corrective action request, and the run takes the
disposition that came while it waited for the approval."""

import time
import uuid

from mfg_integration.client import Client
from mfg_integration.quality_simulator import QmsSimulator
from mfg_integration.webhooks import generate_webhook_secret

#: generous bounds: a cold machine is slow; nothing here is a timing assertion
RUN_TIMEOUT = 600


def _setup(committed):
    suffix = uuid.uuid4().hex[:6]

    def setup(env):
        system = env["mfg.integration.system"].create(
            {"name": f"QMS {suffix}", "code": f"qms_{suffix}", "kind": "qms"}
        )
        _key, token = env["mfg.integration.api.key"].generate(system, "e2e")
        supplier = env["res.partner"].create(
            {"name": f"Supplier {suffix}", "ref": f"SUP-{suffix}", "is_company": True}
        )
        product = env["product.product"].create(
            {
                "name": f"Flange {suffix}",
                "default_code": f"FL-{suffix}",
                "is_storable": True,
                "tracking": "lot",
            }
        )
        lot = env["stock.lot"].create(
            {"name": f"LOT-{suffix}", "product_id": product.id}
        )
        stock = env.ref("stock.warehouse0").lot_stock_id
        env["stock.quant"]._update_available_quantity(product, stock, 30, lot_id=lot)
        return {
            "system_id": system.id,
            "user_id": system.user_id.id,
            "token": token,
            "supplier_code": supplier.ref,
            "product_id": product.id,
            "product_code": product.default_code,
            "lot_id": lot.id,
            "lot": lot.name,
        }

    return committed(setup)


def test_failed_inspection_to_quarantine_and_release(hub, committed, outbound_endpoint):
    data = _setup(committed)
    secret = generate_webhook_secret()
    client = Client(hub["base"], data["token"], timeout=60, max_attempts=8)
    qms = QmsSimulator(
        client,
        secret,
        lots=[f"{data['product_code']}@{data['lot']}"],
        forced_failures=[data["lot"]],
        supplier=data["supplier_code"],
        disposition="release",
        speed=3000,
        seed=11,
    )
    with qms:
        outbound_endpoint(data["system_id"], qms.url, secret, "nonconformance.opened")
        try:
            _run_and_check(committed, data, qms)
        finally:

            def cleanup(env):
                env.cr.execute(
                    "DELETE FROM mfg_integration_message WHERE system_id = %s",
                    [data["system_id"]],
                )
                env.cr.execute(
                    "DELETE FROM queue_job WHERE user_id = %s", [data["user_id"]]
                )

            committed(cleanup)


def _run_and_check(committed, data, qms):
    (inspection,) = qms.record_inspections()
    assert not qms.failures, qms.failures
    assert qms.wait_completed(1, timeout=RUN_TIMEOUT), (qms.counts, qms.failures)
    assert not qms.failures, qms.failures

    def state(env):
        messages = env["mfg.integration.message"].search(
            [("system_id", "=", data["system_id"])]
        )
        lot = env["stock.lot"].browse(data["lot_id"])
        nonconformity = lot.mfg_hold_nonconformity_id
        return sorted(messages.mapped("state")), nonconformity.stage_id.state

    deadline = time.monotonic() + RUN_TIMEOUT
    states, stage = committed(state)
    while time.monotonic() < deadline and (set(states) - {"done"} or stage != "done"):
        if "dead" in states:
            break
        time.sleep(0.5)
        states, stage = committed(state)
    # result recorded, failed, the nonconformance to the QMS, the disposition
    assert states == ["done"] * 4, states
    assert stage == "done"

    def check(env):
        lot = env["stock.lot"].browse(data["lot_id"])
        nonconformity = lot.mfg_hold_nonconformity_id
        assert nonconformity.mfg_disposition == "release"
        assert nonconformity.partner_id.ref == data["supplier_code"]
        (picking_in, picking_out) = nonconformity.mfg_quarantine_picking_ids.sorted(
            "id"
        )
        assert picking_in.state == picking_out.state == "done"
        warehouse = env.ref("stock.warehouse0")
        assert picking_in.location_dest_id == warehouse.mfg_quarantine_location_id
        product = lot.product_id
        Quant = env["stock.quant"]
        in_stock = Quant._gather(
            product, warehouse.lot_stock_id, lot_id=lot, strict=True
        )
        held = Quant._gather(
            product, warehouse.mfg_quarantine_location_id, lot_id=lot, strict=True
        )
        assert sum(in_stock.mapped("quantity")) == 30
        assert sum(held.mapped("quantity")) == 0
        failed = env["qc.inspection"].search(
            [("mfg_inspection_id", "=", inspection["inspection_id"])]
        )
        assert failed.state == "failed"
        assert failed.mfg_nonconformity_id == nonconformity

    committed(check)

    _check_containment(committed, data)


def _check_containment(committed, data):
    def run_of(env):
        return env["mfg.integration.flow.run"].search(
            [
                ("flow_id.code", "=", "nonconformance-containment"),
                ("start_message_id.system_id", "=", data["system_id"]),
            ]
        )

    def waiting(env):
        run = run_of(env)
        return run.state, run.current_step_id.code

    deadline = time.monotonic() + RUN_TIMEOUT
    state = committed(waiting)
    while time.monotonic() < deadline and state != ("waiting", "approve_scar"):
        time.sleep(0.5)
        state = committed(waiting)
    assert state == ("waiting", "approve_scar"), state

    def approve(env):
        run = run_of(env)
        run.with_user(env.ref("base.user_admin")).action_approve()

    committed(approve)

    def ended(env):
        run = run_of(env)
        return run.state, [(s.step_id.code, s.state) for s in run.run_step_ids]

    deadline = time.monotonic() + RUN_TIMEOUT
    state, steps = committed(ended)
    while time.monotonic() < deadline and state not in ("done", "incident"):
        time.sleep(0.5)
        state, steps = committed(ended)
    assert state == "done", (state, steps)
    assert steps == [
        ("quarantine", "done"),
        ("equipment_known", "done"),
        ("supplier", "done"),
        ("approve_scar", "done"),
        ("scar", "done"),
        ("disposition", "done"),
        ("close", "done"),
    ], steps

    def scar(env):
        nonconformity = run_of(env)._record()
        return nonconformity.action_ids.filtered("mfg_scar").mapped("reference")

    assert len(committed(scar)) == 1
