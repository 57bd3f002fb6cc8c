"""Shared pieces of the mapping engine, imported by every other submodule.

The format marker, the :class:`_Fail` error of a transform, small helpers for
messages, JSON values and numbers, and the JMESPath helpers (also used by
:mod:`mfg_integration.flows`). It imports no other submodule of the package.
"""

import functools
import json
import math
import re
from decimal import Decimal

import jmespath
import jmespath.functions

#: the format marker of this version of the definition format
FORMAT = "mfg-integration-mapping/1"
_FORMAT_FAMILY = "mfg-integration-mapping/"

_MAX_DEPTH = 64
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")

_MISSING = object()
_JMESPATH_FUNCTIONS = jmespath.functions.Functions().FUNCTION_TABLE


class _Fail(Exception):
    """A transform cannot produce a value; ``bare`` omits the transform's name."""

    def __init__(self, message, bare=False):
        super().__init__(message)
        self.message = message
        self.bare = bare


# -- small helpers ------------------------------------------------------------------


def _pointer(*tokens):
    """Return the JSON pointer made of ``tokens`` (RFC 6901 escaping)."""
    return "".join(
        "/" + str(token).replace("~", "~0").replace("/", "~1") for token in tokens
    )


def _show(value, limit=80):
    """Return a short JSON rendering of ``value`` for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_number(value):
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _json_problem(value, depth=0):
    """Return why ``value`` is not a JSON value, or ``None`` when it is one."""
    if depth > _MAX_DEPTH:
        return "nested too deeply"
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "must have text keys only"
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "must be a JSON value"


def _copy_json(value):
    """Return a copy of the lists and objects of ``value`` (scalars are shared)."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(item) for item in value]
    return value


def _map_key(value):
    """Return the lookup key of a ``value_map`` entry (``"1"`` and ``1`` differ)."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    return None


def _finite_float(number):
    """Return ``number`` (a Decimal or Fraction) as a finite float.

    :raise ValueError: when it is too large for a float
    """
    try:
        result = float(number)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError("the result is too large")
    return result


def _to_decimal(value):
    """Return ``value`` (a number or numeric text) as a finite :class:`Decimal`.

    :raise _Fail: when it is not a finite number
    """
    if isinstance(value, str):
        text = value.strip()
        if not _FLOAT_TEXT.match(text):
            raise _Fail(f"{_show(value)} is not a number")
        result = Decimal(text)
    elif _is_number(value):
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    else:
        raise _Fail(f"{_show(value)} is not a number")
    if not result.is_finite():
        raise _Fail(f"{_show(value)} is not a finite number")
    return result


@functools.lru_cache(maxsize=512)
def _compile_expression(text):
    """Compile a JMESPath expression once per process (cached by its text).

    :raise jmespath.exceptions.JMESPathError: when the text is not valid JMESPath
    """
    return jmespath.compile(text)


def _jmespath_message(exc):
    """Return a one-line explanation of a JMESPath parse error."""
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
        message = "the expression is incomplete"
    else:
        message = getattr(exc, "message", None) or getattr(exc, "msg", None)
        message = message or str(exc)
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int):
        message = f"{message} at column {position + 1}"
    return _one_line(message)


def _function_problem(tree):
    """Return why a parsed expression calls an unknown function wrongly, or None."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            continue
        pending.extend(node.get("children") or ())
        if node.get("type") != "function_expression":
            continue
        name = node.get("value")
        if name not in _JMESPATH_FUNCTIONS:
            return f"calls the unknown function {name}()"
        signature = _JMESPATH_FUNCTIONS[name]["signature"]
        given = len(node.get("children") or ())
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if given < len(signature) or (given > len(signature) and not variadic):
            expected = f"{'at least ' if variadic else ''}{len(signature)}"
            return f"calls {name}() with {given} argument(s) instead of {expected}"
    return None


def _expression_problem(text):
    """Return why ``text`` is not a valid JMESPath expression, or ``None``."""
    try:
        parsed = _compile_expression(text)
    except jmespath.exceptions.JMESPathError as exc:
        return "is not a valid JMESPath expression: " + _jmespath_message(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on odd input
        return "is not a valid JMESPath expression: " + _one_line(
            type(exc).__name__ + ": " + str(exc)
        )
    return _function_problem(parsed.parsed)


#: public names of the JMESPath helpers, for the other modules that evaluate
#: expressions written by administrators (process flows)
compile_expression = _compile_expression
expression_problem = _expression_problem
