"""Fuzzing of the HTTP API from its own OpenAPI document (schemathesis): valid and
invalid requests generated for every operation, sent to the real server. Whatever
is sent, the server never answers 5xx, every error is an RFC 9457 problem document
with the answer's status, and every answer carries X-Correlation-ID."""

import collections

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

#: generated requests per operation and generation mode (4 operations, 2 modes)
EXAMPLES = 400


def _header(response, name):
    for key, value in response.headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


def _problems(response):
    """What is wrong with one answer, as short texts (empty when it is right)."""
    found = []
    if response.status_code >= 500:
        found.append(f"{response.status_code}: {response.text[:300]}")
    if not _header(response, "x-correlation-id"):
        found.append(f"{response.status_code} without X-Correlation-ID")
    if response.status_code >= 400:
        content_type = _header(response, "content-type") or ""
        if not content_type.startswith("application/problem+json"):
            found.append(f"{response.status_code} as {content_type!r}")
        elif response.json().get("status") != response.status_code:
            found.append(f"{response.status_code} with another problem status")
    return found


def _fuzz(operation, mode, endpoint_code, base, token, statuses, wrong):
    """Send EXAMPLES generated requests of one operation and generation mode."""
    path_parameters = (
        {"endpoint": endpoint_code} if "{endpoint}" in operation.path else None
    )

    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        response = case.call(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        )
        statuses[response.status_code] += 1
        wrong.extend(
            f"{case.method} {operation.path}: {text}" for text in _problems(response)
        )

    try:
        send()
    except Unsatisfiable:
        # nothing to make invalid (an operation without parameters or body)
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.path


def test_generated_requests_never_break_the_api(hub, committed, capsys):
    def unlimited(env):
        # the fuzzer sends far more than a minute's share of the default limits
        system = env["mfg.integration.system"].browse(hub["system_id"])
        key, token = env["mfg.integration.api.key"].generate(system, "fuzz")
        key.rate_limit = 0
        endpoint = env["mfg.integration.endpoint"].create(
            {
                "system_id": system.id,
                "direction": "inbound",
                "code": f"{hub['endpoint_code']}-fuzz",
                "signing_secret": hub["secret"],
                "rate_limit": 0,
            }
        )
        return token, endpoint.code

    token, endpoint_code = committed(unlimited)
    base = hub["base"]
    schema = schemathesis.openapi.from_url(f"{base}/api/mfg/v1/openapi.json")
    statuses = collections.Counter()
    wrong = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4, [op.path for op in operations]
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            _fuzz(operation, mode, endpoint_code, base, token, statuses, wrong)
    total = sum(statuses.values())
    with capsys.disabled():
        print(f"\nfuzzing: {total} requests, answers {dict(sorted(statuses.items()))}")
    assert total >= 2000, statuses
    assert not wrong, wrong[:20]
