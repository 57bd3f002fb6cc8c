"""An inbound burst: tens of thousands of events in batches, while the job runner
processes them."""

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from mfg_integration.client import Client

STARTED, ENDED = "machine.downtime_started", "machine.downtime_ended"
#: events in the burst (MFG_FAULTS_BURST to change it); half are machine stops, half
#: the restarts that end them
EVENTS = int(os.environ.get("MFG_FAULTS_BURST") or 50_000) // 2 * 2
BATCH = 500
#: the systems sending (two production lines' gateways), from four threads
SYSTEMS = 2
SENDERS = 4
#: machines of each line
MACHINES = 20


def test_inbound_burst_is_stored_and_processed_once(
    committed, plant, plant_server, fault, capsys
):
    systems = plant.systems + [plant.add_system() for _ in range(SYSTEMS - 1)]
    system_ids = [system["id"] for system in systems]
    suffix = plant.suffix

    # each line's gateway reports the machines of its own line
    machines, workcenter_ids = zip(
        *(plant.add_machine(number) for number in range(SYSTEMS * MACHINES)),
        strict=True,
    )
    server = plant_server()
    now = datetime.now(UTC)

    def event(number):
        """Event ``number``: batch n comes from system n % SYSTEMS; a stop (even
        number) and the restart that ends it (the next one) share a batch."""
        line = number // BATCH % SYSTEMS
        pair = number // 2
        data = {
            "downtime_id": f"burst-{suffix}-{pair}",
            "equipment": {"code": machines[line * MACHINES + pair % MACHINES]},
            "started_at": (now + timedelta(seconds=pair)).isoformat(),
        }
        if number % 2:
            data["ended_at"] = (now + timedelta(seconds=pair + 1)).isoformat()
        else:
            data["reason_category"] = "changeover"
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"urn:faults:{suffix}:{line}",
            "type": ENDED if number % 2 else STARTED,
            "data": data,
        }

    events = [event(number) for number in range(EVENTS)]
    batches = [events[i : i + BATCH] for i in range(0, EVENTS, BATCH)]

    def send(numbered_batch):
        number, batch = numbered_batch
        token = systems[number % SYSTEMS]["token"]
        with Client(server.base, token, timeout=120) as client:
            return client.send_batch(batch)

    start = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as pool:
        answers = list(pool.map(send, enumerate(batches)))
    accepted = sum(answer["accepted"] for answer in answers)
    rejected = sum(answer["rejected"] for answer in answers)

    def drained(env):
        return fault.message_states(env, system_ids, "inbound") == {
            "done": EVENTS
        } and not {"pending", "enqueued", "started"} & set(
            fault.job_states(env, system_ids)
        )

    sent_in = time.monotonic() - start
    finished = fault.wait_for(lambda: committed(drained), 3600, pause=2)
    drained_in = time.monotonic() - start

    def figures(env):
        inbound = fault.inbound_figures(env, system_ids)
        env.cr.execute(
            "SELECT count(*) FROM mrp_workcenter_productivity "
            "WHERE workcenter_id = ANY(%s) AND date_end IS NOT NULL",
            [list(workcenter_ids)],
        )
        return {
            **inbound,
            "losses": env.cr.fetchone()[0],
            "states": fault.message_states(env, system_ids, "inbound"),
            "jobs": fault.job_states(env, system_ids),
        }

    seen = committed(figures)
    unexpected, _counts = server.read_log()
    with capsys.disabled():
        print(
            f"\ninbound burst: {EVENTS} events in {len(batches)} batches of {BATCH} "
            f"from {SYSTEMS} systems ({SENDERS} senders): {accepted} accepted, "
            f"{rejected} rejected, sent in {sent_in:.0f} s; "
            f"{seen['messages']} messages stored ({seen['distinct']} distinct "
            f"events), {seen['attempts']} processing attempts; {seen['downtimes']} "
            f"machine stops recorded ({seen['closed']} closed by their restart) "
            f"on {SYSTEMS * MACHINES} machines, {seen['losses']} closed OEE loss "
            f"lines; backlog drained {drained_in:.0f} s after the first batch; "
            f"messages {seen['states']}, jobs {seen['jobs']}"
        )
    assert not unexpected, unexpected
    assert accepted == EVENTS and rejected == 0
    assert finished, seen
    assert seen["messages"] == seen["distinct"] == EVENTS  # none lost, none twice
    assert seen["attempts"] == EVENTS  # each processed once
    pairs = EVENTS // 2  # each stop recorded once, and closed by its restart
    assert seen["downtimes"] == seen["distinct_downtimes"] == seen["closed"] == pairs
    assert seen["losses"] == pairs
