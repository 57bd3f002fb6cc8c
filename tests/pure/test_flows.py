"""Process flow definitions: what can run, and the expressions steps evaluate."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfg_integration.flows import check_definition, evaluate, truthy


def action(code, **extra):
    return {"code": code, "kind": "action", **extra}


def wait(code, **extra):
    return {"code": code, "kind": "wait_event", "timeout_minutes": 60, **extra}


def condition(code, expression="trigger.ok", **extra):
    return {"code": code, "kind": "condition", "expression": expression, **extra}


def test_the_two_shipped_shapes_can_run():
    containment = [
        action("quarantine"),
        condition("equipment_known", on_false="supplier"),
        action("inspect_equipment"),
        condition("supplier", "trigger.supplier", on_false="disposition"),
        {
            "code": "approve_scar",
            "kind": "approval",
            "timeout_minutes": 1440,
            "on_timeout": "escalate",
            "on_reject": "disposition",
        },
        action("scar"),
        wait("disposition"),
        action("close"),
    ]
    assert check_definition(containment) == []
    gate = [
        action("availability"),
        action("component_holds"),
        action("release"),
        wait("acknowledged"),
        condition("accepted", on_true="mark_released", on_false="refused"),
        action("refused"),
        action("mark_released"),
    ]
    assert check_definition(gate) == []


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([], ("", "a flow needs at least one step")),
        ([action("a"), action("a")], ("a", "another step has the same code")),
        ([{"code": "a", "kind": "sleep"}], ("a", "unknown kind 'sleep'")),
        ([action("a", next="zz")], ("a", "goes to 'zz', which is no step")),
        ([condition("c", expression=None)], ("c", "a condition needs an expression")),
        (
            [condition("c", expression="a |")],
            ("c", "its expression is not a valid JMESPath expression"),
        ),
        (
            [condition("c", expression="nope(a)")],
            ("c", "its expression calls the unknown function nope()"),
        ),
        ([wait("w", timeout_minutes=0)], ("w", "a wait needs a timeout")),
        (
            [{"code": "w", "kind": "approval"}],
            ("w", "a wait needs a timeout of at least a minute"),
        ),
        (
            [wait("w", on_timeout="goto")],
            ("w", "a timeout going to a step must name it"),
        ),
        (
            [wait("w", on_timeout="escalate")],
            ("w", "only an approval escalates on timeout"),
        ),
        (
            [wait("w", match="expression")],
            ("w", "matching by expression needs an expression"),
        ),
        (
            [action("a"), condition("c", on_true="a")],
            ("a", "loops through a → c → a without waiting"),
        ),
        ([action("a", next="a")], ("a", "loops through a → a without waiting")),
    ],
)
def test_definitions_that_cannot_run_say_why(steps, problem):
    problems = check_definition(steps)
    assert any(
        code == problem[0] and text.startswith(problem[1]) for code, text in problems
    ), problems


def test_loops_through_a_wait_are_allowed():
    steps = [
        action("ask"),
        wait("answer"),
        condition("again", "events.answer.retry", on_true="ask"),
        action("done"),
    ]
    assert check_definition(steps) == []


def test_an_approval_rejected_back_to_itself_is_a_wait():
    steps = [
        {"code": "ok", "kind": "approval", "timeout_minutes": 5, "on_reject": "ok"}
    ]
    assert check_definition(steps) == []


def test_evaluate_and_truth():
    data = {"trigger": {"severity": "major", "lines": []}}
    assert evaluate("trigger.severity", data) == "major"
    assert truthy(evaluate("contains(['major', 'critical'], trigger.severity)", data))
    for falsy in (None, False, "", [], {}):
        assert not truthy(falsy)
    for value in (0, "0", [0], {"a": None}, True):
        assert truthy(value)
    with pytest.raises(ValueError, match="not a valid JMESPath"):
        evaluate("trigger.", data)
    with pytest.raises(ValueError, match="failed"):
        evaluate("abs(trigger.severity)", data)


@given(st.lists(st.sampled_from(["action", "condition", "wait_event"]), max_size=8))
def test_straight_flows_always_run(kinds):
    steps = [
        {"code": f"s{i}", "kind": kind, "expression": "x", "timeout_minutes": 1}
        for i, kind in enumerate(kinds)
    ]
    expected = [] if steps else [("", "a flow needs at least one step")]
    assert check_definition(steps) == expected
