"""Masking of sensitive values by JSON pointer."""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfg_integration import redaction
from mfg_integration.redaction import (
    NOT_JSON_PLACEHOLDER,
    parse_pointers,
    redact,
    redact_json_text,
)
from mfg_integration.schemas import json_pointer

PAYLOAD = {
    "user": {"name": "ann", "password": "hunter2"},
    "lines": [
        {"serial": "S1", "qty": 1},
        {"serial": "S2", "qty": 2},
        {"qty": 3},
    ],
    "a/b": {"c~d": "escaped", "keep": 1},
    "tokens": {"x": "t1", "y": "t2"},
    "": {"": "empty names"},
}


# -- parse_pointers ------------------------------------------------------------


def test_parse_pointers_skips_blanks_and_comments():
    text = "# secrets\n\n/user/password\n  /lines/*/serial  \n#/not/this\n/a~1b\n"
    assert parse_pointers(text) == ("/user/password", "/lines/*/serial", "/a~1b")


def test_parse_pointers_empty():
    assert parse_pointers("") == ()
    assert parse_pointers("# only a comment\n\n") == ()


def test_parse_pointers_names_the_bad_line():
    with pytest.raises(ValueError) as info:
        parse_pointers("/ok\n# comment\nuser/password\n")
    assert "Line 3" in str(info.value)
    assert "user/password" in str(info.value)


def test_parse_pointers_refuses_bad_escapes():
    with pytest.raises(ValueError, match="Line 1.*'~'"):
        parse_pointers("/a~2b")
    with pytest.raises(ValueError, match="Line 2"):
        parse_pointers("/ok\n/trailing~")


# -- redact ----------------------------------------------------------------------


def test_redact_a_plain_pointer():
    result = redact(PAYLOAD, ["/user/password"])
    assert result["user"] == {"name": "ann", "password": "***"}
    assert result["lines"] == PAYLOAD["lines"]


def test_redact_does_not_mutate_the_input():
    before = copy.deepcopy(PAYLOAD)
    result = redact(PAYLOAD, ["/user/password", "/lines/*/serial", "/tokens/*"])
    assert PAYLOAD == before
    assert result is not PAYLOAD
    assert result["lines"] is not PAYLOAD["lines"]
    result["a/b"]["keep"] = 99
    assert PAYLOAD["a/b"]["keep"] == 1


def test_wildcard_over_array_items_skips_missing_members():
    result = redact(PAYLOAD, ["/lines/*/serial"])
    assert result["lines"] == [
        {"serial": "***", "qty": 1},
        {"serial": "***", "qty": 2},
        {"qty": 3},
    ]


def test_wildcard_over_object_members_and_at_the_end():
    assert redact(PAYLOAD, ["/tokens/*"])["tokens"] == {"x": "***", "y": "***"}
    assert redact(PAYLOAD, ["/lines/*"])["lines"] == ["***", "***", "***"]


def test_wildcards_at_several_depths():
    value = {"a": [{"b": {"k1": {"s": 1}, "k2": {"s": 2, "t": 3}}}, {"b": []}]}
    result = redact(value, ["/a/*/b/*/s"])
    assert result == {
        "a": [{"b": {"k1": {"s": "***"}, "k2": {"s": "***", "t": 3}}}, {"b": []}]
    }


def test_escapes_are_honoured():
    result = redact(PAYLOAD, ["/a~1b/c~0d"])
    assert result["a/b"] == {"c~d": "***", "keep": 1}


def test_escape_order_is_tilde_one_first():
    # "~01" means the member "~1", not "/"
    value = {"~1": "x", "/": "y"}
    assert redact(value, ["/~01"]) == {"~1": "***", "/": "y"}


def test_empty_member_names():
    assert redact(PAYLOAD, ["//"])[""] == {"": "***"}


def test_array_indices():
    result = redact(PAYLOAD, ["/lines/1/serial", "/lines/2"])
    assert result["lines"] == [
        {"serial": "S1", "qty": 1},
        {"serial": "***", "qty": 2},
        "***",
    ]


@pytest.mark.parametrize(
    "pointer",
    [
        "/missing",
        "/user/missing/deeper",
        "/lines/3",
        "/lines/-",
        "/lines/01",
        "/lines/x",
        "/user/password/deeper",
        "/lines/0/serial/0",
    ],
)
def test_missing_paths_are_ignored(pointer):
    assert redact(PAYLOAD, [pointer]) == PAYLOAD


def test_single_string_is_one_pointer_and_custom_mask():
    result = redact(PAYLOAD, "/user/password", mask=None)
    assert result["user"]["password"] is None


def test_whole_member_replaced_by_mask_even_if_container():
    assert redact(PAYLOAD, ["/user"])["user"] == "***"


def test_member_named_star_is_only_reached_by_the_wildcard():
    assert redact({"*": 1, "b": 2}, ["/*"]) == {"*": "***", "b": "***"}


def test_scalar_document():
    assert redact("plain", ["/a"]) == "plain"


def test_invalid_pointer_refused():
    with pytest.raises(ValueError):
        redact(PAYLOAD, ["user"])
    with pytest.raises(ValueError):
        redact(PAYLOAD, ["/a~"])


# -- redact_json_text --------------------------------------------------------------


def test_redact_json_text_pretty_prints_in_key_order():
    text = json.dumps({"z": 1, "secret": "abc", "name": "Gießerei"})
    result = redact_json_text(text, ["/secret"])
    assert result == '{\n  "z": 1,\n  "secret": "***",\n  "name": "Gießerei"\n}'


def test_redact_json_text_indent_and_bytes():
    result = redact_json_text(b'{"a": {"b": 1}}', ["/a/b"], mask="#", indent=None)
    assert result == '{"a": {"b": "#"}}'


def test_broken_json_is_hidden_when_something_must_be_masked():
    text = '{"password": "hunter2", '
    assert redact_json_text(text, ["/password"]) == NOT_JSON_PLACEHOLDER
    assert "hunter2" not in redact_json_text(text, ["/password"])


def test_broken_json_is_kept_when_nothing_must_be_masked():
    assert redact_json_text("not json at all", []) == "not json at all"


def test_empty_text_stays_empty():
    assert redact_json_text("", ["/a"]) == ""


def test_redact_json_text_checks_pointers_even_for_broken_text():
    with pytest.raises(ValueError):
        redact_json_text("{", ["no-slash"])


# -- properties ----------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.floats(allow_nan=False),
)
json_values = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(alphabet="ab/~*", max_size=3), children, max_size=4),
    ),
    max_leaves=25,
)


def all_paths(value, path=()):
    """Every (path, value) of a JSON value, the root excluded."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*path, key), child
        yield from all_paths(child, (*path, key))


def get(value, path):
    for key in path:
        value = value[key]
    return value


def is_prefix(prefix, path):
    return path[: len(prefix)] == prefix


MASK = "<masked>"


@settings(max_examples=300, deadline=None)
@given(value=json_values, data=st.data())
def test_redaction_property(value, data):
    # a segment "*" is always the wildcard: a member named "*" cannot be singled out
    paths = [p for p, _ in all_paths(value) if "*" not in p]
    chosen = data.draw(st.lists(st.sampled_from(paths), max_size=3)) if paths else []
    # keep only the outermost of nested choices: an inner one disappears inside
    # the mask of an outer one
    chosen = [p for p in chosen if not any(is_prefix(q, p) and q != p for q in chosen)]
    original = copy.deepcopy(value)
    result = redact(value, [json_pointer(p) for p in chosen], mask=MASK)
    assert value == original
    for path in chosen:
        assert get(result, path) == MASK
    for path, child in all_paths(original):
        if not any(is_prefix(path, c) or is_prefix(c, path) for c in chosen):
            assert get(result, path) == child


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.dictionaries(st.sampled_from(["serial", "qty", "x"]), json_leaf, max_size=3),
        max_size=5,
    )
)
def test_wildcard_property(lines):
    result = redact({"lines": lines}, ["/lines/*/serial"], mask=MASK)
    assert len(result["lines"]) == len(lines)
    for before, after in zip(lines, result["lines"], strict=True):
        assert set(after) == set(before)
        for key, item in before.items():
            assert after[key] == (MASK if key == "serial" else item)


# -- scrubbing texts ---------------------------------------------------------------


def test_sensitive_values_collect_every_value_under_the_pointers():
    payload = {
        "lot": "LOT-SECRET-1",
        "lines": [{"serial": "SN-0001", "qty": 12345}, {"serial": "SN-0002"}],
        "operator": {"name": "Ana O'Neil", "badge": 7},
        "flag": True,
    }
    values = redaction.sensitive_values(
        payload, ["/lot", "/lines/*/serial", "/lines/0/qty", "/operator", "/flag", "/x"]
    )
    assert "LOT-SECRET-1" in values
    assert {"SN-0001", "SN-0002", "12345", "Ana O'Neil"} <= set(values)
    assert "7" not in values  # too short to search for
    assert "True" not in values
    assert list(values) == sorted(values, key=lambda v: (-len(v), v))


def test_scrub_hides_values_as_messages_quote_them():
    secret, tabbed = "it's-secret", "tab\tkey"
    values = redaction.sensitive_values({"a": secret, "b": tabbed}, "/*")
    # jsonschema quotes values with repr(), JSON with escapes
    quoted = {"x": secret}
    message = (
        f"{quoted!r} is not of type 'integer'; {tabbed!r}, {json.dumps(tabbed)}; "
        f"raw {tabbed}"
    )
    scrubbed = redaction.scrub(message, values)
    assert "secret" not in scrubbed
    assert "tab" not in scrubbed.replace("***", "")
    assert redaction.scrub("", values) == ""
    assert redaction.scrub(None, values) is None
    assert redaction.scrub("nothing here", ()) == "nothing here"


def test_scrub_prefers_the_longest_value():
    values = redaction.sensitive_values({"a": "ABC", "b": "ABCDEF"}, "/*")
    assert redaction.scrub("x ABCDEF y ABC", values) == "x *** y ***"
