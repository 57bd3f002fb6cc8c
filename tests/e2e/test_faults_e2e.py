"""Fault tier: guarantees under the faults plants have, on the real server and job
runner. Each scenario prints its figures; these are tests of guarantees, not of
timing (the deadlines only bound a run that would otherwise hang)."""

import time
from collections import Counter

from mfg_integration.simulators import StubServer, closed_port_url
from mfg_integration.webhooks import generate_webhook_secret

OUTBOUND = "production_order.released"
EVENTS = 300
#: quick retries and a short circuit cool-down, so the outage is over in seconds
SCHEDULE = "0, 1s, 1s, 1s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s, 2s"


def _wait(check, seconds):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.3)
    return check()


def test_receiver_outage_loses_nothing_and_sends_nothing_twice(
    hub, committed, outbound_endpoint, capsys
):
    url = closed_port_url("/events")  # the receiver is down: connections refused
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    secret = generate_webhook_secret()
    endpoint_id = outbound_endpoint(hub["system_id"], url, secret, OUTBOUND)

    def tune(env):
        env["mfg.integration.endpoint"].browse(endpoint_id).write(
            {"retry_schedule": SCHEDULE, "breaker_cooldown": 1}
        )
        event_type = env["mfg.integration.event.type"].get_by_code(OUTBOUND)
        return event_type.current_schema_id.get_schema()["examples"][0]

    data = committed(tune)

    def emit(env):
        Types = env["mfg.integration.event.type"]
        return [
            Types.emit(OUTBOUND, data, subject=f"outage-{i}")
            .filtered(lambda m: m.endpoint_id.id == endpoint_id)
            .id
            for i in range(EVENTS)
        ]

    message_ids = committed(emit)

    def states(env):
        messages = env["mfg.integration.message"].browse(message_ids)
        return Counter(messages.mapped("state"))

    def attempted(env):
        messages = env["mfg.integration.message"].browse(message_ids)
        return sum(messages.mapped("attempts"))

    # the first attempts fail while nothing listens
    assert _wait(lambda: committed(attempted) >= EVENTS // 10, 120), committed(states)
    failed_attempts = committed(attempted)
    with StubServer(port=port) as receiver:  # the receiver is back
        assert _wait(lambda: committed(states) == {"done": EVENTS}, 300), committed(
            states
        )
        ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    duplicates = sum(count - 1 for count in ids.values())
    with capsys.disabled():
        print(
            f"\nreceiver outage: {EVENTS} events, {failed_attempts} attempts "
            f"failed while down, {len(ids)} delivered, {duplicates} duplicate(s)"
        )
    assert len(ids) == EVENTS
    assert duplicates == 0
    assert committed(states) == {"done": EVENTS}
