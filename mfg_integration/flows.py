"""Process flows: what a flow definition must satisfy, and the expressions its steps
evaluate. Odoo stores the definitions and runs them (``mfg.integration.flow``); this
module decides, without Odoo, whether a definition can run at all.

A definition is a list of steps in order. Each step is a dict with:

``code``
    unique within the flow;
``kind``
    ``action`` (a registered step function), ``emit`` (an event), ``wait_event``,
    ``approval`` or ``condition``;
``next``
    the code of the step that follows (None: the next one in order, or the end);
``expression``
    JMESPath: a condition's test, an ``emit`` step's data, or a ``wait_event``
    step's match;
``on_true`` / ``on_false``
    a condition's targets (None: the next step in order);
``timeout_minutes``
    a wait's timeout (required, positive);
``on_timeout``
    what a wait does when it times out: ``incident``, ``continue`` (the next
    step), ``goto`` (``timeout_step``) or ``escalate`` (approvals: a second
    approver, then an incident);
``on_reject``
    an approval's target when rejected (None: the run is cancelled).

A flow may loop back (ask again, wait again), but only through a wait: a cycle made
of steps that never wait would spin a job forever.
"""

import jmespath

from .mapping import compile_expression, expression_problem

STEP_KINDS = ("action", "emit", "wait_event", "approval", "condition")
WAIT_KINDS = frozenset({"wait_event", "approval"})
TIMEOUT_OUTCOMES = ("incident", "continue", "goto", "escalate")
MATCH_KINDS = ("record", "correlation", "expression")


def truthy(value):
    """JMESPath's truth: false for null, false, empty strings, lists and objects."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)):
        return bool(value)
    return True  # numbers, zero included, and true


def evaluate(expression, data):
    """The value of JMESPath ``expression`` over ``data`` (compiled once per
    process).

    :raise ValueError: the expression is not valid JMESPath, or fails on ``data``
    """
    problem = expression_problem(expression)
    if problem:
        raise ValueError(f"{expression!r} {problem}")
    try:
        return compile_expression(expression).search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"{expression!r} failed: {exc}") from exc


def _targets(step):
    """The codes a step may go to, besides the next one in order."""
    targets = [step.get("next"), step.get("on_true"), step.get("on_false")]
    targets += [step.get("on_reject"), step.get("timeout_step")]
    return [target for target in targets if target]


def check_definition(steps):
    """Why the flow made of ``steps`` cannot run: a list of ``(step code, problem)``
    (an empty list when it can)."""
    if not steps:
        return [("", "a flow needs at least one step")]
    codes = [step.get("code") for step in steps]
    problems = []
    seen = set()
    for step in steps:
        code = step.get("code") or ""
        if code in seen:
            problems.append((code, "another step has the same code"))
        seen.add(code)
        problems += [(code, problem) for problem in _step_problems(step, codes)]
    if not problems:
        cycle = _busy_cycle(steps)
        if cycle:
            problems.append(
                (cycle[0], "loops through " + " → ".join(cycle) + " without waiting")
            )
    return problems


def _step_problems(step, codes):
    """What is wrong with one step, ``codes`` being the flow's step codes."""
    kind = step.get("kind")
    if kind not in STEP_KINDS:
        return [f"unknown kind {kind!r}"]
    problems = [
        f"goes to {target!r}, which is no step"
        for target in _targets(step)
        if target not in codes
    ]
    expression = step.get("expression")
    if expression:
        problem = expression_problem(expression)
        if problem:
            problems.append(f"its expression {problem}")
    elif kind == "condition":
        problems.append("a condition needs an expression")
    elif kind == "wait_event" and step.get("match") == "expression":
        problems.append("matching by expression needs an expression")
    if kind in WAIT_KINDS:
        problems += _wait_problems(step)
    return problems


def _wait_problems(step):
    problems = []
    if not (step.get("timeout_minutes") or 0) > 0:
        problems.append("a wait needs a timeout of at least a minute")
    outcome = step.get("on_timeout") or "incident"
    if outcome not in TIMEOUT_OUTCOMES:
        problems.append(f"unknown timeout outcome {outcome!r}")
    if outcome == "goto" and not step.get("timeout_step"):
        problems.append("a timeout going to a step must name it")
    if outcome == "escalate" and step.get("kind") != "approval":
        problems.append("only an approval escalates on timeout")
    return problems


def _successors(steps, index):
    """The indexes a step at ``index`` can go to next (a wait's timeout targets are
    left out: a timeout is a wait)."""
    step = steps[index]
    by_code = {s["code"]: i for i, s in enumerate(steps)}
    following = index + 1 if index + 1 < len(steps) else None
    if step["kind"] == "condition":
        found = [step.get("on_true"), step.get("on_false")]
        return {by_code[t] if t else following for t in found} - {None}
    found = {by_code[step["next"]] if step.get("next") else following}
    if step["kind"] == "approval" and step.get("on_reject"):
        found.add(by_code[step["on_reject"]])
    return found - {None}


def _busy_cycle(steps):
    """The codes of a cycle made only of steps that do not wait, or None."""
    busy = [i for i, step in enumerate(steps) if step["kind"] not in WAIT_KINDS]
    busy_set = set(busy)
    state = dict.fromkeys(busy, 0)  # 0 new, 1 on the path, 2 done
    for start in busy:
        if state[start]:
            continue
        path, stack = [], [(start, iter(sorted(_successors(steps, start))))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            if child not in busy_set:
                continue
            if state[child] == 1:
                cycle = path[path.index(child) :] + [child]
                return [steps[i]["code"] for i in cycle]
            if state[child] == 0:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(_successors(steps, child)))))
    return None
