"""Error signatures: the same cause with other values reads the same, another place
in the event does not."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfg_integration.incidents import (
    MAX_SIGNATURE,
    error_pointers,
    error_signature,
    fingerprint,
)

# realistic error texts of the hub, each with the values that vary between messages
TEMPLATES = [
    "{pointer}: no product '{text}' in company YourCompany for system press.",
    "{pointer}: '{text}' names several work center records (code); bind the right "
    "one with a cross-reference of system press.",
    'Line {int} (quantity): transform {int} (uom): unknown unit "{text}"',
    "The data mapped by '{text}' does not match the schema: {pointer} is a "
    "required property",
    "Order WO-{int} is already done ({float} of {float} kg produced on {time}).",
    "The receiver answered HTTP {int}.",
    "Timed out after {float} s connecting to {url}",
    "Event {uuid} refers to lot {text_quoted} with digest {hex}",
]

words = st.text(
    alphabet=string.ascii_letters + string.digits + " -_/.",
    min_size=1,
    max_size=20,
).filter(lambda t: "'" not in t)
values = st.fixed_dictionaries(
    {
        "text": words,
        "text_quoted": words.map(lambda t: f'"{t}"'),
        "int": st.integers(min_value=0, max_value=10**9).map(str),
        "float": st.floats(min_value=0, max_value=1e6, allow_nan=False).map(
            lambda f: f"{f:.3f}"
        ),
        "time": st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "Z"),
        "url": st.sampled_from(
            ["https://mes.example/hook", "http://127.0.0.1:8080/a?b=1", "amqp://h/v"]
        ),
        "uuid": st.uuids().map(str),
        "hex": st.binary(min_size=8, max_size=32).map(lambda b: "f" + b.hex()),
        "pointer": st.just("/data/lines/0/quantity"),
    }
)


@given(template=st.sampled_from(TEMPLATES), first=values, second=values)
def test_the_same_cause_with_other_values_has_one_signature(template, first, second):
    first_text, second_text = template.format(**first), template.format(**second)
    assert error_signature(first_text) == error_signature(second_text)
    # and the values themselves are gone
    for name in ("uuid", "hex", "time"):
        if "{" + name + "}" in template:
            assert first[name] not in error_signature(first_text)


@given(
    template=st.sampled_from([t for t in TEMPLATES if "{pointer}" in t]),
    shared=values,
    pointers=st.lists(
        st.sampled_from(
            ["/data/product", "/data/quantity", "/data/lot/name", "/data/lines/2/uom"]
        ),
        min_size=2,
        max_size=2,
        unique=True,
    ),
)
def test_another_pointer_is_another_cause(template, shared, pointers):
    texts = [template.format(**dict(shared, pointer=p)) for p in pointers]
    assert error_signature(texts[0]) != error_signature(texts[1])


@given(st.integers(min_value=0, max_value=10**6), st.integers(0, 10**6))
def test_array_indices_in_pointers_are_masked(first, second):
    def text(index):
        return f"/data/lines/{index}/quantity: must be positive"

    assert error_signature(text(first)) == error_signature(text(second))
    assert error_signature(text(first)) == "/data/lines/*/quantity: must be positive"


@given(st.text(max_size=2000))
def test_any_text_gives_a_bounded_single_line_signature(text):
    signature = error_signature(text)
    assert len(signature) <= MAX_SIGNATURE
    assert "\n" not in signature
    assert signature == signature.strip()


@pytest.mark.parametrize(
    ("text", "signature"),
    [
        (
            "/data/product/default_code: no product 'P-1002' in plant Bay 3 for "
            "system press.",
            "/data/product/default_code: no product '<value>' in plant Bay <n> for "
            "system press.",
        ),
        ("[P1002] Widget: 3.5 kg short", "[P<n>] Widget: <n> kg short"),
        (
            "POST https://mes.example/hook?token=abc failed at 2026-12-03T10:00:00Z",
            "POST <url> failed at <time>",
        ),
        (
            "event 123e4567-e89b-12d3-a456-426614174000 digest 0a1b2c3d4e5f6a7b",
            "event <uuid> digest <hex>",
        ),
        ('unknown unit "pcs"\n\n  (line 4)', 'unknown unit "<value>" (line <n>)'),
        # a URL's path and a reference with slashes are not pointers
        ("see http://h/data/x and WH/MO/00012", "see <url> and WH/MO/<n>"),
        ("", ""),
    ],
)
def test_signatures(text, signature):
    assert error_signature(text) == signature


def test_pointers_named_by_an_error_text():
    text = (
        "/data/lines/3/qty is required; /data/lines/4/qty is required; "
        "/data/product: unknown (see https://x.example/data/y)"
    )
    assert error_pointers(text) == ["/data/lines/*/qty", "/data/product"]
    assert error_pointers("The receiver answered HTTP 500.") == []


def test_fingerprints_separate_every_part_of_the_key():
    base = ("press", "inbound", "machine.downtime_started", "mapping-error", "sig")
    assert fingerprint(*base) == fingerprint(*base)
    assert len(fingerprint(*base)) == 64
    seen = {fingerprint(*base)}
    for position in range(len(base)):
        changed = list(base)
        changed[position] = "other"
        seen.add(fingerprint(*changed))
    assert len(seen) == len(base) + 1
    # a separator inside a part cannot make two keys collide
    assert fingerprint("a", "b", "", "", "") != fingerprint("a\x1fb", "", "", "", "")
