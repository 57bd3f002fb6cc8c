"""A breakdown reported by a machine reaches the CMMS as a work order and comes back
completed, with downtime, OEE loss, request stage and spare-part stock right in
Odoo, over HTTP alone (the machine and CMMS simulators against a real server and
its job runner)."""

import time
import uuid

from mfg_integration.client import Client
from mfg_integration.maintenance_simulators import CmmsSimulator, MachineSimulator
from mfg_integration.webhooks import generate_webhook_secret

#: generous bounds: a cold machine is slow; nothing here is a timing assertion
RUN_TIMEOUT = 600


def _systems(committed, hub):
    """A machine gateway and a CMMS of their own, with keys (removed afterwards)."""
    suffix = uuid.uuid4().hex[:6]

    def setup(env):
        System = env["mfg.integration.system"]
        machine = System.create(
            {"name": f"Gateway {suffix}", "code": f"gw_{suffix}", "kind": "iot"}
        )
        cmms = System.create(
            {"name": f"CMMS {suffix}", "code": f"cmms_{suffix}", "kind": "cmms"}
        )
        Key = env["mfg.integration.api.key"]
        _key, machine_token = Key.generate(machine, "e2e")
        _key, cmms_token = Key.generate(cmms, "e2e")
        workcenter = env["mrp.workcenter"].create(
            {"name": f"Press {suffix}", "code": f"PRESS-{suffix}"}
        )
        equipment = env["maintenance.equipment"].create(
            {
                "name": f"Press {suffix}",
                "mfg_code": f"EQ-{suffix}",
                "mfg_workcenter_id": workcenter.id,
            }
        )
        part = env["product.product"].create(
            {
                "name": f"Hose {suffix}",
                "default_code": f"HOSE-{suffix}",
                "is_storable": True,
            }
        )
        stock = env.ref("stock.warehouse0").lot_stock_id
        env["stock.quant"]._update_available_quantity(part, stock, 10)
        return {
            "machine_id": machine.id,
            "cmms_id": cmms.id,
            "machine_token": machine_token,
            "cmms_token": cmms_token,
            "workcenter_id": workcenter.id,
            "equipment_id": equipment.id,
            "equipment_code": equipment.mfg_code,
            "part_id": part.id,
            "part_code": part.default_code,
        }

    return committed(setup)


def _remove(committed, data):
    def cleanup(env):
        systems = [data["machine_id"], data["cmms_id"]]
        env.cr.execute(
            "DELETE FROM mfg_integration_message WHERE system_id = ANY(%s)", [systems]
        )
        users = env["mfg.integration.system"].browse(systems).user_id
        env.cr.execute("DELETE FROM queue_job WHERE user_id = ANY(%s)", [users.ids])

    committed(cleanup)


def test_breakdown_to_cmms_and_back(hub, committed, outbound_endpoint):
    data = _systems(committed, hub)
    secret = generate_webhook_secret()
    cmms_client = Client(hub["base"], data["cmms_token"], timeout=60, max_attempts=8)
    cmms = CmmsSimulator(
        cmms_client, secret, speed=3000, seed=3, parts=[f"{data['part_code']}=2"]
    )
    with cmms:
        outbound_endpoint(
            data["cmms_id"], cmms.url, secret, "maintenance.work_order_created"
        )
        try:
            _run_and_check(hub, committed, data, cmms)
        finally:
            _remove(committed, data)


def _run_and_check(hub, committed, data, cmms):
    machine_client = Client(
        hub["base"], data["machine_token"], timeout=60, max_attempts=8
    )
    machine = MachineSimulator(
        machine_client,
        [data["equipment_code"]],
        speed=3000,
        seed=5,
        downtimes=1,
        reason_code="HYD-LEAK",
        mean_uptime=1,
        mean_downtime=30,
    )
    (downtime_report,) = machine.run()
    assert not machine.failures, machine.failures
    assert cmms.wait_completed(1, timeout=RUN_TIMEOUT), (cmms.counts, cmms.failures)
    (job,) = cmms.reports
    assert not cmms.failures

    def state(env):
        messages = env["mfg.integration.message"].search(
            [("system_id", "in", [data["machine_id"], data["cmms_id"]])]
        )
        downtime = env["mfg.integration.downtime"].search(
            [("system_id", "=", data["machine_id"])]
        )
        return sorted(messages.mapped("state")), downtime.state

    deadline = time.monotonic() + RUN_TIMEOUT
    states, downtime_state = committed(state)
    while time.monotonic() < deadline and (
        set(states) - {"done"} or downtime_state != "closed"
    ):
        if "dead" in states:
            break
        time.sleep(0.5)
        states, downtime_state = committed(state)
    # 2 from the machine, the work order to the CMMS, its spare part and completion
    assert states == ["done"] * 5, states

    def check(env):
        downtime = env["mfg.integration.downtime"].search(
            [("system_id", "=", data["machine_id"])]
        )
        line = downtime.productivity_id
        assert downtime.state == "closed"
        assert line.loss_id.loss_type == "availability"
        assert line.date_end
        assert (
            abs(downtime.duration_minutes - downtime_report["duration_seconds"] / 60)
            < 0.02
        )
        workcenter = env["mrp.workcenter"].browse(data["workcenter_id"])
        assert workcenter.working_state != "blocked"
        request = downtime.request_id
        assert request.stage_id.done
        assert request.mfg_cmms_work_order == job["cmms_work_order"]
        assert request.mfg_outcome == "repaired"
        assert request.mfg_spare_move_ids.mapped("state") == ["done"]
        part = env["product.product"].browse(data["part_id"])
        stock = env.ref("stock.warehouse0").lot_stock_id
        quants = env["stock.quant"]._gather(part, stock)
        assert sum(quants.mapped("quantity")) == 8

    committed(check)
