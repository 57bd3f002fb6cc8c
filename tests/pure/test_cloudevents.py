"""CloudEvents 1.0 structured JSON mode: envelope checks, batches, JSON decoding."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg_integration import cloudevents
from mfg_integration.cloudevents import (
    CloudEvent,
    decode_json,
    new_event,
    parse_batch,
    parse_event,
)
from mfg_integration.errors import MalformedRequest, PayloadTooLarge, ValidationFailed


def make_event(**changes):
    event = {
        "specversion": "1.0",
        "id": "evt-0001",
        "source": "urn:mes:line-3",
        "type": "inspection.failed",
        "time": "2025-03-15T08:20:41Z",
        "subject": "LOT-2025-0311-B",
        "datacontenttype": "application/json",
        "data": {"inspection_id": "INSP-1"},
    }
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def pointers(exc_info):
    return [entry["pointer"] for entry in exc_info.value.errors]


# -- parse_event ---------------------------------------------------------------


def test_valid_event_is_parsed():
    event = parse_event(make_event(correlationid="c-1", sequence=7, urgent=True))
    assert isinstance(event, CloudEvent)
    assert (event.id, event.source, event.type) == (
        "evt-0001",
        "urn:mes:line-3",
        "inspection.failed",
    )
    assert event.specversion == "1.0"
    assert event.time == "2025-03-15T08:20:41Z"
    assert event.subject == "LOT-2025-0311-B"
    assert event.dataschema is None
    assert event.data == {"inspection_id": "INSP-1"}
    assert event.extensions == {"correlationid": "c-1", "sequence": 7, "urgent": True}


def test_to_dict_round_trips():
    raw = make_event(dataschema="urn:schema:x", traceparent="00-abc")
    event = parse_event(raw)
    assert event.to_dict() == raw
    assert parse_event(event.to_dict()) == event


def test_to_dict_leaves_out_unset_attributes():
    raw = make_event(time=..., subject=..., datacontenttype=...)
    assert set(parse_event(raw).to_dict()) == {
        "specversion",
        "id",
        "source",
        "type",
        "data",
    }


def test_event_is_frozen():
    event = parse_event(make_event())
    with pytest.raises(AttributeError):
        event.id = "other"


def test_minimal_event_and_null_optional_attributes_count_as_absent():
    raw = make_event(time=None, subject=None, datacontenttype=None, foo=None)
    event = parse_event(raw)
    assert event.time is None and event.subject is None
    assert event.extensions == {}


def test_every_envelope_problem_is_listed_at_once():
    raw = {
        "specversion": "0.3",
        "id": "",
        "type": 42,
        "time": "yesterday",
        "subject": 5,
        "dataschema": ["x"],
        "datacontenttype": "text/xml",
        "data_base64": "AAAA",
        "data": [1, 2],
        "Bad-Name": "x",
        "nested": {"a": 1},
    }
    with pytest.raises(ValidationFailed) as info:
        parse_event(raw)
    assert pointers(info) == [
        "/Bad-Name",
        "/data",
        "/data_base64",
        "/datacontenttype",
        "/dataschema",
        "/id",
        "/nested",
        "/source",
        "/specversion",
        "/subject",
        "/time",
        "/type",
    ]
    messages = {e["pointer"]: e["message"] for e in info.value.errors}
    assert messages["/source"] == "is required"
    assert messages["/id"] == "must be a non-empty string"
    assert messages["/data"] == "must be a JSON object"
    assert "not supported" in messages["/data_base64"]
    assert "extension attribute name" in messages["/Bad-Name"]
    assert "string, a number or a boolean" in messages["/nested"]
    assert info.value.status == 422
    assert "12 problem(s)" in info.value.detail


def test_problems_are_reported_under_the_batch_base():
    raw = make_event(id=..., data=..., specversion="2.0")
    with pytest.raises(ValidationFailed) as info:
        parse_event(raw, base="/7")
    assert pointers(info) == ["/7/data", "/7/id", "/7/specversion"]
    assert "/7/data" in info.value.detail


def test_messages_do_not_repeat_values():
    secret = "s3cr3t-value-in-envelope"
    raw = make_event(time=secret, subject=["x"], specversion=secret, extra={secret: 1})
    with pytest.raises(ValidationFailed) as info:
        parse_event(raw)
    assert secret not in info.value.detail
    assert secret not in json.dumps(info.value.errors)


@pytest.mark.parametrize(
    "changes, pointer",
    [
        ({"specversion": ...}, "/specversion"),
        ({"specversion": 1.0}, "/specversion"),
        ({"id": ...}, "/id"),
        ({"id": 17}, "/id"),
        ({"id": "x" * 256}, "/id"),
        ({"source": ""}, "/source"),
        ({"type": ""}, "/type"),
        ({"type": "t" * 256}, "/type"),
        ({"time": "2025-03-15 08:20"}, "/time"),
        ({"time": 1742026841}, "/time"),
        ({"subject": 3}, "/subject"),
        ({"dataschema": {}}, "/dataschema"),
        ({"datacontenttype": "application/xml"}, "/datacontenttype"),
        ({"datacontenttype": 7}, "/datacontenttype"),
        ({"data": ...}, "/data"),
        ({"data": None}, "/data"),
        ({"data": "text"}, "/data"),
        ({"data_base64": "AAAA"}, "/data_base64"),
        ({"Upper": "x"}, "/Upper"),
        ({"a" * 21: "x"}, "/" + "a" * 21),
        ({"with_underscore": "x"}, "/with_underscore"),
        ({"list": [1]}, "/list"),
    ],
)
def test_single_rule(changes, pointer):
    with pytest.raises(ValidationFailed) as info:
        parse_event(make_event(**changes))
    assert pointers(info) == [pointer]


def test_id_and_type_lengths_at_the_limit_pass():
    event = parse_event(make_event(id="x" * 255, type="t" * 255))
    assert len(event.id) == 255 and len(event.type) == 255


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/cloudevents+json",
        "application/json; charset=utf-8",
    ],
)
def test_json_content_types_pass(content_type):
    assert parse_event(make_event(datacontenttype=content_type)).datacontenttype


def test_unknown_type_shape_is_not_decided_here():
    assert parse_event(make_event(type="Com.Example.Whatever")).type


def test_time_with_offset_passes():
    assert parse_event(make_event(time="2025-03-16T15:02:00.5+01:00")).time


def test_extension_name_of_twenty_characters_passes():
    assert parse_event(make_event(**{"a1" * 10: 1.5})).extensions == {"a1" * 10: 1.5}


def test_pointer_escapes_extension_names():
    with pytest.raises(ValidationFailed) as info:
        parse_event(make_event(**{"a/b~c": "x"}), base="/2")
    assert pointers(info) == ["/2/a~1b~0c"]


@pytest.mark.parametrize("obj", [None, [], "event", 3])
def test_not_an_object_is_malformed(obj):
    with pytest.raises(MalformedRequest) as info:
        parse_event(obj, base="/4")
    assert info.value.status == 400
    assert info.value.errors == [{"pointer": "/4", "message": "must be a JSON object"}]


# -- parse_batch ---------------------------------------------------------------


def test_batch_must_be_a_list():
    with pytest.raises(MalformedRequest, match="JSON array"):
        parse_batch({"events": []})


def test_empty_batch_is_malformed():
    with pytest.raises(MalformedRequest, match="at least one"):
        parse_batch([])


@pytest.mark.parametrize("size", [1, 1000])
def test_batch_sizes_accepted(size):
    items = [make_event(id=str(i)) for i in range(size)]
    assert parse_batch(items) == items


def test_batch_over_the_maximum_is_too_large():
    with pytest.raises(PayloadTooLarge) as info:
        parse_batch([make_event()] * 1001)
    assert info.value.status == 413
    assert "1000" in info.value.detail


def test_batch_maximum_is_configurable():
    assert len(parse_batch([1, 2, 3], max_items=3)) == 3
    with pytest.raises(PayloadTooLarge, match="at most 2 events"):
        parse_batch([1, 2, 3], max_items=2)


def test_one_bad_item_does_not_hide_the_others():
    items = parse_batch([make_event(id="a"), make_event(id=...), "junk"])
    results = []
    for index, item in enumerate(items):
        try:
            results.append(parse_event(item, base=f"/{index}").id)
        except (ValidationFailed, MalformedRequest) as exc:
            results.append(exc.errors[0]["pointer"])
    assert results == ["a", "/1/id", "/2"]


# -- new_event -------------------------------------------------------------------


def test_new_event_defaults():
    before = datetime.now(timezone.utc)
    event = new_event("inspection.failed", {"a": 1}, "urn:odoo:db1")
    after = datetime.now(timezone.utc)
    assert uuid.UUID(event["id"]).version == 4
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    assert event["time"].endswith("Z")
    moment = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=1) <= moment <= after
    assert "subject" not in event and "dataschema" not in event
    assert parse_event(event).data == {"a": 1}
    assert new_event("x.y", {}, "s")["id"] != new_event("x.y", {}, "s")["id"]


def test_new_event_explicit_values():
    moment = datetime(2025, 3, 15, 9, 20, 41, tzinfo=timezone(timedelta(hours=1)))
    event = new_event(
        "nonconformance.opened",
        {"b": 2},
        "urn:odoo:db1",
        subject="NC-1",
        time=moment,
        id="fixed",
        dataschema="urn:mfg-integration:event:nonconformance.opened:v1",
        extensions={"correlationid": "c-9"},
    )
    assert event["id"] == "fixed"
    assert event["time"] == "2025-03-15T08:20:41.000Z"
    assert event["subject"] == "NC-1"
    assert event["correlationid"] == "c-9"
    assert parse_event(event).extensions == {"correlationid": "c-9"}
    assert json.loads(json.dumps(event)) == event


def test_new_event_keeps_a_time_string():
    event = new_event("x.y", {}, "s", time="2025-01-01T00:00:00Z")
    assert event["time"] == "2025-01-01T00:00:00Z"


def test_new_event_refuses_reserved_extension_names():
    with pytest.raises(ValueError, match="data"):
        new_event("x.y", {}, "s", extensions={"data": 1})


def test_new_event_refuses_what_parse_event_refuses():
    with pytest.raises(ValidationFailed):
        new_event("x.y", [1], "s")
    with pytest.raises(ValidationFailed):
        new_event("x.y", {}, "s", extensions={"Bad": 1})


def test_format_time_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone"):
        cloudevents.format_time(datetime(2025, 1, 1))


# -- decode_json -------------------------------------------------------------------


def test_decode_json_accepts_bytes_and_text():
    assert decode_json(b'{"a": [1, 2.5, "\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
    assert decode_json('{"a": 1}') == {"a": 1}


def test_bad_json_names_line_and_column_without_the_body():
    body = b'{\n  "password": "hunter2-secret",\n  "x": oops\n}'
    with pytest.raises(MalformedRequest) as info:
        decode_json(body, pointer_base="/body")
    detail = info.value.detail
    assert "line 3" in detail and "column 8" in detail
    assert "hunter2" not in detail and "oops" not in detail
    assert info.value.errors[0]["pointer"] == "/body"
    assert "hunter2" not in json.dumps(info.value.errors)


def test_empty_body_is_malformed():
    with pytest.raises(MalformedRequest, match="line 1, column 1"):
        decode_json(b"")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_refused(constant):
    with pytest.raises(MalformedRequest) as info:
        decode_json(f'{{"v": {constant}}}'.encode())
    assert constant in info.value.detail


def test_invalid_utf8_is_malformed():
    with pytest.raises(MalformedRequest, match="UTF-8"):
        decode_json(b'{"a": "\xff"}')


def test_deep_nesting_is_malformed_not_a_crash():
    with pytest.raises(MalformedRequest, match="nested too deeply"):
        decode_json(b"[" * 100000 + b"]" * 100000)


def test_duplicate_keys_keep_standard_behaviour():
    assert decode_json(b'{"a": 1, "a": 2}') == {"a": 2}


def test_decode_json_refuses_other_types():
    with pytest.raises(TypeError):
        decode_json(123)


# -- what the database cannot store ------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"id": "evt-\x00"}, "/id"),
        ({"source": "urn:\x00"}, "/source"),
        ({"subject": "LOT\x00"}, "/subject"),
        ({"shift": "a\x00"}, "/shift"),
        ({"data": {"lines": [{"lot": "L\x00"}]}}, "/data/lines/0/lot"),
        ({"data": {"note": "half \ud83d pair"}}, "/data/note"),
    ],
)
def test_strings_the_database_refuses_are_named_by_pointer(changes, pointer):
    with pytest.raises(ValidationFailed) as exc_info:
        parse_event(make_event(**changes), base="/4")
    assert pointers(exc_info) == [f"/4{pointer}"]
    assert "\x00" not in json.dumps(exc_info.value.to_problem())


def test_member_names_the_database_refuses_are_reported_on_their_object():
    event = make_event(data={"ok": {"bad\x00name": {"deeper\x00": "x\x00"}}})
    event["ext\x00"] = "v"
    with pytest.raises(ValidationFailed) as exc_info:
        parse_event(event)
    assert sorted(pointers(exc_info)) == ["", "/data/ok"]
    assert all("member name" in e["message"] for e in exc_info.value.errors)
    assert "\\u0000" not in json.dumps(exc_info.value.to_problem())


def test_paired_surrogates_and_other_control_characters_are_stored():
    text = '{"note": "\\ud83d\\ude00 \\u0001 tab\\t"}'
    event = parse_event(make_event(data=decode_json(text)))
    assert event.data["note"] == "\U0001f600 \x01 tab\t"


def test_unstorable_strings_are_reported_up_to_a_bound():
    many = {f"k{i}": "\x00" for i in range(100)}
    with pytest.raises(ValidationFailed) as exc_info:
        parse_event(make_event(data=many))
    assert len(exc_info.value.errors) == cloudevents.MAX_UNSTORABLE_REPORTED


# -- the raw-body pre-check of storable strings --------------------------------------

_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x10FFFF),
        st.sampled_from(["\x00", "\ud800", "\udfff", "\\", "u", "0"]),
    ),
    max_size=12,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=_JSON, ensure_ascii=st.booleans())
def test_a_body_without_the_escapes_holds_no_unstorable_string(data, ensure_ascii):
    # whatever the JSON encoder chose, the pre-check never misses what the walk
    # over the decoded strings finds
    body = json.dumps({"data": data}, ensure_ascii=ensure_ascii).encode(
        "utf-8", "surrogatepass"
    )
    try:
        decoded = decode_json(body)
    except MalformedRequest:
        return  # a raw surrogate is not UTF-8: refused before any check
    problems = []
    cloudevents.check_storable(decoded, problems)
    if problems:
        assert cloudevents.may_hold_unstorable(body)


def test_the_pre_check_finds_the_escapes_and_str_bodies_are_always_walked():
    assert cloudevents.may_hold_unstorable(b'{"a": "x\\u0000"}')
    assert cloudevents.may_hold_unstorable(b'{"a": "\\uD83D"}')
    assert cloudevents.may_hold_unstorable(b'{"a": "\\udfff"}')
    assert not cloudevents.may_hold_unstorable(b'{"a": "\\u00e9 \\u0001 plain"}')
    assert cloudevents.may_hold_unstorable('{"a": "plain"}')
    event = make_event(data={"note": "x\x00"})
    # told the body holds none, the walk is skipped (the caller's responsibility)
    assert parse_event(event, check_strings=False).data == {"note": "x\x00"}
