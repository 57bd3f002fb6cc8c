"""kill -9 of every Odoo process in the middle of a delivery run, then a restart."""

import time
from collections import Counter

from mfg_integration.simulators import Answer, StubServer

OUTBOUND = "production_order.released"
EVENTS = 1000
CONCURRENCY = 4
#: what a kill -9 causes in the log of the next server: queue_job's runner finds
#: the jobs the dead server was running and puts them back in the queue
CRASH_LOG = (r"WARNING .*queue_job\.jobrunner\.runner: Re-queued dead job with uuid",)


def test_kill_9_mid_delivery_loses_nothing(
    committed, plant, plant_server, fault, capsys
):
    system_id = plant.systems[0]["id"]
    # a receiver that takes its time, so that the kill finds deliveries under way
    with StubServer(default=Answer(200, delay=0.02)) as receiver:
        # one job for all the messages: the kill finds it running (a hand-over
        # between two jobs is another state, that queue_job handles alike)
        data = plant.add_receiver(
            receiver.url("/events"), OUTBOUND, CONCURRENCY, batch_size=EVENTS
        )
        server = plant_server()

        def emit(env):
            Types = env["mfg.integration.event.type"]
            for i in range(EVENTS):
                Types.emit(OUTBOUND, data, subject=f"crash-{i}")

        committed(emit)
        assert fault.wait_for(lambda: len(receiver.requests) >= EVENTS // 4, 300), (
            "deliveries did not start",
            committed(lambda env: fault.job_states(env, system_id)),
        )
        server.kill()
        at_kill = len(receiver.requests)
        jobs_at_kill = committed(lambda env: fault.job_states(env, system_id))
        time.sleep(1)  # anything still in the receiver's hands arrives now
        settled = len(receiver.requests)

        server.start()  # as the supervisor (systemd) restarts it

        def drained(env):
            return fault.message_states(env, system_id, "outbound") == {
                "done": EVENTS
            } and not {"pending", "enqueued", "started"} & set(
                fault.job_states(env, system_id)
            )

        finished = fault.wait_for(lambda: committed(drained), 600)
        states = committed(lambda env: fault.message_states(env, system_id, "outbound"))
        jobs = committed(lambda env: fault.job_states(env, system_id))
        ids = Counter(r.headers["webhook-id"] for r in receiver.requests)

    duplicates = sum(count - 1 for count in ids.values())
    unexpected, counts = server.read_log(CRASH_LOG)
    with capsys.disabled():
        print(
            f"\nkill -9 mid-delivery: {EVENTS} events, {at_kill} delivered when every "
            f"Odoo process was killed (jobs then: {jobs_at_kill}), {settled} after, "
            f"{len(ids)} delivered in all after the restart, {duplicates} duplicate(s) "
            f"(bound: {CONCURRENCY} requests in flight), messages {states}, jobs "
            f"{jobs}, {sum(counts.values())} dead job(s) re-queued by queue_job"
        )
    assert not unexpected, unexpected
    assert finished, (states, jobs)
    assert len(ids) == EVENTS
    assert duplicates <= CONCURRENCY
    assert jobs_at_kill.get("started"), "the kill did not find a delivery job running"
    assert counts[CRASH_LOG[0]] >= 1  # queue_job itself took the dead job back
