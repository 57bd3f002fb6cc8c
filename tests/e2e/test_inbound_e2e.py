import json
import threading
import time
from datetime import datetime, timezone

import requests
from standardwebhooks.webhooks import Webhook

EVENT_TYPE = "work_order.progress_reported"


def _example(committed):
    def read(env):
        event_type = env["mfg.integration.event.type"].get_by_code(EVENT_TYPE)
        return event_type.current_schema_id.get_schema()["examples"][0]

    return committed(read)


def _event(event_id, data):
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:e2e:mes",
        "type": EVENT_TYPE,
        "data": data,
    }


def _post(hub, body, **headers):
    return requests.post(
        f"{hub['base']}/api/mfg/v1/events",
        data=json.dumps(body),
        headers={
            "Authorization": f"Bearer {hub['token']}",
            "Content-Type": "application/cloudevents+json",
            **headers,
        },
        timeout=30,
    )


def _wait_for_state(hub, message_id, states, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(
            f"{hub['base']}/api/mfg/v1/messages/{message_id}",
            headers={"Authorization": f"Bearer {hub['token']}"},
            timeout=10,
        ).json()
        if answer["state"] in states or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_event_is_accepted_then_processed_by_the_job_runner(hub, committed):
    response = _post(hub, _event("e2e-1", _example(committed)))
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    # The schema's example names an order this database does not have: the runner's
    # job runs the MES handler, which refuses it as a dead letter naming the pointer.
    status = _wait_for_state(hub, message_id, {"done", "dead"})
    assert status["state"] == "dead", status
    assert status["error"]["class"] == "reference.not-found"
    assert "/data/production_order" in status["error"]["message"]
    assert status["attempts"] == 1


def test_eight_concurrent_identical_posts_make_one_message(hub, committed):
    body = _event("e2e-same", _example(committed))
    results, barrier = [], threading.Barrier(8)

    def post():
        barrier.wait()
        response = _post(hub, body)
        results.append((response.status_code, response.json().get("id")))

    threads = [threading.Thread(target=post) for _i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(code for code, _id in results) == [200] * 7 + [202]
    assert len({message_id for _code, message_id in results}) == 1

    def count(env):
        return env["mfg.integration.message"].search_count(
            [("system_id", "=", hub["system_id"]), ("ce_id", "=", "e2e-same")]
        )

    assert committed(count) == 1


def test_signed_webhook_and_replay(hub, committed):
    body = json.dumps(
        {
            "type": EVENT_TYPE,
            "timestamp": "2026-11-24T08:00:00Z",
            "data": _example(committed),
        }
    )
    now = datetime.now(tz=timezone.utc)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_e2e_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(hub["secret"]).sign("msg_e2e_1", now, body),
    }
    url = f"{hub['base']}/api/mfg/v1/webhooks/{hub['endpoint_code']}"
    first = requests.post(url, data=body, headers=headers, timeout=30)
    assert first.status_code == 202, first.text
    again = requests.post(url, data=body, headers=headers, timeout=30)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    tampered = requests.post(
        url, data=body.replace("08:00", "09:00"), headers=headers, timeout=30
    )
    assert tampered.status_code == 401


def test_rate_limit_is_shared_by_every_request(hub, committed):
    def new_key(env):
        system = env["mfg.integration.system"].browse(hub["system_id"])
        key, token = env["mfg.integration.api.key"].generate(system, "limited")
        key.rate_limit = 3
        return token

    limited = dict(hub, token=committed(new_key))
    data = _example(committed)
    responses = [_post(limited, _event(f"e2e-rl-{i}", data)) for i in range(5)]
    assert [r.status_code for r in responses] == [202, 202, 202, 429, 429]
    assert int(responses[3].headers["Retry-After"]) >= 1
