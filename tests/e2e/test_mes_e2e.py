"""A manufacturing order confirmed in Odoo is run to done by the MES simulator, over
HTTP alone: Odoo's job runner delivers production_order.released to the simulator,
which reports progress, consumption and completion back with the system's API key."""

import time

from mfg_integration.client import Client
from mfg_integration.mes_simulator import MesSimulator
from mfg_integration.webhooks import generate_webhook_secret

#: generous bounds: a cold machine is slow; nothing here is a timing assertion
RUN_TIMEOUT = 600


def _on_hand(env, product, lot=None):
    location = env.ref("stock.warehouse0").lot_stock_id
    quants = env["stock.quant"]._gather(product, location, lot_id=lot, strict=True)
    return sum(quants.mapped("quantity"))


def _stock(env):
    products = {
        code: env["product.product"].search([("default_code", "=", code)], limit=1)
        for code in ("FG-PUMP-200", "RM-AL-CAST-200", "CP-MOTOR-200W", "RM-SEALANT-5")
    }
    lot = env["stock.lot"].search(
        [
            ("name", "=", "LOT-2025-0311-A"),
            ("product_id", "=", products["RM-AL-CAST-200"].id),
        ]
    )
    return {
        "FG-PUMP-200": _on_hand(env, products["FG-PUMP-200"]),
        "RM-AL-CAST-200": _on_hand(env, products["RM-AL-CAST-200"], lot),
        "CP-MOTOR-200W": _on_hand(env, products["CP-MOTOR-200W"]),
        "RM-SEALANT-5": _on_hand(env, products["RM-SEALANT-5"]),
    }


def test_simulated_mes_runs_a_confirmed_order_to_done(
    hub, committed, outbound_endpoint
):
    secret = generate_webhook_secret()
    client = Client(hub["base"], hub["token"], timeout=60, max_attempts=8)
    simulator = MesSimulator(client, secret, speed=3000, scrap_rate=0.1, seed=7)
    with simulator:
        outbound_endpoint(
            hub["system_id"],
            simulator.url,
            secret,
            "production_order.released",
            "production_order.cancelled",
        )
        _run_and_check(hub, committed, simulator)


def _run_and_check(hub, committed, simulator):
    before = committed(_stock)

    def confirm(env):
        product = env["product.product"].search(
            [("default_code", "=", "FG-PUMP-200")], limit=1
        )
        order = env["mrp.production"].create(
            {"product_id": product.id, "product_qty": 20}
        )
        order.action_confirm()
        return order.id, order.name

    order_id, order_name = committed(confirm)
    assert simulator.wait_completed(1, timeout=RUN_TIMEOUT), (
        f"the simulator completed no order: {simulator.counts} {simulator.failures}"
    )
    (report,) = simulator.reports
    assert report["production_order"] == order_name
    assert not simulator.failures
    assert simulator.counts["bad_signatures"] == 0

    def order_state(env):
        order = env["mrp.production"].browse(order_id)
        messages = env["mfg.integration.message"].search(
            [
                ("system_id", "=", hub["system_id"]),
                ("direction", "=", "inbound"),
                ("ce_source", "=", "urn:mfg-integration:simulator:mes"),
            ]
        )
        return order.state, messages.mapped("state")

    deadline = time.monotonic() + RUN_TIMEOUT
    state, message_states = committed(order_state)
    while time.monotonic() < deadline and (
        state != "done" or set(message_states) - {"done"}
    ):
        if "dead" in message_states:
            break
        time.sleep(0.5)
        state, message_states = committed(order_state)
    assert state == "done", (state, message_states)
    assert set(message_states) == {"done"}, message_states
    assert len(message_states) == report["events"]

    def check(env):
        order = env["mrp.production"].browse(order_id)
        assert order.qty_produced == report["quantity_produced"]
        workorders = {wo._mfg_integration_reference(): wo for wo in order.workorder_ids}
        for reported in report["work_orders"]:
            workorder = workorders[reported["work_order"]]
            assert workorder.state == "done"
            assert workorder.qty_produced == reported["quantity_good"]
            assert abs(workorder.duration - reported["duration_minutes"]) < 0.1
            scrapped = sum(workorder.scrap_ids.mapped("scrap_qty"))
            assert scrapped == reported["quantity_scrap"], (
                workorder.name,
                scrapped,
            )
        assert sum(order.scrap_ids.mapped("scrap_qty")) == report["quantity_scrapped"]
        return _stock(env)

    after = committed(check)
    assert after["FG-PUMP-200"] == before["FG-PUMP-200"] + report["quantity_produced"]
    consumed = {(c["product"], c["lot"]): c["quantity"] for c in report["consumption"]}
    assert (
        before["RM-AL-CAST-200"] - after["RM-AL-CAST-200"]
        == consumed[("RM-AL-CAST-200", "LOT-2025-0311-A")]
    )
    assert (
        before["CP-MOTOR-200W"] - after["CP-MOTOR-200W"]
        == consumed[("CP-MOTOR-200W", None)]
    )
    assert (
        abs(
            (before["RM-SEALANT-5"] - after["RM-SEALANT-5"])
            - consumed[("RM-SEALANT-5", None)]
        )
        < 1e-6
    )


def _wait_for(committed, probe, done, timeout=RUN_TIMEOUT):
    """Poll ``probe(env)`` until ``done(value)`` or the timeout; return the value."""
    deadline = time.monotonic() + timeout
    value = committed(probe)
    while time.monotonic() < deadline and not done(value):
        time.sleep(0.5)
        value = committed(probe)
    return value


def test_release_gate_waits_for_the_mes_acknowledgement(
    hub, committed, outbound_endpoint
):
    """The production release gate against the MES simulator over HTTP: the
    order goes out only at the gate, the MES accepts it, the job runner moves the
    flow on, the order is released in Odoo and run to done."""
    secret = generate_webhook_secret()
    client = Client(hub["base"], hub["token"], timeout=60, max_attempts=8)
    simulator = MesSimulator(
        client, secret, speed=3000, scrap_rate=0.0, seed=5, acknowledge="accept"
    )

    def gate(on):
        def switch(env):
            product = env["product.product"].search(
                [("default_code", "=", "FG-PUMP-200")], limit=1
            )
            product.product_tmpl_id.mfg_release_gate = on

        committed(switch)

    with simulator:
        outbound_endpoint(
            hub["system_id"], simulator.url, secret, "production_order.released"
        )
        gate(True)
        try:

            def confirm(env):
                product = env["product.product"].search(
                    [("default_code", "=", "FG-PUMP-200")], limit=1
                )
                order = env["mrp.production"].create(
                    {"product_id": product.id, "product_qty": 2}
                )
                order.action_confirm()
                return order.id

            order_id = committed(confirm)

            def flow(env):
                order = env["mrp.production"].browse(order_id)
                run = env["mfg.integration.flow.run"].search(
                    [("res_model", "=", "mrp.production"), ("res_id", "=", order_id)]
                )
                return run.state, order.mfg_release_state, order.state

            state = _wait_for(
                committed,
                flow,
                lambda value: value[0] in ("done", "incident", "cancelled"),
            )
            assert state[:2] == ("done", "released"), state
            assert simulator.wait_completed(1, timeout=RUN_TIMEOUT), (
                simulator.counts,
                simulator.failures,
            )
            assert not simulator.failures, simulator.failures
            state = _wait_for(committed, flow, lambda value: value[2] == "done")
            assert state == ("done", "released", "done"), state

            def timeline(env):
                run = env["mfg.integration.flow.run"].search(
                    [("res_model", "=", "mrp.production"), ("res_id", "=", order_id)]
                )
                ack = run.run_step_ids.filtered(
                    lambda s: s.step_id.code == "acknowledged"
                )
                return (
                    [(s.step_id.code, s.state) for s in run.run_step_ids],
                    ack.message_id.ce_source,
                )

            steps, source = committed(timeline)
            assert steps == [
                ("availability", "done"),
                ("component_holds", "done"),
                ("release", "done"),
                ("acknowledged", "done"),
                ("accepted", "done"),
                ("mark_released", "done"),
            ], steps
            assert source == "urn:mfg-integration:simulator:mes"
        finally:
            gate(False)
